import type { CatalogueReads } from './catalogue';
// What the run measured, as people read it (the summary text) and as tools read it (the JSON line and file),
// and the files it leaves in bench/results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config';
import type { HistoryStats, Invariants, OrderCost } from './audit';
import type { BaselinePhase, Baselines } from './baseline';
import { CHECKOUT_SHAPE, differencesFromShape } from './checkout-shape';
import type { Flags } from './flags';
import type { ResourceSample } from './processes';
import { latencySummary, renderChart, type Phase, type SweepPoint, type TimedRequest } from './report';
import type { CheckoutPhase } from './sale';
import type { Measured } from './stack';
import { LOW_LOAD_CONCURRENCY } from './sweep';

/** The flash sale and what was found after it. */
export interface SaleFigures {
  measured: Measured<CheckoutPhase>;
  invariants: Invariants;
  serverLatency: { p50: number; p95: number; p99: number };
  checkoutHistory: HistoryStats;
  orderCost: OrderCost;
}

/** The mixed sale (70% instant card, 15% 3-D Secure, 15% crypto by webhook): bench/mixed-sale.ts. */
export interface MixedSaleFigures {
  ticketsPerMinute: number;
  checkoutsPerMinute: number;
  /** Paid orders by payment kind (`card`, `3ds`, `crypto`). */
  paidByKind: Record<string, number>;
  /** Checkout-to-PAID p95 by payment kind. */
  paidP95MsByKind: Record<string, number>;
  /** Its part of the summary text. */
  lines: string[];
}

/** Catalogue reads beside a sale of their own: bench/catalogue.ts. */
export type CatalogueFigures = CatalogueReads;

/** The sale again with more worker and API processes: bench/scale-out.ts. */
export interface ScaleOutFigures {
  /**
   * Paid checkouts per platform CPU-second with the larger stack over those with one process each: 1 when an order
   * costs the same (bench/README.md, "The scale-out check").
   */
  ratio: number;
  workers: number;
  apis: number;
  ticketsPerMinute: number;
  /** Its part of the summary text. */
  lines: string[];
}

/** Everything the summary is made of; a phase that did not run (`--phases`) is absent. */
export interface RunFigures {
  flags: Flags;
  config: Config;
  runId: string;
  cores: number;
  resources: ResourceSample[];
  sale?: SaleFigures;
  sweep?: SweepPoint[];
  baselines?: { measured: Baselines; histories: { checkout: HistoryStats; remote: HistoryStats } };
  experiments: Array<{ phase: BaselinePhase; cpu: Record<string, number>; history: HistoryStats }>;
  mixed?: MixedSaleFigures;
  catalogue?: CatalogueFigures;
  scaleOut?: ScaleOutFigures;
  notes: string[];
  workerProfile: Array<{ category: string; percent: number }>;
}

/**
 * The figures issue 12 asks for, under keys that stay: the first keys of the last JSON line. A figure is null
 * when the phase that measures it did not run or is not wired yet.
 */
export interface Headline {
  ticketsPerMinute: number | null;
  checkoutsPerMinute: number | null;
  /** POST /v1/checkouts p95 at the sale's concurrency. */
  checkoutP95Ms: number | null;
  /** POST /v1/checkouts p95 at concurrency 4, from the sweep. */
  lowLoadP95Ms: number | null;
  oversold: number | null;
  /** Paid checkouts/min over the like-for-like floor (exactly the checkout's shape). */
  baselineRatio: number | null;
  /** Paid checkouts/min over the three-remote-activity floor. */
  baselineRemoteRatio: number | null;
  /** CPU ms of the platform (Temporal, Postgres, workers, APIs) per paid checkout of the sale. */
  cpuMsPerCheckout: number | null;
  /** History events of every workflow an order starts, per sampled paid order. */
  historyEventsPerOrder: number | null;
  /** Temporal Cloud actions of every workflow an order starts (bench/actions.ts), per sampled paid order. */
  actionsPerOrder: number | null;
  mixedTicketsPerMinute: number | null;
  catalogueReadsPerSecond: number | null;
  catalogueStaleMsMax: number | null;
  scaleOutRatio: number | null;
}

/** Components that are the platform; the load generator and the idle baseline worker are not. */
const NOT_PLATFORM = new Set(['bench', 'baseline-worker']);

