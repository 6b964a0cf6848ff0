import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import type { CardPayments } from '../providers/payments/ports';
import {
  cardIntentFromDecline,
  createStripeCardPayments,
  stripeHostOptions,
  toCardIntent,
  type StripeCardPayments,
} from '../providers/payments/stripe-card';
import { signStripePayload } from '../providers/payments/webhook-signatures';
import { startStripeMock, type StripeMockServer } from '../scripts/stripe-mock';

const SECRET_KEY = 'sk_test_4eC39HqLyjWDarjtT1zdp7dc';
const WEBHOOK_SECRET = 'whsec_bilten_test';

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface Reply {
  status: number;
  body: unknown;
}
type Override = (req: Recorded) => Promise<Reply | undefined> | Reply | undefined;

/**
 * Sits between the SDK and stripe-mock: records exactly what went over the wire, and lets a test answer a
 * request itself where stripe-mock (stateless, fixtures only) cannot, e.g. a decline.
 */
class RecordingProxy {
  readonly requests: Recorded[] = [];
  overrides: Override[] = [];
  url = '';
  private server: Server | null = null;

  constructor(private readonly upstream: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const recorded: Recorded = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(recorded);
        void this.answer(recorded).then(
          ({ status, headers, body }) => {
            res.writeHead(status, headers);
            res.end(body);
          },
          (err: unknown) => {
            res.writeHead(599);
            res.end(String(err));
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async answer(req: Recorded): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    for (const override of this.overrides) {
      const reply = await override(req);
      if (reply) {
        return {
          status: reply.status,
          headers: { 'content-type': 'application/json', 'request-id': 'req_proxy' },
          body: JSON.stringify(reply.body),
        };
      }
    }
    return forward(this.upstream, req);
  }
}

/** Sends a recorded request on to stripe-mock unchanged and buffers its answer. */
function forward(
  upstream: string,
  req: Recorded,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.host;
    const out = request(`${upstream}${req.path}`, { method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 502,
          headers: { 'content-type': String(res.headers['content-type'] ?? 'application/json') },
          body,
        });
      });
    });
    out.on('error', reject);
    out.end(req.body);
  });
}

/** The form fields of a recorded request, as a flat object (`metadata[orderId]`, `payment_method_types[0]`). */
function form(req: Recorded | undefined): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(req?.body ?? ''));
}

