import { cancellationProgressQuery, eventCancellationWorkflowId, type CancellationProgress } from '../domain';
import type { CardPayments } from '../providers/payments/ports';
import { createCatalogue, uid } from './support/env';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

const ORDERS = 200;
let platform: TestPlatform;
const injected = { before: 0, after: 0 };

/**
 * The worker's card provider fails on purpose: every 5th refund call fails before it reaches the provider, and
 * every 7th fails after the provider made the refund (the answer is lost), so the retry must not refund twice.
 */
function flakyRefunds(card: CardPayments): CardPayments {
  let calls = 0;
  return {
    ...card,
    provider: card.provider,
    sandboxed: card.sandboxed,
    charge: (i) => card.charge(i),
    retrieve: (id) => card.retrieve(id),
    cancel: (id, key) => card.cancel(id, key),
    retrieveRefund: (id) => card.retrieveRefund(id),
    async refund(input) {
      calls += 1;
      if (calls % 5 === 0) {
        injected.before += 1;
        throw new Error('injected: connection reset before the refund reached Stripe');
      }
      const refund = await card.refund(input);
      if (calls % 7 === 0) {
        injected.after += 1;
        throw new Error('injected: connection reset after Stripe made the refund');
      }
      return refund;
    },
  };
}

beforeAll(async () => {
  platform = await startTestPlatform(
    {
      HOLD_TTL_SECONDS: '30',
      CANCELLATION_PARALLELISM: '20',
      CANCELLATION_ORDERS_PER_RUN: '60',
      CANCELLATION_POLL_SECONDS: '1',
    },
    { wrapCard: flakyRefunds },
  );
}, 120_000);
afterAll(async () => {
  if (platform) await expectLedgerInvariants(platform.db);
  await platform?.stop();
}, 120_000);

test(`when an event with ${ORDERS} paid orders is cancelled while refunds fail now and then, then every order is refunded exactly once and the progress query is consistent throughout`, async () => {
  const catalogue = await createCatalogue(platform.db, { capacity: ORDERS * 2 });
  const orderIds: string[] = [];
  // Buy through the API, a few at a time. A loaded dev server may refuse an update-with-start (500): the client
  // retries with the same Idempotency-Key, which can only ever make one order.
  const buyOne = async (): Promise<string> => {
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const key = uid('key');
    for (let attempt = 0; ; attempt++) {
      const res = await call(platform, 'POST', '/v1/checkouts', {
        token,
        body: {
          eventId: catalogue.eventId,
          items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
          payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
        },
        headers: { 'Idempotency-Key': key },
      });
      if (res.status === 201) return res.body.orderId as string;
      if (res.status !== 500 || attempt >= 10) throw new Error(`checkout answered ${res.status}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  for (let i = 0; i < ORDERS; i += 5) orderIds.push(...(await Promise.all(Array.from({ length: 5 }, buyOne))));
  for (let i = 0; i < 300; i++) {
    const paid = await platform
      .db('orders')
      .whereIn('id', orderIds)
      .where({ status: 'PAID' })
      .count({ n: '*' })
      .first();
    if (Number(paid?.n) === ORDERS) break;
    await new Promise((r) => setTimeout(r, 200));
  }

  console.log(`[bench-note] ${ORDERS} orders bought and paid through the API`);
  const organizer = platform.token({ sub: 'org_user', role: 'organizer', org: catalogue.organizerId });
  const started = Date.now();
  expect(
    (await call(platform, 'POST', `/v1/events/${catalogue.eventId}/cancel`, { token: organizer })).status,
  ).toBe(202);

  // Watch the progress through the query (it follows the workflow across continue-as-new) until it is done.
  const handle = platform.client.workflow.getHandle(eventCancellationWorkflowId(catalogue.eventId));
  const samples: CancellationProgress[] = [];
  let last: CancellationProgress | undefined;
  for (let i = 0; i < 5000; i++) {
    last = await handle.query(cancellationProgressQuery).catch(() => last);
    if (last) samples.push(last);
    const event = await platform.db('events').where({ id: catalogue.eventId }).first('status');
    if (event.status === 'CANCELLED') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const elapsedMs = Date.now() - started;
  console.log(
    `[bench-note] cancellation of ${ORDERS} orders took ${elapsedMs} ms with ${injected.before} failures before and ${injected.after} after the provider call (${samples.length} progress samples)`,
  );

  const event = (await call(platform, 'GET', `/v1/events/${catalogue.eventId}`)).body;
  expect(event).toMatchObject({
    status: 'CANCELLED',
    cancellation: { total: ORDERS, refunded: ORDERS, failed: 0, inProgress: 0 },
  });
  for (const s of samples) {
    expect(s.refunded + s.failed + s.inProgress).toBeLessThanOrEqual(s.total);
    expect(s.inProgress).toBeLessThanOrEqual(20);
  }
  for (let i = 1; i < samples.length; i++)
    expect(samples[i]!.refunded).toBeGreaterThanOrEqual(samples[i - 1]!.refunded);
  expect(injected.before + injected.after).toBeGreaterThan(0);

  // Exactly once: one succeeded refund per order, one provider refund per PaymentIntent, every order REFUNDED.
  const refunds = await platform.db('refunds').whereIn('order_id', orderIds).where({ status: 'SUCCEEDED' });
  expect(refunds).toHaveLength(ORDERS);
  expect(new Set(refunds.map((r) => r.order_id)).size).toBe(ORDERS);
  const providerRefunds = await platform
    .db('sandbox_card_refunds as r')
    .join('sandbox_card_intents as i', 'i.id', 'r.intent_id')
    .whereIn('i.order_id', orderIds)
    .select('i.order_id');
  expect(providerRefunds).toHaveLength(ORDERS);
  const statuses = await platform.db('orders').whereIn('id', orderIds).distinct('status').pluck('status');
  expect(statuses).toEqual(['REFUNDED']);
  expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('sold')).toEqual({
    sold: 0,
  });
}, 1_500_000);