const round1 = (v: number) => Math.round(v * 10) / 10;
const perMinute = (n: number, seconds: number) => Math.round((n / Math.max(0.001, seconds)) * 60);
const cpuPer = (cpu: Record<string, number>, n: number) =>
  Object.fromEntries(
    Object.entries(cpu)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => [k, round1((v * 1000) / Math.max(1, n))]),
  );
const fmtCpu = (cpu: Record<string, number>) =>
  Object.entries(cpu)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const fmtCounts = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
const target = (ok: boolean) => (ok ? 'meets target' : 'below target');

/** The summary: text for people, the stable JSON keys, and the details that go into the results file. */
export function summarize(input: RunFigures) {
  const { flags } = input;
  const busy = (from: number, to: number) => {
    const inside = input.resources.filter((r) => r.t > from && r.t <= to);
    return Math.round(inside.reduce((a, r) => a + r.machineBusyPercent, 0) / Math.max(1, inside.length));
  };
  /** Cores used by processes that are not ours (other people's builds and tests on a shared machine). */
  const otherCores = (from: number, to: number) => {
    const inside = input.resources.filter((r) => r.t > from && r.t <= to);
    const others = inside.map((r) => {
      const ours = Object.values(r.components).reduce((a, c) => a + c.cpuPercent, 0) / 100;
      return Math.max(0, (r.machineBusyPercent / 100) * input.cores - ours);
    });
    return Math.round((others.reduce((a, b) => a + b, 0) / Math.max(1, others.length)) * 100) / 100;
  };

  const sale = input.sale ? saleSummary(input.sale, busy, otherCores) : undefined;
  const ratio = (floorPerMinute: number) =>
    sale ? Math.round((sale.checkoutsPerMinute / Math.max(1, floorPerMinute)) * 100) / 100 : null;
  const floor = ({ result, cpu }: Measured<BaselinePhase>, history: HistoryStats) => {
    const seconds = result.to - result.from;
    return {
      seconds: round1(seconds),
      workflows: result.workflowIds.length,
      perMinute: perMinute(result.workflowIds.length, seconds),
      latencyMs: latencySummary(result.latencyMs),
      errors: result.errors,
      machineBusyPercent: busy(result.from, result.to),
      otherProcessesCores: otherCores(result.from, result.to),
      cpuMsPerWorkflow: cpuPer(cpu, result.workflowIds.length),
      history,
      ratio: ratio(perMinute(result.workflowIds.length, seconds)),
    };
  };
  const baseline = input.baselines && floor(input.baselines.measured.checkout, input.baselines.histories.checkout);
  const baselineRemote =
    input.baselines && floor(input.baselines.measured.remote, input.baselines.histories.remote);
  const lowLoad = input.sweep?.find((p) => p.concurrency === LOW_LOAD_CONCURRENCY);

  const headline: Headline = {
    ticketsPerMinute: sale?.ticketsPerMinute ?? null,
    checkoutsPerMinute: sale?.checkoutsPerMinute ?? null,
    checkoutP95Ms: sale?.post.p95 ?? null,
    lowLoadP95Ms: lowLoad?.postP95Ms ?? null,
    oversold: input.sale?.invariants.oversold ?? null,
    baselineRatio: baseline?.ratio ?? null,
    baselineRemoteRatio: baselineRemote?.ratio ?? null,
    cpuMsPerCheckout: sale?.platformCpuMsPerCheckout ?? null,
    historyEventsPerOrder: input.sale?.orderCost.eventsPerOrder ?? null,
    actionsPerOrder: input.sale?.orderCost.actionsPerOrder ?? null,
    mixedTicketsPerMinute: input.mixed?.ticketsPerMinute ?? null,
    catalogueReadsPerSecond: input.catalogue?.readsPerSecond ?? null,
    catalogueStaleMsMax: input.catalogue?.staleMsMax ?? null,
    scaleOutRatio: input.scaleOut?.ratio ?? null,
  };
  const rss = input.resources.map((r) => r.components.worker?.rssMb ?? 0);
  const json = {
    ...headline,
    checkoutP50Ms: sale?.post.p50 ?? null,
    checkoutP99Ms: sale?.post.p99 ?? null,
    paidP50Ms: sale?.paid.p50 ?? null,
    paidP95Ms: sale?.paid.p95 ?? null,
    paidP99Ms: sale?.paid.p99 ?? null,
    invariantsOk: input.sale?.invariants.ok ?? null,
    mixedPaidP95Ms: input.mixed?.paidP95MsByKind ?? null,
    baselinePerMinute: baseline?.perMinute ?? null,
    baselineP95Ms: baseline?.latencyMs.p95 ?? null,
    baselineRemotePerMinute: baselineRemote?.perMinute ?? null,
    historyEventsPerCheckout: input.sale?.checkoutHistory.mean ?? null,
    workflowsPerOrder: input.sale?.orderCost.workflowsPerOrder ?? null,
    historyEventsPerBaseline: baseline?.history.mean ?? null,
    workerRssMbPeak: Math.round(Math.max(0, ...rss)),
    workerRssMbEnd: Math.round(rss.filter((v) => v > 0).at(-1) ?? 0),
    soldOutResponses: input.sale?.measured.result.soldOut ?? null,
    errors: sale?.errorCount ?? null,
    concurrency: flags.concurrency,
    seats: flags.seats,
    buyers: flags.buyers,
    quick: process.env.BENCH_QUICK === '1',
    temporal: flags.temporal,
    phases: [...flags.phases],
  };
  const experiments = input.experiments.map((e) => ({
    name: e.phase.name,
    perMinute: perMinute(e.phase.workflowIds.length, e.phase.to - e.phase.from),
    latencyMs: latencySummary(e.phase.latencyMs),
    historyEvents: e.history.mean,
    cpuMsPerWorkflow: cpuPer(e.cpu, e.phase.workflowIds.length),
    errors: e.phase.errors,
  }));
  const details = {
    runId: input.runId,
    flags: { ...flags, phases: [...flags.phases] },
    dbPoolMax: input.config.DB_POOL_MAX,
    workerMaxCachedWorkflows: input.config.WORKER_MAX_CACHED_WORKFLOWS,
    benchWorkerOptions: process.env.BENCH_WORKER_OPTIONS ?? null,
    checkoutShape: CHECKOUT_SHAPE,
    sale: sale?.details ?? null,
    invariants: input.sale?.invariants ?? null,
    checkoutHistory: input.sale?.checkoutHistory ?? null,
    orderCost: input.sale?.orderCost ?? null,
    sweep: input.sweep ?? null,
    baseline: baseline ?? null,
    baselineRemote: baselineRemote ?? null,
    mixed: input.mixed ?? null,
    catalogue: input.catalogue ?? null,
    scaleOut: input.scaleOut ?? null,
    notes: input.notes,
    workerProfile: input.workerProfile,
    experiments,
  };

  const shapeText = Object.entries(CHECKOUT_SHAPE.steps)
    .map(([step, kind]) => `${step} ${kind}`)
    .join(', ');
  const floorLines = (title: string, f: NonNullable<typeof baseline>, goal?: number) => [
    `${title}, update-with-start, same server and concurrency`,
    `  workflows/minute       ${f.perMinute}; p50 ${f.latencyMs.p50} ms, p95 ${f.latencyMs.p95} ms; ${f.history.mean} history events`,
    `  CPU ms per workflow    ${fmtCpu(f.cpuMsPerWorkflow)}`,
    `  machine                ${f.machineBusyPercent}% busy; other people's processes used ${f.otherProcessesCores} of ${input.cores} cores`,
    `  checkout / baseline    ${f.ratio ?? 'n/a (no sale)'}` +
      (goal !== undefined && f.ratio !== null ? `  (target ${goal}: ${target(f.ratio >= goal)})` : ''),
  ];
  const lines = [
    '',
    `Bench ${input.runId} on the Temporal ${flags.temporal === 'cluster' ? 'cluster (Postgres, 4 services)' : 'dev server'}; phases ${json.phases.join(', ')}`,
    ...(sale ? sale.lines(flags, input.cores) : []),
    ...(input.sweep ? sweepLines(input.sweep) : []),
    ...(baseline
      ? floorLines(`Baseline: a no-op workflow of exactly the checkout's shape (${shapeText})`, baseline, 0.8)
      : []),
    ...(baselineRemote ? floorLines('Baseline: 3 remote activities (the first baseline)', baselineRemote) : []),
    ...experiments.flatMap((e) => [
      `Experiment: ${e.name}`,
      `  workflows/minute       ${e.perMinute}; p50 ${e.latencyMs.p50} ms, p95 ${e.latencyMs.p95} ms; ${e.historyEvents} history events` +
        (Object.keys(e.errors).length ? `; errors ${JSON.stringify(e.errors)}` : ''),
      `  CPU ms per workflow    ${fmtCpu(e.cpuMsPerWorkflow)}`,
    ]),
    ...(input.mixed?.lines ?? []),
    ...(input.catalogue
      ? [
          `Catalogue reads beside the sale: ${input.catalogue.readsPerSecond} req/s (target 5000: ${target(input.catalogue.readsPerSecond >= 5000)}), ` +
            `p50 ${input.catalogue.p50Ms} ms, p99 ${input.catalogue.p99Ms} ms, stalest ${input.catalogue.staleMsMax} ms (target 1000: ${target(input.catalogue.staleMsMax <= 1000)}), ` +
            `sold-out shown available ${input.catalogue.soldOutShownAvailable}`,
        ]
      : []),
    ...(input.scaleOut?.lines ?? []),
    ...(input.sale?.orderCost.checkout
      ? differencesFromShape(input.sale.orderCost.checkout, CHECKOUT_SHAPE).map((n) => `Note: ${n}`)
      : []),
    ...input.notes.map((n) => `Note: ${n}`),
    ...(input.workerProfile.length
      ? [
          'Checkout worker CPU during the sale, by where the code lives (self time)',
          ...input.workerProfile.slice(0, 16).map((p) => `  ${p.percent.toFixed(1).padStart(5)}%  ${p.category}`),
        ]
      : []),
    '',
  ];
  return { json, details, text: lines.join('\n') };
}

