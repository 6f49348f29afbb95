import t from 'tap';
import { FindingReporter, type Finding, type FindingReporterOptions, type ReportOutcome } from '../../src/events/finding-reporter.ts';
import { InMemoryEventSink } from '../../src/kube/event-sink.ts';

const MINUTE = 60_000;
const replicaSet = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'api-7f9c', namespace: 'shop', uid: 'uid-1' };
const finding = (overrides: Partial<Finding> = {}): Finding => ({ namespace: 'shop', regarding: replicaSet, reason: 'WouldDeny', message: 'image x is not granted', ...overrides });

function harness(options: Partial<FindingReporterOptions> = {}) {
  const clock = { now: Date.parse('2026-12-02T10:00:00Z') };
  const sink = new InMemoryEventSink();
  const outcomes: ReportOutcome[] = [];
  const waits: number[] = [];
  const reporter = new FindingReporter({
    sink,
    now: () => clock.now,
    sleep: async (ms) => {
      waits.push(ms);
      clock.now += ms;
    },
    dedupeWindowMs: 10 * MINUTE,
    maxQueue: 100,
    ratePerSecond: 5,
    burst: 20,
    maxKeys: 1000,
    onOutcome: (outcome) => outcomes.push(outcome),
    ...options,
  });
  return { clock, sink, outcomes, waits, reporter };
}

t.test('the pods of one ReplicaSet making the same finding give one Event on the ReplicaSet', async (t) => {
  const { sink, outcomes, reporter } = harness();
  for (let i = 0; i < 5; i++) reporter.report(finding());
  await reporter.drain();
  t.equal(sink.events.length, 1);
  t.match(sink.events[0], { namespace: 'shop', regarding: replicaSet, reason: 'WouldDeny', message: 'image x is not granted', count: 1 });
  t.same(outcomes.sort(), ['deduplicated', 'deduplicated', 'deduplicated', 'deduplicated', 'emitted']);
});

t.test('a repeat after the window gives a new Event counting the repeats since the last one, from the first of them', async (t) => {
  const { clock, sink, reporter } = harness();
  reporter.report(finding());
  clock.now += MINUTE;
  const firstRepeat = clock.now;
  reporter.report(finding());
  clock.now += MINUTE;
  reporter.report(finding());
  clock.now += 10 * MINUTE;
  reporter.report(finding());
  await reporter.drain();
  t.equal(sink.events.length, 2);
  t.equal(sink.events[1]?.count, 3, 'two repeats inside the window and the one that ended it');
  t.equal(sink.events[1]?.firstSeen.getTime(), firstRepeat);
  t.equal(sink.events[1]?.lastSeen.getTime(), clock.now);
});

t.test('different owners, namespaces or messages are different findings', async (t) => {
  const { sink, reporter } = harness();
  reporter.report(finding());
  reporter.report(finding({ regarding: { ...replicaSet, name: 'worker-1', uid: 'uid-2' } }));
  reporter.report(finding({ namespace: 'shop-canary', regarding: { ...replicaSet, namespace: 'shop-canary' } }));
  reporter.report(finding({ message: 'image y is not granted' }));
  reporter.report(finding({ regarding: { apiVersion: 'v1', kind: 'Namespace', name: 'shop', namespace: 'shop' } }));
  await reporter.drain();
  t.equal(sink.events.length, 5);
});

t.test('past the burst, Events go out at the configured rate', async (t) => {
  const { sink, waits, reporter } = harness({ burst: 2, ratePerSecond: 4 });
  for (let i = 0; i < 5; i++) reporter.report(finding({ message: `finding ${i}` }));
  await reporter.drain();
  t.equal(sink.events.length, 5);
  t.same(waits, [250, 250, 250], 'the burst goes at once, then one Event per quarter second');
});

