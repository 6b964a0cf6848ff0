import { connect } from 'node:net';
import jwt from 'jsonwebtoken';
import type { Payload } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { ConfigError, loadConfig } from '../config';
import { configuredPayloadCodec } from '../temporal/payload-codec';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: '60' });
}, 120_000);
afterAll(() => platform?.stop());

const checkout = (token: string, body: unknown, key = uid('key')) =>
  call(platform, 'POST', '/v1/checkouts', { token, body, headers: { 'Idempotency-Key': key } });

/** Every payload in a history, found by shape (metadata plus bytes). */
function payloadsIn(value: unknown, found: Payload[] = []): Payload[] {
  if (!value || typeof value !== 'object') return found;
  const v = value as Record<string, unknown>;
  if (v.data instanceof Uint8Array && v.metadata && typeof v.metadata === 'object') found.push(v as Payload);
  else for (const child of Object.values(v)) payloadsIn(child, found);
  return found;
}

describe('production configuration', () => {
  test('when NODE_ENV=production has no provider keys and development secrets, then startup fails naming every one', () => {
    let message = '';
    try {
      loadConfig({ NODE_ENV: 'production' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    for (const key of [
      'STRIPE_SECRET_KEY',
      'COINBASE_API_KEY',
      'SENDGRID_API_KEY',
      'TWILIO_ACCOUNT_SID',
      'TWILIO_AUTH_TOKEN',
      'AUTH_JWT_SECRET',
      'STRIPE_WEBHOOK_SECRET',
      'COINBASE_WEBHOOK_SECRET',
      'PAYLOAD_ENCRYPTION_KEYS',
      'TICKET_SIGNING_KEY',
    ])
      expect(message).toContain(key);
  });
});

describe('tokens', () => {
  test('when a token has no exp, the wrong iss or aud, or lives longer than allowed, then 401', async () => {
    const { config } = platform;
    const claims = { sub: uid('buyer'), role: 'buyer' };
    const sign = (options: jwt.SignOptions) =>
      jwt.sign(claims, config.AUTH_JWT_SECRET, { algorithm: 'HS256', ...options });
    const good = { issuer: config.AUTH_JWT_ISSUER, audience: config.AUTH_JWT_AUDIENCE, expiresIn: 600 };
    const noExp = sign({ issuer: good.issuer, audience: good.audience });
    const badIss = sign({ ...good, issuer: 'someone-else' });
    const badAud = sign({ ...good, audience: 'another-api' });
    const tooLong = sign({ ...good, expiresIn: config.AUTH_JWT_MAX_TTL_SECONDS + 3600 });
    for (const token of [noExp, badIss, badAud, tooLong]) {
      const res = await call(platform, 'GET', '/v1/events', { token });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/problem\+json/);
    }
    expect((await call(platform, 'GET', '/v1/events', { token: sign(good) })).status).toBe(200);
  });
});

describe('the dev outbox and the codec endpoint', () => {
  test('when /dev/outbox is read without a token or by a buyer, then 401 or 403; support reads it', async () => {
    expect((await call(platform, 'GET', '/dev/outbox?format=json')).status).toBe(401);
    const buyer = platform.token({ sub: uid('buyer'), role: 'buyer' });
    expect((await call(platform, 'GET', '/dev/outbox?format=json', { token: buyer })).status).toBe(403);
    const support = platform.token({ sub: uid('support'), role: 'support' });
    expect((await call(platform, 'GET', '/dev/outbox?format=json', { token: support })).status).toBe(200);
  });

  test('when a buyer calls the codec, then 403; support gets encrypted payloads decoded', async () => {
    const codec = configuredPayloadCodec(platform.config);
    const [sealed] = await codec.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hi"') },
    ]);
    const body = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(sealed!.data!).toString('base64'),
        },
      ],
    };
    const buyer = platform.token({ sub: uid('buyer'), role: 'buyer' });
    expect((await call(platform, 'POST', '/codec/decode', { token: buyer, body })).status).toBe(403);
    const support = platform.token({ sub: uid('support'), role: 'support' });
    const res = await call(platform, 'POST', '/codec/decode', { token: support, body });
    expect(res.status).toBe(200);
    expect(Buffer.from(res.body.payloads[0].data, 'base64').toString()).toBe('"hi"');
  });

  test('when support queries a workflow through the codec without arguments, then encode answers no payloads', async () => {
    // `temporal workflow query --type status --codec-endpoint <api>/codec` encodes its empty arguments as `{}`.
    const support = platform.token({ sub: uid('support'), role: 'support' });
    const res = await call(platform, 'POST', '/codec/encode', { token: support, body: {} });
    expect([res.status, res.body]).toEqual([200, { payloads: [] }]);
    expect(
      (await call(platform, 'POST', '/codec/encode', { token: support, body: { payloads: 'x' } })).status,
    ).toBe(422);
  });
});

