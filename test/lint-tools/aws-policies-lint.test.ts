import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { deriveAwsPolicies, type PolicyDocumentJson, type RegistrySideOptions } from '../../src/policy/aws-policies.ts';
import { cloudFormationTemplates, WEBHOOK_ROLE_PLACEHOLDER } from '../../src/policy/aws-templates.ts';
import { parsePolicy } from '../../src/policy/load.ts';
import { lint, lintToolsBin } from './lint-tools.ts';

/**
 * The aws-policies output read by the tools people check such documents with: every CloudFormation template by
 * cfn-lint, every IAM document by parliament, over the recipes (repository or registry policies, organization
 * conditions, with and without the webhook role). Each tool is also shown a broken document, to prove it runs.
 */
const bin = await lintToolsBin();
const WEBHOOK_ROLE = 'arn:aws:iam::444444444444:role/ecr-tenant-webhook';
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const POLICIES = ['policy.yaml', 'aws-policies/shared-role.yaml', 'aws-policies/accounts.yaml', 'aws-policies/tag-grants.yaml'].map((name) => ({
  name,
  policy: parsePolicy(readFileSync(fixture(name), 'utf8'), name),
}));
const RECIPES: [string, RegistrySideOptions][] = [
  ['repository policies', {}],
  ['repository policies for the organization', { orgId: 'o-abcdefghij', orgOnly: true }],
  ['registry policies', { registryPolicy: true }],
  ['registry policies with both organization conditions', { registryPolicy: true, orgId: 'o-abcdefghij', orgPath: 'o-abcdefghij/r-ab12/ou-ab12-11111111/' }],
  ['registry policies for an organization path', { registryPolicy: true, orgPath: 'o-abcdefghij/r-ab12/', orgOnly: true }],
];

const dir = mkdtempSync(join(tmpdir(), 'aws-policies-lint-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A resource-based or trust policy given the resource it is attached to, the one form parliament reads. */
function attachedTo(document: PolicyDocumentJson, resource: string): PolicyDocumentJson {
  return { ...document, Statement: document.Statement.map((statement) => ({ ...statement, Resource: statement.Resource ?? resource })) };
}

const templates: string[] = [];
let documents = 0;
for (const { name, policy } of POLICIES) {
  for (const [recipe, options] of RECIPES) {
    for (const principal of [WEBHOOK_ROLE, WEBHOOK_ROLE_PLACEHOLDER]) {
      const set = deriveAwsPolicies(policy, principal, name, options);
      const prefix = `${templates.length}`;
      for (const [key, template] of Object.entries(cloudFormationTemplates(set).templates)) {
        const file = join(dir, `${prefix}-${key}.template.json`);
        writeFileSync(file, JSON.stringify({ ...template, Description: `${name}, ${recipe}` }));
        templates.push(file);
      }
      if (principal !== WEBHOOK_ROLE) continue;
      const write = (document: PolicyDocumentJson) => writeFileSync(join(dir, `${prefix}-${documents++}.policy.json`), JSON.stringify(document));
      write(set.webhookPolicy);
      for (const account of set.accounts) {
        for (const role of account.roles) {
          write(attachedTo(role.trustPolicy, role.roleArn));
          write(role.permissionPolicy);
        }
        for (const registry of account.registries) {
          const repository = `arn:${registry.partition}:ecr:${registry.region}:${registry.account}:repository/x`;
          if (registry.registryPolicy !== undefined) write(registry.registryPolicy);
          for (const group of registry.repositoryPolicies ?? []) write(attachedTo(group.policy, repository));
        }
      }
    }
  }
}

t.test('cfn-lint finds nothing to fault in any CloudFormation template', async (t) => {
  t.ok(templates.length >= 30, `${templates.length} templates`);
  const result = await lint(bin, 'cfn-lint', ['--format', 'json', ...templates]);
  t.equal(result.stdout.trim(), '[]', 'no findings');
  t.equal(result.code, 0, result.stderr);
});

t.test("parliament finds nothing to fault in any trust, permission, repository or registry policy, or the webhook's own", async (t) => {
  t.ok(documents >= 40, `${documents} documents`);
  const result = await lint(bin, 'parliament', ['--directory', dir, '--include_policy_extension', '.policy.json', '--json']);
  t.equal(result.stdout.trim(), '', 'no findings');
  t.equal(result.code, 0, result.stderr);
});

t.test('cfn-lint faults a template with an unknown property and a policy Effect IAM does not know', async (t) => {
  const template = JSON.parse(readFileSync(templates[0]!, 'utf8'));
  const role = Object.values(template.Resources as Record<string, { Properties: Record<string, unknown> }>)[0]!;
  const permission = (role.Properties.Policies as { PolicyDocument: PolicyDocumentJson }[])[0]!.PolicyDocument;
  (permission.Statement[1] as { Effect: string }).Effect = 'Permit';
  role.Properties.AssumeRolePolicy = role.Properties.AssumeRolePolicyDocument;
  const file = join(dir, 'broken.template.json');
  writeFileSync(file, JSON.stringify(template));
  const result = await lint(bin, 'cfn-lint', ['--format', 'json', file]);
  t.not(result.code, 0);
  const findings = JSON.parse(result.stdout) as { Message: string }[];
  t.ok(findings.some((f) => f.Message.includes('AssumeRolePolicy')), 'the unknown property');
  t.ok(findings.some((f) => f.Message.includes("'Permit'")), 'the Effect');
});

t.test('parliament faults a policy with a misspelt action', async (t) => {
  const broken = mkdtempSync(join(tmpdir(), 'aws-policies-broken-'));
  t.teardown(() => rmSync(broken, { recursive: true, force: true }));
  const permission = JSON.parse(readFileSync(join(dir, '0-2.policy.json'), 'utf8')) as PolicyDocumentJson;
  permission.Statement[1]!.Action = ['ecr:BatchGetImag'];
  writeFileSync(join(broken, 'broken.policy.json'), JSON.stringify(permission));
  const result = await lint(bin, 'parliament', ['--directory', broken, '--include_policy_extension', '.policy.json', '--json']);
  t.not(result.code, 0);
  t.match(result.stdout, /UNKNOWN_ACTION/);
});
