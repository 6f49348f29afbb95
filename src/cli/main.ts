import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PolicyError } from '../policy/load.ts';
import { runAwsPolicies } from './aws-policies.ts';
import { runCheck } from './check.ts';
import { processIo, type CliIo } from './io.ts';
import { UsageError } from './usage-error.ts';

/**
 * The ecr-tenant-webhook command line. Exit codes: 0 success (check: all allowed), 1 check found a denial,
 * 2 usage, policy or manifest error — always one message on stderr, never a stack trace.
 */
const USAGE_EXIT = 2;

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('ecr-tenant-webhook')
    .description('Admission webhook that rewrites cross-account ECR images per tenant, injects pull secrets and denies ungranted images')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('check')
    .description('judge Pods and workload pod templates in manifests against a policy, offline')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--namespace <name>', "namespace to judge in (default: each manifest's metadata.namespace, else \"default\")")
    .option('--namespace-labels <k=v,...>', "the namespace's labels (default: a Namespace object in the manifests, else none)")
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .argument('<manifest...>', 'manifest files (multi-document YAML or JSON); - reads stdin')
    .action(async (manifests: string[], opts) => {
      setExit(await runCheck({ policy: opts.policy, namespace: opts.namespace, namespaceLabels: opts.namespaceLabels, output: opts.output, manifests }, io));
    });

  program
    .command('aws-policies')
    .description('print the IAM trust and permission policies and ECR repository policies the policy map implies')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--webhook-role-arn <arn>', "the webhook's own IAM role, trusted by every tenant role", (value: string) => {
      if (value === '') throw new InvalidArgumentError('must not be empty');
      return value;
    })
    .action(async (opts) => {
      setExit(await runAwsPolicies({ policy: opts.policy, webhookRoleArn: opts.webhookRoleArn }, io));
    });
  return program;
}

/** Runs the command line and returns the exit code; errors from outside become a message, not a crash. */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_EXIT;
    if (error instanceof UsageError || error instanceof PolicyError) {
      io.stderr(`error: ${error.message}\n`);
      return USAGE_EXIT;
    }
    io.stderr(`error: unexpected failure: ${(error as Error).message}\n`);
    return USAGE_EXIT;
  }
}
