import { createHash } from 'node:crypto';
import type { EcrRegistry } from '../image/ecr-host.ts';
import type { CompiledGrant, CompiledPolicy, CompiledTenant } from './compile.ts';
import { PolicyError } from './policy-error.ts';
import { roleArnProblem } from './schema.ts';

/**
 * The AWS side a policy implies, per tenant: each role's trust and permission policy, and the statements the
 * registry accounts put on the granted repositories. Pure: it only derives documents.
 *
 * A role is one IAM object with one trust and one permission policy, however many tenants use it, so tenants that
 * share a role get the very same documents, naming all of them: the trust policy lets in each tenant's external id
 * and session tags, the permission policy allows the union of their grants (the webhook still holds each tenant to
 * its own). The mixes one trust policy cannot allow without weakening a tenant are refused when the policy loads
 * (see sharedRoleProblems in compile.ts), so every role here is tagged by all its tenants or by none.
 *
 * IAM wildcards cross "/", so `payments/*` becomes `repository/payments/*`, which IAM also lets match
 * `payments/a/b`; the webhook still enforces the narrower grant.
 */
export const PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
/**
 * What `verify` needs beyond pulling: it lists each granted registry to count the repositories every glob matches.
 * Always in statements of their own (Sids ending in "Verify"), so an operator who never runs verify can leave them
 * out; pulls do not need them. The listing is of the whole registry, so the resource is the registry's
 * `repository/*`: the names and settings of its repositories, never their images.
 */
export const VERIFY_ACTIONS = ['ecr:DescribeRepositories'];
const IAM_VERSION = '2012-10-17';

export interface Statement {
  Sid: string;
  Effect: 'Allow';
  Principal?: { AWS: string | string[] };
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Conditions;
}

export interface PolicyDocumentJson {
  Version: string;
  Statement: Statement[];
}

export interface RolePolicies {
  roleArn: string;
  /** Every tenant whose grants use the role, in policy order: the documents are the role's, the same for each. */
  tenants: string[];
  trustPolicy: PolicyDocumentJson;
  permissionPolicy: PolicyDocumentJson;
}

export interface RegistryPolicy {
  registry: string;
  account: string;
  region: string;
  /** Repositories (patterns) the statement is to be set on, with `aws ecr set-repository-policy`. */
  repositories: string[];
  /**
   * The repository-policy way; with registry policies (RegistrySideOptions.registryPolicy) the JSON view leaves it out.
   * It names the roles granted these globs, of every tenant: a tenant whose globs are granted to different sets of
   * roles has one entry per set.
   */
  repositoryPolicy: PolicyDocumentJson;
}

/**
 * The repository policy for the repositories of some globs: the globs of a registry granted to exactly these roles.
 * A policy naming a role is a grant of its own (in the registry's account, enough without any identity policy; in
 * another, a role whose account widens its permission policy gets it), so each repository takes a policy naming only
 * the roles granted it, never every role that pulls from the registry.
 */
export interface RepositoryPolicyGroup {
  /**
   * What names the group in files, stacks and Terraform addresses: 8 hex digits of a hash of its sorted roles. From
   * what the group is, not where it comes in the policy, so that adding a tenant never moves one group's name (and
   * the repositories an operator listed under it) onto another's policy.
   */
  id: string;
  repositories: string[];
  roles: string[];
  policy: PolicyDocumentJson;
}

/** How the registry side grants the pulls. */
export interface RegistrySideOptions {
  /**
   * One registry policy per registry account and region instead of repository policies: registry policy scope V2
   * enforces every ECR action, so one document can grant each role its repositories, with no per-repository step.
   */
  readonly registryPolicy?: boolean;
  /** `aws:PrincipalOrgID` the pulling principal must be in (o-…). */
  readonly orgId?: string | undefined;
  /** `aws:PrincipalOrgPaths` prefix (o-…/r-…/ou-…/) the pulling principal's account must be at or below. */
  readonly orgPath?: string | undefined;
  /** Principal "*" held by the organization condition alone, instead of naming the roles. */
  readonly orgOnly?: boolean;
}

