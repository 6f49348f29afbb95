import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startServe } from './e2e/support/serve-process.ts';

/**
 * No container engine runs here, so the image is proven by what can run without one: the Dockerfile is read, its
 * dependency stage's install is reproduced from a clean copy of package.json and the lockfile, its runtime stage's
 * COPY lines are followed from the repository, and the start command runs there, production dependencies only.
 */
t.setTimeout(300_000);

const ROOT = new URL('../', import.meta.url).pathname;

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: { readonly op: string; readonly args: string }[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const [, from = '', name = `${stages.length}`] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? [];
      stages.push({ name, from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1) as Stage;
const of = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const execForm = (args: string) => JSON.parse(args) as string[];

t.test('the runtime stage runs as a non-root user, on Node 24, without a shell step or build tools', async (t) => {
  t.equal(stages.length, 2, 'a dependency stage and a runtime stage');
  t.match(runtime.from, /distroless\/nodejs24-.*:nonroot$/);
  t.same(of(runtime, 'RUN'), [], 'no RUN in the final stage: the image has no shell to run one');
  const [user] = of(runtime, 'USER');
  t.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-zero uid, so runAsNonRoot can verify it');
  t.match(stages[0]?.from, /^node:24-/);
  t.match(of(stages[0] as Stage, 'RUN')[0], /npm ci --omit=dev/);
});

t.test("the runtime stage's files, installed and started as the image would, serve without dev dependencies", async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const deps = join(work, 'deps');
  const app = join(work, 'app');
  mkdirSync(deps);
  mkdirSync(app);

  // Dependency stage: its COPY sources from the repository, then its RUN, with npm's cache kept out of the way.
  const depsStage = stages[0] as Stage;
  for (const copy of of(depsStage, 'COPY')) for (const source of copy.split(/\s+/).slice(0, -1)) cpSync(join(ROOT, source), join(deps, source));
  for (const run of of(depsStage, 'RUN')) {
    execFileSync('bash', ['-c', run], { cwd: deps, stdio: 'pipe', env: { ...process.env, npm_config_cache: join(work, 'npm-cache') } });
  }

  // Runtime stage: COPY --from=deps takes from the dependency stage, the rest from the repository.
  for (const copy of of(runtime, 'COPY')) {
    const fromStage = /^--from=(\S+)\s+/.exec(copy)?.[1];
    const parts = copy.replace(/^--from=\S+\s+/, '').split(/\s+/);
    const target = join(app, parts.at(-1) as string);
    for (const source of parts.slice(0, -1)) {
      const origin = fromStage === undefined ? join(ROOT, source) : join(deps, source.replace(/^\/app\//, ''));
      cpSync(origin, parts.length === 2 && !parts.at(-1)?.endsWith('/') ? target : join(target, source.split('/').at(-1) as string), { recursive: true });
    }
  }
  for (const devOnly of ['tap', 'typescript', 'node']) t.notOk(existsSync(join(app, 'node_modules', devOnly)), `${devOnly} is not in the image`);
  t.ok(existsSync(join(app, 'node_modules', 'fastify')), 'production dependencies are');

  const [entry, ...entryArgs] = execForm(of(runtime, 'ENTRYPOINT')[0] as string);
  t.equal(entry, '/nodejs/bin/node', "distroless's node");
  const cmd = execForm(of(runtime, 'CMD')[0] as string);
  const help = spawnSync(process.execPath, [...entryArgs, '--help'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
  t.equal(help.status, 0, help.stderr);
  for (const command of ['serve [options]', 'check [options]', 'aws-policies [options]']) t.match(help.stdout, command);

  // The default command with the in-cluster paths, pointed at files made here and at an API server that is not
  // there: it must load every production module, listen, report itself unready, and shut down cleanly.
  const mount = join(work, 'etc');
  mkdirSync(join(mount, 'policy'), { recursive: true });
  execFileSync('bash', [join(ROOT, 'certs/make-certs.sh'), join(mount, 'tls')], { stdio: 'pipe' });
  cpSync(join(ROOT, 'examples/policy.yaml'), join(mount, 'policy/policy.yaml'));
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'u', user: { token: 'x' } }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }], 'current-context': 'c' }));
  t.equal(cmd[0], 'serve');
  const args = cmd.slice(1).map((arg) => arg.replace('/etc/ecr-tenant-webhook', mount));
  const serve = await startServe([...args, '--address', '127.0.0.1', '--port', '0', '--metrics-port', '0', '--kubeconfig', kubeconfig, '--shutdown-delay', '0'], {
    cwd: app,
    entry: join(app, entryArgs[0] as string),
  });
  await serve.waitForLine((line) => line.msg === 'namespace watch failed; restarting');
  t.same(await serve.stop(), { code: 0, signal: null });
});
