import { eventCancellationWorkflowId, refundWorkflowId } from '../domain';
import { createCatalogue, uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;

// Two 25.00 tickets (50.00) are above this threshold; one (25.00) is not.
const THRESHOLD = 3000;

beforeAll(async () => {
  platform = await startTestPlatform({
    HOLD_TTL_SECONDS: '10',
    REFUND_APPROVAL_THRESHOLD_MINOR: String(THRESHOLD),
    CANCELLATION_POLL_SECONDS: '1',
  });
}, 120_000);
afterAll(async () => {
  if (platform) await expectLedgerInvariants(platform.db);
  await platform?.stop();
}, 120_000);

type Catalogue = Awaited<ReturnType<typeof createCatalogue>>;
const support = () => platform.token({ sub: uid('sup'), role: 'support' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Buys tickets through the API and waits until the order is PAID. */
async function buyPaid(
  catalogue: Catalogue,
  quantity: number,
  payment: object = { method: 'card', paymentMethodId: 'pm_card_visa' },
) {
  const buyerId = uid('buyer');
  const token = platform.token({ sub: buyerId, role: 'buyer' });
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token,
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity }],
      payment,
      buyer: { email: 'b@example.com' },
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  expect(res.status).toBe(201);
  if (res.body.payment.hostedUrl && res.body.payment.method === 'crypto') {
    await call(platform, 'POST', `${new URL(res.body.payment.hostedUrl).pathname}/complete`, {
      body: { outcome: 'confirmed' },
    });
  }
  const order = await orderWhen(res.body.orderId, token, (o) => o.status === 'PAID');
  expect(order.status).toBe('PAID');
  return { token, buyerId, orderId: res.body.orderId as string, order };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON responses
async function orderWhen(orderId: string, token: string, done: (o: any) => boolean) {
  let order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  for (let i = 0; i < 150 && !done(order); i++) {
    await sleep(200);
    order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  }
  return order;
}

const requestRefund = (orderId: string, token: string, body: object, key = uid('rk')) =>
  call(platform, 'POST', `/v1/orders/${orderId}/refunds`, { token, body, headers: { 'Idempotency-Key': key } });

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON responses
async function refundWhen(refundId: string, token: string, done: (r: any) => boolean) {
  let refund = (await call(platform, 'GET', `/v1/refunds/${refundId}`, { token })).body;
  for (let i = 0; i < 150 && !done(refund); i++) {
    await sleep(200);
    refund = (await call(platform, 'GET', `/v1/refunds/${refundId}`, { token })).body;
  }
  return refund;
}

async function recordRefund(refundId: string, name: string) {
  const handle = platform.client.workflow.getHandle(refundWorkflowId(refundId));
  await handle.result();
  await recordHistory(name, handle);
}

const scan = (code: string) => call(platform, 'POST', '/v1/scans', { token: support(), body: { code } });
const seats = (c: Catalogue) => platform.db('ticket_types').where({ id: c.ticketTypeId }).first('sold', 'held');

describe('refunds through the API', () => {
  test('when a buyer refunds one of two tickets and then the rest, then the order is PARTIALLY_REFUNDED then REFUNDED, tickets scan VOID, seats are back on sale and the ledger nets to zero', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 2);
    const [first, second] = order.tickets;

    const partial = await requestRefund(orderId, token, { ticketIds: [first.ticketId], reason: 'cannot come' });
    expect(partial.status).toBe(202);
    expect(partial.body).toMatchObject({ amountMinor: 2500 });
    const done = await refundWhen(partial.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      orderId,
      ticketIds: [first.ticketId],
      amountMinor: 2500,
      currency: 'USD',
    });
    expect(done.history.map((h: { status: string }) => h.status)).toEqual([
      'REQUESTED',
      'PROCESSING',
      'SUCCEEDED',
    ]);
    expect((await scan(first.code)).body.result).toBe('VOID');
    expect(await seats(catalogue)).toEqual({ sold: 1, held: 0 });
    const afterPartial = await orderWhen(orderId, token, (o) => o.status === 'PARTIALLY_REFUNDED');
    expect(afterPartial.status).toBe('PARTIALLY_REFUNDED');
    expect(afterPartial.history.map((h: { status: string }) => h.status)).toContain('PARTIALLY_REFUNDED');
    await recordRefund(partial.body.refundId, 'refund-v1-api-partial-card');

    const rest = await requestRefund(orderId, support(), { reason: 'the rest, by support' });
    expect(rest.status).toBe(202);
    expect(rest.body.amountMinor).toBe(2500);
    expect((await refundWhen(rest.body.refundId, support(), (r) => r.status === 'SUCCEEDED')).status).toBe(
      'SUCCEEDED',
    );
    expect((await orderWhen(orderId, token, (o) => o.status === 'REFUNDED')).status).toBe('REFUNDED');
    expect((await scan(second.code)).body.result).toBe('VOID');
    expect(await seats(catalogue)).toEqual({ sold: 0, held: 0 });

    const ledger = await platform.db('ledger_entries').where({ order_id: orderId }).orderBy('id');
    const net = new Map<string, number>();
    for (const e of ledger) net.set(e.account, (net.get(e.account) ?? 0) + Number(e.amount_minor));
    expect([...net.values()].every((v) => v === 0)).toBe(true);
    expect(ledger.filter((e) => e.refund_id === partial.body.refundId).map((e) => e.transaction_id)).toEqual(
      Array(3).fill(`refund:${partial.body.refundId}`),
    );
    // Nothing is left to refund: more is 409 and changes nothing.
    expect((await requestRefund(orderId, support(), { amountMinor: 1, reason: 'more' })).status).toBe(409);
  });

  test('when the same Idempotency-Key is sent twice, then the same refund answers and no second one is made', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 2);
    const key = uid('rk');
    const body = { ticketIds: [order.tickets[0].ticketId], reason: 'twice' };
    const a = await requestRefund(orderId, token, body, key);
    const b = await requestRefund(orderId, token, body, key);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.refundId).toBe(a.body.refundId);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect((await requestRefund(orderId, token, { ...body, reason: 'other' }, key)).status).toBe(422);
    await refundWhen(a.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(await platform.db('refunds').where({ order_id: orderId })).toHaveLength(1);
  });

  test('when two refunds of one ticket are requested at once, then one is accepted and the other gets 409', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 2);
    const body = { ticketIds: [order.tickets[0].ticketId], reason: 'race' };
    const answers = await Promise.all([requestRefund(orderId, token, body), requestRefund(orderId, token, body)]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const accepted = answers.find((a) => a.status === 202)!;
    await refundWhen(accepted.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(await platform.db('refund_tickets').where({ ticket_id: order.tickets[0].ticketId })).toHaveLength(1);
  });

  test('when a door scan races a refund of the same ticket, then exactly one wins: the scan admits and the refund is refused or fails, or the refund succeeds and the scan says VOID', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 1);
    const [requested, scanned] = await Promise.all([
      requestRefund(orderId, token, { ticketIds: [order.tickets[0].ticketId], reason: 'race the door' }),
      scan(order.tickets[0].code),
    ]);
    const refund =
      requested.status === 202
        ? await refundWhen(requested.body.refundId, token, (r) => ['SUCCEEDED', 'FAILED'].includes(r.status))
        : null;
    if (scanned.body.result === 'ADMITTED') {
      // The scan won: the refund was refused up front (409) or failed when it came to void the ticket.
      if (refund) {
        expect(refund.status).toBe('FAILED');
        expect(refund.failureReason).toMatch(/already admitted/);
      } else {
        expect(requested.status).toBe(409);
        expect(requested.body.type).toMatch(/ticket-used$/);
      }
      expect((await orderWhen(orderId, token, () => true)).status).toBe('PAID');
      expect(
        await platform.db('ledger_entries').where({ order_id: orderId }).whereNotNull('refund_id'),
      ).toHaveLength(0);
    } else {
      expect(scanned.body.result).toBe('VOID');
      expect(refund?.status).toBe('SUCCEEDED');
    }
  });

  test('when a refund above the threshold is approved by support, then it waits AWAITING_APPROVAL, goes through, and approving it again is 409', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId } = await buyPaid(catalogue, 2);
    const requested = await requestRefund(orderId, token, { reason: 'big one' });
    expect(requested.status).toBe(202);
    const waiting = await refundWhen(requested.body.refundId, token, (r) => r.status === 'AWAITING_APPROVAL');
    expect(waiting.status).toBe('AWAITING_APPROVAL');
    // A buyer cannot approve their own refund.
    expect(
      (await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/approve`, { token, body: {} })).status,
    ).toBe(403);
    const approver = platform.token({ sub: 'sup_approver', role: 'support' });
    const approved = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/approve`, {
      token: approver,
      body: { reason: 'ok' },
    });
    expect(approved.status).toBe(200);
    const again = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/approve`, {
      token: approver,
      body: {},
    });
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const done = await refundWhen(requested.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(done).toMatchObject({ status: 'SUCCEEDED', decidedBy: 'support:sup_approver' });
    await recordRefund(requested.body.refundId, 'refund-v1-api-approved');
  });

  test('when a refund above the threshold is rejected, then it ends REJECTED with nothing refunded, and approving it afterwards is 409', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 2);
    const requested = await requestRefund(orderId, token, { reason: 'big one' });
    await refundWhen(requested.body.refundId, token, (r) => r.status === 'AWAITING_APPROVAL');
    const rejected = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/reject`, {
      token: support(),
      body: { reason: 'outside policy' },
    });
    expect(rejected.status).toBe(200);
    const done = await refundWhen(requested.body.refundId, token, (r) => r.status === 'REJECTED');
    expect(done.status).toBe('REJECTED');
    const approve = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/approve`, {
      token: support(),
      body: {},
    });
    expect(approve.status).toBe(409);
    expect((await scan(order.tickets[0].code)).body.result).toBe('ADMITTED');
    expect(await platform.db('ledger_entries').where({ refund_id: requested.body.refundId })).toHaveLength(0);
    await recordRefund(requested.body.refundId, 'refund-v1-api-rejected');
    // The rejected amount is refundable again.
    expect(
      (await requestRefund(orderId, token, { ticketIds: [order.tickets[1].ticketId], reason: 'one' })).status,
    ).toBe(202);
  });

  test('when support rejects a refund above the threshold the moment it is requested, without waiting to see AWAITING_APPROVAL, then the rejection is taken and the refund ends REJECTED', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId } = await buyPaid(catalogue, 2);
    const requested = await requestRefund(orderId, token, { reason: 'big one' });
    const rejected = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/reject`, {
      token: support(),
      body: { reason: 'outside policy' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body.status).toBe('REJECTED');
    expect((await refundWhen(requested.body.refundId, token, (r) => r.status === 'REJECTED')).status).toBe(
      'REJECTED',
    );
    expect(await platform.db('ledger_entries').where({ refund_id: requested.body.refundId })).toHaveLength(0);
  });

  test('when a Stripe refund goes pending and then fails by webhook, then the refund ends FAILED with the reason, the ticket is valid again and the amount is refundable again', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId, order } = await buyPaid(catalogue, 1, {
      method: 'card',
      paymentMethodId: 'pm_card_refundFail',
    });
    const requested = await requestRefund(orderId, token, { reason: 'will fail' });
    const processing = await refundWhen(requested.body.refundId, token, (r) => r.status === 'PROCESSING');
    expect(processing.status).toBe('PROCESSING');
    const failed = await refundWhen(requested.body.refundId, token, (r) => r.status === 'FAILED');
    expect(failed).toMatchObject({
      status: 'FAILED',
      failureReason: expect.stringContaining('expired_or_canceled_card'),
    });
    const events = await platform.db('webhook_events').where({ type: 'refund.failed', order_id: orderId });
    expect(events).toEqual([expect.objectContaining({ outcome: expect.stringContaining('refund signalled') })]);
    expect((await orderWhen(orderId, token, () => true)).status).toBe('PAID');
    expect(await platform.db('ledger_entries').where({ refund_id: requested.body.refundId })).toHaveLength(0);
    await recordRefund(requested.body.refundId, 'refund-v1-api-pending-then-failed');
    expect((await scan(order.tickets[0].code)).body.result).toBe('ADMITTED');
  });

  test('when a Stripe refund goes pending and then succeeds by refund.updated, then it is not done until the webhook and then SUCCEEDED', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId } = await buyPaid(catalogue, 1, {
      method: 'card',
      paymentMethodId: 'pm_card_pendingRefund',
    });
    const requested = await requestRefund(orderId, token, { reason: 'slow bank' });
    expect((await refundWhen(requested.body.refundId, token, (r) => r.status === 'PROCESSING')).status).toBe(
      'PROCESSING',
    );
    const done = await refundWhen(requested.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(done.status).toBe('SUCCEEDED');
    expect(await platform.db('webhook_events').where({ type: 'refund.updated', order_id: orderId })).toHaveLength(
      1,
    );
    expect((await orderWhen(orderId, token, (o) => o.status === 'REFUNDED')).status).toBe('REFUNDED');
  });

  test('when a crypto order is refunded, then it waits AWAITING_MANUAL_REFUND until support records the reference, then SUCCEEDED', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, orderId } = await buyPaid(catalogue, 1, { method: 'crypto' });
    const requested = await requestRefund(orderId, token, { reason: 'crypto back' });
    const waiting = await refundWhen(requested.body.refundId, token, (r) => r.status === 'AWAITING_MANUAL_REFUND');
    expect(waiting.status).toBe('AWAITING_MANUAL_REFUND');
    // Support sees it waiting in the Temporal UI: the memo follows right after the status is recorded.
    const handle = platform.client.workflow.getHandle(refundWorkflowId(requested.body.refundId));
    let memo = (await handle.describe()).memo;
    for (let i = 0; i < 50 && memo?.refundStatus !== 'AWAITING_MANUAL_REFUND'; i++) {
      await sleep(200);
      memo = (await handle.describe()).memo;
    }
    expect(memo).toMatchObject({
      refundStatus: 'AWAITING_MANUAL_REFUND',
      waitingFor: expect.stringMatching(/support/),
    });
    const completed = await call(platform, 'POST', `/v1/refunds/${requested.body.refundId}/manual-complete`, {
      token: support(),
      body: { reference: '0xabc123' },
    });
    expect(completed.status).toBe(200);
    const done = await refundWhen(requested.body.refundId, token, (r) => r.status === 'SUCCEEDED');
    expect(done).toMatchObject({ status: 'SUCCEEDED', manualReference: '0xabc123' });
    expect((await orderWhen(orderId, token, (o) => o.status === 'REFUNDED')).status).toBe('REFUNDED');
    await recordRefund(requested.body.refundId, 'refund-v1-api-crypto-manual');
  });

  test('when a buyer asks outside the window, for more than was paid, for another order’s ticket, or for someone else’s order, then 409/404 problem+json and nothing changes', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const other = await buyPaid(catalogue, 1);
    const { token, orderId } = await buyPaid(catalogue, 1);
    const more = await requestRefund(orderId, token, { amountMinor: 2501, reason: 'x' });
    expect(more.status).toBe(409);
    expect(more.body.type).toMatch(/refund-exceeds-payment$/);
    const foreign = await requestRefund(orderId, token, {
      ticketIds: [other.order.tickets[0].ticketId],
      reason: 'x',
    });
    expect(foreign.status).toBe(409);
    expect(foreign.body.type).toMatch(/ticket-not-on-order$/);
    expect((await requestRefund(orderId, other.token, { reason: 'x' })).status).toBe(404);
    expect((await requestRefund(orderId, token, { reason: 'x' }, '')).status).toBe(400);
    await platform
      .db('events')
      .where({ id: catalogue.eventId })
      .update({ starts_at: new Date(Date.now() + 3_600_000) });
    const late = await requestRefund(orderId, token, { reason: 'x' });
    expect(late.status).toBe(409);
    expect(late.body.type).toMatch(/refund-window-closed$/);
    expect(await platform.db('refunds').whereIn('order_id', [orderId, other.orderId])).toHaveLength(0);
  });
});

