// The phases after the instant sale (bench/README.md, "The mixed sale", "The scale-out check", "Sizing past this
// box"): the mixed sale and the scale-out check, each on a stack of its own, and the sizing model fed with what
// one instant-sale order cost. Their figures join the instant sale's report under their own JSON keys.
import type { Flags } from './flags';
import { mixedSaleReport, runMixedSale } from './mixed-sale';
import { onTimelineOf } from './own-stack-sale';
import type { PostgresWriteCounters } from './postgres-writes';
import { postgresWritesPerOrder } from './postgres-writes';
import type { ResourceSample } from './processes';
import type { Phase, TimedRequest } from './report';
import { cpuMsPerOrderByKind, runScaleOut, scaleOutReport, type SaleCost } from './scale-out';
import { sizingReport, type PerOrderFigures } from './sizing';

/** What the instant sale measured that these phases compare with or scale from. */
export interface InstantSale {
  ticketsPerMinute: number;
  cost: SaleCost;
  /** Cores other people's processes used during it. */
  otherProcessesCores: number;
  actionsPerOrder?: number;
  /** Postgres's write counters before the sale and once its statistics were in (postgres-writes.ts). */
  postgresWrites: { before: PostgresWriteCounters; after: PostgresWriteCounters };
  /** Wall-clock milliseconds at which the instant sale's stack clock read 0: the chart's clock. */
  clockStartedAt: number;
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

/** Runs the mixed sale and the scale-out check (unless `--only-instant`) and sizes a deployment. */
export async function runScalePhases(
  flags: Flags,
  runId: string,
  instant: InstantSale,
  log: (line: string) => void,
) {
  const sizing = sizingReport(perOrderFigures(instant, flags.quantity));
  const timeline = { phases: [] as Phase[], requests: [] as TimedRequest[], samples: [] as ResourceSample[] };
  if (flags.onlyInstant) {
    return { json: {}, details: { sizing: sizing.details }, lines: [sizing.text], ok: true, timeline };
  }
  const mixedRun = await runMixedSale(flags, runId, log);
  const mixed = mixedSaleReport(mixedRun, instant.ticketsPerMinute);
  const scaleOutRun = await runScaleOut(flags, runId, log);
  const scaleOut = scaleOutReport(instant.cost, scaleOutRun, instant.otherProcessesCores);
  for (const run of [mixedRun, scaleOutRun]) {
    const placed = onTimelineOf(instant.clockStartedAt, run);
    timeline.phases.push(...placed.phases);
    timeline.requests.push(...placed.requests);
    timeline.samples.push(...placed.samples);
  }
  return {
    json: { ...mixed.json, ...scaleOut.json },
    details: { mixedSale: mixed.details, scaleOut: scaleOut.details, sizing: sizing.details },
    lines: [...mixed.lines, ...scaleOut.lines, sizing.text],
    ok: mixed.ok && scaleOut.ok,
    timeline,
  };
}
