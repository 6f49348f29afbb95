// Parts 2 and 3 of `npm run bench`, on the test suite's webhook stack (a real kube-apiserver and etcd, moto behind
// its call-counting proxy, and the real `serve` process registered as the mutating webhook):
//   - what the webhook adds to a pod create through the API server: creates in a tenant namespace (the webhook is
//     called) against creates in an unlabelled one (its namespaceSelector leaves it out), interleaved; and, as
//     controls, creates in a namespace where only a webhook that does nothing is called (what any webhook costs
//     here), and in one where only a webhook answering with serve's patch, deciding nothing, is called (what the
//     API server's applying that patch costs);
//   - the cold path: many admissions at once for a tenant whose token and pull Secret do not exist yet.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEcrHost } from '../../src/image/ecr-host.ts';
import { TENANT_LABEL } from '../../src/labels.ts';
import { pullSecretName } from '../../src/policy/decide.ts';
import { startWebhookStack, type WebhookStack } from '../../test/e2e/support/webhook-stack.ts';
import { registryOwner } from '../../test/moto/ecr-images.ts';
import { BenchChild } from './children.ts';
import { HOT_SERVER, makeCertificates } from './hot-path.ts';
import { admissionReview, BUILD_REGISTRY, podObject, policyText, registryOf, servePatch, tenantName } from './fixture.ts';
import { KeepAliveConnection, postRequest } from './keep-alive.ts';
import { nowMs, rssMbOf, summarize, type Summary } from './stats.ts';

/** A small policy for the stack: per-request work does not grow with the policy, and serve polls the file every second. */
const STACK_TENANTS = 20;
/** t0000 rewrites from the old build registry, so the webhook's answer carries a patch (rewrite + pull secret). */
const TENANT = 0;
/**
 * t0002 is enforced and gets no pod before the cold burst: no token and no pull Secret exist for it yet. It pins
 * tags to digests, so the burst reads ECR too: its two images are pushed to moto first, and nothing is cached.
 */
const COLD_TENANT = 2;
const NAMESPACE_WITH = 'bench-tenant';
const NAMESPACE_WITHOUT = 'bench-plain';
const NAMESPACE_COLD = 'bench-cold';
const NAMESPACE_TRIVIAL = 'bench-trivial';
const NAMESPACE_PATCHING = 'bench-patching';
const TRIVIAL_LABEL = 'bench.ecr-tenant-webhook.io/webhook';
const E2E_IMAGE = `${BUILD_REGISTRY}/${tenantName(TENANT)}/checkout:2.4.1`;
const REWRITTEN = `${registryOf(TENANT, 0)}/${tenantName(TENANT)}/checkout:2.4.1`;
const COLD_IMAGES = [`${registryOf(COLD_TENANT, 0)}/${tenantName(COLD_TENANT)}/api:1.0.0`, `${registryOf(COLD_TENANT, 0)}/shared/base/envoy:1.31`];
const WARMUP_ROUNDS = 20;
/** After the burst, how long to keep counting AWS calls (a stray second mint would arrive late). */
const COLD_SETTLE_MS = 1500;

export interface EndToEndOptions {
  readonly pods: number;
  readonly coldAdmissions: number;
  readonly note: (text: string) => void;
}

export interface EndToEndResult {
  readonly with: Summary;
  readonly without: Summary;
  /** Creates where only a webhook that does nothing is called. */
  readonly trivial: Summary;
  readonly trivialCalls: number;
  /** Creates where only a webhook answering with this webhook's patch (rewrite and pull secret) is called. */
  readonly patching: Summary;
  /** How kube-apiserver spoke to the trivial webhook, which offers HTTP/2 and HTTP/1.1: calls by HTTP version. */
  readonly trivialHttpVersions: Readonly<Record<string, number>>;
  /** The same pod's AdmissionReview posted straight to serve: the webhook's own share of `with`. */
  readonly direct: Summary;
  readonly cold: ColdResult;
  readonly serveRssMb: number | undefined;
  readonly serveRssAfterPodsMb: number | undefined;
  /** serve's decisions logged for the tenant namespace per pod created there: 1 unless the API server calls again. */
  readonly webhookCallsPerPod: number;
  readonly durations: { readonly stackStartMs: number; readonly podsMs: number; readonly coldMs: number };
}

