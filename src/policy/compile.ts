import { parseEcrHost, type EcrRegistry } from '../image/ecr-host.ts';
import { parseRegistryPrefix, prefixesOverlap, type RegistryPrefix } from '../image/registry-prefix.ts';
import { formatPath } from '../text.ts';
import { PolicyError } from './policy-error.ts';
import { compileRepositoryGlob, type CompiledGlob } from './repository-glob.ts';
import { roleArnProblem, type CredentialErrorAction, type MissingImageAction, type Mode, type NonEcrAction, type PolicyDocument, type RewriteSpec, type TenantSpec } from './schema.ts';

/**
 * The policy compiled once into lookup structures: tenants by name, and each tenant's grants by registry
 * host, so a decision costs O(grants of that tenant), never O(all tenants).
 */
export interface CompiledRewrite {
  readonly from: RegistryPrefix;
  readonly to: RegistryPrefix;
  /** Where it was written, for messages: `spec.tenants.payments.rewrites[0]`. */
  readonly at: string;
}

export interface CompiledGrant {
  readonly registry: EcrRegistry;
  /** The grant's repository globs; `**` when it names repository tags only. */
  readonly globs: readonly CompiledGlob[];
  /** Tags a repository must carry in ECR for the grant to hold (with the globs); undefined when it names none. */
  readonly repositoryTags: Readonly<Record<string, string>> | undefined;
  readonly roleArn: string;
  readonly at: string;
}

export interface CompiledTenant {
  readonly name: string;
  readonly mode: Mode | undefined;
  readonly nonEcrImages: NonEcrAction;
  readonly onCredentialError: CredentialErrorAction;
  readonly missingImage: MissingImageAction;
  readonly pinDigests: boolean;
  readonly roleArn: string | undefined;
  readonly externalId: string | undefined;
  readonly sessionTags: Readonly<Record<string, string>> | undefined;
  /** The tenant's own rewrites first, then the global ones: the first match wins. */
  readonly rewrites: readonly CompiledRewrite[];
  readonly grantsByRegistry: ReadonlyMap<string, readonly CompiledGrant[]>;
}

export interface CompiledPolicy {
  readonly document: PolicyDocument;
  readonly defaultMode: Mode;
  readonly tenants: ReadonlyMap<string, CompiledTenant>;
  /** Problems that do not stop the policy from loading, e.g. a role ARN that AssumeRole will refuse. */
  readonly warnings: readonly string[];
}

function compileRewrites(specs: readonly RewriteSpec[], at: string): CompiledRewrite[] {
  return specs.map((spec, i) => ({
    // The schema has already checked both sides, so parsing cannot fail here.
    from: parseRegistryPrefix(spec.from) as RegistryPrefix,
    to: parseRegistryPrefix(spec.to) as RegistryPrefix,
    at: `${at}[${i}]`,
  }));
}

/**
 * A rewritten image must not be rewritten again when the pod comes back (reinvocationPolicy IfNeeded),
 * so no target may lie under, or above, any source the same tenant uses.
 */
function rewriteLoops(rewrites: readonly CompiledRewrite[]): string[] {
  const problems: string[] = [];
  for (const target of rewrites) {
    const again = rewrites.find((source) => prefixesOverlap(target.to, source.from));
    if (again !== undefined) {
      problems.push(
        `${target.at}.to: ${JSON.stringify(target.to.text)} overlaps ${again.at}.from ${JSON.stringify(again.from.text)}, ` +
          'so a rewritten image would be rewritten again; rewriting must be idempotent',
      );
    }
  }
  return problems;
}

function roleArnWarnings(spec: TenantSpec, at: string): string[] {
  const roles: [string, string | undefined][] = [
    [`${at}.roleArn`, spec.roleArn],
    ...spec.grants.map((grant, i): [string, string | undefined] => [`${at}.grants[${i}].roleArn`, grant.roleArn]),
  ];
  return roles.flatMap(([path, arn]) => {
    const problem = arn === undefined ? undefined : roleArnProblem(arn);
    return problem === undefined ? [] : [`${path}: ${problem}; minting pull credentials with it will fail`];
  });
}

/** The glob of a grant that names repository tags only: every repository of its registry, as the tags allow. */
const ANY_REPOSITORY = '**';

function compileGrants(name: string, spec: TenantSpec, at: string, problems: string[]): Map<string, CompiledGrant[]> {
  const byRegistry = new Map<string, CompiledGrant[]>();
  const roleBySecret = new Map<string, CompiledGrant>();
  spec.grants.forEach((grantSpec, i) => {
    const grantAt = `${at}.grants[${i}]`;
    const registry = parseEcrHost(grantSpec.registry) as EcrRegistry;
    const roleArn = grantSpec.roleArn ?? spec.roleArn;
    if (roleArn === undefined) {
      problems.push(`${grantAt}: no role to assume: set ${at}.roleArn or this grant's roleArn`);
      return;
    }
    const globs = (grantSpec.repositories ?? [ANY_REPOSITORY]).map(compileRepositoryGlob);
    const grant: CompiledGrant = { registry, globs, repositoryTags: grantSpec.repositoryTags, roleArn, at: grantAt };
    // One pull secret per account and region holds one token, minted with one role.
    const secretKey = `${registry.account}/${registry.region}`;
    const earlier = roleBySecret.get(secretKey);
    if (earlier !== undefined && earlier.roleArn !== roleArn) {
      problems.push(
        `${grantAt}.roleArn: tenant ${JSON.stringify(name)} already reaches account ${registry.account} in ${registry.region} ` +
          `with role ${earlier.roleArn} (${earlier.at}); one pull secret per registry holds one token, so use one role per registry`,
      );
      return;
    }
    roleBySecret.set(secretKey, grant);
    byRegistry.set(registry.host, [...(byRegistry.get(registry.host) ?? []), grant]);
  });
  return byRegistry;
}

