import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createMetrics } from '../../src/metrics.ts';
import { PolicyError } from '../../src/policy/load.ts';
import { PolicyReloader } from '../../src/policy/policy-reloader.ts';
import { logSink, TEST_POLICY_PATH } from '../admission/harness.ts';
import { writeProjected } from '../support/projected-dir.ts';

const GOOD = readFileSync(TEST_POLICY_PATH, 'utf8');
const DRY_RUN = GOOD.replace('mode: enforce', 'mode: dry-run');
const BROKEN = GOOD.replace('registry: 111111111111.dkr.ecr.eu-west-1.amazonaws.com', 'registry: foo');

async function open(t: Test, content: string) {
  const dir = mkdtempSync(join(tmpdir(), 'policy-reloader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProjected(dir, { 'policy.yaml': content });
  const sink = logSink();
  const metrics = createMetrics();
  const path = join(dir, 'policy.yaml');
  const reloader = await PolicyReloader.open({ path, log: sink.log, metrics, pollMs: 60_000, debounceMs: 10 });
  t.teardown(() => reloader.stop());
  const metric = async (name: string) => (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#'));
  return { dir, path, reloader, logs: sink.lines, metric, push: (text: string) => writeProjected(dir, { 'policy.yaml': text }) };
}

t.test('a policy pushed as a ConfigMap update replaces the one in force', async (t) => {
  const { reloader, push, logs, metric } = await open(t, GOOD);
  t.equal(reloader.current().defaultMode, 'enforce');
  push(DRY_RUN);
  await reloader.check();
  t.equal(reloader.current().defaultMode, 'dry-run');
  t.match(logs.at(-1), { msg: 'policy reloaded', tenants: 2, defaultMode: 'dry-run' });
  t.same(await metric('ecr_tenant_webhook_policy_reloads_total'), ['ecr_tenant_webhook_policy_reloads_total{result="success"} 1']);
  t.same(await metric('ecr_tenant_webhook_policy_reload_healthy'), ['ecr_tenant_webhook_policy_reload_healthy 1']);
});

t.test('a broken policy pushed is rejected with a log line and a metric, and the last good one keeps serving', async (t) => {
  const { reloader, push, logs, metric, path } = await open(t, GOOD);
  const before = reloader.current();
  push(BROKEN);
  await reloader.check();
  t.equal(reloader.current(), before, 'the very same compiled policy is still in force');
  const line = logs.at(-1);
  t.match(line, { level: 50, msg: 'policy change rejected; the last good policy keeps serving' });
  t.match((line?.problems as string[])[0], `${path}: spec.tenants.payments.grants[0].registry: "foo" is not an ECR registry host`);
  t.same(await metric('ecr_tenant_webhook_policy_reloads_total'), ['ecr_tenant_webhook_policy_reloads_total{result="failure"} 1']);
  t.same(await metric('ecr_tenant_webhook_policy_reload_healthy'), ['ecr_tenant_webhook_policy_reload_healthy 0']);

  push(DRY_RUN);
  await reloader.check();
  t.equal(reloader.current().defaultMode, 'dry-run', 'a fixed policy is taken up again');
  t.same(await metric('ecr_tenant_webhook_policy_reload_healthy'), ['ecr_tenant_webhook_policy_reload_healthy 1']);
});

t.test('a policy file that disappears is reported, and the last good policy keeps serving', async (t) => {
  const { reloader, logs, path } = await open(t, GOOD);
  const before = reloader.current();
  rmSync(path);
  await reloader.check();
  t.equal(reloader.current(), before);
  t.match(logs.at(-1), { level: 50, problems: [new RegExp(`^${path}: cannot be read \\(ENOENT\\)`)] });
});

t.test('a policy file changed in place (not through a symlink) is picked up by the directory watch alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-reloader-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'policy.yaml');
  writeFileSync(path, GOOD);
  const reloader = await PolicyReloader.open({ path, log: logSink().log, metrics: createMetrics(), pollMs: 60_000, debounceMs: 10 });
  t.teardown(() => reloader.stop());
  writeFileSync(path, DRY_RUN);
  const deadline = Date.now() + 5000;
  while (reloader.current().defaultMode !== 'dry-run' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(reloader.current().defaultMode, 'dry-run');
});

const startFailures = [
  { name: 'a policy file that does not exist stops the start, naming the file', content: undefined, message: /policy\.yaml: cannot be read \(ENOENT\)/ },
  { name: 'a broken policy file stops the start, naming the path and the problem', content: BROKEN, message: /grants\[0\]\.registry: "foo" is not an ECR registry host/ },
];

for (const c of startFailures) {
  t.test(c.name, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-reloader-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'policy.yaml');
    if (c.content !== undefined) writeFileSync(path, c.content);
    await t.rejects(PolicyReloader.open({ path, log: logSink().log, metrics: createMetrics(), pollMs: 60_000, debounceMs: 10 }), PolicyError);
    await t.rejects(PolicyReloader.open({ path, log: logSink().log, metrics: createMetrics(), pollMs: 60_000, debounceMs: 10 }), { message: c.message });
  });
}

t.test('warnings of a reloaded policy are logged with it', async (t) => {
  const { reloader, push, logs } = await open(t, GOOD);
  push(GOOD.replace('arn:aws:iam::222222222222:role/ecr-pull-payments-tools', 'optional override'));
  await reloader.check();
  t.match(logs.at(-1), { msg: 'policy reloaded', warnings: [/optional override/] });
});