describe('limits', () => {
  test('when one buyer sends 200 rapid checkouts, then 429s with Retry-After and nothing is held beyond the limits', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 1000, maxPerOrder: 10 });
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const body = {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'crypto' },
    };
    const answers = await Promise.all(Array.from({ length: 200 }, () => checkout(token, body)));
    const count = (status: number) => answers.filter((a) => a.status === status).length;
    const limited = answers.filter((a) => a.status === 429);
    const held = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');
    console.log(
      `200 rapid checkouts from one buyer: ${count(201)} x 201, ${count(409)} x 409, ${count(429)} x 429; seats held ${held.held}`,
    );
    expect(count(429)).toBeGreaterThanOrEqual(200 - platform.config.RATE_LIMIT_WRITES_PER_SUBJECT_PER_MINUTE);
    for (const a of limited) {
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(a.headers.get('content-type')).toMatch(/problem\+json/);
    }
    expect(held.held).toBeLessThanOrEqual(platform.config.MAX_OPEN_HOLDS_PER_BUYER);
    expect(count(201)).toBeLessThanOrEqual(platform.config.MAX_OPEN_HOLDS_PER_BUYER);
  }, 120_000);

  test('when a buyer would own more tickets of an event than the per-buyer cap across orders, then 409 limit-exceeded and nothing is held', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 100, maxPerOrder: 10 });
    await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).update({ max_per_buyer: 3 });
    const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
    const body = (quantity: number) => ({
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity }],
      payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    });
    expect((await checkout(token, body(2))).status).toBe(201);
    const over = await checkout(token, body(2));
    expect(over.status).toBe(409);
    expect(over.body.type).toMatch(/\/limit-exceeded$/);
    const type = await platform.db('ticket_types').where({ id: catalogue.ticketTypeId }).first('held', 'sold');
    expect(type).toMatchObject({ held: 0, sold: 2 });
  }, 60_000);
});

describe('workflow histories', () => {
  test('when real checkouts have run, then no buyer email, phone, ticket code, QR token or client secret is in any history, raw or decoded', async () => {
    const catalogue = await createCatalogue(platform.db, { capacity: 50 });
    const email = `${uid('secret')}@example.com`;
    const phone = `+1555${String(Date.now()).slice(-7)}`;
    const orders: string[] = [];
    for (const payment of [
      { method: 'card', paymentMethodId: 'pm_card_visa' },
      { method: 'card', paymentMethodId: 'pm_card_threeDSecure2Required' },
      { method: 'crypto' },
    ]) {
      const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
      const res = await checkout(token, {
        eventId: catalogue.eventId,
        items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 2 }],
        payment,
        buyer: { email, phone },
      });
      expect(res.status).toBe(201);
      orders.push(res.body.orderId);
    }
    // Let the paid order's confirmation run, so it is in the checkout's history too (a local activity since
    // checkout-inline-confirmation-v1; before it, a child workflow with a history of its own).
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const sent = await platform.db('notifications').where({ order_id: orders[0] }).whereIn('status', ['SENT']);
      if (sent.length >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const tickets = await platform.db('tickets').whereIn('order_id', orders).select('code', 'qr_payload');
    const payments = await platform.db('payments').whereIn('order_id', orders).select('client_secret');
    const secrets = [
      email,
      phone,
      ...tickets.flatMap((t) => [t.code, t.qr_payload]),
      ...payments.map((p) => p.client_secret),
    ].filter(Boolean) as string[];
    expect(tickets.length).toBeGreaterThan(0);
    expect(secrets.length).toBeGreaterThan(4);

    const codec = configuredPayloadCodec(platform.config);
    let histories = 0;
    for (const orderId of orders) {
      for await (const wf of platform.client.workflow.list({ query: `OrderId="${orderId}"` })) {
        const history = await platform.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
        histories++;
        const raw = [
          historyToJSON(history),
          ...payloadsIn(history).map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8')),
        ].join('\n');
        const decoded = (await codec.decode(payloadsIn(history)))
          .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'))
          .join('\n');
        for (const secret of secrets) {
          expect(raw).not.toContain(secret);
          expect(decoded).not.toContain(secret);
        }
      }
    }
    expect(histories).toBeGreaterThanOrEqual(orders.length);
  }, 120_000);
});

