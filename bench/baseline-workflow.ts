// The benchmark's floor: workflows shaped like checkout (steps answered through an update sent with the start)
// that do no work at all. Deterministic, like every workflow: imports only the workflow SDK and shared types.
import {
  condition,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { SearchAttributes } from '../domain';
import type { createBaselineActivities } from './baseline-activities';
import type { CheckoutShape, StepKind } from './checkout-shape';

/**
 * How the baseline runs: `checkout`, exactly the checkout's shape (given in the input: each step local or remote,
 * its status upserts); `activities`, three regular activities (the first baseline, kept as a second line);
 * `local`, the same three as local activities.
 */
export type BaselineMode = 'checkout' | 'activities' | 'local';

/** Input of the baseline workflow; `shape` is required for the `checkout` mode. */
export interface BaselineInput {
  mode: BaselineMode;
  shape?: CheckoutShape;
}

/** Result of the baseline workflow, and of its update: how many steps ran. */
export interface BaselineResult {
  steps: number;
}

/** Update: answers once the order would be paid, as `awaitPlacement` does for an instant card checkout. */
export const awaitBaselineUpdate = defineUpdate<BaselineResult>('awaitBaseline');

/** Task queue of the baseline worker; separate from checkout so the two never share pollers. */
export const BASELINE_TASK_QUEUE = 'bench-baseline';

// The same timeout profile the checkout's database steps use.
const remote = proxyActivities<ReturnType<typeof createBaselineActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});
const local = proxyLocalActivities<ReturnType<typeof createBaselineActivities>>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
  localRetryThreshold: '10s',
});
const run = (kind: StepKind) => (kind === 'local' ? local : remote);

/** Three no-op steps in a row (reserve, charge, issue), or the checkout's shape, then done. */
export async function baselineWorkflow(input: BaselineInput): Promise<BaselineResult> {
  const result: BaselineResult = { steps: 0 };
  let done = false;
  setHandler(awaitBaselineUpdate, async () => {
    await condition(() => done);
    return result;
  });
  if (input.mode === 'checkout') {
    if (!input.shape) throw new Error('the checkout mode needs the shape');
    await runShape(input.shape, result, () => void (done = true));
    return result;
  }
  const kind: StepKind = input.mode === 'local' ? 'local' : 'remote';
  for (const step of ['reserve', 'charge', 'issue']) {
    await run(kind).noop({ step });
    result.steps++;
  }
  done = true;
  return result;
}

/**
 * The checkout's steps as no-ops and its upserts with the values it writes, in its order: the status once the
 * order is paid, the update answered, then the fulfilment memo (the child ids, none here) and the rest.
 */
async function runShape(shape: CheckoutShape, result: BaselineResult, answer: () => void): Promise<void> {
  for (const [step, kind] of Object.entries(shape.steps)) {
    await run(kind).noop({ step });
    result.steps++;
    if (step !== shape.paidAfter) continue;
    for (let i = 0; i < shape.searchAttributeUpserts; i++)
      upsertSearchAttributes([{ key: SearchAttributes.OrderStatus, value: 'PAID' }]);
    if (shape.memoUpserts > 0) upsertMemo({ status: 'PAID' });
    answer();
    if (shape.timerAfterPaid) await sleep(1);
    for (let i = 1; i < shape.memoUpserts; i++)
      upsertMemo({ fulfilment: { nftWorkflowId: null, confirmationWorkflowId: null } });
  }
}
