import { randomUUID } from 'node:crypto';
import { checkoutWorkflowId } from '../domain';
import { signCoinbasePayload, signStripePayload } from '../providers/payments/webhook-signatures';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
let catalogue: Awaited<ReturnType<typeof createCatalogue>>;

beforeAll(async () => {
  // A long hold: these tests drive outcomes themselves and must not race the expiry timer.
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: '120' });
  catalogue = await createCatalogue(platform.db, { capacity: 50, priceMinor: 2500 });
}, 120_000);
afterAll(() => platform?.stop());

const buyer = () => platform.token({ sub: uid('buyer'), role: 'buyer' });

/** Starts a checkout through the API and returns its order id and the buyer's token. */
async function checkout(payment: Record<string, unknown>): Promise<{ orderId: string; token: string }> {
  const token = buyer();
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token,
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment,
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('AWAITING_PAYMENT');
  const orderId: string = res.body.orderId;
  // The sandbox announces the new payment with a webhook of its own. Once that is handled, what a test changes below
  // is reported by the events the test sends, never by the sandbox's announcement arriving late.
  for (let i = 0; i < 100; i++) {
    const announced = await platform
      .db('webhook_events')
      .where({ order_id: orderId })
      .whereNotNull('processed_at')
      .first('id');
    if (announced) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { orderId, token };
}

/** The sandbox PaymentIntent of a 3-D Secure order, moved to a new state without the sandbox's own webhook. */
async function setIntent(orderId: string, change: Record<string, unknown> = {}): Promise<string> {
  const intent = await platform.db('sandbox_card_intents').where({ order_id: orderId }).first('id');
  if (Object.keys(change).length > 0)
    await platform.db('sandbox_card_intents').where({ id: intent.id }).update(change);
  return intent.id;
}

/** The sandbox crypto charge of an order, with statuses appended to its timeline and no webhook sent. */
async function advanceCharge(orderId: string, ...statuses: string[]): Promise<{ id: string; code: string }> {
  const charge = await platform.db('sandbox_crypto_charges').where({ order_id: orderId }).first();
  const timeline = [...charge.timeline, ...statuses.map((status) => ({ status, time: new Date().toISOString() }))];
  await platform
    .db('sandbox_crypto_charges')
    .where({ id: charge.id })
    .update({ timeline: JSON.stringify(timeline) });
  return { id: charge.id, code: charge.code };
}

/** A Stripe event about a PaymentIntent; the payload's status is deliberately not what the platform acts on. */
function stripeEvent(type: string, intentId: string, orderId: string, eventId = `evt_${randomUUID()}`): string {
  return JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: '2025-08-27.basil',
    created: Math.floor(Date.now() / 1000),
    type,
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object: { id: intentId, object: 'payment_intent', status: 'whatever', metadata: { orderId } } },
  });
}

function coinbaseEvent(
  type: string,
  charge: { id: string; code: string },
  orderId: string,
  eventId = randomUUID(),
) {
  return JSON.stringify({
    id: randomUUID(),
    scheduled_for: new Date().toISOString(),
    attempt_number: 1,
    event: {
      id: eventId,
      resource: 'event',
      type,
      api_version: '2018-03-22',
      created_at: new Date().toISOString(),
      data: { id: charge.id, code: charge.code, resource: 'charge', metadata: { orderId }, timeline: [] },
    },
  });
}

async function postStripe(
  body: string,
  signature = signStripePayload(body, platform.config.STRIPE_WEBHOOK_SECRET),
) {
  return call(platform, 'POST', '/webhooks/stripe', { body, headers: { 'stripe-signature': signature } });
}

async function postCoinbase(
  body: string,
  signature = signCoinbasePayload(body, platform.config.COINBASE_WEBHOOK_SECRET),
) {
  return call(platform, 'POST', '/webhooks/coinbase', { body, headers: { 'x-cc-webhook-signature': signature } });
}

/** Reads the order through the API until `done` holds, or gives up after a while. */
async function orderWhen(orderId: string, token: string, done: (order: { status: string }) => boolean) {
  let order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  for (let i = 0; i < 100 && !done(order); i++) {
    await new Promise((r) => setTimeout(r, 200));
    order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  }
  return order;
}

/** How many payment outcomes the order's workflow was sent, from its history. */
async function outcomeSignals(orderId: string): Promise<number> {
  const history = await platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'paymentOutcome',
  ).length;
}

const recorded = (provider: string, eventId: string) =>
  platform.db('webhook_events').where({ provider, event_id: eventId }).first();