describe('what buyers are told about their order', () => {
  const support = () => platform.token({ sub: uid('support'), role: 'support' });
  const place = async (paymentMethodId: string) => {
    const catalogue = await createCatalogue(platform.db, { capacity: 10 });
    const sub = uid('buyer');
    const token = platform.token({ sub, role: 'buyer' });
    const res = await checkout(token, {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId },
    });
    expect(res.status).toBe(201);
    return { token, orderId: res.body.orderId as string, placed: res.body };
  };
  /** Every reason in a view: the order's and each history entry's. */
  const reasons = (view: { reason?: string; history: Array<{ reason?: string }> }) => [
    view.reason,
    ...view.history.map((h) => h.reason),
  ];

  test("when a card is declined, then the buyer sees PAYMENT_DECLINED and none of the provider's text; support sees the detail", async () => {
    const { token, orderId, placed } = await place('pm_card_chargeDeclined');
    const asBuyer = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;
    const asSupport = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token: support() })).body;

    for (const view of [placed, asBuyer]) {
      expect(view).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_DECLINED' });
      expect(view).not.toHaveProperty('reasonDetail');
      expect(reasons(view).filter(Boolean)).toEqual(
        reasons(view).filter((r: unknown) => r === 'PAYMENT_DECLINED'),
      );
    }
    expect(asSupport).toMatchObject({ status: 'FAILED', reason: expect.stringMatching(/^PAYMENT_DECLINED/) });
    const detail = JSON.stringify(asSupport).replace(JSON.stringify(asBuyer), '');
    expect(detail).toMatch(/declin/i);
    expect(JSON.stringify(asBuyer)).not.toMatch(/generic_decline|card_declined|Stripe|sandbox/i);
  });

  test('when support cancels an unpaid order, then the buyer sees CANCELLED_BY_SUPPORT and not who cancelled it', async () => {
    const { token, orderId } = await place('pm_card_threeDSecure2Required');
    const staff = uid('support');
    const cancelled = await call(platform, 'POST', `/v1/checkouts/${orderId}/cancel`, {
      token: platform.token({ sub: staff, role: 'support' }),
    });
    expect(cancelled.status).toBe(200);

    const asBuyer = (await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token })).body;

    expect(asBuyer).toMatchObject({ status: 'CANCELLED', reason: 'CANCELLED_BY_SUPPORT' });
    expect(asBuyer.history.at(-1)).toMatchObject({ status: 'CANCELLED', reason: 'CANCELLED_BY_SUPPORT' });
    expect(JSON.stringify(asBuyer)).not.toContain(staff);
    expect(asBuyer).not.toHaveProperty('reasonDetail');
  });
});

describe('malformed HTTP', () => {
  /** Sends raw bytes to the API and reads whatever comes back until the server closes the connection. */
  const raw = (bytes: string) =>
    new Promise<{ status: number; contentType: string; body: string }>((resolve) => {
      const { hostname, port } = new URL(platform.baseUrl);
      const socket = connect(Number(port), hostname, () => socket.write(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      // The server may close while the rest is still being written (EPIPE): what it answered is what counts.
      socket.on('error', () => undefined);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        resolve({
          status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
          contentType: /content-type: *([^\r\n]+)/i.exec(head)?.[1] ?? '',
          body,
        });
      });
    });

  test('when the request line is not HTTP, then 400 problem+json malformed-http', async () => {
    const answer = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(answer.status).toBe(400);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({
      status: 400,
      type: expect.stringMatching(/\/malformed-http$/),
    });
  });

  test('when the headers are larger than Node accepts, then 431 problem+json headers-too-large', async () => {
    const answer = await raw(`GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`);
    expect(answer.status).toBe(431);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(answer.body)).toMatchObject({
      status: 431,
      type: expect.stringMatching(/\/headers-too-large$/),
    });
  });
});
