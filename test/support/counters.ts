import type { Counter } from 'prom-client';

/** A counter's total over all its label sets, in this process (the test's own stack). */
export async function counterTotal(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** Runs `fn` and returns how much each counter grew meanwhile. */
export async function countWork<T extends Record<string, Counter<string>>>(counters: T, fn: () => Promise<unknown>): Promise<{ [K in keyof T]: number }> {
  const before = await Promise.all(Object.values(counters).map(counterTotal));
  await fn();
  const after = await Promise.all(Object.values(counters).map(counterTotal));
  return Object.fromEntries(Object.keys(counters).map((k, i) => [k, after[i]! - before[i]!])) as { [K in keyof T]: number };
}
