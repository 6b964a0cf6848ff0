// The scale-out check (issue 12): the instant sale again, with two worker processes and two API processes (the
// buyers spread over both APIs), beside the sale with one of each. The sizing model (sizing.ts) assumes that what
// an order costs does not grow when processes are added; this is where that is tested on this box, with the audit
// run on it too: nothing oversold, no order lost.
import type { Flags } from './flags';
import { auditVerdict, saleOnItsOwnStack, type OwnStackSale } from './own-stack-sale';
import type { ScaleOutFigures } from './summary';
/** What one sale cost, as the bench measured it. */
export interface SaleCost {
  paidCheckouts: number;
  /** Seconds of the selling window (to the last sale when the seats ran out). */
  windowSeconds: number;
  /** CPU seconds by component over the sale, as the bench's sampler names them (`worker`, `worker-2`, ...). */
  cpuSeconds: Record<string, number>;
  historyEventsPerOrder: number;
}

/**
 * Components that are not the platform: the load generator and the baseline's idle worker. They are left out of
 * the per-order cost, which is what a deployment would pay.
 */
const NOT_THE_PLATFORM = new Set(['bench', 'baseline-worker']);

/** The kind of process a sampled component is: `worker-2` is a worker, `api-2` an API. */
export const componentKind = (name: string) => name.replace(/-\d+$/, '');

/** CPU ms per paid checkout by kind of component, the processes of one kind added up. */
export function cpuMsPerOrderByKind(cost: SaleCost): Record<string, number> {
  const byKind: Record<string, number> = {};
  for (const [name, seconds] of Object.entries(cost.cpuSeconds)) {
    if (NOT_THE_PLATFORM.has(name)) continue;
    const kind = componentKind(name);
    byKind[kind] = (byKind[kind] ?? 0) + (seconds * 1000) / Math.max(1, cost.paidCheckouts);
  }
  return Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

/** `174 (temporal 76.3, worker 64.7, ...)`: the platform's CPU ms per checkout, then by kind of component. */
export function platformCpuText(byKind: Record<string, number>): string {
  const parts = Object.entries(byKind).map(([k, v]) => `${k} ${v}`);
  return `${Math.round(total(byKind))} (${parts.join(', ')})`;
}

const total = (byKind: Record<string, number>) => Object.values(byKind).reduce((a, b) => a + b, 0);
const ratio = (a: number, b: number) => Math.round((a / Math.max(1e-9, b)) * 100) / 100;

/**
 * `scaleOutRatio`: paid checkouts per CPU-second of the whole platform (Temporal, Postgres, workers, APIs) with two
 * worker and two API processes, over the same with one of each. 1 means an order costs the same either way, as the
 * sizing model assumes; below 1, each order costs more once processes are added. Throughput itself cannot grow on
 * two busy cores, so it is reported beside (`throughputRatio`) but is not the test.
 */
export function scaleOutFigures(one: SaleCost, two: SaleCost) {
  const cpuOne = cpuMsPerOrderByKind(one);
  const cpuTwo = cpuMsPerOrderByKind(two);
  const perMinute = (c: SaleCost) => (c.paidCheckouts / Math.max(0.001, c.windowSeconds)) * 60;
  return {
    scaleOutRatio: ratio(total(cpuOne), total(cpuTwo)),
    throughputRatio: ratio(perMinute(two), perMinute(one)),
    checkoutsPerMinute: { one: Math.round(perMinute(one)), two: Math.round(perMinute(two)) },
    cpuMsPerOrder: { one: cpuOne, two: cpuTwo },
    historyEventsPerOrder: { one: one.historyEventsPerOrder, two: two.historyEventsPerOrder },
  };
}

/** The scale-out sale: the instant sale on a fresh stack with two worker and two API processes. */
export function runScaleOut(flags: Flags, runId: string, log: (line: string) => void): Promise<OwnStackSale> {
  log('scale-out check: the instant sale with 2 worker and 2 API processes, on a stack of its own');
  return saleOnItsOwnStack({ flags, runId, name: 'scale-out sale', stack: { workers: 2, apis: 2 }, log });
}

/** What the scale-out sale cost, in the shape `scaleOutFigures` compares. */
export const saleCost = (run: Pick<OwnStackSale, 'sale' | 'windowSeconds' | 'perOrder'>): SaleCost => ({
  paidCheckouts: run.sale.result.paidOrderIds.length,
  windowSeconds: run.windowSeconds,
  cpuSeconds: run.sale.cpu,
  historyEventsPerOrder: run.perOrder.eventsPerOrder,
});

/**
 * The scale-out check's part of the report, against the instant sale with one process each (`one`, during which
 * other people's processes used `oneOtherCores`): the summary's `scaleOut` slot (with its lines of the summary
 * text), its books' keys for the JSON line, and details for the results file.
 */
export function scaleOutReport(one: SaleCost, run: OwnStackSale, oneOtherCores: number) {
  const figures = scaleOutFigures(one, saleCost(run));
  const { ok, problems } = auditVerdict(run);
  const lines = [
    `Scale-out check (the instant sale with 2 worker and 2 API processes, over 1 of each)`,
    `  scale-out ratio        ${figures.scaleOutRatio} (checkouts per platform CPU-second, two each over one; ` +
      `1 = an order costs the same)`,
    `  CPU ms per checkout    one each ${platformCpuText(figures.cpuMsPerOrder.one)}`,
    `                         two each ${platformCpuText(figures.cpuMsPerOrder.two)}`,
    `  checkouts/minute       ${figures.checkoutsPerMinute.two} (one each ${figures.checkoutsPerMinute.one}; ` +
      `ratio ${figures.throughputRatio}: on shared cores, more a reading of the machine than the test)`,
    `  machine                other people's processes used ${run.otherProcessesCores} cores ` +
      `(during the sale with one each: ${oneOtherCores})`,
    `  history events/order   ${figures.historyEventsPerOrder.two} (one each ${figures.historyEventsPerOrder.one})`,
    `  oversold, lost, books  ${run.invariants.oversold}, ${run.lostOrders.length}; ${ok ? 'ok' : problems.join('; ')}`,
  ];
  const slot: ScaleOutFigures = {
    ratio: figures.scaleOutRatio,
    workers: 2,
    apis: 2,
    ticketsPerMinute: Math.round((run.sale.result.tickets / run.windowSeconds) * 60),
    lines,
  };
  const json = {
    scaleOutOversold: run.invariants.oversold,
    scaleOutLostOrders: run.lostOrders.length,
    scaleOutInvariantsOk: ok,
  };
  const details = {
    ...figures,
    otherProcessesCores: { one: oneOtherCores, two: run.otherProcessesCores },
    invariants: run.invariants,
    lostOrders: run.lostOrders,
    perOrder: run.perOrder,
  };
  return { slot, json, details, ok };
}
