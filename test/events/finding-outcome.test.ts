import t from 'tap';
import { createMetrics } from '../../src/metrics.ts';
import { reportFindingOutcome } from '../../src/server.ts';
import { logSink } from '../admission/harness.ts';
import { seriesValues } from '../support/metric-values.ts';

const finding = { namespace: 'shop', regarding: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop' }, reason: 'WouldDeny', message: 'm' };

t.test('every outcome is counted; a refused Event is logged with the API server’s reason, the rest are not', async (t) => {
  const metrics = createMetrics();
  const { log, lines } = logSink();
  for (const outcome of ['emitted', 'deduplicated', 'deduplicated', 'dropped'] as const) reportFindingOutcome(outcome, finding, undefined, log, metrics);
  reportFindingOutcome('failed', finding, new Error('HTTP 403: events is forbidden'), log, metrics);
  log.flush();
  t.same(await seriesValues(metrics.findingEvents), { 'result=emitted': 1, 'result=deduplicated': 2, 'result=dropped': 1, 'result=failed': 1 });
  t.match(lines, [{ level: 40, msg: 'WouldDeny Event not written', namespace: 'shop', regarding: 'ReplicaSet/api-7f9c', err: 'HTTP 403: events is forbidden' }]);
  t.equal(lines.length, 1, 'a dropped finding is logged at debug only');
});