export interface ColdResult {
  readonly assumeRoleCalls: number;
  readonly getAuthorizationTokenCalls: number;
  /** ECR reads the burst caused: one per distinct image, however many admissions name it. */
  readonly describeImagesCalls: number;
  readonly distinctImages: number;
  readonly otherAwsCalls: Readonly<Record<string, number>>;
  readonly firstAnswerMs: number;
  /** When serve logged the cold tenant's token as minted, from the firing (to the millisecond of its log clock). */
  readonly mintedAfterMs: number | undefined;
  /** serve's warnings and errors during the burst, by message, and the first failed mint's error. */
  readonly serveWarnings: Readonly<Record<string, number>>;
  readonly mintFailure: string | undefined;
  readonly answerMs: Summary;
  readonly allowed: number;
  readonly denied: number;
  readonly errors: number;
  readonly examples: readonly string[];
}

// --- the API server as the admin, over one keep-alive connection -------------------------------------------------

class AdminApi {
  readonly #url: URL;
  readonly #token: string;
  readonly #agent: Agent;

  constructor(stack: WebhookStack) {
    const config = JSON.parse(readFileSync(stack.cp.adminKubeconfig, 'utf8')) as { users: { user: { token: string } }[] };
    this.#url = new URL(stack.cp.url);
    this.#token = config.users[0]!.user.token;
    // One socket: the creates are sequential, and a fresh TLS handshake must not land in some samples only.
    this.#agent = new Agent({ keepAlive: true, maxSockets: 1, ca: stack.cp.caPem });
  }

