// `npm run bench`: a flash sale on the embedded stack, beside a no-op baseline on the same Temporal server.
// The phases, in order: bring up the stack (stack.ts), seed and warm up, run the sale (sale.ts), audit the books
// (audit.ts), measure the floor (baseline.ts), read the histories, then the mixed sale and the scale-out check on
// stacks of their own and the sizing model (scale-phases.ts), and report (summary.ts, report.ts).
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { checkoutWorkflowId } from '../domain';
import { checkInvariants, historyOf, orderWorkflows, serverSideLatency, type HistoryStats } from './audit';
import { measureBaselines, measureExperiments, type BaselinePhase } from './baseline';
import { readFlags } from './flags';
import { stopChild } from './processes';
import { summarizeProfiles } from './profile';
import { readPostgresWrites } from './postgres-writes';
import { checkoutsOn, seed } from './sale';
import { runScalePhases } from './scale-phases';
import { startStack, type Measured } from './stack';
import { summarize, writeResults } from './summary';

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
    const { client, db, config } = stack;
    const catalogue = await seed(db, runId, flags.seats, flags.quantity);
    const checkouts = checkoutsOn(stack, catalogue, flags, runId);

    // Warm-up: JIT, the sticky cache and the connection pools, on a ticket type of its own.
    if (flags.warmup > 0) {
      log(`warm-up ${flags.warmup}s`);
      await stack.measure('warm-up', () =>
        checkouts('warmup', catalogue.warmupTicketTypeId, flags.warmup, Number.MAX_SAFE_INTEGER),
      );
    }

    log(`flash sale ${flags.duration}s`);
    const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
    const saleWindowUs = { from: monotonicUs(), to: 0 };
    const postgresBefore = await readPostgresWrites(db);
    const sale = await stack.measure('flash sale', () =>
      checkouts('sale', catalogue.ticketTypeId, flags.duration, flags.buyers),
    );
    saleWindowUs.to = monotonicUs();
    log(`flash sale done: ${sale.result.tickets} tickets, ${sale.result.soldOut} sold-out answers`);
    const invariants = await checkInvariants(db, catalogue, sale.result);

    const phaseOptions = { runId, concurrency: flags.concurrency, seconds: flags.baselineDuration, log };
    const baselines = await measureBaselines(stack, { ...phaseOptions, warmup: flags.warmup });
    const { experiments, notes } = flags.experiments
      ? await measureExperiments(stack, phaseOptions)
      : { experiments: [] as Array<Measured<BaselinePhase>>, notes: [] as string[] };
    stack.stopSampling();
    // After the baselines, which do not touch the platform's database: its statistics of the sale are all in.
    const postgresAfter = await readPostgresWrites(db);

    const checkoutHistory = await historyOf(client, sale.result.paidOrderIds.map(checkoutWorkflowId));
    const perOrder = await orderWorkflows(client, sale.result.paidOrderIds);
    const baselineHistories = {
      checkout: await historyOf(client, baselines.checkout.result.workflowIds),
      remote: await historyOf(client, baselines.remote.result.workflowIds),
    };
    const experimentHistories: HistoryStats[] = [];
    for (const e of experiments) experimentHistories.push(await historyOf(client, e.result.workflowIds));

    let workerProfile: Array<{ category: string; percent: number }> = [];
    if (flags.profile) {
      // The profile is written when the worker exits.
      await stopChild(stack.workers[0]!);
      const files = readdirSync(stack.profileDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(stack.profileDir, f));
      workerProfile = summarizeProfiles(files, saleWindowUs.from, saleWindowUs.to);
    }

    const report = summarize({
      flags,
      config,
      runId,
      sale,
      baselines,
      experiments: experiments.map((e, i) => ({ phase: e.result, cpu: e.cpu, history: experimentHistories[i]! })),
      invariants,
      checkoutHistory,
      perOrder,
      baselineHistories,
      notes,
      workerProfile,
      cores: cpus().length,
      resources: stack.samples,
      serverLatency: await serverSideLatency(db, catalogue.ticketTypeId),
    });
    await stack.shutdown();
    const more = await runScalePhases(
      flags,
      runId,
      {
        ticketsPerMinute: report.json.ticketsPerMinute,
        otherProcessesCores: report.details.sale.otherProcessesCores,
        cost: {
          paidCheckouts: sale.result.paidOrderIds.length,
          windowSeconds: report.details.sale.windowSeconds,
          cpuSeconds: sale.cpu,
          historyEventsPerOrder: perOrder.eventsPerOrder,
        },
        actionsPerOrder: 'actionsPerOrder' in report.json ? Number(report.json.actionsPerOrder) : undefined,
        postgresWrites: { before: postgresBefore, after: postgresAfter },
        clockStartedAt: Date.now() - stack.since() * 1000,
      },
      log,
    );
    const full = {
      json: { ...report.json, ...more.json },
      details: { ...report.details, ...more.details },
      text: [report.text, ...more.lines, ''].join('\n'),
    };
    const chartPath = writeResults({
      runId,
      report: full,
      flags,
      phases: [...stack.phases, ...more.timeline.phases],
      // The mixed sale and the scale-out sale on the chart's checkout panel, beside the instant sale.
      sale: { ...sale.result, requests: [...sale.result.requests, ...more.timeline.requests] },
      baselines: [baselines.checkout.result, baselines.remote.result, ...experiments.map((e) => e.result)],
      resources: [...stack.samples, ...more.timeline.samples],
    });
    console.log(full.text);
    console.log(`[bench] chart: ${chartPath}`);
    console.log(JSON.stringify({ ...full.json, chart: chartPath }));
    process.exit(invariants.ok && more.ok ? 0 : 1);
  } catch (err) {
    console.error('[bench] failed:', err);
    await stack.shutdown();
    process.exit(1);
  }
}

void main().catch((err) => {
  console.error('[bench] failed:', err);
  process.exit(1);
});
