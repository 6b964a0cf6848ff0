// The recurring work, as Temporal Schedules: their ids, what they start, and how a run knows which scheduled time
// it stands for. Pure: the workflows, the schedule creator (temporal/schedules.ts) and the tests import this.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Stable schedule ids: support finds them under these names in the UI and with `temporal schedule`. */
export const ScheduleId = {
  holdSweeper: 'bilten-hold-sweeper',
  weeklyPayouts: 'bilten-weekly-payouts',
  dailyRewards: 'bilten-daily-rewards',
  dailyReconciliation: 'bilten-daily-reconciliation',
} as const;
export type ScheduleId = (typeof ScheduleId)[keyof typeof ScheduleId];

/**
 * The search attribute Temporal sets on every workflow a schedule starts: the time the run was scheduled for
 * (a backfill's runs carry the past times they stand for, a trigger the time of the trigger).
 */
export const TemporalScheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

/** What every scheduled workflow takes: nothing from a schedule; `asOf` when started by hand for a given time. */
export interface ScheduledRunInput {
  asOf?: string;
}

/**
 * The time a run stands for: its scheduled time when a schedule started it, else the `asOf` it was given, else
 * when it started. Every run's work is keyed on it, so running the same scheduled time twice does it once.
 */
export function scheduledTimeOf(
  input: ScheduledRunInput | undefined,
  scheduledStart: Date | undefined,
  workflowStart: Date,
): Date {
  if (scheduledStart) return scheduledStart;
  if (input?.asOf && !Number.isNaN(Date.parse(input.asOf))) return new Date(input.asOf);
  return workflowStart;
}

/**
 * The scheduled time a schedule appends to the ids of the workflows it starts (`weekly-payouts-2026-11-30T06:00:00Z`),
 * for a run whose search attribute is missing; undefined for any other id.
 */
export function scheduledTimeInWorkflowId(workflowId: string): Date | undefined {
  const match = /-(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)$/.exec(workflowId);
  return match ? new Date(match[1]!) : undefined;
}

/** The reconciliation day a daily run at `scheduledAt` checks: the UTC day before it. */
export function reconciliationDateFor(scheduledAt: Date): string {
  return new Date(scheduledAt.getTime() - 86_400_000).toISOString().slice(0, 10);
}

/** The Idempotency-Key a scheduled payout is made with: one payout per organizer per scheduled time. */
export function scheduledPayoutKey(scheduledAt: Date): string {
  return `schedule:${ScheduleId.weeklyPayouts}:${scheduledAt.toISOString()}`;
}

/** What a hold sweep did. */
export interface HoldSweepResult {
  asOf: string;
  checked: number;
  released: string[];
}

/** What a weekly payouts run started (payout workflow ids) and skipped (already started for this time). */
export interface WeeklyPayoutsResult {
  asOf: string;
  started: string[];
  alreadyStarted: string[];
}

/** What a daily rewards run did. */
export interface DailyRewardsResult {
  asOf: string;
  vestedOrders: number;
  vestedPoints: number;
  expiredPoints: number;
  tiersRecalculated: number;
}

/** What a daily reconciliation run did: the day it reconciled, or that it was already reconciled. */
export interface DailyReconciliationResult {
  date: string;
  outcome: 'reconciled' | 'already-reconciled';
  mismatches: number | null;
}
