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
 *
 * A grant by repository tags is allowed on its globs' repositories (a grant of tags alone: `repository/*`) only under
 * an `aws:ResourceTag/<key>` condition per tag, on both sides (in a repository or registry policy the condition is the
 * repository's tags too), in statements apart from the grants by globs alone, one per distinct tag set. Merged into
 * one statement, the condition would either be dropped, granting every repository the globs match, or restrict the
 * plain grant to tagged repositories. Reading the tags (TAG_READ_ACTIONS) is allowed without the condition.
 */
export const PULL_ACTIONS = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];
/**
 * What the webhook reads of images at admission with the tenant's role: whether a rewritten image exists in its
 * target registry, and the digest a tag is pinned to. Granted in the pull statements themselves, not in statements of
 * their own: the webhook reads only images the tenant may pull already, so the read goes on exactly the pull's
 * repositories, principals and conditions (a tag grant's included), and tells nothing a pull would not (BatchGetImage
 * answers the manifest, and so the digest). A statement of its own would repeat every resource list and condition
 * and could drift from them; and leaving the read out would fail admission (onCredentialError) wherever a tenant
 * uses missingImage or pinDigests.
 */
export const IMAGE_READ_ACTIONS = ['ecr:DescribeImages'];
/** What a grant allows on its repositories: the pulls, and the image reads of admission. */
export const GRANTED_ACTIONS = [...PULL_ACTIONS, ...IMAGE_READ_ACTIONS];
/**
 * What the webhook needs to judge a grant by repository tags: the tags of each repository the grant's globs match.
 * Never under the grant's tag condition: the webhook must read the tags of a repository that does not carry them,
 * to refuse the image for that reason, where a condition would make the read itself AccessDenied (a credential
 * error). The tags are all it reveals, never an image. In statements of their own, for the tag grants' repositories
 * only; a policy without tag grants has none.
 */
export const TAG_READ_ACTIONS = ['ecr:ListTagsForResource'];
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

/** The repository ARNs of grants, each once, in the grants' order. */
function grantArns(grants: readonly CompiledGrant[]): string[] {
  return [...new Set(grants.flatMap((g) => repositoryArns(g.registry, g.globs.map((glob) => glob.source))))];
}

/** A tag set as its entries sorted by key; undefined for a grant by globs alone. */
type TagEntries = [string, string][];

const grantTags = (grant: CompiledGrant): TagEntries | undefined => (grant.repositoryTags === undefined ? undefined : sortedTags(grant.repositoryTags));

/** `aws:ResourceTag/<key>` of each tag: what the statements of a tag grant hold the repository to. */
function resourceTagConditions(tags: TagEntries | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map(([key, value]) => [`aws:ResourceTag/${key}`, value]));
}

/** `Team=Payments, Env=prod`, for notes. */
const describeTags = (tags: TagEntries) => tags.map(([key, value]) => `${key}=${value}`).join(', ');

/**
 * Grants split by what they are granted under: by globs alone (`plain`), and by each distinct tag set (equal sets
 * written in any order together, in order of first appearance); `tagged` is every grant with tags.
 */
function splitByTags(grants: readonly CompiledGrant[]): { plain: CompiledGrant[]; tagSets: CompiledGrant[][]; tagged: CompiledGrant[] } {
  const sets = groupBy(grants, (g) => (g.repositoryTags === undefined ? '' : JSON.stringify(grantTags(g))));
  const plain = sets.get('') ?? [];
  sets.delete('');
  return { plain, tagSets: [...sets.values()], tagged: grants.filter((g) => g.repositoryTags !== undefined) };
}

/**
 * Sids made unique within a document: a Sid that several statements share gets 1, 2, … in order, one used once stays
 * as it is.
 */
