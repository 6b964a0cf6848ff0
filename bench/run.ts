// `npm run bench`: a flash sale on the embedded stack, beside a no-op baseline on the same Temporal server.
// The phases, in order: bring up the stack (stack.ts), seed and warm up, run the sale (sale.ts) and audit its books
// and histories (audit.ts, actions.ts), sweep the concurrency (sweep.ts), measure the floors (baseline.ts), and
// shut that stack down; then the mixed sale and the scale-out check, each on a stack of its own, and the sizing
// model (scale-phases.ts); and report (summary.ts, report.ts). `--phases sale,sweep,baseline,mixed,scale-out` runs
// a subset.
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { checkoutWorkflowId } from '../domain';
import { checkInvariants, historyOf, orderCost, serverSideLatency } from './audit';
import { measureBaselines, measureExperiments, type BaselinePhase } from './baseline';
import { readFlags, type Flags } from './flags';
import { stopChild } from './processes';
import { readPostgresWrites } from './postgres-writes';
import { summarizeProfiles } from './profile';
import { buyersOn, runCheckouts, seed, type Catalogue, type SaleOptions } from './sale';
import { instantSale, runScalePhases } from './scale-phases';
import { startStack, type Measured, type Stack } from './stack';
import { summarize, writeResults, type RunFigures, type SaleFigures } from './summary';
import { runSweep } from './sweep';
import { measureCatalogueReads } from './catalogue';

const log = (line: string) => console.log(`[bench] ${line}`);

async function main(): Promise<void> {
  // In-process workers log at INFO by default; only warnings belong in a benchmark's output.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const flags = readFlags();
  const runId = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  log(
    `flash sale: ${flags.buyers} buyers for ${flags.seats} seats, ${flags.quantity} per order, concurrency ` +
      `${flags.concurrency}, ${flags.duration}s (+${flags.warmup}s warm-up); baseline ${flags.baselineDuration}s`,
  );
  const stack = await startStack({
    temporal: flags.temporal,
    keepData: flags.keepData,
    profile: flags.profile,
    log,
  });
  try {
    const catalogue = await seed(stack.db, runId, flags.seats, flags.quantity);
    const buyers = buyersOn(stack, catalogue, flags, runId);
    const { phases } = flags;
    const floorOptions = { runId, concurrency: flags.concurrency, seconds: flags.baselineDuration, log };

    // Warm-up: JIT, the sticky cache and the connection pools, on a ticket type of its own.
    if (flags.warmup > 0) {
      log(`warm-up ${flags.warmup}s`);
      const warmup = buyers('warmup', catalogue.warmupTicketTypeId, flags.warmup, Number.MAX_SAFE_INTEGER);
      await stack.measure('warm-up', () => runCheckouts(warmup));
    }
    const postgresBefore = await readPostgresWrites(stack.db);
    const sale = phases.has('sale')
      ? await flashSale(stack, catalogue, buyers('sale', catalogue.ticketTypeId, flags.duration, flags.buyers))
      : undefined;
    // Read as the sweep starts writing again; the statistics' second of lag at either end of the sale cancels out.
    const postgresAfter = await readPostgresWrites(stack.db);
    const sweep = phases.has('sweep')
      ? await runSweep(stack, buyers('sweep', catalogue.warmupTicketTypeId, 0, 0), flags.sweepDuration, log)
      : undefined;
    const catalogueReads = phases.has('catalogue') ? await catalogueDuringSale(stack, flags, runId) : undefined;
    const baselines = phases.has('baseline')
      ? await measureBaselines(stack, { ...floorOptions, warmup: flags.warmup })
      : undefined;
    const { experiments, notes } = flags.experiments
      ? await measureExperiments(stack, floorOptions)
      : { experiments: [] as Array<Measured<BaselinePhase>>, notes: [] as string[] };
    stack.stopSampling();

    // Histories last, when the confirmations and other children of the sampled orders have finished.
    const { client } = stack;
    const saleFigures: SaleFigures | undefined = sale && {
      ...sale,
      checkoutHistory: await historyOf(client, sale.measured.result.paidOrderIds.map(checkoutWorkflowId)),
      orderCost: await orderCost(client, sale.measured.result.paidOrderIds),
    };
    const floors: RunFigures['baselines'] = baselines && {
      measured: baselines,
      histories: {
        checkout: await historyOf(client, baselines.checkout.result.workflowIds),
        remote: await historyOf(client, baselines.remote.result.workflowIds),
      },
    };
    const experimentFigures: RunFigures['experiments'] = [];
    for (const e of experiments)
      experimentFigures.push({
        phase: e.result,
        cpu: e.cpu,
        history: await historyOf(client, e.result.workflowIds),
      });
    const workerProfile = flags.profile && sale ? await profileOfSale(stack, sale.windowUs) : [];
    await stack.shutdown();

    // The mixed sale and the scale-out check need the platform set up otherwise: each brings up a stack of its own.
    const instant =
      saleFigures && instantSale(stack, saleFigures, { before: postgresBefore, after: postgresAfter });
    const more = await runScalePhases(flags, runId, instant, log);

    const report = summarize({
      flags,
      config: stack.config,
      runId,
      cores: cpus().length,
      resources: stack.samples,
      ...(saleFigures ? { sale: saleFigures } : {}),
      ...(sweep ? { sweep: sweep.points } : {}),
      ...(floors ? { baselines: floors } : {}),
      experiments: experimentFigures,
      ...(more.mixed ? { mixed: more.mixed } : {}),
      ...(more.scaleOut ? { scaleOut: more.scaleOut } : {}),
      ...(catalogueReads ? { catalogue: catalogueReads } : {}),
      notes,
      workerProfile,
    });
    const full = {
      json: { ...report.json, ...more.json },
      details: { ...report.details, ...more.details },
      text: [report.text, ...more.sizingLines, ''].join('\n'),
    };
    const chartPath = writeResults({
      runId,
      report: full,
      flags,
      phases: [...stack.phases, ...more.timeline.phases],
      checkouts: [
        ...(sale?.measured.result.requests ?? []),
        ...(sweep?.requests ?? []),
        // The mixed sale and the scale-out sale, on the first stack's clock.
        ...more.timeline.requests,
      ],
      baselines: [
        ...(baselines ? [baselines.checkout.result, baselines.remote.result] : []),
        ...experiments.map((e) => e.result),
      ],
      ...(sweep ? { sweep: sweep.points } : {}),
      ...(more.mixed ? { mixed: more.mixed } : {}),
      resources: [...stack.samples, ...more.timeline.samples],
    });
    console.log(full.text);
    console.log(`[bench] chart: ${chartPath}`);
    console.log(JSON.stringify({ ...full.json, chart: chartPath }));
    process.exit((sale && !sale.invariants.ok) || !more.ok ? 1 : 0);
  } catch (err) {
    console.error('[bench] failed:', err);
    await stack.shutdown();
    process.exit(1);
  }
}

