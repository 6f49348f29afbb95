import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { KubeConfigError } from '../kube/kube-config.ts';
import { ClusterReadError } from '../kube/workload-source.ts';
import { PolicyError } from '../policy/load.ts';
import { TlsError } from '../tls/tls-reloader.ts';
import { DEFAULT_PAGE_SIZE, parsePageSize, runAudit } from './audit.ts';
import { AWS_POLICY_FORMATS, runAwsPolicies } from './aws-policies.ts';
import { runCheck } from './check.ts';
import { processIo, type CliIo } from './io.ts';
import { LOG_LEVELS, parseFraction, parsePort, parseAdmissionDeadline, parseSeconds, parseGraceSeconds, parseCount, parseSessionSeconds, processEnvironment, runServe, type ServeEnvironment } from './serve.ts';
import { UsageError } from './usage-error.ts';
import { parseVerifyDeadline, runVerify } from './verify.ts';

/**
 * The ecr-tenant-webhook command line. Exit codes: 0 success (check, audit: nothing denied), 1 check or audit
 * found a denial, 2 usage, policy, manifest or cluster error — always one message on stderr, never a stack trace.
 */
const USAGE_EXIT = 2;

/** Errors that mean "what you gave me does not work": one line on stderr, exit 2. */
const USER_ERRORS = [UsageError, PolicyError, TlsError, KubeConfigError, ClusterReadError];

