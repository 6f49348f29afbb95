import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * A real kube-apiserver and etcd on 127.0.0.1 for the end-to-end tests and the demo, run the way
 * controller-runtime's envtest runs them: state in a temporary directory, free ports, a serving certificate from
 * a throwaway CA (so clients verify TLS for real), an admin identity from a token file (group system:masters),
 * service-account signing keys so the TokenRequest API works, RBAC authorization, and the ServiceAccount admission
 * plugin off (no controller-manager runs to create token secrets). No controllers or scheduler run: objects are
 * stored and admitted, never reconciled.
 *
 * The binaries (etcd, kube-apiserver and a kubectl of the same release) come from CONTROL_PLANE_BIN if set, else
 * from build.sh, which builds them from Go modules once and caches them outside the repository.
 */
const BUILD_SCRIPT = fileURLToPath(new URL('build.sh', import.meta.url));
const MAKE_CERTS = fileURLToPath(new URL('../../certs/make-certs.sh', import.meta.url));
const BINARIES = ['etcd', 'kube-apiserver', 'kubectl'] as const;
const STOP_GRACE_MS = 10_000;
const KUBECTL_TIMEOUT_MS = 60_000;
const run = promisify(execFile);

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KubectlOptions {
  /** Written to kubectl's stdin (for `apply -f -`). */
  readonly input?: string;
  /** Defaults to the admin kubeconfig. */
  readonly kubeconfig?: string;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The CA that signs the API server's serving certificate. */
  readonly caPem: string;
  /** Path of a kubeconfig for an admin identity (group system:masters). */
  readonly adminKubeconfig: string;
  /** Temporary directory holding etcd's data, certificates, logs and kubeconfigs; removed by stop(). */
  readonly dir: string;
  /** Where etcd, kube-apiserver and kubectl live. */
  readonly binDir: string;
  /** Runs the version-matched kubectl; a non-zero exit is a result, not an error. */
  kubectl(args: readonly string[], options?: KubectlOptions): Promise<KubectlResult>;
  /**
   * Path of a kubeconfig that authenticates as the ServiceAccount with a token from the TokenRequest API. The
   * namespace and the ServiceAccount are created if missing.
   */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /** Stops kube-apiserver and starts it again on the same port and etcd: watches break and must resume. */
  restartApiServer(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period, for both processes; removes dir. A second call is a no-op. */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  readonly log?: (line: string) => void;
  /** How long etcd and kube-apiserver each get to become ready (default 120 s). */
  readonly readyTimeoutMs?: number;
}

// --- child processes that never outlive the test process ---------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/** 'exit' covers a normal end and process.exit(); it never fires when the process is killed by a signal. */
function killOnExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    process.on('exit', () => liveChildren.forEach((c) => c.kill('SIGKILL')));
    exitHookInstalled = true;
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

let setprivAvailable: boolean | undefined;

/**
 * tap ends a test file that overruns its timeout with SIGALRM and then SIGKILL, and no 'exit' handler runs then.
 * The kernel's parent-death signal (util-linux setpriv, Linux only) still kills the children in that case.
 */
function guardedCommand(binary: string, args: readonly string[]): [string, string[]] {
  setprivAvailable ??= commandWorks('setpriv', ['--version']);
  return setprivAvailable ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', binary, ...args]] : [binary, [...args]];
}

function commandWorks(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tail(path: string, lines = 40): string {
  return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(no log)';
}

/** A long-running binary whose output goes to a log file. */
class Daemon {
  readonly name: string;
  readonly logPath: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #exitStatus = '';

  constructor(name: string, logPath: string) {
    this.name = name;
    this.logPath = logPath;
  }

  start(binary: string, args: readonly string[]): void {
    const out = openSync(this.logPath, 'a');
    const [command, commandArgs] = guardedCommand(binary, args);
    const child = spawn(command, commandArgs, { stdio: ['ignore', out, out] });
    closeSync(out);
    killOnExit(child);
    this.#child = child;
    this.#exitStatus = '';
    this.#exited = new Promise((resolve) => {
      child.once('error', (error) => ((this.#exitStatus = error.message), resolve()));
      child.once('exit', (code, signal) => ((this.#exitStatus = signal ?? `code ${code}`), resolve()));
    });
  }

  running(): boolean {
    return this.#child !== undefined && this.#exitStatus === '';
  }

  describe(problem: string): Error {
    return new Error(`${this.name} ${problem}; last lines of ${this.logPath}:\n${tail(this.logPath)}`);
  }

  exitError(): Error {
    return this.describe(`exited (${this.#exitStatus}) before it was ready`);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running()) return this.#exited;
    child.kill('SIGTERM');
    const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(escalate);
  }
}

async function waitReady(daemon: Daemon, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready()) return;
    if (!daemon.running()) throw daemon.exitError();
    if (Date.now() > deadline) throw daemon.describe(`not ready after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// --- binaries, ports, credentials ---------------------------------------------------------------------------

async function controlPlaneBinaries(log: (line: string) => void): Promise<string> {
  const given = process.env.CONTROL_PLANE_BIN;
  const binDir = given !== undefined && given !== '' ? given : await runBuildScript(log);
  for (const name of BINARIES) {
    try {
      accessSync(join(binDir, name), constants.X_OK);
    } catch {
      throw new Error(`${join(binDir, name)} is missing or not executable; build the binaries with test/control-plane/build.sh`);
    }
  }
  return binDir;
}

/** build.sh prints progress on stderr (a first build takes minutes) and only the directory on stdout. */
function runBuildScript(log: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    let stdout = '';
    const progress: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    createInterface({ input: child.stderr }).on('line', (line) => (progress.push(line), log(line)));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(stdout.trim().split('\n').at(-1) ?? '') : reject(new Error(`build.sh failed (${code}):\n${progress.slice(-20).join('\n')}`)),
    );
  });
}

async function freePorts(count: number): Promise<number[]> {
  // All held open together so that the ports are distinct.
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer().once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

interface Credentials {
  readonly caPem: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly adminToken: string;
  readonly tokenFile: string;
  /** Signs ServiceAccount tokens (TokenRequest). */
  readonly serviceAccountSigningKeyFile: string;
  /** Verifies them. */
  readonly serviceAccountPublicKeyFile: string;
}

async function makeCredentials(dir: string): Promise<Credentials> {
  const pki = join(dir, 'pki');
  // The same script operators use for the webhook; the service names it adds are harmless extra SANs.
  await run('bash', [MAKE_CERTS, pki, 'kubernetes', 'default', 'IP:127.0.0.1', 'DNS:localhost']);
  const adminToken = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  const serviceAccountSigningKeyFile = join(pki, 'service-account.key');
  const serviceAccountPublicKeyFile = join(pki, 'service-account.pub');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(serviceAccountSigningKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(serviceAccountPublicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  return {
    caPem: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    certFile: join(pki, 'tls.crt'),
    keyFile: join(pki, 'tls.key'),
    adminToken,
    tokenFile,
    serviceAccountSigningKeyFile,
    serviceAccountPublicKeyFile,
  };
}

function kubeconfigFor(url: string, caPem: string, user: string, token: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: url, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user } }],
    'current-context': 'local',
  }, null, 2);
}

// --- etcd and kube-apiserver --------------------------------------------------------------------------------

function etcdArgs(dir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=local',
    `--data-dir=${join(dir, 'etcd-data')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=local=${peer}`,
    // Test data is thrown away; fsync only slows every write down.
    '--unsafe-no-fsync=true',
  ];
}

function apiServerArgs(dir: string, etcdPort: number, apiPort: number, credentials: Credentials): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    `--tls-cert-file=${credentials.certFile}`,
    `--tls-private-key-file=${credentials.keyFile}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    // Keeps it from looking up the default route to find an address to advertise.
    '--advertise-address=127.0.0.1',
    // 1.37 refuses a loopback advertise address with the default lease reconciler; Kubernetes' own integration
    // framework turns the reconciler off the same way.
    '--endpoint-reconciler-type=none',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${credentials.serviceAccountPublicKeyFile}`,
    `--service-account-signing-key-file=${credentials.serviceAccountSigningKeyFile}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${credentials.tokenFile}`,
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
    // Without it a SIGTERM leaves open watches hanging until the SIGKILL after the grace period (a restart with an
    // informer connected took 12 s instead of 3 s); with it they are ended cleanly, as in a rolling upgrade.
    '--shutdown-watch-termination-grace-period=2s',
  ];
}

function etcdHealthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    httpGet({ host: '127.0.0.1', port, path: '/health', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve(body.includes('"health":"true"')));
    }).on('error', () => resolve(false));
  });
}

function apiServerReady(port: number, credentials: Credentials): Promise<boolean> {
  return new Promise((resolve) => {
    const headers = { authorization: `Bearer ${credentials.adminToken}` };
    httpsGet({ host: '127.0.0.1', port, path: '/readyz', ca: credentials.caPem, headers, timeout: 2000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

function runKubectl(kubectlPath: string, cacheDir: string, kubeconfig: string, args: readonly string[], input: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    // --cache-dir keeps the discovery cache out of the user's ~/.kube.
    const child = spawn(kubectlPath, ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { timeout: KUBECTL_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? 1, stdout, stderr: signal === null ? stderr : `${stderr}killed by ${signal}` }));
    // kubectl may finish (or fail) before it reads its input; the broken pipe is not the test's failure, its exit code is.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => undefined);
  const readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
  const binDir = await controlPlaneBinaries(log);
  const dir = mkdtempSync(join(tmpdir(), 'control-plane-'));
  const etcd = new Daemon('etcd', join(dir, 'etcd.log'));
  const apiserver = new Daemon('kube-apiserver', join(dir, 'kube-apiserver.log'));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await apiserver.stop();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const started = Date.now();
    const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const credentials = await makeCredentials(dir);
    mkdirSync(join(dir, 'apiserver-certs'));

    etcd.start(join(binDir, 'etcd'), etcdArgs(dir, etcdPort, peerPort));
    await waitReady(etcd, () => etcdHealthy(etcdPort), readyTimeoutMs);
    const startApiServer = async () => {
      apiserver.start(join(binDir, 'kube-apiserver'), apiServerArgs(dir, etcdPort, apiPort, credentials));
      await waitReady(apiserver, () => apiServerReady(apiPort, credentials), readyTimeoutMs);
    };
    await startApiServer();

    const url = `https://127.0.0.1:${apiPort}`;
    const adminKubeconfig = join(dir, 'admin.kubeconfig');
    writeFileSync(adminKubeconfig, kubeconfigFor(url, credentials.caPem, 'admin', credentials.adminToken), { mode: 0o600 });
    log(`control plane ready at ${url} in ${((Date.now() - started) / 1000).toFixed(1)} s (binaries in ${binDir})`);

    const kubectl = (args: readonly string[], opts: KubectlOptions = {}): Promise<KubectlResult> =>
      runKubectl(join(binDir, 'kubectl'), join(dir, 'kube-cache'), opts.kubeconfig ?? adminKubeconfig, args, opts.input ?? '');
    const kubectlOk = async (args: readonly string[]): Promise<string> => {
      const result = await kubectl(args);
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
      return result.stdout;
    };
    const createIfMissing = async (args: readonly string[]): Promise<void> => {
      const result = await kubectl(['create', ...args]);
      // Not only "(AlreadyExists)": `create serviceaccount` words it "failed to create serviceaccount: ... already exists".
      if (result.code !== 0 && !result.stderr.includes('already exists')) throw new Error(`kubectl create ${args.join(' ')} failed: ${result.stderr}`);
    };

    return {
      url,
      caPem: credentials.caPem,
      adminKubeconfig,
      dir,
      binDir,
      kubectl,
      async serviceAccountKubeconfig(namespace, name) {
        await createIfMissing(['namespace', namespace]);
        await createIfMissing(['serviceaccount', name, '--namespace', namespace]);
        const token = (await kubectlOk(['create', 'token', name, '--namespace', namespace, '--duration=24h'])).trim();
        const path = join(dir, `${namespace}.${name}.kubeconfig`);
        writeFileSync(path, kubeconfigFor(url, credentials.caPem, `system:serviceaccount:${namespace}:${name}`, token), { mode: 0o600 });
        return path;
      },
      async restartApiServer() {
        if (stopping !== undefined) throw new Error('the control plane is stopped');
        const began = Date.now();
        await apiserver.stop();
        await startApiServer();
        log(`kube-apiserver restarted in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