function numbered(statements: readonly Statement[]): Statement[] {
  const counts = new Map<string, number>();
  for (const { Sid } of statements) counts.set(Sid, (counts.get(Sid) ?? 0) + 1);
  const seen = new Map<string, number>();
  return statements.map((statement) => {
    if (counts.get(statement.Sid) === 1) return statement;
    const n = (seen.get(statement.Sid) ?? 0) + 1;
    seen.set(statement.Sid, n);
    return { ...statement, Sid: `${statement.Sid}${n}` };
  });
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

/**
 * The token on `*`, as ECR requires; the grants by globs alone in one statement; each tag set's grants in one of its
 * own, under its condition; the tag reads of the tag grants' repositories; verify's listing.
 */
function permissionPolicy(grants: readonly CompiledGrant[]): PolicyDocumentJson {
  const { plain, tagSets, tagged } = splitByTags(grants);
  const statements: Statement[] = [{ Sid: 'EcrAuthorizationToken', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' }];
  if (plain.length > 0) statements.push({ Sid: 'PullGrantedRepositories', Effect: 'Allow', Action: GRANTED_ACTIONS, Resource: grantArns(plain) });
  for (const set of tagSets) {
    const Condition = { StringEquals: resourceTagConditions(grantTags(set[0]!)) };
    statements.push({ Sid: 'PullTaggedRepositories', Effect: 'Allow', Action: GRANTED_ACTIONS, Resource: grantArns(set), Condition });
  }
  if (tagged.length > 0) statements.push({ Sid: 'ReadTagsOfTaggedRepositories', Effect: 'Allow', Action: TAG_READ_ACTIONS, Resource: grantArns(tagged) });
  statements.push({ Sid: 'ListGrantedRegistriesForVerify', Effect: 'Allow', Action: VERIFY_ACTIONS, Resource: [...new Set(grants.map((g) => registryWideArn(g.registry)))] });
  return { Version: IAM_VERSION, Statement: numbered(statements) };
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

/** The conditions a registry-side statement carries, if any: the organization's, and a tag grant's tags. */
function registryConditions(options: RegistrySideOptions, tags: TagEntries | undefined): Conditions | undefined {
  const condition: Conditions = {};
  const equals = { ...(options.orgId === undefined ? {} : { 'aws:PrincipalOrgID': options.orgId }), ...resourceTagConditions(tags) };
  if (Object.keys(equals).length > 0) condition.StringEquals = equals;
  // A path with `*` after it: accounts in that OU and in the OUs below it.
  if (options.orgPath !== undefined) condition['ForAnyValue:StringLike'] = { 'aws:PrincipalOrgPaths': `${options.orgPath}*` };
  return Object.keys(condition).length > 0 ? condition : undefined;
}

/**
 * A statement on the registry side: the roles by name, or with orgOnly anyone the organization condition lets in;
 * what a grant allows, or the tag reads, or verify's listing; with a tag grant's tags, only on repositories that
 * carry them.
 */
function pullStatement(sid: string, roles: string[], resources: string[] | undefined, options: RegistrySideOptions, actions = GRANTED_ACTIONS, tags?: TagEntries): Statement {
  const condition = registryConditions(options, tags);
  return {
    Sid: sid,
    Effect: 'Allow',
    Principal: { AWS: options.orgOnly === true ? '*' : roles },
    Action: actions,
    ...(resources === undefined ? {} : { Resource: resources }),
    ...(condition === undefined ? {} : { Condition: condition }),
  };
}

/** Who a glob is granted to: a role, by the glob alone (tags undefined) or only where the repository carries tags. */
interface Grantee {
  readonly role: string;
  readonly tags: TagEntries | undefined;
}

/** A role ARN holds no space, and JSON no line break: keys, and their sorted lists joined by lines, are unambiguous. */
const granteeKey = (grantee: Grantee) => (grantee.tags === undefined ? grantee.role : `${grantee.role} ${JSON.stringify(grantee.tags)}`);
const rolesOf = (grantees: readonly Grantee[]) => [...new Set(grantees.map((g) => g.role))];

/**
 * A repository policy for these grantees: the pulls of the roles granted by globs alone, those of each tag set's roles
 * under its condition, the tag reads of the roles with tags, and (its verify statement) describing the repository
 * it is on.
 */
function repositoryPolicy(grantees: readonly Grantee[], options: RegistrySideOptions): PolicyDocumentJson {
  const plain = grantees.filter((g) => g.tags === undefined);
  const tagged = grantees.filter((g) => g.tags !== undefined);
  const sets = [...groupBy(tagged, (g) => JSON.stringify(g.tags)).values()];
  const statements = [
    ...(plain.length > 0 ? [pullStatement('EcrTenantWebhookPull', rolesOf(plain), undefined, options)] : []),
    ...sets.map((set) => pullStatement('EcrTenantWebhookPullTagged', rolesOf(set), undefined, options, GRANTED_ACTIONS, set[0]!.tags)),
    ...(tagged.length > 0 ? [pullStatement('EcrTenantWebhookReadTags', rolesOf(tagged), undefined, options, TAG_READ_ACTIONS)] : []),
    pullStatement('EcrTenantWebhookVerify', rolesOf(grantees), undefined, options, VERIFY_ACTIONS),
  ];
  return { Version: IAM_VERSION, Statement: numbered(statements) };
}

/**
 * The statements of a registry policy that grant `roles` these grants' repositories: those by globs alone, each tag
 * set's under its condition, and the tag reads of the tag grants' repositories.
 */
function grantStatements(grants: readonly CompiledGrant[], roles: string[], options: RegistrySideOptions): Statement[] {
  const { plain, tagSets, tagged } = splitByTags(grants);
  return [
    ...(plain.length > 0 ? [pullStatement('EcrTenantWebhookPull', roles, grantArns(plain), options)] : []),
    ...tagSets.map((set) => pullStatement('EcrTenantWebhookPullTagged', roles, grantArns(set), options, GRANTED_ACTIONS, grantTags(set[0]!))),
    ...(tagged.length > 0 ? [pullStatement('EcrTenantWebhookReadTags', roles, grantArns(tagged), options, TAG_READ_ACTIONS)] : []),
  ];
}

/**
 * The registry policy of one registry (scope V2): each role's statements, on exactly its repositories; with
 * orgOnly, the statements of all of them for the organization. Then verify's listing, for all the roles at once.
 */
function registryPolicy(grants: readonly CompiledGrant[], options: RegistrySideOptions): PolicyDocumentJson {
  const byRole = groupBy(grants, (g) => g.roleArn);
  const statements = options.orgOnly === true ? grantStatements(grants, [], options) : [...byRole].flatMap(([role, list]) => grantStatements(list, [role], options));
  const verify = pullStatement('EcrTenantWebhookVerify', [...byRole.keys()], [registryWideArn(grants[0]!.registry)], options, VERIFY_ACTIONS);
  return { Version: IAM_VERSION, Statement: numbered([...statements, verify]) };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

const globsOf = (grants: readonly CompiledGrant[]) => [...new Set(grants.flatMap((g) => g.globs.map((glob) => glob.source)))];

/** One registry: an account and region (a dual-stack or FIPS host is the same registry). */
const registryKey = (registry: EcrRegistry) => `${registry.partition}:${registry.account}:${registry.region}`;

/** Who is granted what, over every tenant: per registry, per glob, its grantees (in policy order). */
type GrantedRoles = Map<string, Map<string, Grantee[]>>;

function grantedRoles(grants: readonly CompiledGrant[]): GrantedRoles {
  const granted: GrantedRoles = new Map();
  for (const grant of grants) {
    const globs = granted.get(registryKey(grant.registry)) ?? new Map<string, Grantee[]>();
    granted.set(registryKey(grant.registry), globs);
    const grantee: Grantee = { role: grant.roleArn, tags: grantTags(grant) };
    for (const { source } of grant.globs) {
      const grantees = globs.get(source) ?? [];
      if (!grantees.some((g) => granteeKey(g) === granteeKey(grantee))) grantees.push(grantee);
      globs.set(source, grantees);
    }
  }
  return granted;
}

/**
 * The globs of one registry grouped by their grantees, in the globs' order. Named by the grantees: for globs granted
 * by globs alone, their roles, as before tag grants were.
 */
function repositoryGroups(globs: readonly string[], granteesOf: ReadonlyMap<string, Grantee[]>, options: RegistrySideOptions): RepositoryPolicyGroup[] {
  // The same grantees in another order are the same group.
  const key = (glob: string) => granteesOf.get(glob)!.map(granteeKey).sort().join('\n');
  const groups = groupBy(globs, key);
  return [...groups.values()].map((list) => {
    const grantees = granteesOf.get(list[0]!)!;
    const id = createHash('sha256').update(key(list[0]!)).digest('hex').slice(0, 8);
    return { id, repositories: list, roles: rolesOf(grantees), policy: repositoryPolicy(grantees, options) };
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
function overlapNotes(granted: GrantedRoles, roles: readonly SharedRole[], options: RegistrySideOptions): string[] {
  const tenantsOf = (arns: readonly string[]) => [...new Set(arns.flatMap((arn) => roles.find((role) => role.roleArn === arn)!.tenants))].join(', ');
  const describe = (grantees: readonly Grantee[]) => grantees.map((g) => `${tenantsOf([g.role])}${g.tags === undefined ? '' : ` by tags ${describeTags(g.tags)}`}`).join('; ');
  const notes: string[] = [];
  for (const [registry, granteesOf] of granted) {
    const [, account, region] = registry.split(':');
    const globs = [...granteesOf.keys()];
    globs.forEach((first, i) => {
      for (const second of globs.slice(i + 1)) {
        const [one, other] = [granteesOf.get(first)!, granteesOf.get(second)!];
        // The same roles reach the repository either way: whichever repository policy it takes names them all.
        if (rolesOf(one).sort().join() === rolesOf(other).sort().join()) continue;
        const meet = iamRepositoryPatterns(first).some((p) => iamRepositoryPatterns(second).some((q) => iamPatternsIntersect(p, q)));
        if (!meet) continue;
        if ([...one, ...other].every((g) => g.tags === undefined)) {
          notes.push(
            `in ${account}/${region}, ${first} (${tenantsOf(rolesOf(one))}) and ${second} (${tenantsOf(rolesOf(other))}) can name the same repository in IAM: each of their roles may pull it ` +
              "where a registry policy or the registry's own account lets the permission policy alone decide (with its pull Secret's token, whatever the webhook refuses), " +
              'and its repository policy must name the roles of both; make the globs disjoint, with exact names or a repository prefix per tenant',
          );
          continue;
        }
        // A grant by tags reaches a repository the other glob names whenever it carries the tags: by design of the
        // policy, but two tenants then share it, and its one repository policy must hold both grants.
        const merge = options.registryPolicy === true ? '' : ', and its repository policy must hold the statements of both (merge the two files for it, or use --registry-policy)';
        notes.push(
          `in ${account}/${region}, ${first} (${describe(one)}) and ${second} (${describe(other)}) can name the same repository in IAM: one that carries the tags is granted ` +
            `to the roles of both${merge}; where that is not meant, make the globs disjoint or the tags distinct`,
        );
      }
    });
  }
  return notes;
}

/**
 * With repository policies, a grant by tags needs its policy on each repository that carries the tags, which no
 * glob can list: said once, naming the grants.
 */
function tagGrantNote(policy: CompiledPolicy, options: RegistrySideOptions): string[] {
  const tagged = [...policy.tenants.values()].flatMap(grantsOf).filter((g) => g.repositoryTags !== undefined);
  if (tagged.length === 0 || options.registryPolicy === true) return [];
  return [
    `grants by repository tags (${tagged.map((g) => g.at).join(', ')}) reach repositories by the tags they carry in ECR: with repository policies, each such grant's ` +
      "policy goes on every repository its globs match that carries its tags, again on each repository tagged later, and is needed only for a role of another account than the registry's; " +
      '--registry-policy grants them with no step per repository',
  ];
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
  notes.push(...tagGrantNote(policy, options));
  notes.push(...overlapNotes(granted, roles, options));
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
