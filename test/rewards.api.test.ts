import {
  checkoutWorkflowId,
  refundWorkflowId,
  CHECKOUT_TASK_QUEUE,
  type DailyRewardsResult,
  type OrderRewardsResult,
} from '../domain';
import { uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
const HOUR = 3600_000;

beforeAll(async () => {
  // Points vest 2 s after the event ended; silver at 100 points (four 25.00 tickets), gold out of reach here;
  // vested points expire after an hour (the expiry test runs the daily sweep as of an hour later).
  platform = await startTestPlatform({
    REWARD_VESTING_DELAY_SECONDS: '2',
    REWARD_SILVER_THRESHOLD: '100',
    REWARD_GOLD_THRESHOLD: '1000000',
    REWARD_EXPIRY_SECONDS: '3600',
    REWARD_REFERRAL_BONUS_POINTS: '100',
    HOLD_TTL_SECONDS: '5',
  });
}, 120_000);
afterAll(async () => {
  if (platform) await expectLedgerInvariants(platform.db);
  await platform?.stop();
}, 120_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const support = () => platform.token({ sub: uid('sup'), role: 'support' });

/** An organizer and an event (inserted by SQL) that ended `endedAgoMs` ago (negative: ends in the future). */
async function eventEnded(endedAgoMs: number) {
  const organizerId = uid('org');
  const eventId = uid('evt');
  const ticketTypeId = uid('tt');
  const endsAt = new Date(Date.now() - endedAgoMs);
  await platform.db('organizers').insert({ id: organizerId, name: 'Rewards Org', currency: 'USD' });
  await platform.db('events').insert({
    id: eventId,
    organizer_id: organizerId,
    name: 'Rewards Event',
    starts_at: new Date(endsAt.getTime() - 3 * HOUR),
    ends_at: endsAt,
  });
  await platform.db('ticket_types').insert({
    id: ticketTypeId,
    event_id: eventId,
    name: 'General',
    price_minor: 2500,
    currency: 'USD',
    capacity: 1000,
    max_per_order: 10,
  });
  return { eventId, ticketTypeId };
}
type Event = Awaited<ReturnType<typeof eventEnded>>;

function buyer(id = uid('buyer')) {
  return { id, token: platform.token({ sub: id, role: 'buyer' }) };
}
type Buyer = ReturnType<typeof buyer>;

const checkout = (
  who: Buyer,
  event: Event,
  extra: { quantity?: number; redeemPoints?: number; referralCode?: string; paymentMethodId?: string } = {},
) =>
  call(platform, 'POST', '/v1/checkouts', {
    token: who.token,
    headers: { 'Idempotency-Key': uid('key') },
    body: {
      eventId: event.eventId,
      items: [{ ticketTypeId: event.ticketTypeId, quantity: extra.quantity ?? 2 }],
      payment: { method: 'card', paymentMethodId: extra.paymentMethodId ?? 'pm_card_visa' },
      buyer: { email: 'r@example.com' },
      ...(extra.redeemPoints !== undefined ? { redeemPoints: extra.redeemPoints } : {}),
      ...(extra.referralCode ? { referralCode: extra.referralCode } : {}),
    },
  });

async function buyPaid(who: Buyer, event: Event, extra: Parameters<typeof checkout>[2] = {}) {
  const res = await checkout(who, event, extra);
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('PAID');
  return res.body as { orderId: string; amount: { totalMinor: number }; tickets: Array<{ ticketId: string }> };
}

const rewards = async (who: Buyer, query = '') => {
  const res = await call(platform, 'GET', `/v1/me/rewards${query}`, { token: who.token });
  expect(res.status).toBe(200);
  return res.body;
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON responses
async function rewardsWhen(who: Buyer, done: (r: any) => boolean) {
  let r = await rewards(who);
  for (let i = 0; i < 150 && !done(r); i++) {
    await sleep(200);
    r = await rewards(who);
  }
  return r;
}

/** One run of the rewards sweep as of now, as the `bilten-daily-rewards` schedule starts it. */
const sweep = (): Promise<DailyRewardsResult> =>
  platform.client.workflow.execute('dailyRewardsWorkflow', {
    taskQueue: CHECKOUT_TASK_QUEUE,
    workflowId: uid('rewards-sweep-test'),
    args: [{}],
  });

/**
 * Vests an order's points the way production does: waits for its checkout to close (it accrues them as a local
 * activity after PAID), then runs the rewards sweep (the schedule's workflow) until the order is vested, and reads
 * what the order earned from its entries.
 */
async function vested(orderId: string): Promise<OrderRewardsResult> {
  await platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).result();
  for (let i = 0; ; i++) {
    await sweep();
    const entries = await platform
      .db('reward_entries')
      .where({ order_id: orderId })
      .select('kind', 'points', 'available_delta', 'vests_at');
    // A vest moves points from pending to available (its `points`, their sum, is 0): what vested is the latter.
    const of = (kind: string, column = 'points') =>
      entries.filter((e) => e.kind === kind).reduce((n, e) => n + Number(e[column]), 0);
    const accrual = entries.find((e) => e.kind === 'ACCRUAL');
    if (entries.some((e) => e.kind === 'VEST') || i > 100) {
      return {
        accrued: of('ACCRUAL'),
        vested: of('VEST', 'available_delta'),
        vestsAt: accrual ? new Date(accrual.vests_at).toISOString() : '',
        referralBonus: of('REFERRAL_BONUS'),
      };
    }
    await sleep(200);
  }
}

/** Refunds through the refund API as support, and waits until it SUCCEEDED. */
async function refund(orderId: string, body: object) {
  const token = support();
  const res = await call(platform, 'POST', `/v1/orders/${orderId}/refunds`, {
    token,
    body: { reason: 'rewards test', ...body },
    headers: { 'Idempotency-Key': uid('rk') },
  });
  expect(res.status).toBe(202);
  let r = res.body;
  for (let i = 0; i < 150 && r.status !== 'SUCCEEDED'; i++) {
    await sleep(200);
    r = (await call(platform, 'GET', `/v1/refunds/${res.body.refundId}`, { token })).body;
  }
  expect(r.status).toBe('SUCCEEDED');
  return r;
}

const kinds = (r: { entries: Array<{ kind: string; points: number }> }) =>
  r.entries.map((e) => [e.kind, e.points]);

describe('rewards', () => {
  test('when an order is paid, then its points are pending until the event has ended, and the rewards sweep vests them after that', async () => {
    // The event ends in 3 s: its points vest 2 s after that.
    const event = await eventEnded(-3000);
    const b = buyer();
    const order = await buyPaid(b, event);
    const pending = await rewardsWhen(b, (r) => r.entries.length > 0);
    expect(pending).toMatchObject({ pendingPoints: 50, availablePoints: 0, tier: 'bronze' });
    expect(pending.referralCode).toMatch(/^B[A-Z2-9]{10}$/);
    expect(pending.entries[0]).toMatchObject({ kind: 'ACCRUAL', points: 50, orderId: order.orderId });
    // A sweep before the event has ended vests nothing.
    await sweep();
    expect(await rewards(b)).toMatchObject({ pendingPoints: 50, availablePoints: 0 });

    const result = await vested(order.orderId);
    expect(result).toMatchObject({ accrued: 50, vested: 50, referralBonus: 0 });
    const after = await rewards(b);
    expect(after).toMatchObject({ pendingPoints: 0, availablePoints: 50 });
    expect(kinds(after)).toEqual([
      ['VEST', 0],
      ['ACCRUAL', 50],
    ]);
    expect(after.entries[0].expiresAt).toEqual(expect.any(String));
    await recordHistory(
      'checkout-inline-rewards-api-card-paid',
      platform.client.workflow.getHandle(checkoutWorkflowId(order.orderId)),
    );
  });

  test('when an order is refunded before its points vest, then the refunded share of them is voided', async () => {
    const event = await eventEnded(-24 * HOUR);
    const b = buyer();
    const order = await buyPaid(b, event);
    await rewardsWhen(b, (r) => r.pendingPoints === 50);
    await refund(order.orderId, { ticketIds: [order.tickets[0]!.ticketId] });
    const half = await rewards(b);
    expect(half).toMatchObject({ pendingPoints: 25, availablePoints: 0 });
    expect(half.entries[0]).toMatchObject({ kind: 'VOID', points: -25, refundId: expect.any(String) });
    await refund(order.orderId, {});
    expect(await rewards(b)).toMatchObject({ pendingPoints: 0, availablePoints: 0 });
  });

  test('when an order is refunded after its points vested, then they are clawed back in proportion, and a redemption spent since goes negative', async () => {
    const event = await eventEnded(HOUR);
    const b = buyer();
    const first = await buyPaid(b, event);
    await vested(first.orderId);
    await refund(first.orderId, { ticketIds: [first.tickets[0]!.ticketId] });
    const clawed = await rewards(b);
    expect(clawed).toMatchObject({ availablePoints: 25 });
    expect(clawed.entries[0]).toMatchObject({ kind: 'CLAWBACK', points: -25 });

    // Spend the 25 left (that order earns 24), then refund the rest of the first order: its other 25 come back out.
    const second = await buyPaid(b, event, { quantity: 1, redeemPoints: 25 });
    await vested(second.orderId);
    expect(await rewards(b)).toMatchObject({ availablePoints: 24 });
    await refund(first.orderId, {});
    const negative = await rewards(b);
    expect(negative.availablePoints).toBe(-1);
  });

  test('when a buyer refers a new buyer, then the bonus is paid once when the first order vests; oneself and a second order are refused', async () => {
    const event = await eventEnded(HOUR);
    const referrer = buyer();
    const code: string = (await rewards(referrer)).referralCode;

    const self = await checkout(referrer, event, { referralCode: code });
    expect(self.status).toBe(422);
    expect(self.body.errors).toEqual([expect.objectContaining({ field: 'referralCode' })]);
    const unknown = await checkout(referrer, event, { referralCode: 'BNOSUCHCODE1' });
    expect(unknown.status).toBe(422);

    const referee = buyer();
    const first = await buyPaid(referee, event, { referralCode: code });
    expect((await vested(first.orderId)).referralBonus).toBe(100);
    const paid = await rewards(referrer);
    expect(paid).toMatchObject({ availablePoints: 100 });
    expect(paid.entries).toEqual([expect.objectContaining({ kind: 'REFERRAL_BONUS', points: 100 })]);

    const again = await checkout(referee, event, { referralCode: code });
    expect(again.status).toBe(422);
    expect(again.body.errors[0].message).toMatch(/first order/);
    // Vesting the first order again (the daily sweep, a retry) pays nothing more.
    const second = await buyPaid(referee, event);
    await vested(second.orderId);
    expect((await rewards(referrer)).availablePoints).toBe(100);
  });

  test('when points are redeemed, then they are held with the seats, spent on payment, and given back on expiry and on decline', async () => {
    const event = await eventEnded(HOUR);
    const b = buyer();
    await vested((await buyPaid(b, event)).orderId);

    const tooMany = await checkout(b, event, { redeemPoints: 51 });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.type).toMatch(/\/insufficient-points$/);
    expect(await platform.db('orders').where({ buyer_id: b.id })).toHaveLength(1);

    // 3-D Secure never completed: the points are held with the seats, then given back when the hold expires.
    const held = await checkout(b, event, { redeemPoints: 20, paymentMethodId: 'pm_card_threeDSecure2Required' });
    expect(held.status).toBe(201);
    expect(held.body).toMatchObject({ status: 'AWAITING_PAYMENT', amount: { totalMinor: 4980 } });
    expect(await rewards(b)).toMatchObject({ availablePoints: 30, reservedPoints: 20 });
    const released = await rewardsWhen(b, (r) => r.reservedPoints === 0);
    expect(released).toMatchObject({ availablePoints: 50, reservedPoints: 0 });
    expect(released.entries[0]).toMatchObject({ kind: 'REDEMPTION_RELEASED', orderId: held.body.orderId });

    const declined = await checkout(b, event, { redeemPoints: 20, paymentMethodId: 'pm_card_chargeDeclined' });
    expect(declined.body.status).toBe('FAILED');
    expect(await rewardsWhen(b, (r) => r.reservedPoints === 0)).toMatchObject({ availablePoints: 50 });

    const spent = await buyPaid(b, event, { redeemPoints: 20 });
    expect(spent.amount.totalMinor).toBe(4980);
    // 20 spent; the 49.80 paid earns 49 points, which vest at once (the event is over).
    expect(await vested(spent.orderId)).toMatchObject({ accrued: 49 });
    const after = await rewards(b);
    expect(after).toMatchObject({ availablePoints: 30 + 49, reservedPoints: 0 });
    expect(after.entries.map((e: { kind: string }) => e.kind)).toEqual(
      expect.arrayContaining(['REDEMPTION_RESERVED', 'REDEMPTION_SPENT']),
    );

    // A full refund of the redeemed order gives its 20 points back.
    const given = await refund(spent.orderId, {});
    // 79 available less the order's 49 clawed back, plus its 20 redeemed points given back.
    expect(await rewards(b)).toMatchObject({ availablePoints: 50 });
    await recordHistory(
      'checkout-v5-api-redeemed-points-paid',
      platform.client.workflow.getHandle(checkoutWorkflowId(spent.orderId)),
    );
    await recordHistory(
      'checkout-v5-api-redeemed-points-declined',
      platform.client.workflow.getHandle(checkoutWorkflowId(declined.body.orderId)),
    );
    await recordHistory(
      'refund-v2-api-redeemed-order-points-reversed',
      platform.client.workflow.getHandle(refundWorkflowId(given.refundId)),
    );
  });

  test('when vested points reach the silver threshold, then the buyer is silver; a clawback below it demotes at once', async () => {
    const event = await eventEnded(HOUR);
    const b = buyer();
    const below = await buyPaid(b, event, { quantity: 3 });
    await vested(below.orderId);
    expect(await rewards(b)).toMatchObject({ availablePoints: 75, tier: 'bronze' });
    const order = await buyPaid(b, event, { quantity: 1 });
    await vested(order.orderId);
    expect(await rewards(b)).toMatchObject({ availablePoints: 100, tier: 'silver' });
    // Silver earns x1.25: one 25.00 ticket is 31 points.
    const silver = await buyPaid(b, event, { quantity: 1 });
    expect((await vested(silver.orderId)).accrued).toBe(31);

    await refund(below.orderId, {});
    expect(await rewards(b)).toMatchObject({ availablePoints: 56, tier: 'bronze' });
  });

  test('when the daily sweep runs after points expire, then unused points of the oldest lot expire first', async () => {
    const event = await eventEnded(HOUR);
    const b = buyer();
    await vested((await buyPaid(b, event)).orderId);
    await sleep(50);
    await vested((await buyPaid(b, event)).orderId);
    // 30 spent: they came out of the older lot. That order's points vest as a third, youngest lot: 24.70 paid at
    // silver (100 points vested reach it here) is 30 points.
    await vested((await buyPaid(b, event, { quantity: 1, redeemPoints: 30 })).orderId);
    const lots = (await rewards(b)).entries.filter((e: { kind: string }) => e.kind === 'VEST');
    expect(lots).toHaveLength(3);
    const [, younger, older] = lots;
    const asOf = new Date(Date.parse(older.expiresAt) + 1).toISOString();
    expect(Date.parse(asOf)).toBeLessThan(Date.parse(younger.expiresAt));

    const handle = await platform.client.workflow.start('dailyRewardsWorkflow', {
      taskQueue: CHECKOUT_TASK_QUEUE,
      workflowId: uid('daily-rewards-test'),
      args: [{ asOf }],
    });
    const result: DailyRewardsResult = await handle.result();
    expect(result.expiredPoints).toBeGreaterThanOrEqual(20);
    const after = await rewards(b);
    expect(after.entries[0]).toMatchObject({ kind: 'EXPIRY', points: -20 });
    expect(after.availablePoints).toBe(100 - 30 + 30 - 20);

    // The same time again expires nothing more.
    const again = await platform.client.workflow.execute('dailyRewardsWorkflow', {
      taskQueue: CHECKOUT_TASK_QUEUE,
      workflowId: uid('daily-rewards-test'),
      args: [{ asOf }],
    });
    expect((await rewards(b)).availablePoints).toBe(80);
    expect(again).toMatchObject({ asOf });
    await recordHistory('daily-rewards-v1-expiry', handle);
  });

  test('when the entries are many, then they page newest first with the cursor', async () => {
    const event = await eventEnded(HOUR);
    const b = buyer();
    await vested((await buyPaid(b, event)).orderId);
    const page1 = await rewards(b, '?limit=1');
    expect(page1.entries.map((e: { kind: string }) => e.kind)).toEqual(['VEST']);
    const page2 = await rewards(b, `?limit=1&cursor=${page1.nextCursor}`);
    expect(page2.entries.map((e: { kind: string }) => e.kind)).toEqual(['ACCRUAL']);
    expect(page2.nextCursor).toBeNull();
    expect((await call(platform, 'GET', '/v1/me/rewards?cursor=abc', { token: b.token })).status).toBe(422);
  });
});
