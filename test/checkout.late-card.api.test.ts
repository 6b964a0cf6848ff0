import { checkoutWorkflowId, latePaymentWorkflowId, MessageKind, messageWorkflowId } from '../domain';
import type { CardPayments } from '../providers/payments/ports';
import { isSandboxCard } from '../api/routes/sandbox';
import { signStripePayload } from '../providers/payments/webhook-signatures';
import { createCatalogue, uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;

/**
 * The buyer passes 3-D Secure at the very moment the hold expires: the compensation reads the intent still
 * `requires_action`, and by the time its cancel reaches Stripe the intent has succeeded, so Stripe refuses the
 * cancel and the adapter returns the intent as it now is. The wrapper makes that race happen on every cancel.
 */
function threeDSecurePassedDuringCancel(card: CardPayments): CardPayments {
  if (!isSandboxCard(card)) throw new Error('the sandbox card provider is needed here');
  return {
    ...card,
    async cancel(intentId, key) {
      const intent = await card.retrieve(intentId);
      if (intent.orderId) intentOrders.set(intentId, intent.orderId);
      if (racing.has(intentId)) await card.completeThreeDSecure(intentId, 'succeeded');
      return card.cancel(intentId, key);
    },
  };
}
/** Intents whose 3-D Secure passes during the cancel (by order id, resolved to intents as they appear). */
const racingOrders = new Set<string>();
const racing = {
  has: (intentId: string) =>
    intentOrders.get(intentId) !== undefined && racingOrders.has(intentOrders.get(intentId)!),
};
const intentOrders = new Map<string, string>();

/** Stripe's `payment_intent.succeeded` for an order's intent, signed as Stripe signs it; sending it twice is a redelivery. */
function intentSucceededEvent(intentId: string, orderId: string) {
  const body = JSON.stringify({
    id: `evt_late_${uid('e')}`,
    object: 'event',
    type: 'payment_intent.succeeded',
    data: { object: { id: intentId, object: 'payment_intent', metadata: { orderId } } },
  });
  return {
    send: () =>
      call(platform, 'POST', '/webhooks/stripe', {
        body,
        headers: {
          'content-type': 'application/json',
          'stripe-signature': signStripePayload(body, platform.config.STRIPE_WEBHOOK_SECRET),
        },
      }),
  };
}

beforeAll(async () => {
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: '5' }, { wrapCard: threeDSecurePassedDuringCancel });
}, 120_000);
afterAll(async () => {
  if (platform) await expectLedgerInvariants(platform.db);
  await platform?.stop();
}, 120_000);

