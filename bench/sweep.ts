// The concurrency sweep: short runs of checkouts at 1, 2, 4, ... buyers at once, on the unlimited warm-up ticket
// type, so latency can be read against throughput (Little's law: past the knee, concurrency only adds queueing).
import { latencySummary, type SweepPoint, type TimedRequest } from './report';
import { runCheckouts, type SaleOptions } from './sale';
import type { Stack } from './stack';

/** The concurrencies the sweep steps through. */
export const SWEEP_CONCURRENCIES = [1, 2, 4, 8, 16, 32] as const;

/** The concurrency whose POST p95 is the low-load latency figure (`lowLoadP95Ms`). */
export const LOW_LOAD_CONCURRENCY = 4;

/** One step of the sweep per concurrency, `seconds` each; each step is a phase on the chart. */
export async function runSweep(
  stack: Pick<Stack, 'measure'>,
  sale: Omit<SaleOptions, 'label' | 'concurrency' | 'seconds' | 'buyers'>,
  seconds: number,
  log: (line: string) => void,
): Promise<{ points: SweepPoint[]; requests: TimedRequest[] }> {
  const points: SweepPoint[] = [];
  const requests: TimedRequest[] = [];
  log(`concurrency sweep ${SWEEP_CONCURRENCIES.join(', ')}: ${seconds}s each`);
  for (const concurrency of SWEEP_CONCURRENCIES) {
    const { result } = await stack.measure(`sweep c${concurrency}`, () =>
      runCheckouts({
        ...sale,
        label: `sweep${concurrency}`,
        concurrency,
        seconds,
        buyers: Number.MAX_SAFE_INTEGER,
      }),
    );
    const post = latencySummary(result.postMs);
    const windowSeconds = Math.max(0.001, result.to - result.from);
    points.push({
      concurrency,
      checkoutsPerMinute: Math.round((result.paidOrderIds.length / windowSeconds) * 60),
      postP50Ms: post.p50,
      postP95Ms: post.p95,
      errors: Object.values(result.errors).reduce((a, b) => a + b, 0),
    });
    requests.push(...result.requests);
  }
  return { points, requests };
}
