import { WorkflowNotFoundError } from '@temporalio/client';
import { deriveOrderId } from '../api/orders';
import { checkoutWorkflowId } from '../domain';
import { createCatalogue, uid } from './support/env';
import { recordHistory } from './support/histories';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
let catalogue: Awaited<ReturnType<typeof createCatalogue>>;

beforeAll(async () => {
  platform = await startTestPlatform();
  catalogue = await createCatalogue(platform.db, { capacity: 5, priceMinor: 2500, maxPerOrder: 4 });
}, 120_000);
afterAll(() => platform?.stop());

const buyer = (sub = uid('buyer')) => platform.token({ sub, role: 'buyer' });
const checkoutBody = (overrides: Record<string, unknown> = {}) => ({
  eventId: catalogue.eventId,
  items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 2 }],
  payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
  buyer: { email: 'a@example.com', phone: '+15555550100' },
  ...overrides,
});

describe('POST /v1/checkouts', () => {
  test('when a buyer pays by card, then the order is PAID with tickets and shows in Temporal by OrderId', async () => {
    const token = buyer();
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token,
      body: checkoutBody(),
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'PAID',
      amount: { totalMinor: 5000, currency: 'USD' },
      payment: { status: 'succeeded' },
    });
    expect(res.body.tickets).toHaveLength(2);

    const orderId: string = res.body.orderId;
    const handle = platform.client.workflow.getHandle(checkoutWorkflowId(orderId));
    await handle.result();
    await recordHistory('checkout-v1-api-card-paid', handle);
    await recordHistory('checkout-v3-api-card-paid-local-db-steps', handle);
    await recordHistory('checkout-v6-api-card-paid', handle);
    const read = await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token });
    expect(read.status).toBe(200);
    expect(read.body.status).toBe('PAID');
    expect(read.body.tickets.map((t: { code: string }) => t.code).sort()).toEqual(
      res.body.tickets.map((t: { code: string }) => t.code).sort(),
    );
    expect(read.body.history.map((h: { status: string }) => h.status)).toEqual(['AWAITING_PAYMENT', 'PAID']);

    // Support staff find the order in the Temporal UI by its search attributes.
    const found: string[] = [];
    for (let i = 0; i < 50 && found.length === 0; i++) {
      for await (const wf of platform.client.workflow.list({
        query: `OrderId="${orderId}" AND OrderStatus="PAID"`,
      })) {
        found.push(wf.workflowId);
      }
      if (found.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toEqual([checkoutWorkflowId(orderId)]);
  });

  test('when the same Idempotency-Key is sent again, then the same order comes back and nothing is charged twice', async () => {
    const token = buyer();
    const key = uid('key');
    const first = await call(platform, 'POST', '/v1/checkouts', {
      token,
      body: checkoutBody({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }] }),
      headers: { 'Idempotency-Key': key },
    });
    const again = await call(platform, 'POST', '/v1/checkouts', {
      token,
      body: checkoutBody({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }] }),
      headers: { 'Idempotency-Key': key },
    });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.orderId).toBe(first.body.orderId);
    const charges = await platform.db('sandbox_card_intents').where({ order_id: first.body.orderId });
    expect(charges).toHaveLength(1);
    const reused = await call(platform, 'POST', '/v1/checkouts', {
      token,
      body: checkoutBody(),
      headers: { 'Idempotency-Key': key },
    });
    expect(reused.status).toBe(422);
    expect(reused.body.type).toMatch(/idempotency-key-reused$/);
  });

  test('when the card is declined, then the order is FAILED and its seats are back on sale', async () => {
    const before = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer(),
      body: checkoutBody({ payment: { method: 'card', paymentMethodId: 'pm_card_chargeDeclined' } }),
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'FAILED',
      reason: 'PAYMENT_DECLINED',
      payment: { status: 'failed' },
    });
    const after = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');
    expect(after).toEqual(before);
    const handle = platform.client.workflow.getHandle(checkoutWorkflowId(res.body.orderId));
    await handle.result();
    await recordHistory('checkout-v6-api-card-declined', handle);
  });

  test('when more tickets are asked for than remain, then 409 sold-out and nothing is held', async () => {
    const sub = uid('buyer');
    const key = uid('key');
    const orderId = deriveOrderId(sub, key);
    const before = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');
    expect(5 - before.held - before.sold).toBeLessThan(4);

    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer(sub),
      body: checkoutBody({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 4 }] }),
      headers: { 'Idempotency-Key': key },
    });

    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.type).toMatch(/\/sold-out$/);
    // Nothing is held: the seat counters are as they were, and no order, hold, request row or workflow exists.
    expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold')).toEqual(
      before,
    );
    expect(await platform.db('orders').where({ id: orderId })).toHaveLength(0);
    expect(await platform.db('reservations').where({ order_id: orderId })).toHaveLength(0);
    expect(await platform.db('checkout_requests').where({ order_id: orderId })).toHaveLength(0);
    await expect(
      platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  test('when more than maxPerOrder is asked for, then 409 limit-exceeded', async () => {
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer(),
      body: checkoutBody({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 5 }] }),
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/limit-exceeded$/);
  });

  test('when the body is invalid, then 422 names each bad field and no order is made', async () => {
    const key = uid('key');
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer(),
      body: {
        eventId: catalogue.eventId,
        items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 0 }],
        payment: { method: 'cash' },
        amount: 1,
      },
      headers: { 'Idempotency-Key': key },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['items.0.quantity', 'payment.method']),
    );
    expect(await platform.db('orders').where({ idempotency_key: key })).toHaveLength(0);
  });

  test('when the Idempotency-Key or the token is missing, then 400 or 401', async () => {
    expect((await call(platform, 'POST', '/v1/checkouts', { token: buyer(), body: checkoutBody() })).status).toBe(
      400,
    );
    expect(
      (
        await call(platform, 'POST', '/v1/checkouts', {
          body: checkoutBody(),
          headers: { 'Idempotency-Key': 'k' },
        })
      ).status,
    ).toBe(401);
    const organizer = platform.token({ sub: 'o1', role: 'organizer', org: catalogue.organizerId });
    expect(
      (
        await call(platform, 'POST', '/v1/checkouts', {
          token: organizer,
          body: checkoutBody(),
          headers: { 'Idempotency-Key': 'k' },
        })
      ).status,
    ).toBe(403);
  });

  test("when another buyer reads someone's order, then 404", async () => {
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: buyer(),
      body: checkoutBody({ items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }] }),
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect((await call(platform, 'GET', `/v1/checkouts/${res.body.orderId}`, { token: buyer() })).status).toBe(
      404,
    );
    const support = platform.token({ sub: 's1', role: 'support' });
    expect((await call(platform, 'GET', `/v1/checkouts/${res.body.orderId}`, { token: support })).status).toBe(
      200,
    );
  });
});

