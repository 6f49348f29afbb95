import { awsPolicies } from '../policy/aws-policies.ts';
import { roleArnProblem } from '../policy/schema.ts';
import { loadPolicyFile } from '../policy/policy-file.ts';
import type { CliIo } from './io.ts';
import { UsageError } from './usage-error.ts';

/**
 * `aws-policies`: prints, per tenant, the IAM trust and permission policies and the ECR repository policy statements.
 * A role shared by several tenants has one set of documents, printed under each of them and noted on stderr.
 */
export interface AwsPoliciesOptions {
  readonly policy: string;
  readonly webhookRoleArn?: string | undefined;
}

export async function runAwsPolicies(options: AwsPoliciesOptions, io: CliIo): Promise<number> {
  if (options.webhookRoleArn !== undefined) {
    const problem = roleArnProblem(options.webhookRoleArn);
    if (problem !== undefined) throw new UsageError(`--webhook-role-arn: ${problem}`);
  }
  const policy = await loadPolicyFile(options.policy);
  const tenants = awsPolicies(policy, options.webhookRoleArn, options.policy);
  if (options.webhookRoleArn === undefined) {
    io.stderr('note: without --webhook-role-arn each tenant role trusts its own account root; pass the webhook role ARN to narrow it\n');
  }
  // A shared role is printed under each of its tenants; say so, so nobody takes the copies for separate roles.
  const shared = new Map(Object.values(tenants).flatMap((tenant) => tenant.roles.filter((role) => role.tenants.length > 1).map((role) => [role.roleArn, role.tenants])));
  for (const [roleArn, names] of shared) {
    io.stderr(`note: tenants ${names.join(', ')} share role ${roleArn}: its trust and permission policies, printed under each, allow all of them\n`);
  }
  io.stdout(`${JSON.stringify({ tenants }, null, 2)}\n`);
  return 0;
}
