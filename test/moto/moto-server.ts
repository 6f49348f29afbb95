import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port.ts';

/**
 * moto's server on 127.0.0.1 as the AWS the STS and ECR code talks to, behind a small counting proxy: the tests
 * point the real SDK clients at the proxy (AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL_ECR), and the proxy counts each
 * API call by name before forwarding it, so a test can assert "exactly one AssumeRole". The proxy can also be told
 * to delay or refuse calls, which is how slow, throttled or failing AWS is simulated without mocking the SDK.
 */
const HERE = new URL('.', import.meta.url).pathname;
const run = promisify(execFile);

export type Fault =
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'error'; readonly status: number; readonly code: string; readonly message: string }
  /** A well-formed 200 answer with the given body, in place of moto's (a malformed or empty AWS answer). */
  | { readonly kind: 'answer'; readonly contentType: string; readonly body: string };

export interface MotoServer {
  /** The endpoint to give the SDK (the counting proxy in front of moto). */
  readonly endpoint: string;
  /** Calls seen so far, by API name (AssumeRole, GetAuthorizationToken, ...). */
  calls(): Readonly<Record<string, number>>;
  /** The body of the last call of that API, as sent (form-encoded or JSON). */
  lastBody(api: string): string | undefined;
  /** Every body of that API's calls so far (since the last resetCalls), oldest first. */
  bodies(api: string): readonly string[];
  resetCalls(): void;
  /** Applies a fault to every later call of that API until cleared with undefined. */
  setFault(api: string, fault: Fault | undefined): void;
  /** Stops moto itself (the proxy stays, and answers 502): AWS unreachable. */
  stopEmulator(): Promise<void>;
  stop(): Promise<void>;
}

export async function motoServerBinary(): Promise<string> {
  const given = process.env.MOTO_SERVER;
  if (given !== undefined && given !== '') return given;
  const { stdout } = await run('bash', [`${HERE}install.sh`], { timeout: 10 * 60 * 1000 });
  return stdout.trim().split('\n').at(-1) as string;
}

/** The API a request calls: JSON protocols name it in X-Amz-Target, query protocols in the Action parameter. */
function apiOf(req: IncomingMessage, body: string): string {
  const target = req.headers['x-amz-target'];
  if (typeof target === 'string') return target.split('.').at(-1) as string;
  return new URLSearchParams(body).get('Action') ?? new URL(req.url ?? '/', 'http://x').searchParams.get('Action') ?? 'unknown';
}

function awsError(res: ServerResponse, req: IncomingMessage, fault: Extract<Fault, { kind: 'error' }>): void {
  if (typeof req.headers['x-amz-target'] === 'string') {
    res.writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': fault.code });
    res.end(JSON.stringify({ __type: fault.code, message: fault.message }));
    return;
  }
  res.writeHead(fault.status, { 'content-type': 'text/xml' });
  res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>${fault.code}</Code><Message>${fault.message}</Message></Error><RequestId>test</RequestId></ErrorResponse>`);
}

async function waitForMoto(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/moto-api/', timeout: 1000 }, (res) => (res.resume(), resolve(true))).on('error', () => resolve(false)).end();
    });
    if (up) return;
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('moto_server did not answer within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** What points the SDK's default chain and endpoints at the emulator, as an operator's environment would. */
export function awsEnvironment(endpoint: string): Record<string, string> {
  return { AWS_ENDPOINT_URL_STS: endpoint, AWS_ENDPOINT_URL_ECR: endpoint, AWS_ACCESS_KEY_ID: 'AKIDWEBHOOK', AWS_SECRET_ACCESS_KEY: 'webhook-secret', AWS_REGION: 'us-east-1' };
}

export interface MotoOptions {
  /**
   * Variables for moto's process, e.g. INITIAL_NO_AUTH_ACTION_COUNT, after which moto enforces IAM: it checks each
   * caller's identity policies (see test/cli/verify-iam.test.ts for what it does and does not evaluate).
   */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startMoto(options: MotoOptions = {}): Promise<MotoServer> {
  const binary = await motoServerBinary();
  const motoPort = await freePort();
  const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(motoPort)], { stdio: 'ignore', env: { ...process.env, ...options.env } });
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForMoto(motoPort, child);

  const counts: Record<string, number> = {};
  const bodies = new Map<string, string>();
  const allBodies = new Map<string, string[]>();
  const faults = new Map<string, Fault>();
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const api = apiOf(req, body.toString());
      counts[api] = (counts[api] ?? 0) + 1;
      bodies.set(api, body.toString());
      allBodies.set(api, [...(allBodies.get(api) ?? []), body.toString()]);
      const fault = faults.get(api);
      if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
      if (fault?.kind === 'error') return awsError(res, req, fault);
      if (fault?.kind === 'answer') return res.writeHead(200, { 'content-type': fault.contentType }).end(fault.body);
      const upstream = request({ host: '127.0.0.1', port: motoPort, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;

  const stopEmulator = async () => {
    child.kill('SIGTERM');
    await exited;
    process.off('exit', kill);
  };
  return {
    endpoint,
    calls: () => ({ ...counts }),
    lastBody: (api) => bodies.get(api),
    bodies: (api) => [...(allBodies.get(api) ?? [])],
    resetCalls: () => {
      for (const key of Object.keys(counts)) delete counts[key];
      allBodies.clear();
    },
    setFault: (api, fault) => (fault === undefined ? faults.delete(api) : faults.set(api, fault)),
    stopEmulator,
    async stop() {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await stopEmulator();
    },
  };
}