describe('POST /webhooks/stripe', () => {
  test('when a validly signed event reports a 3-D Secure payment, then it is recorded and the order becomes PAID', async () => {
    const { orderId, token } = await checkout({
      method: 'card',
      paymentMethodId: 'pm_card_threeDSecure2Required',
    });
    const intentId = await setIntent(orderId, { status: 'succeeded' });
    const eventId = `evt_${randomUUID()}`;

    const res = await postStripe(stripeEvent('payment_intent.succeeded', intentId, orderId, eventId));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: true, duplicate: false, outcome: 'signalled: succeeded' });
    expect(await recorded('stripe', eventId)).toMatchObject({
      type: 'payment_intent.succeeded',
      object_ref: intentId,
      order_id: orderId,
      outcome: 'signalled: succeeded',
      processed_at: expect.any(Date),
    });
    const order = await orderWhen(orderId, token, (o) => o.status === 'PAID');
    expect(order).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(order.tickets).toHaveLength(1);
  });

  test('when the payload claims success but the provider says otherwise, then the re-fetched state wins', async () => {
    const { orderId, token } = await checkout({
      method: 'card',
      paymentMethodId: 'pm_card_threeDSecure2Required',
    });
    const intentId = await setIntent(orderId);

    const res = await postStripe(stripeEvent('payment_intent.succeeded', intentId, orderId));

    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('no action: requires_action');
    expect(await outcomeSignals(orderId)).toBe(0);
    expect((await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body.status).toBe(
      'AWAITING_PAYMENT',
    );
  });

  test('when the signature is forged or missing, then 400 and nothing is recorded', async () => {
    const { orderId } = await checkout({ method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' });
    const intentId = await setIntent(orderId, { status: 'succeeded' });
    const eventId = `evt_${randomUUID()}`;
    const body = stripeEvent('payment_intent.succeeded', intentId, orderId, eventId);

    const forged = await postStripe(body, signStripePayload(body, 'whsec_not_the_secret'));
    const unsigned = await call(platform, 'POST', '/webhooks/stripe', { body });
    const tampered = await postStripe(body, signStripePayload(body.replace('whatever', 'succeeded'), 'x'));

    for (const res of [forged, unsigned, tampered]) {
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    expect(await recorded('stripe', eventId)).toBeUndefined();
    expect(await outcomeSignals(orderId)).toBe(0);
  });

  test('when the signature is older than the tolerance, then 400 stale and nothing is recorded', async () => {
    const eventId = `evt_${randomUUID()}`;
    const body = stripeEvent('payment_intent.succeeded', 'pi_whatever', 'ord_whatever', eventId);
    const tenMinutesAgo = Math.floor(Date.now() / 1000) - 600;

    const res = await postStripe(
      body,
      signStripePayload(body, platform.config.STRIPE_WEBHOOK_SECRET, tenMinutesAgo),
    );

    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(/tolerance/i);
    expect(await recorded('stripe', eventId)).toBeUndefined();
  });

  test('when the same event id arrives twice, then both get 200 and the order is signalled once', async () => {
    const { orderId, token } = await checkout({
      method: 'card',
      paymentMethodId: 'pm_card_threeDSecure2Required',
    });
    const intentId = await setIntent(orderId, { status: 'succeeded' });
    const eventId = `evt_${randomUUID()}`;
    const body = stripeEvent('payment_intent.succeeded', intentId, orderId, eventId);

    const first = await postStripe(body);
    const again = await postStripe(body);
    const concurrent = await Promise.all([postStripe(body), postStripe(body)]);

    expect(first.body).toMatchObject({ duplicate: false });
    for (const res of [again, ...concurrent]) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ received: true, duplicate: true, outcome: 'signalled: succeeded' });
    }
    await orderWhen(orderId, token, (o) => o.status === 'PAID');
    expect(await outcomeSignals(orderId)).toBe(1);
    expect(await platform.db('webhook_events').where({ provider: 'stripe', event_id: eventId })).toHaveLength(1);
  });

  test('when a failure event arrives after the success, then the order stays PAID with its tickets', async () => {
    const { orderId, token } = await checkout({
      method: 'card',
      paymentMethodId: 'pm_card_threeDSecure2Required',
    });
    const intentId = await setIntent(orderId, { status: 'succeeded' });
    await postStripe(stripeEvent('payment_intent.succeeded', intentId, orderId));
    const paid = await orderWhen(orderId, token, (o) => o.status === 'PAID');

    const late = await postStripe(stripeEvent('payment_intent.payment_failed', intentId, orderId));

    expect(late.status).toBe(200);
    const after = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
    expect(after).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(after.tickets).toEqual(paid.tickets);
  });

  test('when an event is for an order we do not know, then it is recorded and acknowledged', async () => {
    const eventId = `evt_${randomUUID()}`;
    const res = await postStripe(stripeEvent('payment_intent.succeeded', 'pi_nobody', 'ord_nobody', eventId));

    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('unknown order');
    expect(await recorded('stripe', eventId)).toMatchObject({
      object_ref: 'pi_nobody',
      outcome: 'unknown order',
      processed_at: expect.any(Date),
    });
  });

  test('when an event is not about a payment, then it is recorded and acknowledged without effect', async () => {
    const eventId = `evt_${randomUUID()}`;
    const body = JSON.stringify({
      id: eventId,
      object: 'event',
      type: 'customer.created',
      data: { object: { id: 'cus_1', object: 'customer' } },
    });
    const res = await postStripe(body);
    expect(res.status).toBe(200);
    expect((await recorded('stripe', eventId))?.outcome).toMatch(/^ignored/);
  });
});