describe('catalogue', () => {
  test('when anyone reads an event, then ticket types show live availability', async () => {
    const res = await call(platform, 'GET', `/v1/events/${catalogue.eventId}`);
    expect(res.status).toBe(200);
    expect(res.body.ticketTypes[0]).toMatchObject({
      ticketTypeId: catalogue.ticketTypeId,
      capacity: 5,
      available: expect.any(Number),
    });
  });

  test('when an organizer adds an event and a ticket type, then buyers can see them', async () => {
    const organizer = platform.token({ sub: 'o1', role: 'organizer', org: catalogue.organizerId });
    const event = await call(platform, 'POST', '/v1/events', {
      token: organizer,
      body: { name: 'Matinee', startsAt: '2027-03-01T15:00:00Z' },
    });
    expect(event.status).toBe(201);
    const type = await call(platform, 'POST', `/v1/events/${event.body.eventId}/ticket-types`, {
      token: organizer,
      body: { name: 'Seat', priceMinor: 1500, currency: 'EUR', capacity: 20, maxPerOrder: 2 },
    });
    expect(type.status).toBe(201);
    const other = platform.token({ sub: 'o2', role: 'organizer', org: 'org_someone_else' });
    expect(
      (
        await call(platform, 'POST', `/v1/events/${event.body.eventId}/ticket-types`, {
          token: other,
          body: { name: 'X', priceMinor: 1, currency: 'EUR', capacity: 1 },
        })
      ).status,
    ).toBe(403);
    const read = await call(platform, 'GET', `/v1/events/${event.body.eventId}`);
    expect(read.body.ticketTypes).toEqual([
      expect.objectContaining({ name: 'Seat', priceMinor: 1500, currency: 'EUR', available: 20 }),
    ]);
  });
});