/**
 * Tenants may share a role: aws-policies then prints one trust policy for it that lets in each tenant's external id
 * and session tags. Two mixes cannot be one trust policy without weakening a tenant, so they are refused here:
 *
 * - one tenant tags its sessions and another sharing the role does not: the trust policy would have to let untagged
 *   sessions in, and an untagged session escapes every `aws:PrincipalTag` condition meant to confine the tagged
 *   tenant's pulls;
 * - one tenant sets an external id and another does not: the trust policy could then not require one at all.
 *
 * Each is reported at the tenant without (where the fix goes: set it, or give that tenant a role of its own), naming
 * the first tenant with and the role. Different tag sets, or different external ids, are fine: one statement each.
 */
function sharedRoleProblems(tenants: ReadonlyMap<string, CompiledTenant>): string[] {
  const users = new Map<string, { name: string; tenant: CompiledTenant; at: string }[]>();
  for (const [name, tenant] of tenants) {
    for (const grant of [...tenant.grantsByRegistry.values()].flat()) {
      const list = users.get(grant.roleArn) ?? [];
      if (!list.some((user) => user.name === name)) users.set(grant.roleArn, [...list, { name, tenant, at: grant.at }]);
    }
  }
  const problems: string[] = [];
  for (const [roleArn, list] of users) {
    const tagged = list.find((user) => Object.keys(user.tenant.sessionTags ?? {}).length > 0);
    const withId = list.find((user) => user.tenant.externalId !== undefined);
    for (const user of list) {
      const at = formatPath(['spec', 'tenants', user.name]);
      if (tagged !== undefined && Object.keys(user.tenant.sessionTags ?? {}).length === 0) {
        problems.push(
          `${at}.sessionTags: tenant ${JSON.stringify(user.name)} assumes role ${roleArn} without session tags, but tenant ` +
            `${JSON.stringify(tagged.name)} (${tagged.at}) assumes it with session tags; one trust policy cannot allow both without ` +
            'letting untagged sessions in, so give this tenant session tags too or a role of its own',
        );
      }
      if (withId !== undefined && user.tenant.externalId === undefined) {
        problems.push(
          `${at}.externalId: tenant ${JSON.stringify(user.name)} assumes role ${roleArn} without an external id, but tenant ` +
            `${JSON.stringify(withId.name)} (${withId.at}) assumes it with one; one trust policy cannot allow both without ` +
            'dropping the external id condition, so give this tenant an external id too or a role of its own',
        );
      }
    }
  }
  return problems;
}

/** Compiles a validated document; problems that span fields are thrown together as one PolicyError naming `source`. */
export function compilePolicy(document: PolicyDocument, source: string): CompiledPolicy {
  const problems: string[] = [];
  const warnings: string[] = [];
  const globalRewrites = compileRewrites(document.spec.rewrites, 'spec.rewrites');
  problems.push(...rewriteLoops(globalRewrites));
  const tenants = new Map<string, CompiledTenant>();
  for (const [name, spec] of Object.entries(document.spec.tenants)) {
    const at = formatPath(['spec', 'tenants', name]);
    const rewrites = [...compileRewrites(spec.rewrites, `${at}.rewrites`), ...globalRewrites];
    problems.push(...rewriteLoops(rewrites));
    const grantsByRegistry = compileGrants(name, spec, at, problems);
    warnings.push(...roleArnWarnings(spec, at));
    tenants.set(
      name,
      Object.freeze({
        name,
        mode: spec.mode,
        nonEcrImages: spec.nonEcrImages ?? document.spec.defaults.nonEcrImages,
        onCredentialError: spec.onCredentialError ?? document.spec.defaults.onCredentialError,
        missingImage: spec.missingImage ?? document.spec.defaults.missingImage,
        pinDigests: spec.pinDigests ?? document.spec.defaults.pinDigests,
        roleArn: spec.roleArn,
        externalId: spec.externalId,
        sessionTags: spec.sessionTags,
        rewrites,
        grantsByRegistry,
      }),
    );
  }
  problems.push(...sharedRoleProblems(tenants));
  const admins = document.spec.labelAdmins;
  if (admins.users.length + admins.groups.length + admins.serviceAccounts.length === 0) {
    warnings.push('spec.labelAdmins names nobody: no one can add, change or remove the tenant and mode labels of a namespace');
  }
  if (problems.length > 0) throw new PolicyError(source, [...new Set(problems)]);
  return Object.freeze({ document, defaultMode: document.spec.defaults.mode, tenants, warnings });
}