describe('event cancellation through the API', () => {
  test('when an organizer cancels an event, then sales stop at once, every paid order is refunded once and the event ends CANCELLED with its progress', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 20 });
    const orders = await Promise.all([buyPaid(catalogue, 1), buyPaid(catalogue, 2), buyPaid(catalogue, 1)]);
    const organizer = platform.token({ sub: 'org_user', role: 'organizer', org: catalogue.organizerId });
    const stranger = platform.token({ sub: 'org_other', role: 'organizer', org: 'org_other' });
    expect(
      (await call(platform, 'POST', `/v1/events/${catalogue.eventId}/cancel`, { token: stranger })).status,
    ).toBe(403);
    const cancelled = await call(platform, 'POST', `/v1/events/${catalogue.eventId}/cancel`, { token: organizer });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body).toEqual({ eventId: catalogue.eventId, status: 'CANCELLING' });
    const again = await call(platform, 'POST', `/v1/events/${catalogue.eventId}/cancel`, { token: organizer });
    expect(again.status).toBe(202);
    const checkout = await call(platform, 'POST', '/v1/checkouts', {
      token: platform.token({ sub: uid('buyer'), role: 'buyer' }),
      body: {
        eventId: catalogue.eventId,
        items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
        payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
      },
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect(checkout.status).toBe(409);

    const handle = platform.client.workflow.getHandle(eventCancellationWorkflowId(catalogue.eventId));
    expect(await handle.result()).toEqual({ total: 3, refunded: 3, failed: 0, inProgress: 0 });
    const event = (await call(platform, 'GET', `/v1/events/${catalogue.eventId}`)).body;
    expect(event).toMatchObject({
      status: 'CANCELLED',
      cancellation: { total: 3, refunded: 3, failed: 0, inProgress: 0 },
    });
    for (const o of orders) {
      expect((await orderWhen(o.orderId, o.token, (x) => x.status === 'REFUNDED')).status).toBe('REFUNDED');
      expect(await platform.db('refunds').where({ order_id: o.orderId, status: 'SUCCEEDED' })).toHaveLength(1);
    }
    expect(await seats(catalogue)).toEqual({ sold: 0, held: 0 });
    await recordHistory('event-cancellation-v1-api-three-orders', handle);
  });
});
