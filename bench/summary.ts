// What the run measured, as people read it (the summary text) and as tools read it (the JSON line and file),
// and the files it leaves in bench/results.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import type { Config } from '../config';
import type { HistoryStats, Invariants } from './audit';
import type { BaselinePhase, Baselines } from './baseline';
import type { ResourceSample } from './processes';
import { latencySummary, renderChart, type Phase } from './report';
import type { CheckoutPhase } from './sale';
import type { Measured } from './stack';
import { CHECKOUT_SHAPE } from './checkout-shape';
import type { Flags } from './flags';

/** Everything the summary is made of. */
export interface RunFigures {
  flags: Flags;
  config: Config;
  runId: string;
  sale: Measured<CheckoutPhase>;
  baselines: Baselines;
  experiments: Array<{ phase: BaselinePhase; cpu: Record<string, number>; history: HistoryStats }>;
  invariants: Invariants;
  checkoutHistory: HistoryStats;
  perOrder: { workflowsPerOrder: number; eventsPerOrder: number; sampled: number };
  baselineHistories: { checkout: HistoryStats; remote: HistoryStats };
  notes: string[];
  workerProfile: Array<{ category: string; percent: number }>;
  cores: number;
  resources: ResourceSample[];
  serverLatency: { p50: number; p95: number; p99: number };
}

