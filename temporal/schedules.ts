import { createHash } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Config } from '../config';
import { CHECKOUT_TASK_QUEUE, PAYOUTS_TASK_QUEUE, ScheduleId, type ScheduleId as ScheduleIdType } from '../domain';
import type { Duration, Workflow } from '@temporalio/common';

/** One schedule as the platform wants it. */
export interface DesiredSchedule {
  scheduleId: ScheduleIdType;
  /** Said in the schedule's note, so support reads in the UI what it does. */
  note: string;
  spec: ScheduleSpec;
  workflowType: string;
  taskQueue: string;
  /** The workflow id prefix; Temporal appends each run's scheduled time, so a run's id names its time. */
  workflowId: string;
  overlap: ScheduleOverlapPolicy;
  catchupWindow: Duration;
}

/** Every schedule, from the configuration (README, "Schedules"). */
export function desiredSchedules(config: Config): DesiredSchedule[] {
  return [
    {
      scheduleId: ScheduleId.holdSweeper,
      note: 'Releases seats still held after their hold lapsed whose checkout workflow is closed or gone (a safety net).',
      spec: { intervals: [{ every: `${config.SCHEDULE_HOLD_SWEEP_SECONDS}s` }] },
      workflowType: 'holdSweeperWorkflow',
      taskQueue: CHECKOUT_TASK_QUEUE,
      workflowId: 'hold-sweeper',
      // A sweep still going when the next is due is enough; missed minutes are not worth catching up beyond five.
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '5m',
    },
    {
      scheduleId: ScheduleId.weeklyPayouts,
      note: 'Starts a payout workflow for every organizer with an available balance, once per scheduled time.',
      spec: { cronExpressions: [config.SCHEDULE_WEEKLY_PAYOUTS_CRON] },
      workflowType: 'weeklyPayoutsWorkflow',
      taskQueue: PAYOUTS_TASK_QUEUE,
      workflowId: 'weekly-payouts',
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '1d',
    },
    {
      scheduleId: ScheduleId.dailyRewards,
      note: 'Vests reward points that are due, expires unused points oldest first, and recalculates lapsed tiers.',
      spec: { cronExpressions: [config.SCHEDULE_DAILY_REWARDS_CRON] },
      workflowType: 'dailyRewardsWorkflow',
      taskQueue: CHECKOUT_TASK_QUEUE,
      workflowId: 'daily-rewards',
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: '1d',
    },
    {
      scheduleId: ScheduleId.dailyReconciliation,
      note: 'Reconciles the previous UTC day of provider charges, refunds and transfers with the ledger.',
      spec: { cronExpressions: [config.SCHEDULE_DAILY_RECONCILIATION_CRON] },
      workflowType: 'dailyReconciliationWorkflow',
      taskQueue: PAYOUTS_TASK_QUEUE,
      workflowId: 'daily-reconciliation',
      // Days are independent: one waiting behind another still runs.
      overlap: ScheduleOverlapPolicy.BUFFER_ONE,
      catchupWindow: '1d',
    },
  ];
}

/** A fingerprint of what the platform wants of a schedule, kept in its action's memo to tell a changed spec. */
export function scheduleFingerprint(desired: DesiredSchedule): string {
  const { note: _note, ...rest } = desired;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

function scheduleOptions(desired: DesiredSchedule): Omit<ScheduleOptions, 'scheduleId' | 'state'> {
  const action: ScheduleOptionsStartWorkflowAction<Workflow> = {
    type: 'startWorkflow',
    workflowType: desired.workflowType,
    taskQueue: desired.taskQueue,
    workflowId: desired.workflowId,
    args: [{}],
    memo: { scheduleSpec: scheduleFingerprint(desired) },
  };
  return {
    spec: desired.spec,
    action,
    policies: { overlap: desired.overlap, catchupWindow: desired.catchupWindow, pauseOnFailure: false },
  };
}

/** What ensureSchedules did with each schedule. */
export type ScheduleOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Creates every schedule, or, where it already exists, updates it in place when its spec, action or policies
 * changed (told by the fingerprint in its action's memo). Pause state and a note support wrote while pausing are
 * kept. Safe to run from every worker at every start, concurrently: two starts leave one of each.
 */
export async function ensureSchedules(
  client: Client,
  config: Config,
): Promise<Array<{ scheduleId: string; outcome: ScheduleOutcome }>> {
  const outcomes: Array<{ scheduleId: string; outcome: ScheduleOutcome }> = [];
  for (const desired of desiredSchedules(config)) {
    const options = scheduleOptions(desired);
    try {
      await client.schedule.create({ scheduleId: desired.scheduleId, ...options, state: { note: desired.note } });
      outcomes.push({ scheduleId: desired.scheduleId, outcome: 'created' });
      continue;
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
    const handle = client.schedule.getHandle(desired.scheduleId);
    const current = await handle.describe();
    const memo = current.action.type === 'startWorkflow' ? current.action.memo : undefined;
    if (memo?.scheduleSpec === scheduleFingerprint(desired)) {
      outcomes.push({ scheduleId: desired.scheduleId, outcome: 'unchanged' });
      continue;
    }
    await handle.update((previous) => ({
      ...options,
      state: {
        ...previous.state,
        // A paused schedule's note is why support paused it: keep it.
        note: previous.state.paused ? previous.state.note : desired.note,
      },
    }));
    outcomes.push({ scheduleId: desired.scheduleId, outcome: 'updated' });
  }
  return outcomes;
}
