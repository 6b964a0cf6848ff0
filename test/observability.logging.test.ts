import { Writable } from 'node:stream';
import { checkoutWorkflowId } from '../domain';
import { createLogger } from '../observability/logger';
import { temporalLogger } from '../observability/temporal';
import { createCatalogue } from './support/env';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';

/** A logger whose JSON lines are kept in memory, as a log collector would receive them. */
function capturingLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, parsed };
}

const SECRETS = {
  bearer: 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJlLXZhbHVl',
  stripeSignature: 't=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd',
  cardNumber: '4242424242424242',
  cvc: '314',
  email: 'leak.me@example.com',
  phone: '+15555550199',
  ticketCode: 'K7Q2-9XMB-P4RT-ZW8N-3HJC-V6DA-YE5F',
  qrToken: 'bt1.eyJ0aWQiOiJ0a3RfMSJ9.c2lnbmVkLXRpY2tldA',
  stripeKey: 'sk_live_51SecretKeyThatMustNotLeak',
};

describe('log redaction', () => {
  test('when a line carries a secret, card data, an email, a phone, a ticket code and a QR token, then none appears', () => {
    const { logger, lines } = capturingLogger();
    logger.info(
      {
        orderId: 'ord_visible',
        req: {
          headers: { authorization: `Bearer ${SECRETS.bearer}`, 'stripe-signature': SECRETS.stripeSignature },
        },
        body: {
          payment: { card: { number: SECRETS.cardNumber, cvc: SECRETS.cvc }, cvc: SECRETS.cvc },
          buyer: { email: SECRETS.email, phone: SECRETS.phone },
          code: SECRETS.ticketCode,
        },
        ticket: { ticketId: 'tkt_visible', code: SECRETS.ticketCode, qrToken: SECRETS.qrToken },
        tickets: [{ code: SECRETS.ticketCode, qr: SECRETS.qrToken }],
        contact: { email: SECRETS.email },
        config: { STRIPE_SECRET_KEY: SECRETS.stripeKey },
        email: SECRETS.email,
      },
      'checkout placed',
    );
    const text = lines.join('\n');
    for (const [what, value] of Object.entries(SECRETS))
      expect({ what, leaked: text.includes(value) }).toEqual({ what, leaked: false });
    expect(text).toContain('ord_visible');
    expect(text).toContain('tkt_visible');
    expect(text).toContain('[redacted]');
  });
});

describe('log redaction, wherever the secret sits', () => {
  test("when a child logger is bound to a secret, or one sits five objects deep or in an error's fields, then none appears", () => {
    const { logger, lines, parsed } = capturingLogger();
    const child = logger.child({ req: { headers: { authorization: `Bearer ${SECRETS.bearer}` } } });
    child.info({ a: { b: { c: { d: { e: { email: SECRETS.email } } } } } }, 'deep');
    const failure = Object.assign(new Error('card declined'), { cardNumber: SECRETS.cardNumber });
    logger.error({ err: failure, orderId: 'ord_visible' }, 'charge failed');
    const text = lines.join('\n');
    for (const value of [SECRETS.bearer, SECRETS.email, SECRETS.cardNumber]) expect(text).not.toContain(value);
    expect(parsed()[1]).toMatchObject({ orderId: 'ord_visible', err: { message: 'card declined' } });
  });

  test("when a line's own field shadows a child's binding that holds a secret, then the secret does not appear", () => {
    const { logger, lines, parsed } = capturingLogger();
    // pino writes the binding and then the field under the same key; a reader keeps the last, the first still leaks.
    logger.child({ buyer: { email: SECRETS.email } }).info({ buyer: { id: 'buyer_visible' } }, 'shadowed');
    logger.child({ ticket: { code: SECRETS.ticketCode } }).info({ ticket: { id: 'tkt_visible' } }, 'shadowed');
    expect(lines.join('\n')).not.toContain(SECRETS.email);
    expect(lines.join('\n')).not.toContain(SECRETS.ticketCode);
    expect(parsed().map((line) => line.buyer ?? line.ticket)).toEqual([
      { id: 'buyer_visible' },
      { id: 'tkt_visible' },
    ]);
  });

  test('when a line holds no sensitive key, then an error code outside a ticket stays as it was', () => {
    const { logger, lines } = capturingLogger();
    logger.info({ orderId: 'ord_1', error: { code: 'E_TIMEOUT' } }, 'error codes outside tickets stay');
    expect(JSON.parse(lines[0]!)).toMatchObject({ orderId: 'ord_1', error: { code: 'E_TIMEOUT' } });
  });
});

describe('logs of a checkout on the platform', () => {
  const api = capturingLogger();
  const sdk = capturingLogger();
  let platform: TestPlatform;
  let catalogue: Awaited<ReturnType<typeof createCatalogue>>;

  beforeAll(async () => {
    platform = await startTestPlatform({}, { logger: api.logger, temporalLogger: temporalLogger(sdk.logger) });
    catalogue = await createCatalogue(platform.db, { capacity: 10, priceMinor: 2500 });
  }, 120_000);
  afterAll(() => platform?.stop());

  test('when a buyer checks out with a token, an email and a phone, then the request line has orderId and none of them', async () => {
    const res = await buyAs(platform, {
      eventId: catalogue.eventId,
      ticketTypeId: catalogue.ticketTypeId,
      quantity: 1,
      buyer: { email: SECRETS.email, phone: SECRETS.phone },
      headers: { 'Stripe-Signature': SECRETS.stripeSignature },
    });
    const { token } = res;
    expect(res.status).toBe(201);
    const orderId: string = res.body.orderId;
    await platform.client.workflow.getHandle(checkoutWorkflowId(orderId)).result();
    await call(platform, 'GET', `/v1/checkouts/${orderId}`, { token });

    const requestLines = api.parsed().filter((line) => line.orderId === orderId);
    // The checkout, the sandbox's payment webhook about it, and the buyer's read.
    expect(
      requestLines.map((line) => `${line.route} ${(line.res as { statusCode: number }).statusCode}`).sort(),
    ).toEqual(['/v1/checkouts 201', '/v1/checkouts/:orderId 200', '/webhooks/stripe 200']);
    const text = api.lines.join('\n') + sdk.lines.join('\n');
    const codes: string[] = res.body.tickets.map((t: { code: string }) => t.code);
    const qrTokens: string[] = res.body.tickets.map((t: { qrToken: string }) => t.qrToken);
    for (const value of [token, SECRETS.stripeSignature, SECRETS.email, SECRETS.phone, ...codes, ...qrTokens])
      expect(text).not.toContain(value);
  });

  test('when a checkout runs, then its workflow and activity log lines carry workflowId, runId and orderId', async () => {
    const res = await buyAs(platform, {
      eventId: catalogue.eventId,
      ticketTypeId: catalogue.ticketTypeId,
      quantity: 1,
    });
    const orderId: string = res.body.orderId;
    const handle = platform.client.workflow.getHandle(checkoutWorkflowId(orderId));
    await handle.result();
    const { runId } = await handle.describe();
    const lines = sdk.parsed().filter((line) => line.workflowId === checkoutWorkflowId(orderId));
    // Both the workflow's own lines and its activities' lines (the charge, the issuance).
    expect(lines.some((line) => line.activityType === undefined)).toBe(true);
    expect(lines.map((line) => line.activityType)).toEqual(expect.arrayContaining(['chargeCard']));
    for (const line of lines)
      expect(line).toMatchObject({ workflowId: checkoutWorkflowId(orderId), runId, orderId });
  });
});
