import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import t from 'tap';
import { startServe } from './e2e/support/serve-process.ts';

/**
 * No container engine runs here, so the image is proven by what can run without one: the Dockerfile is read, its
 * dependency stage's install is reproduced from a clean copy of package.json and the lockfile, its runtime stage's
 * COPY lines are followed from the repository, and the start command runs there, production dependencies only.
 */
t.setTimeout(300_000);

const ROOT = new URL('../', import.meta.url).pathname;

interface Instruction {
  readonly op: string;
  readonly args: string;
}

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of lines) {
    const [, op = '', args = ''] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === 'FROM') {
      const [, from = '', name = `${stages.length}`] = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(args) ?? [];
      stages.push({ name, from, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

/** A COPY line's flags (--from, --chown, …), sources and destination. */
function parseCopy(args: string) {
  const words = args.split(/\s+/);
  const flags = Object.fromEntries(words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=', 2) as [string, string]));
  const paths = words.filter((w) => !w.startsWith('--'));
  return { from: flags.from, sources: paths.slice(0, -1), dest: paths.at(-1) as string };
}

/** Docker's COPY: a directory's contents go to the destination; a file goes into it when it ends in `/`. */
function copyLikeDocker(source: string, dest: string, manySources: boolean) {
  if (statSync(source).isDirectory()) cpSync(source, dest, { recursive: true });
  else if (dest.endsWith('/') || manySources) cpSync(source, join(dest, basename(source)));
  else cpSync(source, dest);
}

/** A .dockerignore pattern as Docker reads it (Go's filepath.Match plus `**`): `*` matches dot files too. */
function dockerGlob(pattern: string): RegExp {
  const glob = posix.normalize(pattern).replace(/^\/+|\/+$/g, '');
  const source = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*\*/g, '\0').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replaceAll('\0', '.*');
  return new RegExp(`^${source}$`);
}

/** Whether .dockerignore keeps a path out of the build context: the last matching pattern wins, parents included. */
function ignored(patterns: readonly string[], path: string): boolean {
  const ancestors = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  let result = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = dockerGlob(negated ? pattern.slice(1) : pattern);
    if (ancestors.some((p) => glob.test(p))) result = !negated;
  }
  return result;
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1) as Stage;
const deps = stages[0] as Stage;
const of = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op).map((i) => i.args);
const workdir = (stage: Stage) => of(stage, 'WORKDIR').at(-1) ?? '/';
const execForm = (args: string) => JSON.parse(args) as string[];

t.test('the runtime stage runs as a non-root user on distroless Node 24, with no shell step', async (t) => {
  t.equal(stages.length, 2, 'a dependency stage and a runtime stage');
  t.match(runtime.from, /^gcr\.io\/distroless\/nodejs24-debian\d+:nonroot$/);
  t.same(of(runtime, 'RUN'), [], 'no RUN in the final stage: the image has no shell to run one');
  t.same(of(runtime, 'SHELL'), []);
  const user = of(runtime, 'USER').at(-1);
  t.match(user, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-zero uid, so runAsNonRoot can verify it');
  t.equal(user?.split(':')[0], '65532', 'the uid the Deployment runs as');
  for (const op of ['ENTRYPOINT', 'CMD']) t.ok(Array.isArray(execForm(of(runtime, op)[0] as string)), `${op} is exec form: no shell wraps it`);
});

t.test('the dependency stage installs production dependencies only, from the lockfile, on the same Debian release', async (t) => {
  t.match(deps.from, /^node:24-[a-z]+-slim$/);
  t.equal(runtime.from.match(/debian(\d+)/)?.[1], { bookworm: '12', trixie: '13' }[deps.from.split('-')[1] as string], 'one libc for both stages');
  t.match(of(deps, 'RUN')[0], /^npm ci --omit=dev --ignore-scripts\b/);
});

t.test('the build context holds what the Dockerfile copies and keeps local keys and dependencies out', async (t) => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const fromContext = stages.flatMap((stage) => of(stage, 'COPY').map(parseCopy).filter((c) => c.from === undefined).flatMap((c) => c.sources));
  t.ok(fromContext.length > 0);
  for (const source of fromContext) t.notOk(ignored(patterns, source), `${source} reaches the builder`);
  for (const secret of ['certs/out/ca.key', 'node_modules/tap/package.json', '.git/config', 'test/app-https.test.ts', '.env']) t.ok(ignored(patterns, secret), `${secret} does not`);
});

t.test("the runtime stage's files, installed and started as the image would, serve without dev dependencies", async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const depsDir = join(work, 'deps');
  const app = join(work, 'app');
  mkdirSync(depsDir);
  mkdirSync(app);

  // Dependency stage: its COPY sources from the repository, then its RUN, with npm's cache kept out of the way.
  for (const copy of of(deps, 'COPY').map(parseCopy)) for (const source of copy.sources) copyLikeDocker(join(ROOT, source), join(depsDir, copy.dest), copy.sources.length > 1);
  for (const run of of(deps, 'RUN')) {
    execFileSync('bash', ['-c', run], { cwd: depsDir, stdio: 'pipe', env: { ...process.env, npm_config_cache: join(work, 'npm-cache') } });
  }

  // Runtime stage: COPY --from=deps takes from the dependency stage's WORKDIR, the rest from the repository.
  for (const copy of of(runtime, 'COPY').map(parseCopy)) {
    for (const source of copy.sources) {
      const origin = copy.from === undefined ? join(ROOT, source) : join(depsDir, posix.relative(workdir(deps), source));
      copyLikeDocker(origin, join(app, copy.dest) + (copy.dest.endsWith('/') ? '/' : ''), copy.sources.length > 1);
    }
  }
  for (const devOnly of ['tap', 'typescript', 'node']) t.notOk(existsSync(join(app, 'node_modules', devOnly)), `${devOnly} is not in the image`);
  for (const dependency of Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).dependencies)) t.ok(existsSync(join(app, 'node_modules', dependency, 'package.json')), `${dependency} is`);
  t.notOk(existsSync(join(app, 'test')), 'no tests');

  const [entry, ...entryArgs] = execForm(of(runtime, 'ENTRYPOINT')[0] as string);
  t.equal(entry, '/nodejs/bin/node', "distroless's node");
  const help = spawnSync(process.execPath, [...entryArgs, '--help'], { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
  t.equal(help.status, 0, help.stderr);
  for (const command of ['serve [options]', 'check [options]', 'aws-policies [options]']) t.match(help.stdout, command, `--help lists ${command.split(' ')[0]}`);

  // The default command with the in-cluster paths, pointed at files made here and at an API server that is not
  // there: it must load every production module, listen, keep retrying the watch, and shut down cleanly.
  const cmd = execForm(of(runtime, 'CMD')[0] as string);
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
