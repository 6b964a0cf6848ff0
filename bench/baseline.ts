// The floor: no-op workflows on the same Temporal server, driven through the Temporal client directly (no HTTP,
// no API, no Postgres) at the same concurrency as the sale, so the ratio says how close a checkout is to what
// this server can do at all.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client, WithStartWorkflowOperation } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { orderSearchAttributes } from '../domain';
import { platformDataConverter } from '../temporal/payload-codec';
import { createBaselineWorker } from './baseline-worker';
import { awaitBaselineUpdate, BASELINE_TASK_QUEUE, type BaselineMode } from './baseline-workflow';
import type { baselineWorkflow } from './baseline-workflow';
import { CHECKOUT_SHAPE } from './checkout-shape';
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

/**
 * Starts one baseline workflow the way the API starts a checkout, and waits for its update's answer. In the
 * `checkout` mode it also carries what the API's start carries (the order's search attributes and memo), and
 * runs {@link CHECKOUT_SHAPE}.
 */
export function updateWithStart(client: Client, mode: BaselineMode) {
  return (workflowId: string) =>
    client.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
      startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
        workflowId,
        taskQueue: BASELINE_TASK_QUEUE,
        args: [mode === 'checkout' ? { mode, shape: CHECKOUT_SHAPE } : { mode }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        ...(mode === 'checkout'
          ? {
              workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
              typedSearchAttributes: orderSearchAttributes({
                orderId: workflowId,
                eventId: 'evt_baseline',
                buyerId: 'buyer_baseline',
                organizerId: 'org_baseline',
                status: 'AWAITING_PAYMENT',
                paymentMethod: 'card',
                amountMinor: 2500,
              }),
              memo: {
                eventId: 'evt_baseline',
                amountMinor: 2500,
                currency: 'USD',
                paymentMethod: 'card',
                status: 'AWAITING_PAYMENT',
              },
            }
          : {}),
      }),
    });
}

/** The two floors, measured one after the other at the sale's concurrency. */
export interface Baselines {
  /** Exactly the checkout's shape: the like-for-like floor. */
  checkout: Measured<BaselinePhase>;
  /** Three remote activities: the first baseline, kept as a second line. */
  remote: Measured<BaselinePhase>;
}

/** Both baselines, each after an unmeasured warm-up of its own. */
export async function measureBaselines(
  stack: Stack,
  options: { runId: string; seconds: number; warmup: number; concurrency: number; log: (line: string) => void },
): Promise<Baselines> {
  const { runId, concurrency, seconds } = options;
  const measured = async (name: string, mode: BaselineMode) => {
    if (options.warmup > 0) {
      const warmup = { runId, name: `${name} warm-up`, seconds: Math.min(2, options.warmup), concurrency };
      await runBaseline(stack, warmup, updateWithStart(stack.client, mode));
    }
    options.log(`${name} ${seconds}s`);
    return stack.measure(name, () =>
      runBaseline(stack, { runId, name, seconds, concurrency }, updateWithStart(stack.client, mode)),
    );
  };
  return {
    checkout: await measured('baseline', 'checkout'),
    remote: await measured('baseline, 3 remote activities', 'activities'),
  };
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
