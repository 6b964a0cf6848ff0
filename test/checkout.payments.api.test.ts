import { checkoutWorkflowId, latePaymentWorkflowId } from '../domain';
import { createCatalogue, uid } from './support/env';
import { recordHistory } from './support/histories';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

/** Seconds an unpaid hold lasts here: short, so expiry paths finish quickly, long enough for the rest. */
// Long enough that paths which pay are never raced by expiry on a loaded 2-core CI machine.
const HOLD_TTL_SECONDS = 10;

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: String(HOLD_TTL_SECONDS) });
}, 120_000);
afterAll(() => platform?.stop());

type Catalogue = Awaited<ReturnType<typeof createCatalogue>>;
const buyer = () => platform.token({ sub: uid('buyer'), role: 'buyer' });
const THREE_DS = { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' };
const CRYPTO = { method: 'crypto' };

/** Buys `quantity` tickets through the API and returns the 201 answer with the buyer's token. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON responses
async function buy(catalogue: Catalogue, payment: object, quantity = 1): Promise<{ token: string; placed: any }> {
  const token = buyer();
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token,
    body: { eventId: catalogue.eventId, items: [{ ticketTypeId: catalogue.ticketTypeId, quantity }], payment },
    headers: { 'Idempotency-Key': uid('key') },
  });
  expect(res.status).toBe(201);
  return { token, placed: res.body };
}

/** The path part of a hosted page URL: the tests call the in-process API, which serves the pages. */
const pathOf = (hostedUrl: string) => new URL(hostedUrl).pathname;

/** Presses a button on a sandbox hosted page, as JSON. */
const complete = (hostedUrl: string, outcome: string) =>
  call(platform, 'POST', `${pathOf(hostedUrl)}/complete`, { body: { outcome } });

/** Reads the order through the API until `done` holds (or about 30 s pass). */
async function orderWhen(orderId: string, token: string, done: (order: { status: string }) => boolean) {
  let order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  for (let i = 0; i < 150 && !done(order); i++) {
    await new Promise((r) => setTimeout(r, 200));
    order = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
  }
  return order;
}

const seats = (catalogue: Catalogue) =>
  platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');

/** The order's late-payment workflow, once a webhook has started it. */
async function latePayment(orderId: string) {
  const handle = platform.client.workflow.getHandle(latePaymentWorkflowId(orderId));
  for (let i = 0; i < 150; i++) {
    if (
      await handle.describe().then(
        () => true,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return handle;
}

/** Waits for the checkout workflow to close and, with RECORD_HISTORIES=1, records its history under each name. */
async function recordCheckout(orderId: string, ...names: string[]): Promise<void> {
  const handle = platform.client.workflow.getHandle(checkoutWorkflowId(orderId));
  await handle.result();
  for (const name of names) await recordHistory(name, handle);
}

describe('operations', () => {
  test('when no provider keys are configured, then /readyz tells an admin which providers are sandboxed, and nobody else', async () => {
    const anonymous = await call(platform, 'GET', '/readyz');
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual({ status: 'ready' });
    const buyer = await call(platform, 'GET', '/readyz', { token: platform.token({ sub: 'b1', role: 'buyer' }) });
    expect(buyer.body).toEqual({ status: 'ready' });
    const res = await call(platform, 'GET', '/readyz', { token: platform.token({ sub: 'a1', role: 'admin' }) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', postgres: 'ok', temporal: 'ok' });
    expect(res.body.sandboxedProviders).toEqual(expect.arrayContaining(['stripe', 'coinbase']));
  });
});

describe('card with 3-D Secure, through the sandbox', () => {
  test('when the buyer passes the challenge on the hosted page, then the order becomes PAID by webhook', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, THREE_DS, 2);
    expect(placed).toMatchObject({
      status: 'AWAITING_PAYMENT',
      payment: {
        method: 'card',
        status: 'requires_action',
        hostedUrl: expect.stringMatching(/\/sandbox\/stripe\/3ds\//),
      },
    });

    const page = await fetch(`${platform.baseUrl}${pathOf(placed.payment.hostedUrl)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('50.00 USD');
    expect(html).toContain('name="outcome" value="succeeded"');
    expect(html).toContain('name="outcome" value="failed"');

    const done = await complete(placed.payment.hostedUrl, 'succeeded');
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'succeeded', orderId: placed.orderId });

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'PAID');
    expect(order).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(order.tickets).toHaveLength(2);
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 2 });
    const events = await platform
      .db('webhook_events')
      .where({ order_id: placed.orderId, type: 'payment_intent.succeeded' });
    expect(events).toEqual([expect.objectContaining({ outcome: 'signalled: succeeded' })]);
    await recordCheckout(
      placed.orderId,
      'checkout-v2-api-card-3ds-webhook-succeeded',
      'checkout-v6-api-card-3ds-webhook-succeeded',
    );
  });

  test('when the buyer fails the challenge (a form post), then the order is FAILED and the seats are back', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, THREE_DS);
    const form = await fetch(`${platform.baseUrl}${pathOf(placed.payment.hostedUrl)}/complete`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'outcome=failed',
      redirect: 'manual',
    });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe(pathOf(placed.payment.hostedUrl));

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'FAILED');
    expect(order).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_FAILED', payment: { status: 'failed' } });
    expect(order.tickets).toHaveLength(0);
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 0 });
    await recordCheckout(
      placed.orderId,
      'checkout-v2-api-card-3ds-webhook-failed',
      'checkout-v6-api-card-3ds-webhook-failed',
    );
  });

  test('when the buyer abandons the challenge, then the hold expires: EXPIRED, intent canceled, seats back', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, THREE_DS);
    expect(await seats(catalogue)).toEqual({ held: 1, sold: 0 });

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'EXPIRED');
    expect(order).toMatchObject({ status: 'EXPIRED', reason: 'HOLD_EXPIRED', payment: { status: 'canceled' } });
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 0 });

    // Passing the challenge after the hold expired moves no money: the intent was canceled.
    const late = await complete(placed.payment.hostedUrl, 'succeeded');
    expect(late.body.status).toBe('canceled');
    await recordCheckout(placed.orderId, 'checkout-v2-api-card-3ds-expired', 'checkout-v6-api-card-3ds-expired');
  });
});

describe('crypto, through the sandbox', () => {
  test('when the charge is confirmed, then the order becomes PAID', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, CRYPTO);
    expect(placed).toMatchObject({
      status: 'AWAITING_PAYMENT',
      payment: { method: 'crypto', hostedUrl: expect.stringMatching(/\/sandbox\/coinbase\/charges\//) },
    });
    const html = await (await fetch(`${platform.baseUrl}${pathOf(placed.payment.hostedUrl)}`)).text();
    for (const outcome of ['confirmed', 'failed', 'delayed']) expect(html).toContain(`value="${outcome}"`);

    expect((await complete(placed.payment.hostedUrl, 'confirmed')).body.status).toBe('COMPLETED');

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'PAID');
    expect(order).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(order.tickets).toHaveLength(1);
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 1 });
    await recordCheckout(placed.orderId, 'checkout-v2-api-crypto-confirmed', 'checkout-v6-api-crypto-confirmed');
  });

  test('when the payment is seen but not yet confirmed, then the order shows PAYMENT_PROCESSING, then PAID', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, CRYPTO);

    expect((await complete(placed.payment.hostedUrl, 'pending')).body.status).toBe('PENDING');
    const processing = await orderWhen(placed.orderId, token, (o) => o.status === 'PAYMENT_PROCESSING');
    expect(processing).toMatchObject({ status: 'PAYMENT_PROCESSING', payment: { status: 'processing' } });

    await complete(placed.payment.hostedUrl, 'confirmed');
    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'PAID');
    expect(order.history.map((h: { status: string }) => h.status)).toEqual([
      'AWAITING_PAYMENT',
      'PAYMENT_PROCESSING',
      'PAID',
    ]);
    await recordCheckout(
      placed.orderId,
      'checkout-v2-api-crypto-pending-confirmed',
      'checkout-v6-api-crypto-pending-confirmed',
    );
  });

  test('when the charge fails, then the order is FAILED and the seats are back', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, CRYPTO, 3);
    expect(await seats(catalogue)).toEqual({ held: 3, sold: 0 });

    expect((await complete(placed.payment.hostedUrl, 'failed')).body.status).toBe('EXPIRED');

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'FAILED');
    expect(order).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_FAILED', payment: { status: 'failed' } });
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 0 });
    await recordCheckout(placed.orderId, 'checkout-v2-api-crypto-failed', 'checkout-v6-api-crypto-failed');
  });

  test('when the payment arrives after the hold expired and seats remain, then the tickets are issued late', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, CRYPTO, 2);
    await orderWhen(placed.orderId, token, (o) => o.status === 'EXPIRED');
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 0 });

    expect((await complete(placed.payment.hostedUrl, 'delayed')).body.status).toBe('DELAYED');

    const order = await orderWhen(placed.orderId, token, (o) => o.status === 'PAID');
    expect(order).toMatchObject({ status: 'PAID', reason: 'PAID_AFTER_EXPIRY', payment: { status: 'succeeded' } });
    expect(order.tickets).toHaveLength(2);
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 2 });
    const late = await latePayment(placed.orderId);
    expect(await late.result()).toMatchObject({ outcome: 'tickets_issued' });
    expect(await platform.db('refunds').where({ order_id: placed.orderId })).toHaveLength(0);
    await recordCheckout(placed.orderId, 'checkout-v2-api-crypto-expired', 'checkout-v6-api-crypto-expired');
    await recordHistory('late-payment-v1-api-tickets-issued', late);
  });

  test('when the payment arrives after the hold expired and the seats were sold, then a refund is owed', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 1 });
    const first = await buy(catalogue, CRYPTO);
    await orderWhen(first.placed.orderId, first.token, (o) => o.status === 'EXPIRED');
    const second = await buy(catalogue, { method: 'card', paymentMethodId: 'pm_card_visa' });
    expect(second.placed.status).toBe('PAID');

    await complete(first.placed.payment.hostedUrl, 'delayed');

    const late = await latePayment(first.placed.orderId);
    expect(await late.result()).toEqual({ outcome: 'refund_owed', tickets: [] });
    const refunds = await platform.db('refunds').where({ order_id: first.placed.orderId });
    expect(refunds).toEqual([
      expect.objectContaining({ status: 'OWED', amount_minor: 2500, requested_by: 'system:late-payment' }),
    ]);
    const order = (await call(platform, 'GET', `/v1/checkouts/${first.placed.orderId}`, { token: first.token }))
      .body;
    expect(order).toMatchObject({ status: 'EXPIRED', payment: { status: 'refund_owed' } });
    expect(order.tickets).toHaveLength(0);
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 1 });
    await recordHistory('late-payment-v1-api-refund-owed', late);
  });
});

describe('POST /v1/checkouts/:orderId/cancel', () => {
  test('when the buyer cancels an unpaid order, then it is CANCELLED and the seats are back', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, CRYPTO, 2);

    const res = await call(platform, 'POST', `/v1/checkouts/${placed.orderId}/cancel`, { token });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'CANCELLED',
      reason: 'CANCELLED_BY_BUYER',
      payment: { status: 'canceled' },
    });
    expect(await seats(catalogue)).toEqual({ held: 0, sold: 0 });
    const charge = await platform
      .db('sandbox_crypto_charges')
      .where({ order_id: placed.orderId })
      .first('timeline');
    expect(charge.timeline.at(-1).status).toBe('CANCELED');
    await recordCheckout(placed.orderId, 'checkout-v2-api-buyer-cancelled', 'checkout-v6-api-buyer-cancelled');
  });

  test('when the order is already PAID, then the cancel is refused with 409', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { token, placed } = await buy(catalogue, { method: 'card', paymentMethodId: 'pm_card_visa' });
    expect(placed.status).toBe('PAID');

    const res = await call(platform, 'POST', `/v1/checkouts/${placed.orderId}/cancel`, { token });

    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/not-cancellable$/);
    expect((await call(platform, 'GET', `/v1/checkouts/${placed.orderId}`, { token })).body.status).toBe('PAID');
  });
});

describe('sandbox hosted pages', () => {
  test('when the page is for an id that does not exist, then 404 problem', async () => {
    for (const path of ['/sandbox/stripe/3ds/pi_sbx_nope', '/sandbox/coinbase/charges/NOPE1234']) {
      const page = await call(platform, 'GET', path);
      expect(page.status).toBe(404);
      expect(page.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect((await call(platform, 'POST', `${path}/complete`, { body: { outcome: 'failed' } })).status).toBe(404);
    }
  });

  test('when the outcome is not one the page offers, then 422 naming the field, and nothing changes', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const { placed } = await buy(catalogue, THREE_DS);
    const res = await complete(placed.payment.hostedUrl, 'confirmed');
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'outcome' })]);
    const intent = await platform.db('sandbox_card_intents').where({ order_id: placed.orderId }).first('status');
    expect(intent.status).toBe('requires_action');
    await call(platform, 'POST', `/v1/checkouts/${placed.orderId}/cancel`, {
      token: platform.token({ sub: 'support1', role: 'support' }),
    });
  });
});