/** The ECR side of one registry (account and region; a dual-stack or FIPS host is the same registry). */
export interface RegistryAccountPolicy {
  account: string;
  region: string;
  partition: string;
  /** The hosts of that registry the policy names. */
  registries: string[];
  repositories: string[];
  /** Each to set on the repositories that match its globs (repository mode); one per set of roles granted globs. */
  repositoryPolicies?: RepositoryPolicyGroup[];
  /** The registry's one registry policy (registry mode). */
  registryPolicy?: PolicyDocumentJson;
}

/** What to create in one AWS account: the tenant roles that live there and its registries' side. */
export interface AccountAwsPolicies {
  account: string;
  roles: RolePolicies[];
  registries: RegistryAccountPolicy[];
}

/** Every rendering starts from this one derivation: per tenant (the JSON view) and per account (the deployable view). */
export interface AwsPolicySet {
  tenants: Record<string, TenantAwsPolicies>;
  accounts: AccountAwsPolicies[];
  /** What the webhook's own role must be allowed: to assume every tenant role, and to tag the tagged ones' sessions. */
  webhookPolicy: PolicyDocumentJson;
  /** Where the documents are wider than the policy, or need a step of their own; said in every format. */
  notes: string[];
}

export interface TenantAwsPolicies {
  roles: RolePolicies[];
  registries: RegistryPolicy[];
}

/** `arn:PARTITION:iam::ACCOUNT:root` of a role ARN already checked with roleArnProblem. */
function accountRootOf(roleArn: string): string {
  const [arn, partition, service, , account] = roleArn.split(':');
  return [arn, partition, service, '', account, 'root'].join(':');
}

/**
 * IAM resource patterns for a glob. A `**` segment that may stand for no segment at all (leading or in the middle)
 * gives two patterns, without it and with `*`: `a/**\/b` → `a/b`, `a/*\/b`; `**\/b` → `b`, `*\/b`. A trailing or
 * lone `**` is one or more segments: `*`.
 */
export function iamRepositoryPatterns(glob: string): string[] {
  const segments = glob.split('/');
  const optional = segments.findIndex((segment, i) => segment === '**' && i < segments.length - 1);
  if (optional === -1) return [glob.replace(/\*\*/g, '*')];
  const without = [...segments.slice(0, optional), ...segments.slice(optional + 1)].join('/');
  const withStar = [...segments.slice(0, optional), '*', ...segments.slice(optional + 1)].join('/');
  return [...iamRepositoryPatterns(without), ...iamRepositoryPatterns(withStar)];
}

function repositoryArns(registry: EcrRegistry, globs: readonly string[]): string[] {
  const arns = globs.flatMap(iamRepositoryPatterns).map((p) => `arn:${registry.partition}:ecr:${registry.region}:${registry.account}:repository/${p}`);
  return [...new Set(arns)];
}

/** What the tenants sharing one role bring to its documents. */
interface SharedRole {
  readonly roleArn: string;
  readonly tenants: string[];
  readonly grants: CompiledGrant[];
  /** Distinct external ids, in policy order. */
  readonly externalIds: string[];
  /** Distinct non-empty session tag sets, each sorted by key, in policy order. */
  readonly tagSets: [string, string][][];
}

