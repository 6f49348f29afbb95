import t from 'tap';
import { Budget, DeadlineError } from '../src/deadline.ts';

/** One request's budget: waits one after another take what is left, so together they never run past it. */
t.test('a budget counts down from its start and never goes below zero', async (t) => {
  let now = 1000;
  const budget = new Budget(500, () => now);
  t.equal(budget.remainingMs(), 500);
  now = 1200.7;
  t.equal(budget.remainingMs(), 299, 'whole milliseconds, rounded down');
  now = 2000;
  t.equal(budget.remainingMs(), 0);
});

t.test('a wait gets the smaller of its own cap and what is left of the budget', async (t) => {
  const never = new Promise<never>(() => undefined);
  let now = 0;
  const budget = new Budget(40, () => now);
  const first = budget.wait(never, 'the first wait', 1000);
  now = 40;
  await t.rejects(first, new DeadlineError('the first wait did not finish within the 40 ms one admission may wait'), 'the budget was the shorter');
  await t.rejects(budget.wait(never, 'the second wait'), new DeadlineError('the second wait did not finish within the 40 ms one admission may wait'), 'nothing is left for a wait after the budget ran out');
  await t.rejects(new Budget(1000).wait(never, 'a capped wait', 10), new DeadlineError('a capped wait took longer than 10 ms'), 'the cap was the shorter');
});

t.test('a wait that settles in time passes its value or its failure on', async (t) => {
  const budget = new Budget(1000);
  t.equal(await budget.wait(Promise.resolve('labels'), 'lookup'), 'labels');
  await t.rejects(budget.wait(Promise.reject(new Error('forbidden')), 'lookup'), { message: 'forbidden' });
});
