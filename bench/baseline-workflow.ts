// The benchmark's floor: a workflow shaped like checkout (three activities, answered through an update sent
// with the start) that does no work at all. Deterministic, like every workflow: imports only the workflow SDK.
import { condition, defineUpdate, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { createBaselineActivities } from './baseline-activities';

/** How the baseline runs its three no-op steps: as regular activities (like checkout today) or local ones. */
export type BaselineMode = 'activities' | 'local';

/** Input of the baseline workflow. */
export interface BaselineInput {
  mode: BaselineMode;
}

/** Result of the baseline workflow, and of its update: how many steps ran. */
export interface BaselineResult {
  steps: number;
}

/** Update: answers once the three steps ran, as `awaitPlacement` does for an instant card checkout. */
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
});

/** Three no-op steps in a row (reserve, charge, issue in checkout), then done. */
export async function baselineWorkflow(input: BaselineInput): Promise<BaselineResult> {
  const result: BaselineResult = { steps: 0 };
  let done = false;
  setHandler(awaitBaselineUpdate, async () => {
    await condition(() => done);
    return result;
  });
  const steps = input.mode === 'local' ? local : remote;
  await steps.noop({ step: 'reserve' });
  result.steps++;
  await steps.noop({ step: 'charge' });
  result.steps++;
  await steps.noop({ step: 'issue' });
  result.steps++;
  done = true;
  return result;
}