/** The flash sale, then its books; `windowUs` is the sale on the CPU profile's clock. */
async function flashSale(stack: Stack, catalogue: Catalogue, options: SaleOptions) {
  log(`flash sale ${options.seconds}s`);
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  const windowUs = { from: monotonicUs(), to: 0 };
  const measured = await stack.measure('flash sale', () => runCheckouts(options));
  windowUs.to = monotonicUs();
  log(`flash sale done: ${measured.result.tickets} tickets, ${measured.result.soldOut} sold-out answers`);
  const invariants = await checkInvariants(stack.db, catalogue, measured.result);
  return {
    measured,
    invariants,
    serverLatency: await serverSideLatency(stack.db, catalogue.ticketTypeId),
    windowUs,
  };
}

/**
 * Buyers refreshing the event page while a sale of its own runs (a fresh event, the same seats and buyers), so the
 * page load's CPU does not count against the flash sale's cost per checkout.
 */
async function catalogueDuringSale(stack: Stack, flags: Flags, runId: string) {
  const catalogue = await seed(stack.db, `${runId}_catalogue`, flags.seats, flags.quantity);
  const buyers = buyersOn(stack, catalogue, flags, `${runId}c`);
  log(`catalogue reads beside a sale, ${flags.duration}s`);
  const [reads, sale] = await Promise.all([
    measureCatalogueReads({
      apiUrl: stack.apiUrls[0]!,
      eventId: catalogue.eventId,
      ticketTypeId: catalogue.ticketTypeId,
      seconds: flags.duration,
      connections: 32,
      snapshotTtlMs: stack.config.CATALOGUE_SNAPSHOT_TTL_MS,
      db: stack.db,
      logDir: stack.dataDir,
    }),
    runCheckouts(buyers('catalogue-sale', catalogue.ticketTypeId, flags.duration, flags.buyers)),
  ]);
  log(
    `catalogue: ${reads.readsPerSecond} req/s (${JSON.stringify(reads.byStatus)}), stalest ${reads.staleMsMax} ms, ` +
      `(${JSON.stringify(reads.stalest ?? {})}), sold-out shown available ${reads.soldOutShownAvailable}; beside ${sale.tickets} tickets sold`,
  );
  return reads;
}

/** The first checkout worker's CPU over the sale, by package; the profile is written when the worker exits. */
async function profileOfSale(stack: Stack, windowUs: { from: number; to: number }) {
  await stopChild(stack.workers[0]!);
  const files = readdirSync(stack.profileDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(stack.profileDir, f));
  return summarizeProfiles(files, windowUs.from, windowUs.to);
}

void main().catch((err) => {
  console.error('[bench] failed:', err);
  process.exit(1);
});