t.test('a full queue drops the finding, counts it, and does not remember it as sent', async (t) => {
  const { sink, outcomes, reporter } = harness({ maxQueue: 2, burst: 1, ratePerSecond: 1 });
  for (let i = 0; i < 4; i++) reporter.report(finding({ message: `finding ${i}` }));
  t.equal(outcomes.filter((o) => o === 'dropped').length, 1, 'one is being sent, two wait, the fourth is dropped');
  await reporter.drain();
  t.same(sink.events.map((e) => e.message), ['finding 0', 'finding 1', 'finding 2']);
  reporter.report(finding({ message: 'finding 3' }));
  await reporter.drain();
  t.equal(sink.events.at(-1)?.message, 'finding 3', 'the dropped finding is sent when it happens again');
});

t.test('an Event the API server refuses is counted as failed with its error, and later ones still go out', async (t) => {
  const errors: (Error | undefined)[] = [];
  const { sink, outcomes, reporter } = harness({ onOutcome: (outcome, _finding, error) => (outcomes.push(outcome), errors.push(error)) });
  sink.failWith = new Error('HTTP 403: events is forbidden');
  reporter.report(finding());
  await reporter.drain();
  sink.failWith = undefined;
  reporter.report(finding({ message: 'another' }));
  await reporter.drain();
  t.same(outcomes, ['failed', 'emitted']);
  t.equal(errors[0]?.message, 'HTTP 403: events is forbidden');
  t.equal(sink.events.length, 1);
});

t.test('after stop, new findings are dropped while what was queued is still sent', async (t) => {
  const { sink, outcomes, reporter } = harness({ burst: 1, ratePerSecond: 1 });
  reporter.report(finding({ message: 'queued before stop' }));
  reporter.report(finding({ message: 'also queued' }));
  reporter.stop();
  reporter.report(finding({ message: 'after stop' }));
  await reporter.drain();
  t.same(sink.events.map((e) => e.message), ['queued before stop', 'also queued']);
  t.equal(outcomes.filter((o) => o === 'dropped').length, 1);
});

t.test('the default wait is a real timer that does not hold the process open', async (t) => {
  const sink = new InMemoryEventSink();
  const reporter = new FindingReporter({ sink, now: Date.now, dedupeWindowMs: MINUTE, maxQueue: 10, ratePerSecond: 200, burst: 1, maxKeys: 10, onOutcome: () => undefined });
  const timers: NodeJS.Timeout[] = [];
  const realSetTimeout = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    const timer = realSetTimeout(...args);
    timers.push(timer);
    return timer;
  }) as typeof setTimeout;
  t.teardown(() => {
    globalThis.setTimeout = realSetTimeout;
  });
  // The unref'd timer alone would let this test process end; a server always has its listener open.
  const listener = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(listener));
  reporter.report(finding({ message: 'a' }));
  reporter.report(finding({ message: 'b' }));
  await reporter.drain();
  t.equal(sink.events.length, 2);
  t.equal(timers.length, 1, 'the second Event waited for the rate limit');
  t.equal(timers[0]?.hasRef(), false);
});

t.test('a finding reported at any moment while the sender finishes is still sent', async (t) => {
  const { sink, reporter } = harness();
  reporter.report(finding({ message: 'first' }));
  for (let tick = 0; tick < 20; tick++) {
    await Promise.resolve();
    reporter.report(finding({ message: `after ${tick} ticks` }));
  }
  await reporter.drain();
  t.equal(sink.events.length, 21);
});

t.test('a finding whose Event was refused is sent again the next time, not counted as a repeat', async (t) => {
  const { sink, outcomes, reporter } = harness();
  sink.failWith = new Error('HTTP 403: events is forbidden');
  reporter.report(finding());
  await reporter.drain();
  sink.failWith = undefined;
  reporter.report(finding());
  await reporter.drain();
  t.same(outcomes, ['failed', 'emitted']);
  t.equal(sink.events.length, 1);
});

t.test('an observer that throws neither fails the report nor stops the sender', async (t) => {
  const { sink, reporter } = harness({
    onOutcome: () => {
      throw new Error('metrics broke');
    },
  });
  t.doesNotThrow(() => {
    reporter.report(finding({ message: 'a' }));
    reporter.report(finding({ message: 'a' }));
    reporter.report(finding({ message: 'b' }));
  });
  await reporter.drain();
  t.same(sink.events.map((e) => e.message), ['a', 'b']);
});