/** The summary: text for people, the stable JSON keys, and the details that go into the results file. */
export function summarize(input: RunFigures) {
  const { flags, sale, invariants } = input;
  const s = sale.result;
  // Sustained: over the selling window, which ends at the last sale when the seats ran out before the clock.
  const soldOutEarly = s.soldOut > 0 && s.lastPaidAt > 0;
  const windowSeconds = Math.max(0.001, (soldOutEarly ? s.lastPaidAt : s.to) - s.from);
  const perMinute = (n: number, seconds: number) => Math.round((n / seconds) * 60);
  const ticketsPerMinute = perMinute(s.tickets, windowSeconds);
  const checkoutsPerMinute = perMinute(s.paidOrderIds.length, windowSeconds);
  const post = latencySummary(s.postMs);
  const paid = latencySummary(s.paidMs);
  const rss = input.resources.map((r) => r.components.worker?.rssMb ?? 0);
  const workerRssMbPeak = Math.round(Math.max(0, ...rss));
  const workerRssMbEnd = Math.round(rss.filter((v) => v > 0).at(-1) ?? 0);
  const cpuPer = (cpu: Record<string, number>, n: number) =>
    Object.fromEntries(
      Object.entries(cpu)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => [k, Math.round(((v * 1000) / Math.max(1, n)) * 10) / 10]),
    );
  const saleCpuMsPerCheckout = cpuPer(sale.cpu, s.paidOrderIds.length);
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
  const floor = ({ result, cpu }: Measured<BaselinePhase>, history: HistoryStats) => {
    const seconds = Math.max(0.001, result.to - result.from);
    return {
      seconds: Math.round(seconds * 10) / 10,
      workflows: result.workflowIds.length,
      perMinute: perMinute(result.workflowIds.length, seconds),
      latencyMs: latencySummary(result.latencyMs),
      errors: result.errors,
      machineBusyPercent: busy(result.from, result.to),
      otherProcessesCores: otherCores(result.from, result.to),
      cpuMsPerWorkflow: cpuPer(cpu, result.workflowIds.length),
      history,
    };
  };
  const baseline = floor(input.baselines.checkout, input.baselineHistories.checkout);
  const baselineRemote = floor(input.baselines.remote, input.baselineHistories.remote);
  const ratio = (floorPerMinute: number) =>
    Math.round((checkoutsPerMinute / Math.max(1, floorPerMinute)) * 100) / 100;

  const json = {
    ticketsPerMinute,
    checkoutsPerMinute,
    checkoutP50Ms: post.p50,
    checkoutP95Ms: post.p95,
    checkoutP99Ms: post.p99,
    paidP50Ms: paid.p50,
    paidP95Ms: paid.p95,
    paidP99Ms: paid.p99,
    oversold: invariants.oversold,
    invariantsOk: invariants.ok,
    baselinePerMinute: baseline.perMinute,
    baselineRatio: ratio(baseline.perMinute),
    baselineP95Ms: baseline.latencyMs.p95,
    baselineRemotePerMinute: baselineRemote.perMinute,
    baselineRemoteRatio: ratio(baselineRemote.perMinute),
    historyEventsPerCheckout: input.checkoutHistory.mean,
    workflowsPerOrder: input.perOrder.workflowsPerOrder,
    historyEventsPerOrder: input.perOrder.eventsPerOrder,
    historyEventsPerBaseline: baseline.history.mean,
    workerRssMbPeak,
    workerRssMbEnd,
    soldOutResponses: s.soldOut,
    errors: Object.values(s.errors).reduce((a, b) => a + b, 0),
    concurrency: flags.concurrency,
    seats: flags.seats,
    buyers: flags.buyers,
    quick: process.env.BENCH_QUICK === '1',
    temporal: flags.temporal,
  };
  const details = {
    runId: input.runId,
    flags,
    dbPoolMax: input.config.DB_POOL_MAX,
    workerMaxCachedWorkflows: input.config.WORKER_MAX_CACHED_WORKFLOWS,
    benchWorkerOptions: process.env.BENCH_WORKER_OPTIONS ?? null,
    sale: {
      windowSeconds: Math.round(windowSeconds * 10) / 10,
      soldOutEarly,
      attempts: s.postMs.length + s.soldOutMs.length,
      soldOutLatencyMs: latencySummary(s.soldOutMs),
      unpaid: s.unpaid,
      errors: s.errors,
      machineBusyPercent: busy(s.from, s.to),
      otherProcessesCores: otherCores(s.from, s.to),
      serverReserveToPaidMs: input.serverLatency,
      cpuMsPerCheckout: saleCpuMsPerCheckout,
    },
    baseline,
    baselineRemote,
    invariants,
    checkoutHistory: input.checkoutHistory,
    perOrder: input.perOrder,
    notes: input.notes,
    workerProfile: input.workerProfile,
    experiments: input.experiments.map((e) => {
      const seconds = Math.max(0.001, e.phase.to - e.phase.from);
      return {
        name: e.phase.name,
        perMinute: perMinute(e.phase.workflowIds.length, seconds),
        latencyMs: latencySummary(e.phase.latencyMs),
        historyEvents: e.history.mean,
        cpuMsPerWorkflow: cpuPer(e.cpu, e.phase.workflowIds.length),
        errors: e.phase.errors,
      };
    }),
  };

  const target = (ok: boolean) => (ok ? 'meets target' : 'below target');
  const shapeText = Object.entries(CHECKOUT_SHAPE.steps)
    .map(([step, kind]) => `${step} ${kind}`)
    .join(', ');
  const fmtCpu = (cpu: Record<string, number>) =>
    Object.entries(cpu)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const floorLines = (title: string, f: typeof baseline, ratio: number) => [
    `${title}, update-with-start, same server and concurrency`,
    `  workflows/minute       ${f.perMinute}; p50 ${f.latencyMs.p50} ms, p95 ${f.latencyMs.p95} ms; ${f.history.mean} history events`,
    `  CPU ms per workflow    ${fmtCpu(f.cpuMsPerWorkflow)}`,
    `  machine                ${f.machineBusyPercent}% busy; other people's processes used ${f.otherProcessesCores} of ${input.cores} cores`,
    `  checkout / baseline    ${ratio}`,
  ];
  const lines = [
    '',
    `Flash sale (${input.runId}) on the Temporal ${flags.temporal === 'cluster' ? 'cluster (Postgres, 4 services)' : 'dev server'}: ${flags.buyers} buyers, ${flags.seats} seats, concurrency ${flags.concurrency}`,
    `  tickets sold           ${s.tickets} in ${details.sale.windowSeconds}s${soldOutEarly ? ' (sold out)' : ''}; ${s.soldOut} sold-out answers; ${json.errors} errors`,
    `  tickets/minute         ${ticketsPerMinute}  (target 10000: ${target(ticketsPerMinute >= 10_000)})`,
    `  POST /v1/checkouts     p50 ${post.p50} ms, p95 ${post.p95} ms, p99 ${post.p99} ms, orders only (p95 target 200: ${target(post.p95 < 200)})`,
    `  POST, sold out (409)   p50 ${details.sale.soldOutLatencyMs.p50} ms, p95 ${details.sale.soldOutLatencyMs.p95} ms`,
    `  checkout -> PAID       p50 ${paid.p50} ms, p95 ${paid.p95} ms, p99 ${paid.p99} ms (buyer's view)`,
    `  reserve -> PAID        p50 ${input.serverLatency.p50} ms, p95 ${input.serverLatency.p95} ms (inside the worker)`,
    `  oversold               ${invariants.oversold} (sold ${invariants.sold}, held ${invariants.held}, capacity ${flags.seats}, ticket rows ${invariants.ticketRows})`,
    `  invariants             ${invariants.ok ? 'ok' : invariants.problems.join('; ')}`,
    `  history events         ${input.checkoutHistory.mean} per checkout workflow; ${input.perOrder.eventsPerOrder} per order over ` +
      `${input.perOrder.workflowsPerOrder} workflows (checkout + children); ${baseline.history.mean} per baseline workflow`,
    `  worker RSS             peak ${workerRssMbPeak} MB, end ${workerRssMbEnd} MB`,
    `  CPU ms per checkout    ${fmtCpu(saleCpuMsPerCheckout)}`,
    `  machine                ${details.sale.machineBusyPercent}% busy; other people's processes used ${details.sale.otherProcessesCores} of ${input.cores} cores`,
    ...floorLines(
      `Baseline: a no-op workflow of exactly the checkout's shape (${shapeText})`,
      baseline,
      json.baselineRatio,
    ),
    ...floorLines('Baseline: 3 remote activities (the first baseline)', baselineRemote, json.baselineRemoteRatio),
    ...details.experiments.flatMap((e) => [
      `Experiment: ${e.name}`,
      `  workflows/minute       ${e.perMinute}; p50 ${e.latencyMs.p50} ms, p95 ${e.latencyMs.p95} ms; ${e.historyEvents} history events` +
        (Object.keys(e.errors).length ? `; errors ${JSON.stringify(e.errors)}` : ''),
      `  CPU ms per workflow    ${fmtCpu(e.cpuMsPerWorkflow)}`,
    ]),
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

/** Writes the chart and the JSON file to bench/results; returns the chart's path. */
export function writeResults(input: {
  runId: string;
  report: ReturnType<typeof summarize>;
  flags: Flags;
  phases: Phase[];
  sale: CheckoutPhase;
  baselines: BaselinePhase[];
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
        `${report.json.ticketsPerMinute} tickets/min, POST p95 ${report.json.checkoutP95Ms} ms, ` +
        `baseline ratio ${report.json.baselineRatio}, oversold ${report.json.oversold}; concurrency ` +
        `${flags.concurrency}, ${cpus().length} cores, Node ${process.versions.node}`,
      phases: input.phases,
      checkouts: input.sale.requests,
      baseline: input.baselines.flatMap((b) => b.requests),
      resources: input.resources.filter((s) => s.t >= 0),
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
