import {
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  executeChild,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  PAYOUTS_TASK_QUEUE,
  payoutWorkflowId,
  reconciliationDateFor,
  reconciliationWorkflowId,
  scheduledTimeInWorkflowId,
  scheduledTimeOf,
  SearchAttributes,
  statusQuery,
  TemporalScheduledStartTime,
  type DailyReconciliationResult,
  type DailyRewardsResult,
  type HoldSweepResult,
  type ScheduledRunInput,
  type WeeklyPayoutsResult,
} from '../domain';
import type { createHoldSweeperActivities, createScheduledPayoutActivities } from '../activities/schedules';
import type { createRewardActivities } from '../activities/rewards';
import { compensation, dbWrite } from './activity-options';
import { payoutWorkflow } from './payouts';
import { reconciliationWorkflow } from './reconciliation';

/** The batch size of vestDueOrders (activities/rewards.ts): a shorter batch means the sweep is done. */
const REWARD_SWEEP_BATCH = 200;

const sweeper = proxyActivities<ReturnType<typeof createHoldSweeperActivities>>(dbWrite);
/** Releasing a hold is a compensation: retried until done. */
const release = proxyActivities<ReturnType<typeof createHoldSweeperActivities>>(compensation);
const payouts = proxyActivities<ReturnType<typeof createScheduledPayoutActivities>>(dbWrite);
const rewards = proxyActivities<ReturnType<typeof createRewardActivities>>({
  ...dbWrite,
  startToCloseTimeout: '2m',
});

/** The scheduled time this run stands for (module doc in domain/schedules.ts). */
function scheduledTime(input: ScheduledRunInput | undefined): Date {
  const info = workflowInfo();
  const scheduled =
    info.typedSearchAttributes.get(TemporalScheduledStartTime) ?? scheduledTimeInWorkflowId(info.workflowId);
  return scheduledTimeOf(input, scheduled, info.startTime);
}

/**
 * Schedule `bilten-hold-sweeper`, every minute: releases seats still held well after their hold lapsed whose
 * checkout workflow is closed or gone (terminated by hand, lost with a namespace). A safety net: a running checkout
 * releases its own hold at expiry, and the sweeper leaves those alone.
 */
export async function holdSweeperWorkflow(input: ScheduledRunInput = {}): Promise<HoldSweepResult> {
  const asOf = scheduledTime(input).toISOString();
  const released: string[] = [];
  const listed: { lapsed?: string[] } = {};
  setHandler(statusQuery, () => ({
    status: listed.lapsed === undefined ? 'LISTING' : 'DONE',
    asOf,
    checked: listed.lapsed?.length ?? 0,
    released: released.length,
  }));
  const lapsed = (listed.lapsed = await sweeper.listLapsedHolds({ asOf }));
  for (const orderId of lapsed) if (await release.releaseIfOrphaned({ orderId })) released.push(orderId);
  upsertMemo({ asOf, checked: lapsed.length, released: released.length });
  return { asOf, checked: lapsed.length, released };
}

/**
 * Schedule `bilten-weekly-payouts`: starts a payout workflow for every organizer with an available balance. Each
 * payout's id comes from the organizer and the scheduled time, and the start refuses a duplicate id, so a backfill
 * or a second run of the same week never pays anyone twice.
 */
export async function weeklyPayoutsWorkflow(input: ScheduledRunInput = {}): Promise<WeeklyPayoutsResult> {
  const asOf = scheduledTime(input).toISOString();
  const started: string[] = [];
  const alreadyStarted: string[] = [];
  let done = false;
  setHandler(statusQuery, () => ({
    status: done ? 'DONE' : 'STARTING_PAYOUTS',
    asOf,
    started: started.length,
    alreadyStarted: alreadyStarted.length,
  }));
  const due = await payouts.listOrganizersToPayOut({ asOf });
  for (const payout of due) {
    const workflowId = payoutWorkflowId(payout.organizerId, payout.payoutId);
    try {
      await startChild(payoutWorkflow, {
        workflowId,
        taskQueue: PAYOUTS_TASK_QUEUE,
        args: [
          {
            organizerId: payout.organizerId,
            payoutId: payout.payoutId,
            idempotencyKey: payout.idempotencyKey,
            requestedBy: `schedule:${workflowInfo().workflowId}`,
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchAttributes.OrganizerId, value: payout.organizerId },
          { key: SearchAttributes.PayoutStatus, value: 'PENDING' },
        ],
      });
      started.push(workflowId);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      alreadyStarted.push(workflowId);
    }
  }
  done = true;
  upsertMemo({ asOf, started: started.length, alreadyStarted: alreadyStarted.length });
  return { asOf, started, alreadyStarted };
}

/**
 * Schedule `bilten-daily-rewards`: vests orders whose vesting time passed (their own timers normally did it),
 * expires unused points oldest first, and lets lapsed tiers fall. Every step is keyed by operation ids, so a
 * second run of the same day changes nothing.
 */
export async function dailyRewardsWorkflow(input: ScheduledRunInput = {}): Promise<DailyRewardsResult> {
  const asOf = scheduledTime(input).toISOString();
  const result: DailyRewardsResult = {
    asOf,
    vestedOrders: 0,
    vestedPoints: 0,
    expiredPoints: 0,
    tiersRecalculated: 0,
  };
  let step: 'VESTING' | 'EXPIRING' | 'RECALCULATING_TIERS' | 'DONE' = 'VESTING';
  setHandler(statusQuery, () => ({ status: step, ...result }));
  // Each step works in batches; it is called again until a batch comes back short.
  for (let batch = await rewards.vestDueOrders({ asOf }); ; batch = await rewards.vestDueOrders({ asOf })) {
    result.vestedOrders += batch.orders;
    result.vestedPoints += batch.points;
    if (batch.orders < REWARD_SWEEP_BATCH) break;
  }
  step = 'EXPIRING';
  result.expiredPoints = (await rewards.expireDuePoints({ asOf })).points;
  step = 'RECALCULATING_TIERS';
  result.tiersRecalculated = (await rewards.recalculateTiers({ asOf })).orders;
  step = 'DONE';
  upsertMemo({ ...result });
  return result;
}

/**
 * Schedule `bilten-daily-reconciliation`: reconciles the UTC day before the scheduled time as a child
 * `reconciliation-<date>`. A day already reconciled by a schedule run is not started again (`npm run reconcile`
 * can always rerun one by hand).
 */
export async function dailyReconciliationWorkflow(
  input: ScheduledRunInput = {},
): Promise<DailyReconciliationResult> {
  const date = reconciliationDateFor(scheduledTime(input));
  let answer: { status: string; mismatches?: number } = { status: 'RECONCILING' };
  setHandler(statusQuery, () => ({ ...answer, date }));
  try {
    const result = await executeChild(reconciliationWorkflow, {
      workflowId: reconciliationWorkflowId(date),
      taskQueue: PAYOUTS_TASK_QUEUE,
      args: [{ date }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    answer = { status: 'RECONCILED', mismatches: result.mismatches.length };
    upsertMemo({ date, mismatches: result.mismatches.length });
    return { date, outcome: 'reconciled', mismatches: result.mismatches.length };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    answer = { status: 'ALREADY_RECONCILED' };
    return { date, outcome: 'already-reconciled', mismatches: null };
  }
}