describe('POST /webhooks/coinbase', () => {
  test('when a validly signed charge:confirmed arrives, then it is recorded and the order becomes PAID', async () => {
    const { orderId, token } = await checkout({ method: 'crypto' });
    const charge = await advanceCharge(orderId, 'PENDING', 'COMPLETED');
    const eventId = randomUUID();

    const res = await postCoinbase(coinbaseEvent('charge:confirmed', charge, orderId, eventId));

    expect(res.status).toBe(200);
    expect(await recorded('coinbase', eventId)).toMatchObject({
      type: 'charge:confirmed',
      object_ref: charge.id,
      order_id: orderId,
      outcome: 'signalled: succeeded',
    });
    expect((await orderWhen(orderId, token, (o) => o.status === 'PAID')).status).toBe('PAID');
  });

  test('when the signature is forged, then 400 and nothing is recorded', async () => {
    const { orderId } = await checkout({ method: 'crypto' });
    const charge = await advanceCharge(orderId, 'PENDING', 'COMPLETED');
    const eventId = randomUUID();
    const body = coinbaseEvent('charge:confirmed', charge, orderId, eventId);

    const forged = await postCoinbase(body, signCoinbasePayload(body, 'not-the-secret'));
    const unsigned = await call(platform, 'POST', '/webhooks/coinbase', { body });

    expect(forged.status).toBe(400);
    expect(unsigned.status).toBe(400);
    expect(await recorded('coinbase', eventId)).toBeUndefined();
    expect(await outcomeSignals(orderId)).toBe(0);
  });

  test('when charge:pending arrives twice, then the order shows PAYMENT_PROCESSING and is signalled once', async () => {
    const { orderId, token } = await checkout({ method: 'crypto' });
    const charge = await advanceCharge(orderId, 'PENDING');
    const body = coinbaseEvent('charge:pending', charge, orderId);

    expect((await postCoinbase(body)).body).toMatchObject({ duplicate: false, outcome: 'signalled: processing' });
    expect((await postCoinbase(body)).body).toMatchObject({ duplicate: true });

    const order = await orderWhen(orderId, token, (o) => o.status === 'PAYMENT_PROCESSING');
    expect(order.status).toBe('PAYMENT_PROCESSING');
    expect(await outcomeSignals(orderId)).toBe(1);
  });

  test('when events arrive out of order (confirmed, then pending, then failed), then the order is PAID once', async () => {
    const { orderId, token } = await checkout({ method: 'crypto' });
    const charge = await advanceCharge(orderId, 'PENDING', 'COMPLETED');

    await postCoinbase(coinbaseEvent('charge:confirmed', charge, orderId));
    const pendingLate = await postCoinbase(coinbaseEvent('charge:pending', charge, orderId));
    const failedLate = await postCoinbase(coinbaseEvent('charge:failed', charge, orderId));

    expect([pendingLate.status, failedLate.status]).toEqual([200, 200]);
    const order = await orderWhen(orderId, token, (o) => o.status === 'PAID');
    expect(order).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(order.tickets).toHaveLength(1);
    expect(order.history.map((h: { status: string }) => h.status)).toEqual(['AWAITING_PAYMENT', 'PAID']);
    const sold = await platform.db('tickets').where({ order_id: orderId });
    expect(sold).toHaveLength(1);
  });

  test('when an event is for a charge we do not know, then it is recorded and acknowledged', async () => {
    const eventId = randomUUID();
    const res = await postCoinbase(
      coinbaseEvent('charge:confirmed', { id: randomUUID(), code: 'NOBODY01' }, 'ord_nobody', eventId),
    );
    expect(res.status).toBe(200);
    expect(await recorded('coinbase', eventId)).toMatchObject({ outcome: 'unknown order' });
  });
});
