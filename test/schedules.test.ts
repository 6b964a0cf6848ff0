import { ScheduleOverlapPolicy, type WorkflowExecutionInfo } from '@temporalio/client';
import { derivePayoutId } from '../db/ledger';
import {
  checkoutWorkflowId,
  payoutWorkflowId,
  ScheduleId,
  scheduledPayoutKey,
  type DailyReconciliationResult,
  type HoldSweepResult,
  type WeeklyPayoutsResult,
} from '../domain';
import { desiredSchedules, ensureSchedules } from '../temporal/schedules';
import { createCatalogue, uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';
import { organizerWithSales } from './support/payouts';

const DAY = 86_400_000;
let platform: TestPlatform;

beforeAll(async () => {
  // The sweeper runs daily here (at 00:00 UTC), so only a trigger runs it during the test; it takes holds 15 s after
  // they lapsed, which leaves the other test files' running checkouts (same database) alone. Payouts are available
  // as soon as an event ends.
  platform = await startTestPlatform({
    HOLD_TTL_SECONDS: '3',
    HOLD_SWEEP_GRACE_SECONDS: '15',
    SCHEDULE_HOLD_SWEEP_SECONDS: '86400',
    PAYOUT_DELAY_DAYS: '0',
  });
  // What the worker does at startup (workers/main.ts).
  await ensureSchedules(platform.client, platform.config);
}, 120_000);
afterAll(async () => {
  if (platform) await expectLedgerInvariants(platform.db);
  await platform?.stop();
}, 120_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The schedule ids listed, once the list (eventually consistent) shows `expected`, or as it is after 10 s. */
async function scheduleIds(expected: string[]): Promise<string[]> {
  let ids: string[] = [];
  for (let i = 0; i < 50; i++) {
    ids = [];
    for await (const s of platform.client.schedule.list()) ids.push(s.scheduleId);
    ids.sort();
    if (JSON.stringify(ids) === JSON.stringify(expected)) break;
    await sleep(200);
  }
  return ids;
}

/** Closed runs a schedule started, by workflow type, once visibility lists `count` of them. */
async function closedRuns(workflowType: string, count: number): Promise<WorkflowExecutionInfo[]> {
  for (let i = 0; i < 150; i++) {
    const runs: WorkflowExecutionInfo[] = [];
    for await (const run of platform.client.workflow.list({
      query: `WorkflowType="${workflowType}" AND ExecutionStatus="Completed"`,
    }))
      runs.push(run);
    if (runs.length >= count) return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
    await sleep(200);
  }
  throw new Error(`fewer than ${count} completed ${workflowType} runs`);
}

describe('schedules', () => {
  test('when the worker has started, then every schedule exists once; a second startup with a changed spec updates it in place', async () => {
    const all = Object.values(ScheduleId).sort();
    expect(await scheduleIds(all)).toEqual(all);
    const sweeper = platform.client.schedule.getHandle(ScheduleId.holdSweeper);
    const before = await sweeper.describe();
    expect(before.state.note).toMatch(/Releases seats/);
    expect(before.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);

    // Support paused it meanwhile; the new spec must not unpause it.
    await sweeper.pause('paused by support for the test');
    const changed = { ...platform.config, SCHEDULE_HOLD_SWEEP_SECONDS: 120 };
    const second = await ensureSchedules(platform.client, changed);
    expect(second).toEqual(
      all
        .map((scheduleId) => ({
          scheduleId,
          outcome: scheduleId === ScheduleId.holdSweeper ? 'updated' : 'unchanged',
        }))
        .sort((a, b) => desiredOrder(a.scheduleId) - desiredOrder(b.scheduleId)),
    );
    expect(await scheduleIds(all)).toEqual(all);
    const after = await sweeper.describe();
    expect(after.spec.intervals).toEqual([expect.objectContaining({ every: 120_000 })]);
    expect(after.state).toMatchObject({ paused: true, note: 'paused by support for the test' });

    // And back: the configured spec again, unpaused.
    expect((await ensureSchedules(platform.client, platform.config)).map((o) => o.outcome)).toContain('updated');
    await sweeper.unpause('test done');
    expect((await ensureSchedules(platform.client, platform.config)).map((o) => o.outcome)).toEqual([
      'unchanged',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
    expect((await sweeper.describe()).spec.intervals).toEqual([expect.objectContaining({ every: 86_400_000 })]);
  });

  test('when the hold sweeper is triggered, then it releases a hold whose checkout workflow was terminated', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 5 });
    const buyer = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer,
      headers: { 'Idempotency-Key': uid('key') },
      body: {
        eventId: catalogue.eventId,
        items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 2 }],
        payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
      },
    });
    expect(res.body.status).toBe('AWAITING_PAYMENT');
    const orderId: string = res.body.orderId;
    // The workflow is gone before it could release its hold (terminated by hand, say).
    await platform.client.workflow
      .getHandle(checkoutWorkflowId(orderId))
      .terminate('orphaning the hold for the test');
    expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held')).toEqual({
      held: 2,
    });

    // Past the hold's expiry and the sweeper's grace (a triggered run's scheduled time is whole seconds: one more).
    await sleep(Date.parse(res.body.expiresAt) + 17_000 - Date.now());
    const schedule = platform.client.schedule.getHandle(ScheduleId.holdSweeper);
    await schedule.trigger();
    let order = await platform.db('orders').where({ id: orderId }).first('status', 'status_reason');
    for (let i = 0; i < 150 && order.status !== 'EXPIRED'; i++) {
      await sleep(200);
      order = await platform.db('orders').where({ id: orderId }).first('status', 'status_reason');
    }
    expect(order).toEqual({ status: 'EXPIRED', status_reason: 'HOLD_ORPHANED' });
    expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held')).toEqual({
      held: 0,
    });
    expect(await platform.db('reservations').where({ order_id: orderId }).pluck('status')).toEqual(['RELEASED']);

    const runs = await closedRuns('holdSweeperWorkflow', 1);
    const results = await Promise.all(
      runs.map(async (run) => ({
        run,
        result: (await platform.client.workflow.getHandle(run.workflowId, run.runId).result()) as HoldSweepResult,
      })),
    );
    const releasing = results.find((r) => r.result.released.includes(orderId))!;
    expect(releasing.run.workflowId).toMatch(/^hold-sweeper-\d{4}-\d{2}-\d{2}T/);
    await recordHistory(
      'hold-sweeper-v1-orphan-released',
      platform.client.workflow.getHandle(releasing.run.workflowId, releasing.run.runId),
    );
  });

  test('when the weekly payouts are backfilled over the same window twice, then nothing is paid out twice', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 40 * DAY });
    // A Monday 06:00 UTC about a month ago (the default spec), which only this organizer's money is available at.
    const at = new Date(Date.now() - 30 * DAY);
    at.setUTCHours(6, 0, 0, 0);
    at.setUTCDate(at.getUTCDate() - ((at.getUTCDay() + 6) % 7));
    const window = { start: new Date(at.getTime() - 60_000), end: new Date(at.getTime() + 60_000) };
    const schedule = platform.client.schedule.getHandle(ScheduleId.weeklyPayouts);
    const payoutId = derivePayoutId(c.organizerId, scheduledPayoutKey(at));
    const workflowId = payoutWorkflowId(c.organizerId, payoutId);

    await schedule.backfill([{ ...window, overlap: ScheduleOverlapPolicy.ALLOW_ALL }]);
    const [first] = await closedRuns('weeklyPayoutsWorkflow', 1);
    expect(first!.workflowId).toBe(`weekly-payouts-${at.toISOString().replace('.000Z', 'Z')}`);
    const firstResult: WeeklyPayoutsResult = await platform.client.workflow
      .getHandle(first!.workflowId, first!.runId)
      .result();
    expect(firstResult).toMatchObject({ asOf: at.toISOString(), started: [workflowId] });
    expect(await platform.client.workflow.getHandle(workflowId).result()).toMatchObject({ status: 'PAID' });

    // More money comes in; the same window again must not pay it as that week's payout.
    await organizerWithSales(platform, { endedAgoMs: 40 * DAY, organizerId: c.organizerId });
    await schedule.backfill([{ ...window, overlap: ScheduleOverlapPolicy.ALLOW_ALL }]);
    const runs = await closedRuns('weeklyPayoutsWorkflow', 2);
    const second = runs[1]!;
    const secondResult: WeeklyPayoutsResult = await platform.client.workflow
      .getHandle(second.workflowId, second.runId)
      .result();
    expect(secondResult).toMatchObject({ asOf: at.toISOString(), started: [], alreadyStarted: [workflowId] });
    expect(await platform.db('payouts').where({ organizer_id: c.organizerId })).toHaveLength(1);
    expect(await platform.db('sandbox_transfers').where({ destination: `acct_${c.organizerId}` })).toHaveLength(1);
    await recordHistory(
      'weekly-payouts-v1-backfill-paid',
      platform.client.workflow.getHandle(first!.workflowId, first!.runId),
    );
    await recordHistory(
      'weekly-payouts-v1-backfill-again',
      platform.client.workflow.getHandle(second.workflowId, second.runId),
    );
  });

  test('when the daily reconciliation is triggered twice on one day, then that day is reconciled once', async () => {
    const schedule = platform.client.schedule.getHandle(ScheduleId.dailyReconciliation);
    await schedule.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const [first] = await closedRuns('dailyReconciliationWorkflow', 1);
    await schedule.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const runs = await closedRuns('dailyReconciliationWorkflow', 2);
    const results: DailyReconciliationResult[] = await Promise.all(
      runs.map((r) => platform.client.workflow.getHandle(r.workflowId, r.runId).result()),
    );
    const day = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    expect(results.map((r) => [r.date, r.outcome])).toEqual([
      [day, 'reconciled'],
      [day, 'already-reconciled'],
    ]);
    await recordHistory(
      'daily-reconciliation-v1-triggered',
      platform.client.workflow.getHandle(first!.workflowId, first!.runId),
    );
  });
});

function desiredOrder(scheduleId: string): number {
  return desiredSchedules(platform.config).findIndex((d) => d.scheduleId === scheduleId);
}
