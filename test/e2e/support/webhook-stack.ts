import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../control-plane/control-plane.ts';
import { awsEnvironment, startMoto, type MotoServer } from '../../moto/moto-server.ts';
import { writeProjected } from '../../support/projected-dir.ts';
import { httpsGet, startServe, waitUntil, type ServeProcess } from './serve-process.ts';

/**
 * The whole thing, as an operator would run it, on one machine: a real kube-apiserver and etcd, the webhook's
 * RBAC and its Mutating- and ValidatingWebhookConfiguration from manifests/ (each webhook pointed at
 * https://127.0.0.1:PORT/mutate with the test CA, as envtest does), and the real `serve` process authenticated as
 * the manifests' ServiceAccount — not as an admin — so the RBAC is proven to be enough.
 */
const ROOT = new URL('../../../', import.meta.url).pathname;
const MAKE_CERTS = join(ROOT, 'certs/make-certs.sh');
const RBAC_KINDS = new Set(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
};

export interface WebhookStack {
  readonly cp: ControlPlane;
  /** AWS (STS, ECR) for serve: moto behind the counting proxy. */
  readonly moto: MotoServer;
  readonly serve: ServeProcess;
  /** The CA that signs the webhook's serving certificate (what caBundle holds). */
  readonly webhookCa: string;
  /** The manifests/ objects as `kubectl kustomize` renders them. */
  readonly manifests: readonly KubeObject[];
  /** serve's arguments and environment, so a test can start a second replica beside it. */
  readonly serveArgs: readonly string[];
  readonly serveEnv: NodeJS.ProcessEnv;
  kubectl(args: readonly string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** kubectl that must succeed; throws with its stderr otherwise. */
  kubectlOk(args: readonly string[], input?: string): Promise<string>;
  /** Creates (or relabels) a namespace. */
  namespace(name: string, labels?: Record<string, string>): Promise<void>;
  /**
   * serve's arguments with its kubeconfig pointed at another address of the API server (a proxy in front of it),
   * for a replica whose network a test shapes; the kubeconfig is written beside the stack's other files.
   */
  serveArgsVia(address: string): string[];
  /** Points every webhook of both configurations at another serve process (a second replica). */
  retarget(port: number): Promise<void>;
  /** Replaces the policy the way a ConfigMap update reaches the pod (symlink swap). */
  pushPolicy(text: string): void;
  /** A new serving certificate from the same CA, swapped in like a Secret update. */
  rotateCertificate(): void;
  stop(): Promise<void>;
}

export { awsEnvironment };

export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);
}

function yamlStream(objects: readonly unknown[]): string {
  return objects.map((object) => stringify(object)).join('---\n');
}

/** The manifests' webhook configurations (mutating and validating), pointed at the local serve process. */
function localWebhookConfigurations(manifests: readonly KubeObject[], port: number, caPem: string): KubeObject[] {
  const configurations = manifests.filter((o) => o.kind === 'MutatingWebhookConfiguration' || o.kind === 'ValidatingWebhookConfiguration').map((o) => structuredClone(o));
  if (!configurations.some((o) => o.kind === 'MutatingWebhookConfiguration')) throw new Error('manifests/ has no MutatingWebhookConfiguration');
  for (const configuration of configurations) {
    for (const webhook of configuration.webhooks as { clientConfig: { service?: { path?: string }; url?: string; caBundle?: string } }[]) {
      const path = webhook.clientConfig.service?.path ?? '/mutate';
      webhook.clientConfig = { url: `https://127.0.0.1:${port}${path}`, caBundle: Buffer.from(caPem).toString('base64') };
    }
    delete (configuration.metadata as { annotations?: unknown }).annotations;
  }
  return configurations;
}