/** The sale's figures and its lines of the summary. */
function saleSummary(
  figures: SaleFigures,
  busy: (from: number, to: number) => number,
  otherCores: (from: number, to: number) => number,
) {
  const s = figures.measured.result;
  const { invariants, orderCost } = figures;
  // Sustained: over the selling window, which ends at the last sale when the seats ran out before the clock.
  const soldOutEarly = s.soldOut > 0 && s.lastPaidAt > 0;
  const windowSeconds = Math.max(0.001, (soldOutEarly ? s.lastPaidAt : s.to) - s.from);
  const ticketsPerMinute = perMinute(s.tickets, windowSeconds);
  const checkoutsPerMinute = perMinute(s.paidOrderIds.length, windowSeconds);
  const post = latencySummary(s.postMs);
  const paid = latencySummary(s.paidMs);
  const cpuMsPerCheckout = cpuPer(figures.measured.cpu, s.paidOrderIds.length);
  const platformCpuMsPerCheckout = round1(
    Object.entries(cpuMsPerCheckout)
      .filter(([k]) => !NOT_PLATFORM.has(k))
      .reduce((a, [, v]) => a + v, 0),
  );
  const errorCount = Object.values(s.errors).reduce((a, b) => a + b, 0);
  const details = {
    windowSeconds: round1(windowSeconds),
    soldOutEarly,
    attempts: s.postMs.length + s.soldOutMs.length,
    soldOutLatencyMs: latencySummary(s.soldOutMs),
    unpaid: s.unpaid,
    errors: s.errors,
    paidByKind: s.paidByKind,
    machineBusyPercent: busy(s.from, s.to),
    otherProcessesCores: otherCores(s.from, s.to),
    serverReserveToPaidMs: figures.serverLatency,
    cpuMsPerCheckout,
    platformCpuMsPerCheckout,
  };
  const lines = (flags: Flags, cores: number) => [
    `Flash sale: ${flags.buyers} buyers, ${flags.seats} seats, ${flags.quantity} per order, concurrency ${flags.concurrency}`,
    `  tickets sold           ${s.tickets} in ${details.windowSeconds}s${soldOutEarly ? ' (sold out)' : ''}; ${s.soldOut} sold-out answers; ${errorCount} errors`,
    `  tickets/minute         ${ticketsPerMinute}; paid checkouts/minute ${checkoutsPerMinute} (target 1500: ${target(checkoutsPerMinute >= 1500)})`,
    `  POST /v1/checkouts     p50 ${post.p50} ms, p95 ${post.p95} ms, p99 ${post.p99} ms, orders only`,
    `  POST, sold out (409)   p50 ${details.soldOutLatencyMs.p50} ms, p95 ${details.soldOutLatencyMs.p95} ms`,
    `  checkout -> PAID       p50 ${paid.p50} ms, p95 ${paid.p95} ms, p99 ${paid.p99} ms (buyer's view)`,
    `  reserve -> PAID        p50 ${figures.serverLatency.p50} ms, p95 ${figures.serverLatency.p95} ms (inside the worker)`,
    `  oversold               ${invariants.oversold} (sold ${invariants.sold}, held ${invariants.held}, capacity ${flags.seats}, ticket rows ${invariants.ticketRows})`,
    `  invariants             ${invariants.ok ? 'ok' : invariants.problems.join('; ')}`,
    `  CPU ms per checkout    ${platformCpuMsPerCheckout} for the platform (target 80: ${target(platformCpuMsPerCheckout <= 80)}): ${fmtCpu(cpuMsPerCheckout)}`,
    `  machine                ${details.machineBusyPercent}% busy; other people's processes used ${details.otherProcessesCores} of ${cores} cores`,
    `  per order              ${orderCost.eventsPerOrder} history events (target 20: ${target(orderCost.eventsPerOrder <= 20)}), ` +
      `${orderCost.actionsPerOrder} Temporal Cloud actions (target 10: ${target(orderCost.actionsPerOrder <= 10)}) over ` +
      `${orderCost.workflowsPerOrder} workflows, ${orderCost.sampled} orders sampled; checkout workflow alone ${figures.checkoutHistory.mean} events`,
    ...Object.entries(orderCost.byWorkflowType).map(
      ([type, w]) => `    ${type.padEnd(22)} ${w.eventsPerOrder} events, ${w.actionsPerOrder} actions per order`,
    ),
    `  actions per order      ${fmtCounts(orderCost.actionsByKind)}`,
    `  events per order       ${fmtCounts(orderCost.eventsByType)}`,
  ];
  return {
    ticketsPerMinute,
    checkoutsPerMinute,
    post,
    paid,
    platformCpuMsPerCheckout,
    errorCount,
    details,
    lines,
  };
}

