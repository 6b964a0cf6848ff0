// The bench's command line: sizes and durations of each phase, with the quick defaults of BENCH_QUICK=1.
import { parseArgs } from 'node:util';

/** What `npm run bench -- ...` asked for. */
export interface Flags {
  buyers: number;
  seats: number;
  concurrency: number;
  /** Seconds of the flash sale. */
  duration: number;
  /** Seconds of each baseline measurement. */
  baselineDuration: number;
  /** Seconds of unmeasured warm-up before each measured phase (JIT, caches, pools). */
  warmup: number;
  /** Tickets per order. */
  quantity: number;
  experiments: boolean;
  /** CPU-profile the checkout worker and break its time down by package over the flash sale. */
  profile: boolean;
  keepData: boolean;
  temporal: 'dev' | 'cluster';
  /** Seconds of each step of the concurrency sweep. */
  sweepDuration: number;
  /** The phases to run (`--phases sale,sweep`), all of them unless given: a subset while developing one. */
  phases: ReadonlySet<BenchPhase>;
}

/**
 * The bench's phases that `--phases` can pick, in the order they run. `mixed` and `scale-out` each bring up a
 * stack of their own after the first one is down; `scale-out` (and the sizing model) need `sale` to compare with.
 */
export const BENCH_PHASES = ['sale', 'sweep', 'catalogue', 'baseline', 'mixed', 'scale-out'] as const;

/** One of {@link BENCH_PHASES}. */
export type BenchPhase = (typeof BENCH_PHASES)[number];

/** Reads the command line and BENCH_QUICK. */
export function readFlags(): Flags {
  const quick = process.env.BENCH_QUICK === '1';
  const { values } = parseArgs({
    options: {
      buyers: { type: 'string' },
      seats: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      'baseline-duration': { type: 'string' },
      'sweep-duration': { type: 'string' },
      phases: { type: 'string' },
      warmup: { type: 'string' },
      quantity: { type: 'string' },
      experiments: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      // `cluster`: the same sale and baseline on a Temporal cluster on Postgres (four service processes).
      temporal: { type: 'string', default: 'dev' },
    },
  });
  if (values.temporal !== 'dev' && values.temporal !== 'cluster')
    throw new Error(`--temporal must be dev or cluster, got ${values.temporal}`);
  const int = (name: string, raw: string | undefined, fallback: number, min = 1) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
    return n;
  };
  // Sized so the seats run out before the clock on this 2-core machine (~500 tickets/min): the sale ends in a
  // real race for the last seats, and the sustained rate is measured up to the last sale.
  const seats = int('seats', values.seats, quick ? 200 : 800);
  return {
    seats,
    buyers: int('buyers', values.buyers, seats * 2),
    // Where throughput peaked in the concurrency sweep (bench/README.md); more only adds queueing.
    concurrency: int('concurrency', values.concurrency, 16),
    duration: int('duration', values.duration, quick ? 30 : 120),
    baselineDuration: int('baseline-duration', values['baseline-duration'], quick ? 12 : 40),
    warmup: int('warmup', values.warmup, quick ? 3 : 10, 0),
    quantity: int('quantity', values.quantity, 1),
    experiments: values.experiments ?? false,
    profile: values.profile ?? false,
    keepData: values['keep-data'] ?? false,
    temporal: values.temporal,
    sweepDuration: int('sweep-duration', values['sweep-duration'], quick ? 5 : 15),
    phases: readPhases(values.phases),
  };
}

function readPhases(raw: string | undefined): ReadonlySet<BenchPhase> {
  if (raw === undefined) return new Set(BENCH_PHASES);
  const names = raw.split(',').map((p) => p.trim());
  const unknown = names.filter((n) => !(BENCH_PHASES as readonly string[]).includes(n));
  if (unknown.length)
    throw new Error(`--phases: unknown ${unknown.join(', ')}; known: ${BENCH_PHASES.join(', ')}`);
  return new Set(names as BenchPhase[]);
}