/** Tag entries sorted by key (code-unit order; keys of one set are unique), so that equal sets compare equal. */
function sortedTags(tags: Readonly<Record<string, string>> | undefined): [string, string][] {
  return Object.entries(tags ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
}

function sharedRoles(policy: CompiledPolicy): Map<string, SharedRole> {
  const roles = new Map<string, SharedRole>();
  for (const [name, tenant] of policy.tenants) {
    for (const grant of grantsOf(tenant)) {
      let role = roles.get(grant.roleArn);
      if (role === undefined) {
        role = { roleArn: grant.roleArn, tenants: [], grants: [], externalIds: [], tagSets: [] };
        roles.set(grant.roleArn, role);
      }
      role.grants.push(grant);
      if (role.tenants.includes(name)) continue;
      role.tenants.push(name);
      if (tenant.externalId !== undefined && !role.externalIds.includes(tenant.externalId)) role.externalIds.push(tenant.externalId);
      const tags = sortedTags(tenant.sessionTags);
      const known = role.tagSets.some((set) => JSON.stringify(set) === JSON.stringify(tags));
      if (tags.length > 0 && !known) role.tagSets.push(tags);
    }
  }
  return roles;
}

/**
 * sts:AssumeRole, with the external id(s) as condition, and one sts:TagSession statement per distinct tag set that
 * allows exactly that set: each of its tags with its value, and no other key. AssumeRole with tags needs both
 * actions allowed, so a session gets in with one tenant's tags or (for an untagged role) none. AssumeRole itself
 * carries no tag condition: which request-tag keys AWS evaluates for the sts:AssumeRole action is not documented
 * to be relied on, and a condition it did not evaluate would refuse every mint. The trust principal is the webhook
 * alone, which always sends the tenant's tags.
 */
function trustPolicy(role: SharedRole, principal: string): PolicyDocumentJson {
  const condition: Conditions = {};
  if (role.externalIds.length > 0) {
    condition.StringEquals = { 'sts:ExternalId': role.externalIds.length === 1 ? role.externalIds[0]! : role.externalIds };
  }
  const assume: Statement = {
    Sid: 'EcrTenantWebhookAssumes',
    Effect: 'Allow',
    Principal: { AWS: principal },
    Action: 'sts:AssumeRole',
    ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
  };
  const tagSessions = role.tagSets.map(
    (tags, i): Statement => ({
      Sid: role.tagSets.length === 1 ? 'EcrTenantWebhookTagSession' : `EcrTenantWebhookTagSession${i + 1}`,
      Effect: 'Allow',
      Principal: { AWS: principal },
      Action: 'sts:TagSession',
      Condition: {
        StringEquals: Object.fromEntries(tags.map(([key, value]) => [`aws:RequestTag/${key}`, value])),
        'ForAllValues:StringEquals': { 'aws:TagKeys': tags.map(([key]) => key) },
      },
    }),
  );
  return { Version: IAM_VERSION, Statement: [assume, ...tagSessions] };
}

/** Every repository of a registry: what verify's listing reads. */
function registryWideArn(registry: EcrRegistry): string {
  return `arn:${registry.partition}:ecr:${registry.region}:${registry.account}:repository/*`;
}

function permissionPolicy(grants: readonly CompiledGrant[]): PolicyDocumentJson {
  const resources = grants.flatMap((g) => repositoryArns(g.registry, g.globs.map((glob) => glob.source)));
  return {
    Version: IAM_VERSION,
    Statement: [
      { Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
      { Sid: 'PullGrantedRepositories', Effect: 'Allow', Action: PULL_ACTIONS, Resource: [...new Set(resources)] },
      { Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: VERIFY_ACTIONS, Resource: [...new Set(grants.map((g) => registryWideArn(g.registry)))] },
    ],
  };
}

/**
 * The webhook role's own permission policy. A role in another account than the webhook's is assumed only when both
 * sides allow it: the tenant role's trust policy and this. Session tags need sts:TagSession on both sides too.
 */
function webhookPolicy(roles: Iterable<SharedRole>): PolicyDocumentJson {
  const all = [...roles];
  const tagged = all.filter((role) => role.tagSets.length > 0).map((role) => role.roleArn);
  const statements: Statement[] = [{ Sid: 'AssumeTenantRoles', Effect: 'Allow', Action: 'sts:AssumeRole', Resource: all.map((role) => role.roleArn) }];
  if (tagged.length > 0) statements.push({ Sid: 'TagTenantSessions', Effect: 'Allow', Action: 'sts:TagSession', Resource: tagged });
  return { Version: IAM_VERSION, Statement: statements };
}

function grantsOf(tenant: CompiledTenant): CompiledGrant[] {
  return [...tenant.grantsByRegistry.values()].flat();
}

/** Roles that are not ARNs (a placeholder such as "optional override") cannot go into IAM documents. */
function roleProblems(name: string, tenant: CompiledTenant): string[] {
  return grantsOf(tenant).flatMap((grant) => {
    const problem = roleArnProblem(grant.roleArn);
    return problem === undefined ? [] : [`${grant.at} (role of tenant ${JSON.stringify(name)}): ${problem}`];
  });
}

type Conditions = Record<string, Record<string, string | string[]>>;

/** The organization conditions a registry-side statement carries, if any. */
function orgConditions(options: RegistrySideOptions): Conditions | undefined {
  const condition: Conditions = {};
  if (options.orgId !== undefined) condition.StringEquals = { 'aws:PrincipalOrgID': options.orgId };
  // A path with `*` after it: accounts in that OU and in the OUs below it.
  if (options.orgPath !== undefined) condition['ForAnyValue:StringLike'] = { 'aws:PrincipalOrgPaths': `${options.orgPath}*` };
  return Object.keys(condition).length > 0 ? condition : undefined;
}

/**
 * A statement on the registry side: the roles by name, or with orgOnly anyone the organization condition lets in;
 * the pull actions, or verify's.
 */
function pullStatement(sid: string, roles: string[], resources: string[] | undefined, options: RegistrySideOptions, actions: string[] = PULL_ACTIONS): Statement {
  const condition = orgConditions(options);
  return {
    Sid: sid,
    Effect: 'Allow',
    Principal: { AWS: options.orgOnly === true ? '*' : roles },
    Action: actions,
    ...(resources === undefined ? {} : { Resource: resources }),
    ...(condition === undefined ? {} : { Condition: condition }),
  };
}

/** A repository policy naming these roles: the pulls, and (its verify statement) describing the repository it is on. */
function repositoryPolicy(roles: string[], options: RegistrySideOptions): PolicyDocumentJson {
  return {
    Version: IAM_VERSION,
    Statement: [pullStatement('EcrTenantWebhookPull', roles, undefined, options), pullStatement('EcrTenantWebhookVerify', roles, undefined, options, VERIFY_ACTIONS)],
  };
}

/**
 * The registry policy of one registry (scope V2): one statement per role, on exactly its repositories; with
 * orgOnly, one statement on all of them for the organization. Then verify's listing, for all the roles at once.
 */
function registryPolicy(grants: readonly CompiledGrant[], options: RegistrySideOptions): PolicyDocumentJson {
  const byRole = groupBy(grants, (g) => g.roleArn);
  const arns = (list: readonly CompiledGrant[]) => [...new Set(list.flatMap((g) => repositoryArns(g.registry, g.globs.map((glob) => glob.source))))];
  const statements =
    options.orgOnly === true
      ? [pullStatement('EcrTenantWebhookPull', [], arns(grants), options)]
      : [...byRole].map(([role, list], i) => pullStatement(byRole.size === 1 ? 'EcrTenantWebhookPull' : `EcrTenantWebhookPull${i + 1}`, [role], arns(list), options));
  const verify = pullStatement('EcrTenantWebhookVerify', [...byRole.keys()], [registryWideArn(grants[0]!.registry)], options, VERIFY_ACTIONS);
  return { Version: IAM_VERSION, Statement: [...statements, verify] };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

const globsOf = (grants: readonly CompiledGrant[]) => [...new Set(grants.flatMap((g) => g.globs.map((glob) => glob.source)))];

/** One registry: an account and region (a dual-stack or FIPS host is the same registry). */
const registryKey = (registry: EcrRegistry) => `${registry.partition}:${registry.account}:${registry.region}`;

/** Who is granted what, over every tenant: per registry, per glob, the roles granted it (in policy order). */
type GrantedRoles = Map<string, Map<string, string[]>>;

function grantedRoles(grants: readonly CompiledGrant[]): GrantedRoles {
  const granted: GrantedRoles = new Map();
  for (const grant of grants) {
    const globs = granted.get(registryKey(grant.registry)) ?? new Map<string, string[]>();
    granted.set(registryKey(grant.registry), globs);
    for (const { source } of grant.globs) {
      const roles = globs.get(source) ?? [];
      if (!roles.includes(grant.roleArn)) roles.push(grant.roleArn);
      globs.set(source, roles);
    }
  }
  return granted;
}

/** The globs of one registry grouped by the roles granted them, in the globs' order. */
function repositoryGroups(globs: readonly string[], rolesOf: ReadonlyMap<string, string[]>, options: RegistrySideOptions): RepositoryPolicyGroup[] {
  // The same roles in another order are the same group.
  const key = (glob: string) => [...rolesOf.get(glob)!].sort().join('\n');
  const groups = groupBy(globs, key);
  return [...groups.values()].map((list) => {
    const roles = rolesOf.get(list[0]!)!;
    const id = createHash('sha256').update(key(list[0]!)).digest('hex').slice(0, 8);
    return { id, repositories: list, roles, policy: repositoryPolicy(roles, options) };
  });
}

/** Per host, as the per-tenant view has always listed them; a host whose globs different roles share, per group. */
function tenantRegistries(grants: readonly CompiledGrant[], granted: GrantedRoles, options: RegistrySideOptions): RegistryPolicy[] {
  return [...groupBy(grants, (g) => g.registry.host).values()].flatMap((list) => {
    const { registry } = list[0]!;
    return repositoryGroups(globsOf(list), granted.get(registryKey(registry))!, options).map((group) => ({
      registry: registry.host,
      account: registry.account,
      region: registry.region,
      repositories: group.repositories,
      repositoryPolicy: group.policy,
    }));
  });
}

/** Per registry (account and region), over every tenant's grants. */
function accountRegistries(grants: readonly CompiledGrant[], granted: GrantedRoles, options: RegistrySideOptions): RegistryAccountPolicy[] {
  return [...groupBy(grants, (g) => registryKey(g.registry)).values()].map((list) => {
    const { registry } = list[0]!;
    const repositories = globsOf(list);
    return {
      account: registry.account,
      region: registry.region,
      partition: registry.partition,
      registries: [...new Set(list.map((g) => g.registry.host))],
      repositories,
      ...(options.registryPolicy === true
        ? { registryPolicy: registryPolicy(list, options) }
        : { repositoryPolicies: repositoryGroups(repositories, granted.get(registryKey(registry))!, options) }),
    };
  });
}

/** The account of a role ARN already checked with roleArnProblem. */
function accountOf(roleArn: string): string {
  return roleArn.split(':')[4]!;
}

/** A `*` that is not part of `**`: within one segment for the webhook, across `/` for IAM. */
const LONE_STAR = /(^|[^*])\*($|[^*])/;

/**
 * Whether two IAM resource patterns (where `*` is any run of characters, `/` included) can name one same string:
 * a table over the patterns' suffixes, linear in the product of their lengths.
 */
export function iamPatternsIntersect(a: string, b: string): boolean {
  const width = b.length + 1;
  const both = new Uint8Array((a.length + 1) * width);
  both[a.length * width + b.length] = 1;
  const at = (x: number, y: number) => both[x * width + y] === 1;
  for (let i = a.length; i >= 0; i--) {
    for (let j = b.length; j >= 0; j--) {
      if (i === a.length && j === b.length) continue;
      let meets: boolean;
      if (a[i] === '*') meets = at(i + 1, j) || (j < b.length && at(i, j + 1));
      else if (b[j] === '*') meets = at(i, j + 1) || (i < a.length && at(i + 1, j));
      else meets = i < a.length && j < b.length && a[i] === b[j] && at(i + 1, j + 1);
      both[i * width + j] = meets ? 1 : 0;
    }
  }
  return both[0] === 1;
}

/**
 * Globs of one registry granted to different roles whose IAM patterns can name the same repository. IAM's `*` crosses
 * `/`, so `team/*` of one tenant reaches `team/secret/db` of another: each role's permission policy then allows such a
 * repository (enough to pull it with a registry policy, or in the registry's own account, with the pull Secret's
 * token, whatever the webhook refuses), and as a repository policy names only one group's roles, it needs one naming
 * both. Said per pair, naming the tenants.
 */
function overlapNotes(granted: GrantedRoles, roles: readonly SharedRole[]): string[] {
  const tenantsOf = (arns: readonly string[]) => [...new Set(arns.flatMap((arn) => roles.find((role) => role.roleArn === arn)!.tenants))].join(', ');
  const notes: string[] = [];
  for (const [registry, rolesOf] of granted) {
    const [, account, region] = registry.split(':');
    const globs = [...rolesOf.keys()];
    globs.forEach((first, i) => {
      for (const second of globs.slice(i + 1)) {
        const [one, other] = [rolesOf.get(first)!, rolesOf.get(second)!];
        if ([...one].sort().join() === [...other].sort().join()) continue;
        const meet = iamRepositoryPatterns(first).some((p) => iamRepositoryPatterns(second).some((q) => iamPatternsIntersect(p, q)));
        if (!meet) continue;
        notes.push(
          `in ${account}/${region}, ${first} (${tenantsOf(one)}) and ${second} (${tenantsOf(other)}) can name the same repository in IAM: each of their roles may pull it ` +
            "where a registry policy or the registry's own account lets the permission policy alone decide (with its pull Secret's token, whatever the webhook refuses), " +
            'and its repository policy must name the roles of both; make the globs disjoint, with exact names or a repository prefix per tenant',
        );
      }
    });
  }
  return notes;
}

function notesOf(policy: CompiledPolicy, roles: readonly SharedRole[], granted: GrantedRoles, options: RegistrySideOptions): string[] {
  const notes: string[] = [];
  const globs = [...new Set([...policy.tenants.values()].flatMap((t) => grantsOf(t).flatMap((g) => g.globs.map((glob) => glob.source))))];
  const wider = globs.filter((glob) => LONE_STAR.test(glob));
  if (wider.length > 0) {
    const example = wider[0]!.replace(/\*/g, 'a');
    notes.push(
      `IAM's "*" also matches "/", so the IAM patterns of ${wider.join(', ')} allow deeper repositories than the webhook's globs ` +
        `(${wider[0]} also allows ${example}/b in IAM); the webhook still refuses those images`,
    );
  }
  for (const role of roles) {
    if (role.tenants.length > 1) notes.push(`tenants ${role.tenants.join(', ')} share role ${role.roleArn}: its trust and permission policies allow all of them`);
  }
  if (options.registryPolicy === true) {
    notes.push('a registry has one registry policy per region: setting this one replaces any statements it already has (replication, pull-through cache), so merge them in first');
  }
  notes.push(...overlapNotes(granted, roles));
  if (options.orgOnly === true) {
    notes.push(
      'the registry side names no roles: every principal the organization condition admits may pull the granted repositories and list the registry as far as its own ' +
        "account lets it; in the registry's own account that needs no IAM policy at all, and any account's administrators can allow it to themselves",
    );
  }
  return notes;
}

/**
 * Derives every document once. Without the webhook's role ARN the tenant role trusts its own account's root, which
 * any principal of that account with sts:AssumeRole permission can use; the webhook role ARN narrows it. A template
 * may pass a placeholder of its own for the principal instead.
 */
export function deriveAwsPolicies(policy: CompiledPolicy, webhookPrincipal: string | undefined, source: string, options: RegistrySideOptions = {}): AwsPolicySet {
  const problems = [...policy.tenants].flatMap(([name, tenant]) => roleProblems(name, tenant));
  if (problems.length > 0) throw new PolicyError(source, problems);
  const shared = sharedRoles(policy);
  // One set of documents per role, handed to each tenant that uses it.
  const documents = new Map<string, RolePolicies>();
  for (const role of shared.values()) {
    documents.set(role.roleArn, {
      roleArn: role.roleArn,
      tenants: role.tenants,
      trustPolicy: trustPolicy(role, webhookPrincipal ?? accountRootOf(role.roleArn)),
      permissionPolicy: permissionPolicy(role.grants),
    });
  }
  const allGrants = [...policy.tenants.values()].flatMap(grantsOf);
  const granted = grantedRoles(allGrants);
  const tenants: Record<string, TenantAwsPolicies> = {};
  for (const [name, tenant] of policy.tenants) {
    const grants = grantsOf(tenant);
    const roles = [...new Set(grants.map((g) => g.roleArn))];
    tenants[name] = { roles: roles.map((roleArn) => documents.get(roleArn)!), registries: tenantRegistries(grants, granted, options) };
  }
  const registries = accountRegistries(allGrants, granted, options);
  const accountIds = [...new Set([...[...documents.keys()].map(accountOf), ...registries.map((r) => r.account)])].sort();
  const accounts = accountIds.map((account) => ({
    account,
    roles: [...documents.values()].filter((role) => accountOf(role.roleArn) === account),
    registries: registries.filter((r) => r.account === account),
  }));
  return { tenants, accounts, webhookPolicy: webhookPolicy(shared.values()), notes: notesOf(policy, [...shared.values()], granted, options) };
}

/** The per-tenant view alone (see deriveAwsPolicies). */
export function awsPolicies(policy: CompiledPolicy, webhookRoleArn: string | undefined, source: string, options: RegistrySideOptions = {}): Record<string, TenantAwsPolicies> {
  return deriveAwsPolicies(policy, webhookRoleArn, source, options).tenants;
}
