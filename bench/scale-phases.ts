// The phases after the first stack is down (bench/README.md, "The mixed sale", "The scale-out check", "Sizing past
// this box"): the mixed sale and the scale-out check, each on a stack of its own, and the sizing model fed with
// what one instant-sale order cost. They fill the summary's typed slots (`mixed`, `scaleOut` in summary.ts).
import type { Flags } from './flags';
import { mixedSaleReport, runMixedSale } from './mixed-sale';
import { onTimelineOf, otherProcessesCores, sellingWindowSeconds, type OwnStackSale } from './own-stack-sale';
import { postgresWritesPerOrder, type PostgresWriteCounters } from './postgres-writes';
import type { ResourceSample } from './processes';
import type { Phase, TimedRequest } from './report';
import { cpuMsPerOrderByKind, runScaleOut, scaleOutReport, type SaleCost } from './scale-out';
import { sizingReport, type PerOrderFigures } from './sizing';
import type { Stack } from './stack';
import type { SaleFigures } from './summary';

/** What the instant sale measured that these phases compare with or scale from. */
export interface InstantSale {
  ticketsPerMinute: number;
  cost: SaleCost;
  /** Cores other people's processes used during it. */
  otherProcessesCores: number;
  actionsPerOrder?: number;
  /** Postgres's write counters at the sale's start and after its audit (postgres-writes.ts). */
  postgresWrites: { before: PostgresWriteCounters; after: PostgresWriteCounters };
  /** Wall-clock milliseconds at which the instant sale's stack clock read 0: the chart's clock. */
  clockStartedAt: number;
}

/** What these phases need of the instant sale, read off its stack (whose clock the chart keeps) and its figures. */
export function instantSale(
  stack: Pick<Stack, 'samples' | 'since'>,
  sale: Pick<SaleFigures, 'measured' | 'orderCost'>,
  postgresWrites: InstantSale['postgresWrites'],
): InstantSale {
  const s = sale.measured.result;
  const windowSeconds = sellingWindowSeconds(s);
  return {
    ticketsPerMinute: Math.round((s.tickets / windowSeconds) * 60),
    cost: {
      paidCheckouts: s.paidOrderIds.length,
      windowSeconds,
      cpuSeconds: sale.measured.cpu,
      historyEventsPerOrder: sale.orderCost.eventsPerOrder,
    },
    otherProcessesCores: otherProcessesCores(stack.samples, s.from, s.to),
    actionsPerOrder: sale.orderCost.actionsPerOrder,
    postgresWrites,
    clockStartedAt: Date.now() - stack.since() * 1000,
  };
}

/** The sizing model's input from the instant sale: per-order figures of the platform's components. */
export function perOrderFigures(sale: InstantSale, ticketsPerOrder: number): PerOrderFigures {
  const cpu = cpuMsPerOrderByKind(sale.cost);
  const writes = postgresWritesPerOrder(
    sale.postgresWrites.before,
    sale.postgresWrites.after,
    sale.cost.paidCheckouts,
  );
  return {
    ticketsPerOrder,
    historyEventsPerOrder: sale.cost.historyEventsPerOrder,
    actionsPerOrder: sale.actionsPerOrder,
    cpuMsPerOrder: { ...cpu, worker: cpu.worker ?? 0, api: cpu.api ?? 0, postgres: cpu.postgres ?? 0 },
    postgresCommitsPerOrder: writes.commitsPerOrder,
    postgresRowWritesPerOrder: writes.rowWritesPerOrder,
  };
}

/**
 * Runs the mixed sale (`--phases` has `mixed`) and the scale-out check (`scale-out`, and the instant sale ran), and
 * sizes a deployment from the instant sale. `instant` is absent when the sale did not run.
 */
export async function runScalePhases(
  flags: Flags,
  runId: string,
  instant: InstantSale | undefined,
  log: (line: string) => void,
) {
  const sizing = instant && sizingReport(perOrderFigures(instant, flags.quantity));
  const mixedRun = flags.phases.has('mixed') ? await runMixedSale(flags, runId, log) : undefined;
  const mixed = mixedRun && mixedSaleReport(mixedRun, instant?.ticketsPerMinute ?? null);
  const scaleOutRun = instant && flags.phases.has('scale-out') ? await runScaleOut(flags, runId, log) : undefined;
  const scaleOut =
    instant && scaleOutRun && scaleOutReport(instant.cost, scaleOutRun, instant.otherProcessesCores);

  const timeline = { phases: [] as Phase[], requests: [] as TimedRequest[], samples: [] as ResourceSample[] };
  for (const run of [mixedRun, scaleOutRun].filter((r): r is OwnStackSale => r !== undefined)) {
    const placed = onTimelineOf(instant?.clockStartedAt ?? run.clockStartedAt, run);
    timeline.phases.push(...placed.phases);
    timeline.requests.push(...placed.requests);
    timeline.samples.push(...placed.samples);
  }
  return {
    /** For summarize's slots. */
    mixed: mixed?.slot,
    scaleOut: scaleOut?.slot,
    /** Keys of the JSON line beyond the headline: the extra sales' own books. */
    json: { ...mixed?.json, ...scaleOut?.json },
    details: {
      mixedSale: mixed?.details ?? null,
      scaleOutCheck: scaleOut?.details ?? null,
      sizing: sizing?.details ?? null,
    },
    sizingLines: sizing ? [sizing.text] : [],
    ok: (mixed?.ok ?? true) && (scaleOut?.ok ?? true),
    timeline,
  };
}
