import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { deriveAwsPolicies, type AwsPolicySet, type RegistrySideOptions } from '../policy/aws-policies.ts';
import { cloudFormationTemplates, roleNameAndPath, terraformModules, WEBHOOK_ROLE_PLACEHOLDER } from '../policy/aws-templates.ts';
import { roleArnProblem } from '../policy/schema.ts';
import { loadPolicyFile } from '../policy/policy-file.ts';
import type { CliIo } from './io.ts';
import { UsageError } from './usage-error.ts';

/**
 * `aws-policies`: the AWS side the policy implies, from one derivation, in the format it is deployed with: the
 * per-tenant IAM JSON (json), a CloudFormation template per account, or a Terraform JSON module per account. Notes
 * (where IAM allows more than the webhook, shared roles, steps of their own) go into every format and to stderr.
 */
export const AWS_POLICY_FORMATS = ['json', 'cloudformation', 'terraform'] as const;
export type AwsPolicyFormat = (typeof AWS_POLICY_FORMATS)[number];

export interface AwsPoliciesOptions {
  readonly policy: string;
  readonly webhookRoleArn?: string | undefined;
  readonly format: AwsPolicyFormat;
  /** A directory to write the documents into, per account (per stack), instead of one document on stdout. */
  readonly out?: string | undefined;
  readonly registryPolicy?: boolean | undefined;
  readonly orgId?: string | undefined;
  readonly orgPath?: string | undefined;
  readonly orgOnly?: boolean | undefined;
}

const ORG_ID = /^o-[a-z0-9]{10,32}$/;
const ORG_PATH = /^o-[a-z0-9]{10,32}\/r-[a-z0-9]{4,32}\/(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}\/)*$/;

function registrySideOptions(options: AwsPoliciesOptions): RegistrySideOptions {
  const { orgId, orgPath } = options;
  if (orgId !== undefined && !ORG_ID.test(orgId)) {
    throw new UsageError(`--org-id: ${JSON.stringify(orgId)} is not an AWS Organizations id ("o-" and 10 to 32 lower-case letters or digits)`);
  }
  if (orgPath !== undefined && !ORG_PATH.test(orgPath)) {
    throw new UsageError(`--org-path: ${JSON.stringify(orgPath)} is not an organization path (o-ORG/r-ROOT/ and any ou-…/ below it, ending in "/")`);
  }
  if (orgId !== undefined && orgPath !== undefined && !orgPath.startsWith(`${orgId}/`)) {
    throw new UsageError(`--org-path: ${JSON.stringify(orgPath)} is not in organization ${orgId} given with --org-id`);
  }
  if (options.orgOnly === true && orgId === undefined && orgPath === undefined) {
    throw new UsageError('--org-only: needs --org-id or --org-path, the condition that then admits the principals');
  }
  return { registryPolicy: options.registryPolicy === true, orgId, orgPath, orgOnly: options.orgOnly === true };
}

/** Today's per-tenant document; with registry policies, one per registry in place of the repository policies. */
function jsonDocument(set: AwsPolicySet, registryPolicy: boolean): unknown {
  if (!registryPolicy) return { tenants: set.tenants, webhookPolicy: set.webhookPolicy, notes: set.notes };
  const tenants = Object.fromEntries(
    Object.entries(set.tenants).map(([name, tenant]) => [name, { ...tenant, registries: tenant.registries.map(({ repositoryPolicy: _, ...rest }) => rest) }]),
  );
  return { tenants, registryPolicies: set.accounts.flatMap((account) => account.registries), webhookPolicy: set.webhookPolicy, notes: set.notes };
}

/**
 * The json format's documents one per file, bare, for the AWS CLI's `file://`: the webhook role's policy, then per
 * account each role's trust and permission policy (by role name, unique in an account) and each registry's
 * repository or registry policy (by region, one registry per account and region).
 */
function jsonFiles(set: AwsPolicySet, about: Map<string, string>): Map<string, unknown> {
  // The webhook's role is in an account of its own, often not one the policy names: its policy goes on top.
  const files = new Map<string, unknown>([['webhook-policy.json', set.webhookPolicy]]);
  for (const account of set.accounts) {
    for (const role of account.roles) {
      const { name } = roleNameAndPath(role.roleArn);
      files.set(join(account.account, `${name}.trust-policy.json`), role.trustPolicy);
      files.set(join(account.account, `${name}.permission-policy.json`), role.permissionPolicy);
    }
    for (const registry of account.registries) {
      if (registry.registryPolicy !== undefined) files.set(join(account.account, `${registry.region}.registry-policy.json`), registry.registryPolicy);
      for (const group of registry.repositoryPolicies ?? []) {
        const name = join(account.account, `${registry.region}.repository-policy-${group.id}.json`);
        files.set(name, group.policy);
        about.set(name, `for the repositories matching ${group.repositories.join(', ')}`);
      }
    }
  }
  return files;
}

