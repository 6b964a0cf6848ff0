// `npm run bench`: a flash sale on the embedded stack, beside a no-op baseline on the same Temporal server.
// The phases, in order: bring up the stack (stack.ts), seed and warm up, run the sale (sale.ts) and audit its books
// and histories (audit.ts, actions.ts), sweep the concurrency (sweep.ts), measure the floors (baseline.ts), and
// report (summary.ts, report.ts). `--phases sale,sweep,baseline` runs a subset.
import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { checkoutWorkflowId } from '../domain';
import { checkInvariants, historyOf, orderCost, serverSideLatency, type HistoryStats } from './audit';
import { measureBaselines, measureExperiments, type BaselinePhase } from './baseline';
import { readFlags } from './flags';
import { stopChild } from './processes';
import { summarizeProfiles } from './profile';
import { runCheckouts, seed, type SaleOptions } from './sale';
import { startStack, type Measured } from './stack';
import { summarize, writeResults, type RunFigures, type SaleFigures } from './summary';
import { runSweep } from './sweep';

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
    const saleOptions = (label: string, ticketTypeId: string, seconds: number, buyers: number): SaleOptions => ({
      config,
      runId,
      label,
      apiUrls: stack.apiUrls,
      eventId: catalogue.eventId,
      ticketTypeId,
      quantity: flags.quantity,
      concurrency: flags.concurrency,
      seconds,
      buyers,
      since: stack.since,
    });
    const checkouts = (label: string, ticketTypeId: string, seconds: number, buyers: number) =>
      runCheckouts(saleOptions(label, ticketTypeId, seconds, buyers));

    // Warm-up: JIT, the sticky cache and the connection pools, on a ticket type of its own.
    if (flags.warmup > 0) {
      log(`warm-up ${flags.warmup}s`);
      await stack.measure('warm-up', () =>
        checkouts('warmup', catalogue.warmupTicketTypeId, flags.warmup, Number.MAX_SAFE_INTEGER),
      );
    }

    const phases = flags.phases;
    let saleRun: Omit<SaleFigures, 'checkoutHistory' | 'orderCost'> | undefined;
    let saleWindowUs = { from: 0, to: 0 };
    if (phases.has('sale')) {
      log(`flash sale ${flags.duration}s`);
      const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
      saleWindowUs = { from: monotonicUs(), to: 0 };
      const measured = await stack.measure('flash sale', () =>
        checkouts('sale', catalogue.ticketTypeId, flags.duration, flags.buyers),
      );
      saleWindowUs.to = monotonicUs();
      log(`flash sale done: ${measured.result.tickets} tickets, ${measured.result.soldOut} sold-out answers`);
      const invariants = await checkInvariants(db, catalogue, measured.result);
      saleRun = { measured, invariants, serverLatency: await serverSideLatency(db, catalogue.ticketTypeId) };
    }

    const sweep = phases.has('sweep')
      ? await runSweep(stack, saleOptions('sweep', catalogue.warmupTicketTypeId, 0, 0), flags.sweepDuration, log)
      : undefined;

    const phaseOptions = { runId, concurrency: flags.concurrency, seconds: flags.baselineDuration, log };
    let baselines: RunFigures['baselines'];
    if (phases.has('baseline')) {
      const measured = await measureBaselines(stack, { ...phaseOptions, warmup: flags.warmup });
      baselines = {
        measured,
        histories: {
          checkout: await historyOf(client, measured.checkout.result.workflowIds),
          remote: await historyOf(client, measured.remote.result.workflowIds),
        },
      };
    }
    const { experiments, notes } = flags.experiments
      ? await measureExperiments(stack, phaseOptions)
      : { experiments: [] as Array<Measured<BaselinePhase>>, notes: [] as string[] };
    stack.stopSampling();

    // Histories last, when the confirmations and other children of the sampled orders have finished.
    const sale: SaleFigures | undefined = saleRun && {
      ...saleRun,
      checkoutHistory: await historyOf(client, saleRun.measured.result.paidOrderIds.map(checkoutWorkflowId)),
      orderCost: await orderCost(client, saleRun.measured.result.paidOrderIds),
    };
    const experimentHistories: HistoryStats[] = [];
    for (const e of experiments) experimentHistories.push(await historyOf(client, e.result.workflowIds));

    let workerProfile: Array<{ category: string; percent: number }> = [];
    if (flags.profile && sale) {
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
      cores: cpus().length,
      resources: stack.samples,
      ...(sale ? { sale } : {}),
      ...(sweep ? { sweep: sweep.points } : {}),
      ...(baselines ? { baselines } : {}),
      experiments: experiments.map((e, i) => ({ phase: e.result, cpu: e.cpu, history: experimentHistories[i]! })),
      notes,
      workerProfile,
    });
    const chartPath = writeResults({
      runId,
      report,
      flags,
      phases: stack.phases,
      checkouts: [...(sale?.measured.result.requests ?? []), ...(sweep?.requests ?? [])],
      baselines: [
        ...(baselines ? [baselines.measured.checkout.result, baselines.measured.remote.result] : []),
        ...experiments.map((e) => e.result),
      ],
      ...(sweep ? { sweep: sweep.points } : {}),
      resources: stack.samples,
    });
    console.log(report.text);
    console.log(`[bench] chart: ${chartPath}`);
    await stack.shutdown();
    console.log(JSON.stringify({ ...report.json, chart: chartPath }));
    process.exit(sale && !sale.invariants.ok ? 1 : 0);
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