export async function startWebhookStack(options: { policy: string; log?: (line: string) => void }): Promise<WebhookStack> {
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'webhook-stack-'));
  const certOut = join(dir, 'certs-out');
  const tlsDir = join(dir, 'tls');
  const policyDir = join(dir, 'policy');
  const makeLeaf = () => {
    execFileSync('bash', [MAKE_CERTS, certOut, 'ecr-tenant-webhook', 'ecr-tenant-webhook', 'IP:127.0.0.1', 'DNS:localhost'], { stdio: 'pipe' });
    writeProjected(tlsDir, { 'tls.crt': readFileSync(join(certOut, 'tls.crt')), 'tls.key': readFileSync(join(certOut, 'tls.key')) });
  };
  makeLeaf();
  writeProjected(policyDir, { 'policy.yaml': options.policy });
  const webhookCa = readFileSync(join(certOut, 'ca.crt'), 'utf8');

  let cp: ControlPlane | undefined;
  let moto: MotoServer | undefined;
  let serve: ServeProcess | undefined;
  const stop = async () => {
    await serve?.stop('SIGTERM');
    await cp?.stop();
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cp = await startControlPlane({ log });
    moto = await startMoto();
    const aws = moto;
    log(`AWS (STS, ECR) emulated by moto at ${aws.endpoint}`);
    const controlPlane = cp;
    const kubectl = (args: readonly string[], input?: string) => controlPlane.kubectl(args, input === undefined ? {} : { input });
    const kubectlOk = async (args: readonly string[], input?: string) => {
      const result = await kubectl(args, input);
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    };

    const manifests = parseObjects(await kubectlOk(['kustomize', join(ROOT, 'manifests')]));
    await kubectlOk(['apply', '-f', '-'], yamlStream(manifests.filter((o) => RBAC_KINDS.has(o.kind))));
    const account = manifests.find((o) => o.kind === 'ServiceAccount');
    if (account === undefined) throw new Error('manifests/ has no ServiceAccount');
    const kubeconfig = await controlPlane.serviceAccountKubeconfig(account.metadata.namespace ?? 'default', account.metadata.name);
    log(`serve authenticates as system:serviceaccount:${account.metadata.namespace}:${account.metadata.name}`);

    const serveArgs = [
      '--policy', join(policyDir, 'policy.yaml'),
      '--tls-cert', join(tlsDir, 'tls.crt'),
      '--tls-key', join(tlsDir, 'tls.key'),
      '--address', '127.0.0.1', '--port', '0', '--metrics-port', '0',
      '--kubeconfig', kubeconfig,
      '--shutdown-delay', '0', '--file-poll', '1',
      '--refresh-interval', '1', '--lease-duration', '3',
    ];
    const serveEnv = { ...process.env, ...awsEnvironment(aws.endpoint) };
    serve = await startServe([...serveArgs, '--identity', 'replica-a'], { env: serveEnv });
    const port = serve.port;
    await waitUntil(async () => (await httpsGet(port, '/readyz', webhookCa)).status === 200, 'serve to be ready');
    const configurations = localWebhookConfigurations(manifests, port, webhookCa);
    await kubectlOk(['apply', '-f', '-'], yamlStream(configurations));
    log(`webhooks registered: ${configurations.map((c) => `${c.kind} ${c.metadata.name}`).join(', ')} -> https://127.0.0.1:${port}`);

    const running = serve;
    return {
      cp,
      moto: aws,
      serve: running,
      webhookCa,
      manifests,
      serveArgs,
      serveEnv,
      kubectl,
      kubectlOk,
      async namespace(name, labels = {}) {
        await kubectlOk(['apply', '-f', '-'], yamlStream([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }]));
      },
      async retarget(otherPort) {
        await kubectlOk(['apply', '-f', '-'], yamlStream(localWebhookConfigurations(manifests, otherPort, webhookCa)));
      },
      serveArgsVia(address) {
        const at = serveArgs.indexOf('--kubeconfig') + 1;
        const config = JSON.parse(readFileSync(serveArgs[at] as string, 'utf8')) as { clusters: { cluster: { server: string } }[] };
        for (const { cluster } of config.clusters) cluster.server = `https://${address}`;
        const path = join(dir, `kubeconfig-via-${address.replace(/[^0-9a-z]/gi, '-')}.json`);
        writeFileSync(path, JSON.stringify(config));
        return serveArgs.map((arg, i) => (i === at ? path : arg));
      },
      pushPolicy: (text) => writeProjected(policyDir, { 'policy.yaml': text }),
      rotateCertificate: makeLeaf,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