describe('Stripe card adapter against stripe-mock', () => {
  let mock: StripeMockServer;
  let proxy: RecordingProxy;
  let payments: StripeCardPayments;

  /** A PaymentIntent exactly as stripe-mock's fixtures shape it, to build realistic answers from. */
  async function fixtureIntent(id: string): Promise<Stripe.PaymentIntent> {
    const res = await fetch(`${mock.url}/v1/payment_intents/${id}`, {
      headers: { authorization: `Bearer ${SECRET_KEY}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Stripe.PaymentIntent;
  }

  beforeAll(async () => {
    // A fresh machine may have to `go install` stripe-mock first.
    mock = await startStripeMock();
    proxy = new RecordingProxy(mock.url);
    await proxy.start();
    payments = createStripeCardPayments({
      secretKey: SECRET_KEY,
      apiBase: proxy.url,
      webhookSecret: WEBHOOK_SECRET,
    });
  }, 300_000);

  afterAll(async () => {
    await proxy?.stop();
    await mock?.stop();
  });

  beforeEach(() => {
    proxy.requests.length = 0;
    proxy.overrides = [];
  });

  it('when a card is charged, then one confirmed card-only PaymentIntent is created under the idempotency key', async () => {
    const intent = await payments.charge({
      orderId: 'o_1',
      amountMinor: 5000,
      currency: 'USD',
      paymentMethodId: 'pm_card_visa',
      idempotencyKey: 'order:o_1:charge',
      returnUrl: 'https://shop.bilten.dev/orders/o_1/3ds',
    });

    expect(proxy.requests).toHaveLength(1);
    const [sent] = proxy.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.path).toBe('/v1/payment_intents');
    expect(sent?.headers['idempotency-key']).toBe('order:o_1:charge');
    expect(sent?.headers.authorization).toBe(`Bearer ${SECRET_KEY}`);
    expect(sent?.headers['stripe-version']).toBe(Stripe.API_VERSION);
    expect(sent?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(form(sent)).toEqual({
      amount: '5000',
      currency: 'usd',
      payment_method: 'pm_card_visa',
      'payment_method_types[0]': 'card',
      confirm: 'true',
      return_url: 'https://shop.bilten.dev/orders/o_1/3ds',
      'metadata[orderId]': 'o_1',
    });

    // stripe-mock validated every parameter against Stripe's OpenAPI spec (it answers 400 otherwise) and
    // answered from its fixture: it reflects amount and currency, but keeps the fixture's status, next action
    // and empty metadata, since it does not simulate payments.
    expect(intent.id).toMatch(/^pi_/);
    expect(intent.amountMinor).toBe(5000);
    expect(intent.currency).toBe('USD');
    expect(intent.clientSecret).toMatch(/^pi_\w+_secret_\w+$/);
    expect(intent.status).toBe('requires_payment_method');
    expect(intent.actionUrl).toBeNull();
    // The fixture's last_payment_error has no code, so nothing reads as a decline.
    expect(intent.declineCode).toBeNull();
    expect(intent.orderId).toBeNull();
  });

  it('when Stripe fails transiently, then the SDK retries with the same idempotency key', async () => {
    let failed = false;
    proxy.overrides.push((req) => {
      if (failed || req.path !== '/v1/payment_intents') return undefined;
      failed = true;
      return { status: 503, body: { error: { type: 'api_error', message: 'Service unavailable' } } };
    });

    const intent = await payments.charge({
      orderId: 'o_2',
      amountMinor: 1200,
      currency: 'eur',
      paymentMethodId: 'pm_card_visa',
      idempotencyKey: 'order:o_2:charge',
      returnUrl: 'https://shop.bilten.dev/orders/o_2/3ds',
    });

    expect(proxy.requests.map((r) => r.headers['idempotency-key'])).toEqual([
      'order:o_2:charge',
      'order:o_2:charge',
    ]);
    expect(proxy.requests.map((r) => r.body)).toEqual([proxy.requests[0]?.body, proxy.requests[0]?.body]);
    expect([intent.amountMinor, intent.currency]).toEqual([1200, 'EUR']);
  });

  it('when the card is declined, then the intent comes back requires_payment_method with its decline code', async () => {
    const fixture = await fixtureIntent('pi_3Declined');
    proxy.overrides.push((req) => {
      if (req.path !== '/v1/payment_intents' || form(req).payment_method !== 'pm_card_chargeDeclined')
        return undefined;
      // What Stripe answers for a declined confirmation: 402, the error, and the intent it left behind.
      return {
        status: 402,
        body: {
          error: {
            type: 'card_error',
            code: 'card_declined',
            decline_code: 'generic_decline',
            message: 'Your card was declined.',
            doc_url: 'https://stripe.com/docs/error-codes/card-declined',
            charge: 'ch_3Declined',
            payment_intent: {
              ...fixture,
              amount: 5000,
              currency: 'usd',
              status: 'requires_payment_method',
              metadata: { orderId: 'o_3' },
              next_action: null,
              last_payment_error: {
                type: 'card_error',
                code: 'card_declined',
                decline_code: 'generic_decline',
                message: 'Your card was declined.',
              },
            },
          },
        },
      };
    });

    const intent = await payments.charge({
      orderId: 'o_3',
      amountMinor: 5000,
      currency: 'USD',
      paymentMethodId: 'pm_card_chargeDeclined',
      idempotencyKey: 'order:o_3:charge',
      returnUrl: 'https://shop.bilten.dev/orders/o_3/3ds',
    });

    expect(proxy.requests).toHaveLength(1);
    expect(intent).toEqual({
      id: 'pi_3Declined',
      status: 'requires_payment_method',
      amountMinor: 5000,
      currency: 'USD',
      clientSecret: fixture.client_secret,
      actionUrl: null,
      declineCode: 'generic_decline',
      orderId: 'o_3',
    });
  });

  it('when the card needs 3-D Secure, then the intent comes back requires_action with the redirect URL', async () => {
    const fixture = await fixtureIntent('pi_3ds');
    proxy.overrides.push((req) =>
      req.path === '/v1/payment_intents'
        ? {
            status: 200,
            body: {
              ...fixture,
              status: 'requires_action',
              metadata: { orderId: 'o_4' },
              last_payment_error: null,
              next_action: {
                type: 'redirect_to_url',
                redirect_to_url: {
                  url: 'https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3ds',
                  return_url: 'https://shop.bilten.dev/orders/o_4/3ds',
                },
              },
            },
          }
        : undefined,
    );

    const intent = await payments.charge({
      orderId: 'o_4',
      amountMinor: 5000,
      currency: 'USD',
      paymentMethodId: 'pm_card_threeDSecure2Required',
      idempotencyKey: 'order:o_4:charge',
      returnUrl: 'https://shop.bilten.dev/orders/o_4/3ds',
    });

    expect(intent.status).toBe('requires_action');
    expect(intent.actionUrl).toBe(
      'https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1&payment_intent=pi_3ds',
    );
    expect(intent.declineCode).toBeNull();
    expect(intent.orderId).toBe('o_4');
  });

  it('when an intent is retrieved, then it is fetched by id without an idempotency key', async () => {
    const intent = await payments.retrieve('pi_123abc');

    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/payment_intents/pi_123abc']);
    expect(proxy.requests[0]?.headers['idempotency-key']).toBeUndefined();
    // stripe-mock reflects the id from the path.
    expect(intent.id).toBe('pi_123abc');
    expect(intent.currency).toBe('USD');
  });

  it('when an intent is cancelled, then the cancel is posted under the idempotency key', async () => {
    const intent = await payments.cancel('pi_123abc', 'order:o_5:cancel');

    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/payment_intents/pi_123abc/cancel',
    ]);
    expect(proxy.requests[0]?.headers['idempotency-key']).toBe('order:o_5:cancel');
    expect(proxy.requests[0]?.body).toBe('');
    expect(intent.id).toBe('pi_123abc');
    // stripe-mock is stateless: its answer keeps the fixture status instead of 'canceled'.
    expect(intent.status).toBe('requires_payment_method');
  });

  it('when the intent was already canceled, then Stripe refuses and the canceled intent is returned unchanged', async () => {
    const fixture = await fixtureIntent('pi_gone');
    const canceled = {
      ...fixture,
      status: 'canceled',
      cancellation_reason: 'abandoned',
      metadata: { orderId: 'o_6' },
    };
    proxy.overrides.push((req) =>
      req.method === 'POST' && req.path === '/v1/payment_intents/pi_gone/cancel'
        ? {
            status: 400,
            body: {
              error: {
                type: 'invalid_request_error',
                code: 'payment_intent_unexpected_state',
                message:
                  'You cannot cancel this PaymentIntent because it has a status of canceled. Only a PaymentIntent ' +
                  'with one of the following statuses may be canceled: requires_payment_method, requires_capture, ' +
                  'requires_confirmation, requires_action, processing.',
                doc_url: 'https://stripe.com/docs/error-codes/payment-intent-unexpected-state',
                payment_intent: canceled,
              },
            },
          }
        : undefined,
    );
    proxy.overrides.push((req) =>
      req.method === 'GET' && req.path === '/v1/payment_intents/pi_gone'
        ? { status: 200, body: canceled }
        : undefined,
    );

    const intent = await payments.cancel('pi_gone', 'order:o_6:cancel');

    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/payment_intents/pi_gone/cancel',
      'GET /v1/payment_intents/pi_gone',
    ]);
    expect(intent).toMatchObject({ id: 'pi_gone', status: 'canceled', orderId: 'o_6' });
  });

  it('when the intent does not exist, then cancel fails with Stripe’s not-found error', async () => {
    proxy.overrides.push(() => ({
      status: 404,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'intent',
          message: "No such payment_intent: 'pi_missing'",
        },
      },
    }));

    await expect(payments.cancel('pi_missing', 'order:o_7:cancel')).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );
    expect(proxy.requests).toHaveLength(1);
  });

  it('when part of a payment is refunded, then the refund names the intent, amount and key', async () => {
    const refund = await payments.refund({
      intentId: 'pi_123abc',
      amountMinor: 2500,
      idempotencyKey: 'refund:r_1:provider',
      reason: 'Event moved to another date',
    });

    const [sent] = proxy.requests;
    expect(`${sent?.method} ${sent?.path}`).toBe('POST /v1/refunds');
    expect(sent?.headers['idempotency-key']).toBe('refund:r_1:provider');
    expect(form(sent)).toEqual({
      payment_intent: 'pi_123abc',
      amount: '2500',
      'metadata[reason]': 'Event moved to another date',
    });
    // stripe-mock reflects the amount; status and currency come from its fixture.
    expect(refund).toMatchObject({
      id: expect.stringMatching(/^re_/) as unknown,
      status: 'succeeded',
      amountMinor: 2500,
      currency: 'USD',
      failureReason: null,
    });
  });

  it('when a payment is refunded in full for a Stripe reason, then no amount is sent and the reason is Stripe’s', async () => {
    await payments.refund({
      intentId: 'pi_123abc',
      idempotencyKey: 'refund:r_2:provider',
      reason: 'requested_by_customer',
    });

    expect(form(proxy.requests[0])).toEqual({
      payment_intent: 'pi_123abc',
      reason: 'requested_by_customer',
      'metadata[reason]': 'requested_by_customer',
    });
  });

  it('when a refund is looked up, then it is fetched by id from Stripe and mapped (stripe-mock)', async () => {
    const refund = await payments.retrieveRefund('re_123abc');
    expect(`${proxy.requests[0]?.method} ${proxy.requests[0]?.path}`).toBe('GET /v1/refunds/re_123abc');
    expect(refund).toMatchObject({
      id: expect.stringMatching(/^re_/) as unknown,
      currency: 'USD',
      failureReason: null,
    });
  });

  it('when Stripe answers a refund pending and later fails it (recorded payloads), then the adapter reports pending, verifies the refund.failed webhook and then reports failed with the reason', async () => {
    const pending = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'stripe-refund-pending.json'), 'utf8'));
    const failedEvent = readFileSync(join(__dirname, 'fixtures', 'stripe-event-refund-failed.json'), 'utf8');
    let current: unknown = pending;
    proxy.overrides.push((req) => {
      if (req.path.startsWith('/v1/refunds')) return { status: 200, body: current };
      return undefined;
    });
    const created = await payments.refund({
      intentId: 'pi_3QpRefundFail0001',
      amountMinor: 2500,
      idempotencyKey: 'refund:ref_recorded',
      reason: 'event cancelled',
    });
    expect(created).toEqual({
      id: 're_3QpRefundFail0001',
      status: 'pending',
      amountMinor: 2500,
      currency: 'USD',
      intentId: 'pi_3QpRefundFail0001',
      failureReason: null,
    });
    expect(proxy.requests[0]?.headers['idempotency-key']).toBe('refund:ref_recorded');

    const event = payments.verifyWebhook(failedEvent, signStripePayload(failedEvent, WEBHOOK_SECRET));
    expect(event.type).toBe('refund.failed');
    current = event.data.object as unknown as Record<string, unknown>;
    const after = await payments.retrieveRefund('re_3QpRefundFail0001');
    expect(after).toMatchObject({ status: 'failed', failureReason: 'expired_or_canceled_card' });
  });

  it('when a webhook is signed with the configured secret, then the adapter verifies it', () => {
    const body = JSON.stringify({
      id: 'evt_1',
      object: 'event',
      type: 'payment_intent.succeeded',
      data: { object: {} },
    });
    expect(payments.verifyWebhook(body, signStripePayload(body, WEBHOOK_SECRET)).id).toBe('evt_1');
    const unconfigured: CardPayments & { verifyWebhook: StripeCardPayments['verifyWebhook'] } =
      createStripeCardPayments({
        secretKey: SECRET_KEY,
        apiBase: proxy.url,
      });
    expect(() => unconfigured.verifyWebhook(body, signStripePayload(body, WEBHOOK_SECRET))).toThrow(
      /webhookSecret/,
    );
  });
});

describe('Stripe decline mapping', () => {
  const attempt = { orderId: 'o_9', amountMinor: 4200, currency: 'gbp' };

  it('when the SDK raises a card error carrying the intent, then that intent is returned with the decline code', () => {
    const error = new Stripe.errors.StripeCardError({
      type: 'card_error',
      code: 'card_declined',
      decline_code: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
      statusCode: 402,
      payment_intent: {
        id: 'pi_raw',
        object: 'payment_intent',
        amount: 4200,
        currency: 'gbp',
        status: 'requires_payment_method',
        client_secret: 'pi_raw_secret_x',
        metadata: { orderId: 'o_9' },
        next_action: null,
        last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds' },
      } as unknown as Stripe.PaymentIntent,
    });
    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);

    expect(cardIntentFromDecline(error, attempt)).toEqual({
      id: 'pi_raw',
      status: 'requires_payment_method',
      amountMinor: 4200,
      currency: 'GBP',
      clientSecret: 'pi_raw_secret_x',
      actionUrl: null,
      declineCode: 'insufficient_funds',
      orderId: 'o_9',
    });
  });

  it('when the card error carries no intent, then one is described from the attempt and the error', () => {
    const error = new Stripe.errors.StripeCardError({
      type: 'card_error',
      code: 'expired_card',
      message: 'Your card has expired.',
      statusCode: 402,
    });

    expect(cardIntentFromDecline(error, attempt)).toEqual({
      id: '',
      status: 'requires_payment_method',
      amountMinor: 4200,
      currency: 'GBP',
      clientSecret: null,
      actionUrl: null,
      declineCode: 'expired_card',
      orderId: 'o_9',
    });
  });

  it('when the card error has neither decline nor error code, then it reads generic_decline', () => {
    const error = new Stripe.errors.StripeCardError({ type: 'card_error', message: 'Declined', statusCode: 402 });
    expect(cardIntentFromDecline(error, attempt).declineCode).toBe('generic_decline');
  });

  it('when an intent that once failed later succeeded, then it does not read as declined', () => {
    const intent = toCardIntent({
      id: 'pi_ok',
      amount: 100,
      currency: 'usd',
      status: 'succeeded',
      client_secret: null,
      metadata: {},
      next_action: null,
      last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' },
    } as unknown as Stripe.PaymentIntent);
    expect(intent.declineCode).toBeNull();
    expect(intent.orderId).toBeNull();
  });

  it('when 3-D Secure failed, then the intent reads declined with the authentication failure code', () => {
    const intent = toCardIntent({
      id: 'pi_3ds_failed',
      amount: 100,
      currency: 'usd',
      status: 'requires_payment_method',
      client_secret: 'pi_3ds_failed_secret_y',
      metadata: { orderId: 'o_10' },
      next_action: null,
      last_payment_error: { type: 'invalid_request_error', code: 'payment_intent_authentication_failure' },
    } as unknown as Stripe.PaymentIntent);
    expect(intent.declineCode).toBe('payment_intent_authentication_failure');
  });
});

describe('Stripe apiBase', () => {
  it('when apiBase names a local stripe-mock, then the SDK gets its protocol, host and port', () => {
    expect(stripeHostOptions('http://127.0.0.1:12111')).toEqual({
      protocol: 'http',
      host: '127.0.0.1',
      port: 12111,
    });
    expect(stripeHostOptions('https://api.stripe.com')).toEqual({
      protocol: 'https',
      host: 'api.stripe.com',
      port: 443,
    });
    expect(stripeHostOptions('http://[::1]:8080/')).toEqual({ protocol: 'http', host: '::1', port: 8080 });
  });

  it('when apiBase has a path or another scheme, then it is refused', () => {
    expect(() => stripeHostOptions('http://localhost:12111/stripe')).toThrow(RangeError);
    expect(() => stripeHostOptions('ftp://localhost')).toThrow(RangeError);
    expect(() => stripeHostOptions('not a url')).toThrow();
  });
});
