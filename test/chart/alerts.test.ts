import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { one, ROOT } from '../manifests/kustomize.ts';
import { chartToolsBin, template } from './helm-tool.ts';

/**
 * The chart's alerts and dashboard, read by the tools that run them: the PrometheusRule as helm renders it, checked
 * by `promtool check rules` and exercised by `promtool test rules` (test/chart/alerts-test.yaml: series shaped like
 * the webhook's /metrics); the dashboard ConfigMap. That every metric they name is one the webhook exports is checked
 * against a real scrape of serve in test/e2e/helm.test.ts.
 */
t.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'alerts-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const rendered = template(dir, ['--set', 'prometheusRule.enabled=true', '--set', 'grafanaDashboard.enabled=true']);
const rule = one(rendered, 'PrometheusRule');
const rules: { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string; runbook_url: string } }[] = rule.spec.groups.flatMap((g: { rules: unknown[] }) => g.rules);
writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: rule.spec.groups }));
copyFileSync(join(ROOT, 'test/chart/alerts-test.yaml'), join(dir, 'alerts-test.yaml'));

function promtool(args: string[]) {
  const result = spawnSync(join(chartToolsBin(), 'promtool'), args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

t.test('promtool check rules accepts the rendered PrometheusRule', async (t) => {
  const checked = promtool(['check', 'rules', 'rules.yaml']);
  t.equal(checked.code, 0, checked.output);
  t.match(checked.output, `SUCCESS: ${rules.length} rules found`);
});

t.test('promtool test rules: each alert fires on the series that should raise it, and not on its near misses', async (t) => {
  const tested = promtool(['test', 'rules', 'alerts-test.yaml']);
  t.equal(tested.code, 0, tested.output);
  const cases = readFileSync(join(dir, 'alerts-test.yaml'), 'utf8');
  for (const { alert } of rules) t.match(cases, `alertname: ${alert}\n`, `${alert} is tested`);
});

t.test('promtool test rules fails when an alert does not fire as expected (the test can fail)', async (t) => {
  const broken = readFileSync(join(dir, 'alerts-test.yaml'), 'utf8').replace("values: '1800x40'", "values: '99999x40'");
  writeFileSync(join(dir, 'broken-test.yaml'), broken);
  const tested = promtool(['test', 'rules', 'broken-test.yaml']);
  t.not(tested.code, 0);
  t.match(tested.output, 'alertname: EcrTenantWebhookPullSecretExpiring');
});

t.test('the alerts the issue asks for are there, each with a severity, a summary and a runbook line in README', async (t) => {
  t.same(rules.map((r) => r.alert), [
    'EcrTenantWebhookDown',
    'EcrTenantWebhookNotReady',
    'EcrTenantWebhookPolicyReloadUnhealthy',
    'EcrTenantWebhookRefresherStalled',
    'EcrTenantWebhookPullSecretExpiring',
    'EcrTenantWebhookAwsErrors',
    'EcrTenantWebhookAdmissionSlow',
    'EcrTenantWebhookDenialsRising',
  ]);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Alerts\n'), readme.indexOf('\n## ', readme.indexOf('\n## Alerts\n') + 1));
  for (const r of rules) {
    t.match(r.labels.severity, /^(critical|warning|info)$/, r.alert);
    t.equal(r.annotations.runbook_url, 'https://github.com/ecr-tenant-webhook/ecr-tenant-webhook/blob/main/README.md#alerts');
    t.match(section, `| \`${r.alert}\` |`, `${r.alert} has a runbook line`);
  }
});

t.test('the dashboard ConfigMap carries the dashboard JSON for the Grafana sidecar, with the panels an operator needs', async (t) => {
  const configMap = one(rendered, 'ConfigMap', 'ecr-tenant-webhook-dashboard');
  t.equal(configMap.metadata.labels.grafana_dashboard, '1');
  const dashboard = JSON.parse(configMap.data['ecr-tenant-webhook.json']);
  t.same(dashboard, JSON.parse(readFileSync(join(ROOT, 'manifests/chart/files/dashboard.json'), 'utf8')));
  const titles = dashboard.panels.map((p: { title: string }) => p.title);
  for (const wanted of ['Pod decisions by tenant', 'Admission latency', 'Token cache', 'AWS calls', 'AWS errors', 'Pull Secret expiry by tenant', 'Refresher']) t.ok(titles.includes(wanted), wanted);
  for (const panel of dashboard.panels) {
    t.ok(panel.targets.length > 0, `${panel.title} has queries`);
    for (const target of panel.targets) t.match(target.expr, /ecr_tenant_webhook_[a-z_]+/, `${panel.title}: ${target.expr}`);
  }
});
