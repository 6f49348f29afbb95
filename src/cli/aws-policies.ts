import { awsPolicies } from '../policy/aws-policies.ts';
import { roleArnProblem } from '../policy/schema.ts';
import { loadPolicyFile } from '../policy/policy-file.ts';
import type { CliIo } from './io.ts';
import { UsageError } from './usage-error.ts';

/** `aws-policies`: prints, per tenant, the IAM trust and permission policies and the ECR repository policy statements. */
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
  io.stdout(`${JSON.stringify({ tenants }, null, 2)}\n`);
  return 0;
}
