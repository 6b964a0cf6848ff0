import { checkoutWorkflowId } from '../domain';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

// One Idempotency-Key sent many times at once, as a buyer's app does when the network flaps and it retries
// in parallel: one order, one charge, and every caller hears the same answer.

let platform: TestPlatform;
let catalogue: Awaited<ReturnType<typeof createCatalogue>>;
const CONCURRENT = 20;

beforeAll(async () => {
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: '120' });
  catalogue = await createCatalogue(platform.db, { capacity: 100, priceMinor: 2500, maxPerOrder: 4 });
}, 120_000);
afterAll(() => platform?.stop());

const body = (overrides: Record<string, unknown> = {}) => ({
  eventId: catalogue.eventId,
  items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 2 }],
  payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
  buyer: { email: 'same-key@example.com' },
  ...overrides,
});

/** Sends the same request `CONCURRENT` times at once. */
function burst(token: string, key: string, bodies: Array<Record<string, unknown>>) {
  return Promise.all(
    bodies.map((b) =>
      call(platform, 'POST', '/v1/checkouts', { token, body: b, headers: { 'Idempotency-Key': key } }),
    ),
  );
}

/** What a buyer compares between two answers: the order, where it stands, and what it costs. */
const essence = (res: Awaited<ReturnType<typeof call>>) => ({
  status: res.status,
  location: res.headers.get('location'),
  orderId: res.body.orderId,
  orderStatus: res.body.status,
  amount: res.body.amount,
  paymentMethod: res.body.payment?.method,
  paymentStatus: res.body.payment?.status,
  tickets: (res.body.tickets ?? [])
    .map((t: { ticketId: string; code: string }) => `${t.ticketId}:${t.code}`)
    .sort(),
});

async function footprint(orderId: string) {
  const [orders, charges, payments, tickets, runs] = await Promise.all([
    platform.db('orders').where({ id: orderId }).count({ n: '*' }).first(),
    platform.db('sandbox_card_intents').where({ order_id: orderId }).count({ n: '*' }).first(),
    platform.db('payments').where({ order_id: orderId }).count({ n: '*' }).first(),
    platform.db('tickets').where({ order_id: orderId }).count({ n: '*' }).first(),
    platform.client.workflow.count(`WorkflowId="${checkoutWorkflowId(orderId)}"`),
  ]);
  return {
    orders: Number(orders?.n),
    charges: Number(charges?.n),
    payments: Number(payments?.n),
    tickets: Number(tickets?.n),
    workflowRuns: runs.count,
  };
}

describe('one Idempotency-Key sent 20 times at once', () => {
  test('when a card checkout is sent 20 times at once, then there is one order, one charge, and every answer is the same', async () => {
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const key = uid('key');
    const before = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('sold', 'held');

    const responses = await burst(
      token,
      key,
      Array.from({ length: CONCURRENT }, () => body()),
    );

    const first = essence(responses[0]!);
    expect(first).toMatchObject({ status: 201, orderStatus: 'PAID', paymentStatus: 'succeeded' });
    expect(first.tickets).toHaveLength(2);
    for (const res of responses) {
      expect(essence(res)).toEqual(first);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
    // Replays say so; the request that did the work does not.
    expect(responses.filter((r) => r.headers.get('idempotent-replayed') === null).length).toBeGreaterThanOrEqual(
      1,
    );

    const orderId: string = first.orderId;
    expect(await footprint(orderId)).toEqual({ orders: 1, charges: 1, payments: 1, tickets: 2, workflowRuns: 1 });
    const after = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('sold', 'held');
    expect(after).toEqual({ sold: before.sold + 2, held: before.held });

    // And once more, after the dust settled: still the same answer, nothing new.
    const late = await call(platform, 'POST', '/v1/checkouts', {
      token,
      body: body(),
      headers: { 'Idempotency-Key': key },
    });
    expect(essence(late)).toEqual(first);
    expect(late.headers.get('idempotent-replayed')).toBe('true');
    expect(await footprint(orderId)).toMatchObject({ orders: 1, charges: 1, workflowRuns: 1 });
  });

  test('when a 3-D Secure checkout (still awaiting payment) is sent 20 times at once, then one order and one payment intent', async () => {
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const key = uid('key');
    const threeDs = body({ payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' } });

    const responses = await burst(
      token,
      key,
      Array.from({ length: CONCURRENT }, () => threeDs),
    );

    const first = essence(responses[0]!);
    expect(first).toMatchObject({
      status: 201,
      orderStatus: 'AWAITING_PAYMENT',
      paymentStatus: 'requires_action',
    });
    for (const res of responses) expect(essence(res)).toEqual(first);
    // The hosted 3-D Secure page is the same for every caller: one PaymentIntent, not twenty.
    expect(new Set(responses.map((r) => r.body.payment.hostedUrl)).size).toBe(1);
    expect(await footprint(first.orderId)).toMatchObject({ orders: 1, charges: 1, payments: 1, workflowRuns: 1 });

    const cancelled = await call(platform, 'POST', `/v1/checkouts/${first.orderId}/cancel`, { token });
    expect(cancelled.status).toBe(200);
  });

  test('when the same key comes at once with two different bodies, then one order is made and the other body is refused', async () => {
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const key = uid('key');
    const one = body({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }] });
    const two = body({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 3 }] });
    const bodies = Array.from({ length: CONCURRENT }, (_, i) => (i % 2 === 0 ? one : two));

    const responses = await burst(token, key, bodies);

    const accepted = responses.filter((r) => r.status === 201);
    const refused = responses.filter((r) => r.status !== 201);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(new Set(accepted.map((r) => r.body.orderId)).size).toBe(1);
    const orderId: string = accepted[0]!.body.orderId;
    const winner = responses.indexOf(accepted[0]!) % 2;
    // Every request with the winning body got the order; every one with the other body was refused.
    responses.forEach((res, i) => {
      if (i % 2 === winner) expect(essence(res)).toEqual(essence(accepted[0]!));
      else {
        expect(res.status).toBe(422);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.body.type).toMatch(/\/idempotency-key-reused$/);
      }
    });
    expect(refused).toHaveLength(CONCURRENT / 2);
    expect(await footprint(orderId)).toMatchObject({ orders: 1, charges: 1, workflowRuns: 1 });
  });

  test('when two buyers use the same key at once, then each gets an order of their own', async () => {
    const key = uid('key');
    const buyers = [uid('buyer'), uid('buyer')].map((sub) => platform.token({ sub, role: 'buyer' }));
    const responses = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) =>
        call(platform, 'POST', '/v1/checkouts', {
          token: buyers[i % 2]!,
          body: body({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }] }),
          headers: { 'Idempotency-Key': key },
        }),
      ),
    );
    expect(responses.every((r) => r.status === 201 && r.body.status === 'PAID')).toBe(true);
    const orderIds = new Set(responses.map((r) => r.body.orderId));
    expect(orderIds.size).toBe(2);
    for (const orderId of orderIds) {
      expect(await footprint(orderId)).toMatchObject({ orders: 1, charges: 1, workflowRuns: 1 });
    }
  });
});