test('when a 3-D Secure payment succeeds while its hold expires, then the order is PAID after expiry with its tickets and confirmation, and a late payment_intent.succeeded webhook is acted on once', async () => {
  const catalogue = await createCatalogue(platform.db, { capacity: 5 });
  const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token,
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
      buyer: { email: 'late@example.com' },
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  expect(placed.status).toBe(201);
  const orderId = placed.body.orderId as string;
  racingOrders.add(orderId);

  const checkout = platform.client.workflow.getHandle(checkoutWorkflowId(orderId));
  await checkout.result();
  const late = platform.client.workflow.getHandle(latePaymentWorkflowId(orderId));
  for (let i = 0; i < 100; i++) {
    if (
      await late.describe().then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(await late.result()).toMatchObject({ outcome: 'tickets_issued' });
  const order = await platform.db('orders').where({ id: orderId }).first('status', 'status_reason');
  expect(order).toEqual({ status: 'PAID', status_reason: 'PAID_AFTER_EXPIRY' });
  expect(await platform.db('tickets').where({ order_id: orderId })).toHaveLength(1);
  expect(await platform.db('refunds').where({ order_id: orderId })).toHaveLength(0);
  expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('sold', 'held')).toEqual({
    sold: 1,
    held: 0,
  });
  // The same fulfilment as a normal PAID order: the confirmation went out.
  const confirmation = platform.client.workflow.getHandle(messageWorkflowId(MessageKind.OrderConfirmed, orderId));
  expect(await confirmation.result()).toMatchObject({ EMAIL: 'SENT' });
  await recordHistory('checkout-v4-api-3ds-succeeded-at-expiry', checkout);
  await recordHistory('late-payment-v2-api-card-tickets-issued', late);

  // Stripe delivers the success once more, late (a retry after the checkout closed): the payment is recorded
  // succeeded already, so the event is recorded and nothing else happens (no signal, no second late payment).
  const intent = await platform.db('payments').where({ order_id: orderId }).first('provider_ref');
  const res = await intentSucceededEvent(intent.provider_ref, orderId).send();
  expect(res.status).toBe(200);
  expect(res.body.outcome).toBe('no action: the checkout already has it succeeded');
  expect(await platform.db('tickets').where({ order_id: orderId })).toHaveLength(1);
});

test('when a card payment_intent.succeeded webhook arrives for an order that already EXPIRED unpaid (the intent set succeeded by SQL, as Stripe would have it), then it is handled as a late payment: tickets issued once', async () => {
  const catalogue = await createCatalogue(platform.db, { capacity: 5 });
  const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token,
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  const orderId = placed.body.orderId as string;
  await platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).result();
  expect(await platform.db('orders').where({ id: orderId }).first('status')).toEqual({ status: 'EXPIRED' });
  const intent = await platform.db('payments').where({ order_id: orderId }).first('provider_ref');
  // The path where Stripe's success reached nobody before the checkout closed; the race above is the real one.
  await platform.db('sandbox_card_intents').where({ id: intent.provider_ref }).update({ status: 'succeeded' });
  const event = intentSucceededEvent(intent.provider_ref, orderId);
  const res = await event.send();
  expect(res.body.outcome).toBe('late payment: succeeded');
  const late = platform.client.workflow.getHandle(latePaymentWorkflowId(orderId));
  expect(await late.result()).toMatchObject({ outcome: 'tickets_issued' });
  expect(await platform.db('orders').where({ id: orderId }).first('status', 'status_reason')).toEqual({
    status: 'PAID',
    status_reason: 'PAID_AFTER_EXPIRY',
  });
  expect(await platform.db('tickets').where({ order_id: orderId })).toHaveLength(1);
  // The same event again: acted on once.
  expect((await event.send()).body.duplicate).toBe(true);
  await recordHistory('late-payment-v2-api-card-webhook-tickets-issued', late);
});

test('when a card payment_intent.succeeded webhook arrives for an order that EXPIRED unpaid and its seats were sold meanwhile (the intent set succeeded by SQL, as Stripe would have it), then the payment is refunded in full through Stripe and no ticket is issued', async () => {
  const catalogue = await createCatalogue(platform.db, { capacity: 1 });
  const late = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token: late,
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  const orderId = placed.body.orderId as string;
  await platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).result();
  // The seat the expired hold gave back goes to another buyer.
  const other = await call(platform, 'POST', '/v1/checkouts', {
    token: platform.token({ sub: uid('buyer'), role: 'buyer' }),
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    },
    headers: { 'Idempotency-Key': uid('key') },
  });
  expect(other.body.status).toBe('PAID');

  const intent = await platform.db('payments').where({ order_id: orderId }).first('provider_ref', 'amount_minor');
  await platform.db('sandbox_card_intents').where({ id: intent.provider_ref }).update({ status: 'succeeded' });
  const res = await intentSucceededEvent(intent.provider_ref, orderId).send();
  expect(res.body.outcome).toBe('late payment: succeeded');

  const settled = platform.client.workflow.getHandle(latePaymentWorkflowId(orderId));
  expect(await settled.result()).toEqual({ outcome: 'refund_owed', tickets: [] });
  expect(await platform.db('tickets').where({ order_id: orderId })).toHaveLength(0);
  const refunds = await platform.db('refunds').where({ order_id: orderId });
  expect(refunds).toEqual([
    expect.objectContaining({
      status: 'SUCCEEDED',
      amount_minor: intent.amount_minor,
      requested_by: 'system:late-payment',
    }),
  ]);
  // The money went back at the provider: the sandbox holds one refund of the whole intent.
  expect(
    await platform.db('sandbox_card_refunds').where({ intent_id: intent.provider_ref }).select('amount_minor'),
  ).toEqual([{ amount_minor: intent.amount_minor }]);
  const order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token: late })).body;
  expect(order).toMatchObject({ status: 'EXPIRED', tickets: [] });
  expect(await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('sold', 'held')).toEqual({
    sold: 1,
    held: 0,
  });
  await recordHistory('late-payment-v2-api-card-refunded', settled);
});