/**
 * The files of a format by path below --out, with the one document printed without it; `about` says what a file is
 * for where its name cannot (which repositories a repository policy goes on).
 */
function rendered(set: AwsPolicySet, format: AwsPolicyFormat, registryPolicy: boolean): { files: Map<string, unknown>; about: Map<string, string>; document: unknown } {
  const about = new Map<string, string>();
  if (format === 'json') return { files: jsonFiles(set, about), about, document: jsonDocument(set, registryPolicy) };
  if (format === 'terraform') {
    const modules = terraformModules(set);
    return { files: new Map(Object.entries(modules).map(([account, module]) => [join(account, 'ecr-tenant-webhook.tf.json'), module])), about, document: modules };
  }
  const output = cloudFormationTemplates(set);
  const files = new Map<string, unknown>([
    ...Object.entries(output.templates).map(([key, template]): [string, unknown] => [`${key}.template.json`, template]),
    ...Object.entries(output.repositoryPolicies).map(([key, entry]): [string, unknown] => [`${key}.repository-policy.json`, entry.policy]),
  ]);
  for (const [key, entry] of Object.entries(output.repositoryPolicies)) about.set(`${key}.repository-policy.json`, `to set with ${entry.command}, ${entry.description}`);
  return { files, about, document: output };
}

async function writeFiles(out: string, files: ReadonlyMap<string, unknown>, about: ReadonlyMap<string, string>, io: CliIo): Promise<void> {
  for (const [name, document] of files) {
    const path = join(out, name);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${JSON.stringify(document, null, 2)}\n`);
    } catch (error) {
      throw new UsageError(`--out: cannot write ${path}: ${(error as Error).message}`);
    }
    const purpose = about.get(name);
    io.stderr(`wrote ${path}${purpose === undefined ? '' : `: ${purpose}`}\n`);
  }
  // A document an earlier run wrote and this one did not (a repository policy whose roles changed, say) would still be
  // applied with the directory: name it rather than delete what may be the operator's.
  const written = new Set([...files.keys()].map((name) => join(out, name)));
  const present = (await readdir(out, { recursive: true })).map((name) => join(out, name)).filter((path) => path.endsWith('.json'));
  for (const path of present.sort()) {
    if (!written.has(path)) io.stderr(`note: ${path} was not written by this run (left from an earlier one?): delete it before applying ${out}\n`);
  }
}

export async function runAwsPolicies(options: AwsPoliciesOptions, io: CliIo): Promise<number> {
  const { format } = options;
  if (options.webhookRoleArn !== undefined) {
    const problem = roleArnProblem(options.webhookRoleArn);
    if (problem !== undefined) throw new UsageError(`--webhook-role-arn: ${problem}`);
  }
  const registrySide = registrySideOptions(options);
  const policy = await loadPolicyFile(options.policy);
  // Without the webhook role the JSON trusts each account root; a template asks for the ARN as an input instead.
  const principal = options.webhookRoleArn ?? (format === 'json' ? undefined : WEBHOOK_ROLE_PLACEHOLDER);
  const set = deriveAwsPolicies(policy, principal, options.policy, registrySide);
  if (options.webhookRoleArn === undefined) {
    io.stderr(
      format === 'json'
        ? 'note: without --webhook-role-arn each tenant role trusts its own account root; pass the webhook role ARN to narrow it\n'
        : `note: without --webhook-role-arn the templates take the webhook role ARN as an input (${format === 'terraform' ? 'variable webhook_role_arn' : 'parameter WebhookRoleArn'})\n`,
    );
  }
  for (const note of set.notes) io.stderr(`note: ${note}\n`);
  const { files, about, document } = rendered(set, format, registrySide.registryPolicy === true);
  if (format === 'cloudformation' && [...files.keys()].some((name) => name.endsWith('.repository-policy.json'))) {
    io.stderr(
      'note: CloudFormation sets a repository policy only on a repository the stack creates: set each repository policy with ' +
        '`aws ecr set-repository-policy`, or pass --registry-policy to have the templates grant the pulls\n',
    );
  }
  if (options.out === undefined) io.stdout(`${JSON.stringify(document, null, 2)}\n`);
  else await writeFiles(options.out, files, about, io);
  return 0;
}
