// The floor: no-op workflows on the same Temporal server, driven through the Temporal client directly (no HTTP,
// no API, no Postgres) at the same concurrency as the sale, so the ratio says how close a checkout is to what
// this server can do at all.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client, WithStartWorkflowOperation } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { platformDataConverter } from '../temporal/payload-codec';
import { createBaselineWorker } from './baseline-worker';
import { awaitBaselineUpdate, BASELINE_TASK_QUEUE, type BaselineMode } from './baseline-workflow';
import type { baselineWorkflow } from './baseline-workflow';
import { count, drive } from './load';
import type { TimedRequest } from './report';
import type { Measured, Stack } from './stack';

/** What one baseline variant observed. */
export interface BaselinePhase {
  name: string;
  from: number;
  to: number;
  requests: TimedRequest[];
  latencyMs: number[];
  workflowIds: string[];
  errors: Record<string, number>;
}

/** Starts baseline workflows with `start`, `concurrency` at a time, for `seconds`. */
export async function runBaseline(
  stack: Pick<Stack, 'since'>,
  options: { runId: string; name: string; seconds: number; concurrency: number },
  start: (workflowId: string) => Promise<unknown>,
): Promise<BaselinePhase> {
  const { since } = stack;
  const { name } = options;
  const phase: BaselinePhase = {
    name,
    from: since(),
    to: 0,
    requests: [],
    latencyMs: [],
    workflowIds: [],
    errors: {},
  };
  const prefix = `baseline-${options.runId}-${name.replace(/[^a-z0-9]+/gi, '-')}-${randomBytes(3).toString('hex')}`;
  await drive(options.concurrency, options.seconds, Number.MAX_SAFE_INTEGER, async (i) => {
    const workflowId = `${prefix}-${i}`;
    const started = performance.now();
    try {
      await start(workflowId);
    } catch (err) {
      count(phase.errors, (err as Error).message.slice(0, 120));
      return;
    }
    const ms = performance.now() - started;
    phase.latencyMs.push(ms);
    phase.workflowIds.push(workflowId);
    phase.requests.push({ end: since(), latencyMs: ms, units: 1 });
  });
  phase.to = since();
  return phase;
}

/** Starts one baseline workflow the way the API starts a checkout, and waits for its update's answer. */
export function updateWithStart(client: Client, mode: BaselineMode) {
  return (workflowId: string) =>
    client.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
        workflowId,
        taskQueue: BASELINE_TASK_QUEUE,
        args: [{ mode }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
}

/** The baseline and its unmeasured warm-up, at the sale's concurrency. */
export async function measureBaseline(
  stack: Stack,
  options: { runId: string; seconds: number; warmup: number; concurrency: number; log: (line: string) => void },
): Promise<Measured<BaselinePhase>> {
  const { runId, concurrency } = options;
  if (options.warmup > 0) {
    await runBaseline(
      stack,
      { runId, name: 'baseline warm-up', seconds: Math.min(3, options.warmup), concurrency },
      updateWithStart(stack.client, 'activities'),
    );
  }
  options.log(`baseline ${options.seconds}s`);
  return stack.measure('baseline', () =>
    runBaseline(
      stack,
      { runId, name: 'baseline', seconds: options.seconds, concurrency },
      updateWithStart(stack.client, 'activities'),
    ),
  );
}

/** `--experiments`: the baseline's variants, and whether the server accepts an eager update-with-start. */
export async function measureExperiments(
  stack: Stack,
  options: { runId: string; seconds: number; concurrency: number; log: (line: string) => void },
): Promise<{ experiments: Array<Measured<BaselinePhase>>; notes: string[] }> {
  const { runId, seconds, concurrency } = options;
  const { client, config } = stack;
  const experiments: Array<Measured<BaselinePhase>> = [];
  const notes: string[] = [];
  const variant = (name: string, start: (workflowId: string) => Promise<unknown>, phaseName = name) =>
    stack.measure(phaseName, () => runBaseline(stack, { runId, name, seconds, concurrency }, start));
  options.log('experiments: baseline variants');
  experiments.push(await variant('local activities', updateWithStart(client, 'local')));
  experiments.push(
    await variant(
      'start + result (no update)',
      (workflowId) =>
        client.workflow.execute<typeof baselineWorkflow>('baselineWorkflow', {
          workflowId,
          taskQueue: BASELINE_TASK_QUEUE,
          args: [{ mode: 'activities' }],
        }),
      'start + result',
    ),
  );
  // Eager start needs a worker in the caller's process sharing its NativeConnection.
  const native = await NativeConnection.connect({ address: stack.infra.temporalAddress });
  const eagerQueue = `${BASELINE_TASK_QUEUE}-eager`;
  const eagerWorker = await createBaselineWorker(
    native,
    config.TEMPORAL_NAMESPACE,
    config.WORKER_MAX_CACHED_WORKFLOWS,
    eagerQueue,
    platformDataConverter(config),
  );
  const eagerClient = new Client({
    connection: native,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: platformDataConverter(config),
  });
  const running = eagerWorker.run();
  for (const mode of ['activities', 'local'] as const) {
    experiments.push(
      await variant(
        `eager start + result, ${mode} (in-process worker)`,
        (workflowId) =>
          eagerClient.workflow.execute<typeof baselineWorkflow>('baselineWorkflow', {
            workflowId,
            taskQueue: eagerQueue,
            args: [{ mode }],
            requestEagerStart: true,
          }),
        `eager ${mode}`,
      ),
    );
  }
  // Checkout answers in one round trip with update-with-start; can that be started eagerly too?
  try {
    await eagerClient.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
        workflowId: `baseline-${runId}-eager-update-with-start`,
        taskQueue: eagerQueue,
        args: [{ mode: 'local' }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        requestEagerStart: true,
      }),
    });
    notes.push('eager update-with-start: accepted by the server');
  } catch (err) {
    notes.push(`eager update-with-start: refused by the server: ${(err as Error).message}`);
  }
  eagerWorker.shutdown();
  await running;
  await native.close();
  return { experiments, notes };
}