  send(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; ms: number }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${this.#token}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }) };
    return new Promise((resolve, reject) => {
      const started = nowMs();
      const req = request({ host: this.#url.hostname, port: this.#url.port, path, method, agent: this.#agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), ms: nowMs() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

async function createNamespace(api: AdminApi, name: string, labels: Record<string, string>): Promise<void> {
  const { status, text } = await api.send('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  if (status !== 201) throw new Error(`creating namespace ${name}: HTTP ${status}: ${text.slice(0, 300)}`);
}

/** A real create (not dryRun=All: a dry run skips writing pull Secrets, so it would not take the path a pod takes). */
async function createPod(api: AdminApi, namespace: string, name: string): Promise<{ ms: number; pod: { spec?: { containers?: { image?: string }[]; imagePullSecrets?: { name?: string }[] } } }> {
  const { status, text, ms } = await api.send('POST', `/api/v1/namespaces/${namespace}/pods`, podObject(namespace, [E2E_IMAGE], name));
  if (status !== 201) throw new Error(`creating pod ${namespace}/${name}: HTTP ${status}: ${text.slice(0, 400)}`);
  return { ms, pod: JSON.parse(text) };
}

/** The webhook was called and did its work: the image rewritten and the pull secret referenced. */
async function createCheckedPod(api: AdminApi, name: string): Promise<number> {
  const { ms, pod } = await createPod(api, NAMESPACE_WITH, name);
  const image = pod.spec?.containers?.[0]?.image;
  const secrets = pod.spec?.imagePullSecrets?.map((s) => s.name) ?? [];
  if (image !== REWRITTEN || secrets.length !== 1) throw new Error(`pod ${NAMESPACE_WITH}/${name} was not mutated as expected: image ${image}, pull secrets ${secrets.join(',')}`);
  return ms;
}

// --- part 2: what the webhook adds to a pod create ---------------------------------------------------------------

type Side = 'with' | 'trivial' | 'patching' | 'without';
const SIDES: readonly Side[] = ['with', 'trivial', 'patching', 'without'];
const NAMESPACE_OF: Readonly<Record<Exclude<Side, 'with'>, string>> = { trivial: NAMESPACE_TRIVIAL, patching: NAMESPACE_PATCHING, without: NAMESPACE_WITHOUT };

/**
 * A webhook that allows every pod, registered for the namespaces labelled `which` only: `trivial` changes nothing,
 * `patching` answers with serve's patch without deciding anything.
 */
async function registerControlWebhook(api: AdminApi, which: 'trivial' | 'patching', port: number, ca: string): Promise<void> {
  const configuration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: `bench-${which}` },
    webhooks: [{
      name: `${which}.bench.ecr-tenant-webhook.io`,
      admissionReviewVersions: ['v1'],
      clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(ca).toString('base64') },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchLabels: { [TRIVIAL_LABEL]: which } },
      matchPolicy: 'Equivalent',
      failurePolicy: 'Fail',
      sideEffects: 'None',
      timeoutSeconds: 5,
    }],
  };
  const { status, text } = await api.send('POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', configuration);
  if (status !== 201) throw new Error(`registering the ${which} webhook: HTTP ${status}: ${text.slice(0, 300)}`);
}

/** A create in a control namespace; the patching webhook's pods are checked to carry its patch. */
async function createControlPod(api: AdminApi, side: Exclude<Side, 'with'>, name: string): Promise<number> {
  const { ms, pod } = await createPod(api, NAMESPACE_OF[side], name);
  const image = pod.spec?.containers?.[0]?.image;
  if ((image === REWRITTEN) !== (side === 'patching')) throw new Error(`pod ${NAMESPACE_OF[side]}/${name} has image ${image}: the ${side} webhook's answer was not applied as expected`);
  return ms;
}

async function podCreates(api: AdminApi, pods: number, note: (text: string) => void) {
  const secret = pullSecretName(parseEcrHost(registryOf(TENANT, 0))!);
  await createCheckedPod(api, 'first'); // mints the tenant's token and writes its pull Secret
  const { status } = await api.send('GET', `/api/v1/namespaces/${NAMESPACE_WITH}/secrets/${secret}`);
  if (status !== 200) throw new Error(`the first pod in ${NAMESPACE_WITH} left no pull Secret ${secret} (HTTP ${status})`);
  note(`e2e: pull Secret ${secret} written by the first pod; ${WARMUP_ROUNDS} warm-up rounds, then ${pods} measured rounds of four creates`);
  const times: Record<Side, number[]> = { with: [], trivial: [], patching: [], without: [] };
  for (let n = 0; n < WARMUP_ROUNDS + pods; n++) {
    // Rotating which goes first cancels any effect of order (a just-used connection, a timer due).
    const order = SIDES.map((_, i) => SIDES[(i + n) % SIDES.length]!);
    for (const side of order) {
      const ms = side === 'with' ? await createCheckedPod(api, `with-${n}`) : await createControlPod(api, side, `${side}-${n}`);
      if (n >= WARMUP_ROUNDS) times[side].push(ms);
    }
  }
  return { with: summarize(times.with), trivial: summarize(times.trivial), patching: summarize(times.patching), without: summarize(times.without) };
}

/** The webhook alone: the review kube-apiserver sends for the same pod, sequentially over one keep-alive connection. */
async function directReviews(stack: WebhookStack, count: number): Promise<Summary> {
  const connection = await KeepAliveConnection.open(stack.serve.port, stack.webhookCa);
  const request = postRequest(stack.serve.port, '/mutate', admissionReview(NAMESPACE_WITH, [E2E_IMAGE], 'bench-direct'));
  const times: number[] = [];
  try {
    for (let n = 0; n < WARMUP_ROUNDS + count; n++) {
      const sentAt = nowMs();
      const answer = await connection.send(request);
      if (answer.status !== 200) throw new Error(`serve answered a direct review with HTTP ${answer.status}`);
      if (n >= WARMUP_ROUNDS) times.push(nowMs() - sentAt);
    }
  } finally {
    connection.close();
  }
  return summarize(times);
}

// --- part 3: the cold path ---------------------------------------------------------------------------------------

/** The cold tenant's images, pushed to moto by the registry's owner, so pinning finds them. */
async function pushColdImages(stack: WebhookStack): Promise<void> {
  const [account = '', , , region = ''] = registryOf(COLD_TENANT, 0).split('.');
  const owner = await registryOwner(stack.moto.endpoint, account, region);
  try {
    for (const [i, image] of COLD_IMAGES.entries()) {
      const [repository = '', tag = ''] = image.slice(image.indexOf('/') + 1).split(':');
      await owner.repository(repository);
      await owner.push(repository, tag, `cold-${i}`);
    }
  } finally {
    owner.destroy();
  }
}

async function coldBurst(stack: WebhookStack, load: BenchChild, admissions: number, note: (text: string) => void): Promise<ColdResult> {
  const target = { port: stack.serve.port, ca: stack.webhookCa };
  await load.call('burst-open', { ...target, count: admissions, namespace: NAMESPACE_COLD, images: COLD_IMAGES });
  note(`cold: ${admissions} connections open to serve; counting AWS calls from now`);
  stack.moto.resetCalls();
  stack.serve.lines.splice(0);
  const firedAt = Date.now();
  const burst = await load.call<Omit<ColdResult, 'assumeRoleCalls' | 'getAuthorizationTokenCalls' | 'describeImagesCalls' | 'distinctImages' | 'otherAwsCalls' | 'mintedAfterMs' | 'serveWarnings' | 'mintFailure'>>('burst-fire');
  await new Promise((resolve) => setTimeout(resolve, COLD_SETTLE_MS));
  await logQuiet(stack);
  const { AssumeRole = 0, GetAuthorizationToken = 0, DescribeImages = 0, ...otherAwsCalls } = stack.moto.calls();
  // The only mint after the reset is the cold tenant's (its key is redacted in the log: it sits under `token`).
  const minted = stack.serve.lines.find((line) => line.msg === 'ECR token minted');
  const mintedAfterMs = typeof minted?.time === 'string' ? Date.parse(minted.time) - firedAt : undefined;
  const serveWarnings: Record<string, number> = {};
  for (const line of stack.serve.lines) if ((line.level ?? 0) >= 40) serveWarnings[String(line.msg)] = (serveWarnings[String(line.msg)] ?? 0) + 1;
  const failed = stack.serve.lines.find((line) => line.msg === 'ECR token mint failed');
  const mintFailure = failed === undefined ? undefined : `${String(failed.code)}: ${String(failed.err)}`;
  return { assumeRoleCalls: AssumeRole, getAuthorizationTokenCalls: GetAuthorizationToken, describeImagesCalls: DescribeImages, distinctImages: new Set(COLD_IMAGES).size, otherAwsCalls, mintedAfterMs, serveWarnings, mintFailure, ...burst };
}

/**
 * Waits (10 s at most) until serve has logged nothing new for a second: after a burst its log trails its answers
 * by seconds, as the lines written while it was busy drain through the pipe.
 */
async function logQuiet(stack: WebhookStack): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let seen = -1; seen !== stack.serve.lines.length && Date.now() < deadline; ) {
    seen = stack.serve.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Parts 2 and 3 on a stack of their own; `onStack` is handed a way to stop it, for Ctrl-C while they run. */
export async function runEndToEnd(load: BenchChild, options: EndToEndOptions, onStack: (stop: () => Promise<void>) => void): Promise<EndToEndResult> {
  const stackStarted = performance.now();
  const stack = await startWebhookStack({ policy: policyText(STACK_TENANTS, {}, (i) => (i === COLD_TENANT ? { pinDigests: true } : {})), log: options.note });
  onStack(() => stack.stop());
  const api = new AdminApi(stack);
  const certDir = mkdtempSync(join(tmpdir(), 'bench-trivial-tls-'));
  const removeCertDir = () => rmSync(certDir, { recursive: true, force: true });
  process.once('exit', removeCertDir);
  let trivialServer: BenchChild | undefined;
  let patchingServer: BenchChild | undefined;
  try {
    const tls = makeCertificates(certDir);
    const echo = ['--kind', 'echo', '--cert', tls.cert, '--key', tls.key];
    trivialServer = new BenchChild('trivial webhook', HOT_SERVER, echo, []);
    patchingServer = new BenchChild('patching webhook', HOT_SERVER, [...echo, '--patch', servePatch(TENANT, REWRITTEN)], []);
    await registerControlWebhook(api, 'trivial', (await trivialServer.ready).port as number, tls.ca);
    await registerControlWebhook(api, 'patching', (await patchingServer.ready).port as number, tls.ca);
    await createNamespace(api, NAMESPACE_TRIVIAL, { [TRIVIAL_LABEL]: 'trivial' });
    await createNamespace(api, NAMESPACE_PATCHING, { [TRIVIAL_LABEL]: 'patching' });
    await createNamespace(api, NAMESPACE_WITH, { [TENANT_LABEL]: tenantName(TENANT) });
    await createNamespace(api, NAMESPACE_WITHOUT, {});
    await createNamespace(api, NAMESPACE_COLD, { [TENANT_LABEL]: tenantName(COLD_TENANT) });
    await pushColdImages(stack);
    const stackStartMs = performance.now() - stackStarted;

    const podsStarted = performance.now();
    const creates = await podCreates(api, options.pods, options.note);
    const { answered: trivialCalls, httpVersions: trivialHttpVersions } = await trivialServer.call<{ answered: number; httpVersions: Record<string, number> }>('holdings');
    const decisions = stack.serve.lines.filter((line) => line.msg === 'admission decision' && line.namespace === NAMESPACE_WITH).length;
    const webhookCallsPerPod = decisions / (1 + WARMUP_ROUNDS + options.pods);
    const direct = await directReviews(stack, options.pods);
    const podsMs = performance.now() - podsStarted;
    const serveRssAfterPodsMb = rssMbOf(stack.serve.child.pid);
    stack.serve.lines.splice(0); // serve's log lines are collected by the stack; nothing here needs them

    const coldStarted = performance.now();
    const cold = await coldBurst(stack, load, options.coldAdmissions, options.note);
    const coldMs = performance.now() - coldStarted;
    stack.serve.lines.splice(0);
    const serveRssMb = rssMbOf(stack.serve.child.pid);
    return { ...creates, trivialCalls, trivialHttpVersions, direct, cold, serveRssMb, serveRssAfterPodsMb, webhookCallsPerPod, durations: { stackStartMs, podsMs, coldMs } };
  } finally {
    api.close();
    await trivialServer?.stop();
    await patchingServer?.stop();
    await stack.stop();
    removeCertDir();
    process.off('exit', removeCertDir);
  }
}
