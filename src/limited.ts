/**
 * Runs `work` over `items`, at most `limit` at a time, in order of start; stops starting new items once `more()`
 * says no (a round out of budget), letting those already started finish. Resolves with how many never started.
 * The one worker pool: the reconciler's round and verify's checks both run through it.
 */
export async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>, more: () => boolean = () => true): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && more()) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return items.length - next;
}