function buildProgram(io: CliIo, env: ServeEnvironment, setExit: (code: number) => void): Command {
  const program = new Command('ecr-tenant-webhook')
    .description('Admission webhook that rewrites cross-account ECR images per tenant, injects pull secrets and denies ungranted images')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  program
    .command('check')
    .description('judge Pods and workload pod templates in manifests against a policy, offline (or reading ECR with --aws)')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--namespace <name>', "namespace to judge in (default: each manifest's metadata.namespace, else \"default\")")
    .option('--namespace-labels <k=v,...>', "the namespace's labels (default: a Namespace object in the manifests, else none)")
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--aws', "read ECR with each tenant's role as serve does (AWS credentials from the environment): judge repositoryTags grants, look rewritten images up in their targets, resolve pinDigests")
    .argument('<manifest...>', 'manifest files (multi-document YAML or JSON); - reads stdin')
    .action(async (manifests: string[], opts) => {
      setExit(await runCheck({ policy: opts.policy, namespace: opts.namespace, namespaceLabels: opts.namespaceLabels, output: opts.output, manifests, aws: opts.aws }, io));
    });

  program
    .command('audit')
    .description("judge the live Pods and workload pod templates of tenant namespaces against a policy: what enforcing it would deny, rewrite and add")
    .requiredOption('--policy <file>', 'policy file (YAML or JSON); may be a candidate not yet deployed')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account)')
    .addOption(new Option('-n, --namespace <name>', 'audit this namespace only').conflicts('allNamespaces'))
    .option('-A, --all-namespaces', 'audit every namespace (the default)')
    .option('--tenant <name>', 'audit the namespaces of this tenant only')
    .addOption(new Option('--output <format>', 'output format: text, json, or policyreport (wgpolicyk8s.io/v1alpha2 PolicyReports as YAML, one per namespace)').choices(['text', 'json', 'policyreport']).default('text'))
    .option('--write-reports', 'also create or update one PolicyReport ecr-tenant-webhook per audited namespace (needs the wgpolicyk8s.io CRD)')
    .addOption(new Option('--page-size <n>', 'objects per list request (limit/continue paging)').argParser(parsePageSize).default(DEFAULT_PAGE_SIZE))
    .option('--aws', "read ECR with each tenant's role as serve does (AWS credentials from the environment): judge repositoryTags grants, report rewritten images missing in their targets and tags that would be pinned")
    .action(async (opts) => {
      const options = { policy: opts.policy, kubeconfig: opts.kubeconfig, namespace: opts.namespace, tenant: opts.tenant, output: opts.output, pageSize: opts.pageSize, aws: opts.aws, writeReports: opts.writeReports };
      setExit(await runAudit(options, io, env));
    });

  program
    .command('aws-policies')
    .description("print the AWS side the policy map implies: the webhook role's policy, each tenant role's trust and permission policy, and the registry side, as IAM JSON, CloudFormation or Terraform")
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--webhook-role-arn <arn>', "the webhook's own IAM role, trusted by every tenant role", (value: string) => {
      if (value === '') throw new InvalidArgumentError('must not be empty');
      return value;
    })
    .addOption(new Option('--format <format>', 'json (per tenant), cloudformation or terraform (per account)').choices(AWS_POLICY_FORMATS).default('json'))
    .option('--out <dir>', 'write the documents into this directory, per account, instead of one document on stdout')
    .option('--registry-policy', 'grant the pulls with one registry policy per registry account and region instead of repository policies')
    .option('--org-id <o-id>', 'only principals of this AWS Organization may pull (aws:PrincipalOrgID)')
    .option('--org-path <path>', 'only principals of accounts at or below this organization path may pull (aws:PrincipalOrgPaths)')
    .option('--org-only', 'name no roles on the registry side: Principal "*" held by the organization condition')
    .action(async (opts) => {
      const { policy, webhookRoleArn, format, out, registryPolicy, orgId, orgPath, orgOnly } = opts;
      setExit(await runAwsPolicies({ policy, webhookRoleArn, format, out, registryPolicy, orgId, orgPath, orgOnly }, io));
    });
  program
    .command('verify')
    .description("prove each tenant's grants work before its first pod: with the webhook's own AWS identity, assume each tenant role as serve does, get an ECR token and list the granted repositories")
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--tenant <name>', 'verify this tenant only')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(new Option('--deadline <seconds>', 'how long each AWS call may take').argParser(parseVerifyDeadline).default(10_000, '10'))
    .addOption(new Option('--aws-session-duration <seconds>', "STS AssumeRole DurationSeconds, as given to serve").argParser(parseSessionSeconds).default(3600))
    .action(async (opts) => {
      const options = { policy: opts.policy, tenant: opts.tenant, output: opts.output, deadlineMs: opts.deadline, sessionSeconds: opts.awsSessionDuration };
      setExit(await runVerify(options, io));
    });
  program
    .command('serve')
    .description('run the admission webhook over HTTPS until SIGTERM')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON); reloaded when it changes')
    .requiredOption('--tls-cert <file>', 'serving certificate (PEM); reloaded when it changes')
    .requiredOption('--tls-key <file>', 'private key of the serving certificate (PEM)')
    .addOption(new Option('--port <port>', 'HTTPS port of /mutate, /healthz and /readyz (0: any free port)').argParser(parsePort).default(8443))
    .addOption(new Option('--metrics-port <port>', 'plain HTTP port of /metrics (0: any free port)').argParser(parsePort).default(9090))
    .option('--address <ip>', 'address to listen on (default: ::, IPv6 and IPv4 alike; 0.0.0.0 on a host without IPv6)')
    .option('--kubeconfig <file>', 'kubeconfig to reach the API server (default: the in-cluster service account)')
    .addOption(new Option('--shutdown-delay <seconds>', 'on SIGTERM, how long /readyz fails before the listener closes').argParser(parseSeconds).default(5000, '5'))
    .addOption(new Option('--file-poll <seconds>', 'how often the policy and certificate files are re-read besides watching them').argParser(parseSeconds).default(10_000, '10'))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--aws-session-duration <seconds>', "STS AssumeRole DurationSeconds for tenant roles (role chaining caps it at 3600)").argParser(parseSessionSeconds).default(3600))
    .option('--lease-namespace <name>', 'namespace of the Lease that elects the refresher (default: $POD_NAMESPACE, else ecr-tenant-webhook)')
    .option('--identity <name>', 'this replica in the Lease (default: $POD_NAME, else the host name)')
    .addOption(new Option('--refresh-interval <seconds>', 'how often the elected replica renews and cleans up pull secrets').argParser(parseSeconds).default(60_000, '60'))
    .addOption(new Option('--deletion-grace <seconds>', 'how long a policy change must hold before the pull secrets it no longer grants are deleted').argParser(parseGraceSeconds).default(3_600_000, '3600'))
    .addOption(new Option('--max-deletions-per-round <count>', 'most pull secrets one refresh round deletes').argParser(parseCount).default(100))
    .addOption(new Option('--lease-duration <seconds>', 'how long a silent leader keeps the refresher Lease').argParser(parseSeconds).default(15_000, '15'))
    .addOption(new Option('--token-refresh-at <fraction>', "refresh an ECR token after this fraction of its life (the kubelet's ECR provider uses 0.5)").argParser(parseFraction).default(0.5))
    .addOption(new Option('--registry-cache <seconds>', "how long ECR answers that can change are trusted: a tag's digest (pinDigests), a repository's tags (repositoryTags grants)").argParser(parseSeconds).default(60_000, '60'))
    .addOption(new Option('--registry-reads <per-second>', "ECR reads each tenant may start a second with each of its credentials at admission, ten seconds' worth at once; past it the pod is denied as RateLimited").argParser(parseCount).default(20))
    .addOption(new Option('--credential-deadline <seconds>', 'at most how long an admission may spend making pull secrets work (within --admission-deadline)').argParser(parseSeconds).default(3000, '3'))
    .addOption(new Option('--admission-deadline <seconds>', "how long one admission may wait on its namespace lookup, ECR reads and pull secrets together; keep it under the webhook's timeoutSeconds").argParser(parseAdmissionDeadline).default(4000, '4'))
    .action(async (opts) => {
      setExit(await runServe(opts, env));
    });
  return program;
}

/** Runs the command line and returns the exit code; errors from outside become a message, not a crash. */
export async function main(argv: readonly string[], io: CliIo = processIo, env: ServeEnvironment = processEnvironment): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, env, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : USAGE_EXIT;
    if (USER_ERRORS.some((type) => error instanceof type)) {
      io.stderr(`error: ${(error as Error).message}\n`);
      return USAGE_EXIT;
    }
    io.stderr(`error: unexpected failure: ${(error as Error).message}\n`);
    return USAGE_EXIT;
  }
}