/** The sweep as a latency-throughput table. */
function sweepLines(points: SweepPoint[]): string[] {
  return [
    'Concurrency sweep (unlimited seats; POST /v1/checkouts of the orders)',
    '  concurrency  checkouts/min  POST p50 ms  POST p95 ms  errors',
    ...points.map(
      (p) =>
        `  ${String(p.concurrency).padStart(11)}  ${String(p.checkoutsPerMinute).padStart(13)}  ` +
        `${String(p.postP50Ms).padStart(11)}  ${String(p.postP95Ms).padStart(11)}  ${String(p.errors).padStart(6)}` +
        (p.concurrency === LOW_LOAD_CONCURRENCY ? `  (p95 target < 200: ${target(p.postP95Ms < 200)})` : ''),
    ),
  ];
}

/** Writes the chart and the JSON file to bench/results; returns the chart's path. */
export function writeResults(input: {
  runId: string;
  report: ReturnType<typeof summarize>;
  flags: Flags;
  phases: Phase[];
  checkouts: TimedRequest[];
  baselines: BaselinePhase[];
  sweep?: SweepPoint[];
  mixed?: Pick<MixedSaleFigures, 'paidP95MsByKind'>;
  resources: ResourceSample[];
}): string {
  const { runId, report, flags } = input;
  const resultsDir = resolve(__dirname, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const chartPath = join(resultsDir, `${runId}.svg`);
  writeFileSync(
    chartPath,
    renderChart({
      title: `Bilten flash sale, ${runId}`,
      subtitle:
        `${report.json.ticketsPerMinute ?? '-'} tickets/min, POST p95 ${report.json.checkoutP95Ms ?? '-'} ms ` +
        `(c4 ${report.json.lowLoadP95Ms ?? '-'} ms), baseline ratio ${report.json.baselineRatio ?? '-'}, ` +
        `oversold ${report.json.oversold ?? '-'}; concurrency ${flags.concurrency}, ${cpus().length} cores, ` +
        `Node ${process.versions.node}`,
      phases: input.phases,
      checkouts: input.checkouts,
      baseline: input.baselines.flatMap((b) => b.requests),
      resources: input.resources.filter((s) => s.t >= 0),
      ...(input.sweep ? { sweep: input.sweep } : {}),
      ...(report.json.mixedTicketsPerMinute !== null && input.mixed
        ? {
            mixed: {
              instantTicketsPerMinute: report.json.ticketsPerMinute ?? 0,
              mixedTicketsPerMinute: report.json.mixedTicketsPerMinute,
              paidP95MsByKind: input.mixed.paidP95MsByKind,
            },
          }
        : {}),
      cores: cpus().length,
    }),
  );
  writeFileSync(
    join(resultsDir, `${runId}.json`),
    // Figures differ between Node lines, so every result names the one it was measured on.
    JSON.stringify({ ...report.json, node: process.version, details: report.details }, null, 2) + '\n',
  );
  return chartPath;
}
