import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../api/app';
import { issueToken, type Principal } from '../api/auth';
import { createRateLimits } from '../api/rate-limits';
import { loadConfig } from '../config';
import { createPaymentProviders } from '../providers';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';

// Who may do what, endpoint by endpoint. The table below is the policy; every cell is asserted.
//
// The rules it follows (../shared/API.md, "Authentication"):
// - No token: 401. A token that does not verify is never downgraded to anonymous: 401 even on public reads.
// - A role the endpoint does not serve at all: 403, decided before anything is looked up, so it reveals nothing.
// - A role the endpoint serves, on someone else's object:
//   - 404 when the caller may not read the object (another buyer's order, whether reading or cancelling it,
//     answers exactly as an order that does not exist);
//   - 403 when the object is public but not theirs to change (another organizer's event).
// - Door tokens (`staff`, and `support` with an `event` claim) scan their event's tickets and read its scan pack
//   and attendance, nothing else: an order answers them as one that does not exist. Scanning another event's
//   ticket answers 200 UNKNOWN (as a forged ticket does), and changes nothing.
// - The sandbox hosted pages stand in for Stripe's 3-D Secure page and Coinbase's checkout page, which a buyer's
//   browser opens without our token: outside production they answer anyone, and they sit before authentication,
//   so even a forged token is not looked at. In production they are never mounted: 404 (a forged token: 401, as
//   on every route behind authentication), and a press on a real order's charge pays nothing.
// - The dev outbox holds every buyer's contact details and ticket codes: support and admin only outside
//   production (door tokens are staff there), and not mounted at all in production.
// Rows marked (production) are asked of the same app built from a production configuration (real provider keys,
// no development secrets) over the same database and Temporal.

type Role =
  | 'anonymous'
  | 'forged'
  | 'buyer'
  | 'otherBuyer'
  | 'organizer'
  | 'otherOrganizer'
  | 'support'
  | 'admin'
  | 'staff'
  | 'otherStaff'
  | 'doorSupport';
const ROLES: Role[] = [
  'anonymous',
  'forged',
  'buyer',
  'otherBuyer',
  'organizer',
  'otherOrganizer',
  'support',
  'admin',
  'staff',
  'otherStaff',
  'doorSupport',
];

type Endpoint =
  | 'GET /v1/events'
  | 'GET /v1/events/:eventId'
  | 'POST /v1/events'
  | 'POST /v1/events/:eventId/ticket-types'
  | 'POST /v1/checkouts'
  | 'GET /v1/checkouts/:orderId'
  | 'POST /v1/checkouts/:orderId/cancel'
  | 'POST /v1/scans'
  | 'GET /v1/events/:eventId/scan-pack'
  | 'POST /v1/scans/sync'
  | 'GET /v1/events/:eventId/attendance'
  | 'POST /v1/orders/:orderId/refunds'
  | 'GET /v1/refunds/:refundId'
  | 'GET /v1/organizers/:organizerId/balance'
  | 'GET /v1/organizers/:organizerId/finance'
  | 'GET /sandbox/stripe/3ds/:intentId'
  | 'POST /sandbox/coinbase/charges/:code/complete'
  | 'GET /dev/outbox'
  | 'GET /sandbox/stripe/3ds/:intentId (production)'
  | 'POST /sandbox/coinbase/charges/:code/complete (production)'
  | 'GET /dev/outbox (production)';

// buyer: the buyer who owns the order; organizer: of the organization whose event it is. staff: a staff token of
// that event; otherStaff: of another event; doorSupport: a support token with that event's `event` claim.
// prettier-ignore
const POLICY: Array<[Endpoint, ...number[]]> = [
  //                                        anonymous forged buyer otherBuyer organizer otherOrganizer support admin staff otherStaff doorSupport
  ['GET /v1/events',                          200,      401,   200,  200,       200,      200,           200,    200,  200,  200,       200],
  ['GET /v1/events/:eventId',                 200,      401,   200,  200,       200,      200,           200,    200,  200,  200,       200],
  ['POST /v1/events',                         401,      401,   403,  403,       201,      201,           403,    403,  403,  403,       403],
  ['POST /v1/events/:eventId/ticket-types',   401,      401,   403,  403,       201,      403,           403,    403,  403,  403,       403],
  ['POST /v1/checkouts',                      401,      401,   201,  201,       403,      403,           403,    403,  403,  403,       403],
  ['GET /v1/checkouts/:orderId',              401,      401,   200,  404,       403,      403,           200,    200,  404,  404,       404],
  ['POST /v1/checkouts/:orderId/cancel',      401,      401,   200,  404,       403,      403,           200,    403,  404,  404,       404],
  ['POST /v1/scans',                          401,      401,   403,  403,       403,      403,           200,    200,  200,  200,       200],
  ['GET /v1/events/:eventId/scan-pack',       401,      401,   403,  403,       403,      403,           200,    200,  200,  403,       200],
  ['POST /v1/scans/sync',                     401,      401,   403,  403,       403,      403,           200,    200,  200,  403,       200],
  ['GET /v1/events/:eventId/attendance',      401,      401,   403,  403,       200,      403,           200,    200,  200,  403,       200],
  ['POST /v1/orders/:orderId/refunds',        401,      401,   202,  404,       403,      403,           202,    202,  403,  403,       403],
  ['GET /v1/refunds/:refundId',               401,      401,   200,  404,       403,      403,           200,    200,  403,  403,       403],
  ['GET /v1/organizers/:organizerId/balance', 401,      401,   403,  403,       200,      404,           403,    200,  403,  403,       403],
  ['GET /v1/organizers/:organizerId/finance', 401,      401,   403,  403,       200,      404,           403,    200,  403,  403,       403],
  ['GET /sandbox/stripe/3ds/:intentId',       200,      200,   200,  200,       200,      200,           200,    200,  200,  200,       200],
  ['POST /sandbox/coinbase/charges/:code/complete',
                                              200,      200,   200,  200,       200,      200,           200,    200,  200,  200,       200],
  ['GET /dev/outbox',                         401,      401,   403,  403,       403,      403,           200,    200,  403,  403,       403],
  ['GET /sandbox/stripe/3ds/:intentId (production)',
                                              404,      401,   404,  404,       404,      404,           404,    404,  404,  404,       404],
  ['POST /sandbox/coinbase/charges/:code/complete (production)',
                                              404,      401,   404,  404,       404,      404,           404,    404,  404,  404,       404],
  ['GET /dev/outbox (production)',            404,      401,   404,  404,       404,      404,           404,    404,  404,  404,       404],
];

/** A production configuration: real provider keys (never called here), no development default anywhere. */
const SHARED_JWT_SECRET = 'authz-matrix-secret-shared-by-both-apps';
const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  PORT: '0',
  AUTH_JWT_SECRET: SHARED_JWT_SECRET,
  STRIPE_SECRET_KEY: 'sk_test_authz_matrix',
  STRIPE_WEBHOOK_SECRET: 'whsec_authz_matrix',
  COINBASE_API_KEY: 'coinbase-authz-matrix',
  COINBASE_WEBHOOK_SECRET: 'coinbase-webhook-authz-matrix',
  SENDGRID_API_KEY: 'SG.authz-matrix',
  TWILIO_ACCOUNT_SID: 'ACauthzmatrix',
  TWILIO_AUTH_TOKEN: 'authz-matrix-token',
  PAYLOAD_ENCRYPTION_KEYS: `authz:${Buffer.alloc(32, 7).toString('base64')}`,
  TICKET_SIGNING_KEY: 'a1'.repeat(32),
};

let platform: TestPlatform;
let own: Awaited<ReturnType<typeof createCatalogue>>;
let other: Awaited<ReturnType<typeof createCatalogue>>;
const buyerId = uid('buyer');
let paidOrderId: string;
let packId: string;
/** A refund of one of the owning buyer's orders. */
let refundId: string;
/** A 3-D Secure order still awaiting its challenge, and a crypto order still awaiting payment. */
let threeDsPath: string;
let unpaidCrypto: { orderId: string; path: string };
/** The API as `npm start` builds it with NODE_ENV=production, on its own port. */
let production: { baseUrl: string; server: Server };
const unscanned: Array<{ ticketId: string; code: string }> = [];
const principals = {} as Record<Role, Principal | undefined>;

beforeAll(async () => {
  platform = await startTestPlatform({
    HOLD_TTL_SECONDS: '300',
    MAX_OPEN_HOLDS_PER_BUYER: '20',
    // The owning buyer places an order for every cancel and refund cell.
    MAX_TICKETS_PER_BUYER_PER_EVENT: '1000',
    AUTH_JWT_SECRET: SHARED_JWT_SECRET,
  });
  own = await createCatalogue(platform.db, { capacity: 100, maxPerOrder: 4 });
  other = await createCatalogue(platform.db, { capacity: 100, maxPerOrder: 4 });
  Object.assign(principals, {
    anonymous: undefined,
    forged: { sub: buyerId, role: 'admin' },
    buyer: { sub: buyerId, role: 'buyer' },
    otherBuyer: { sub: uid('buyer'), role: 'buyer' },
    organizer: { sub: uid('staff'), role: 'organizer', org: own.organizerId },
    otherOrganizer: { sub: uid('staff'), role: 'organizer', org: other.organizerId },
    support: { sub: uid('support'), role: 'support' },
    admin: { sub: uid('admin'), role: 'admin' },
    staff: { sub: uid('door'), role: 'staff', event: own.eventId },
    otherStaff: { sub: uid('door'), role: 'staff', event: other.eventId },
    doorSupport: { sub: uid('door'), role: 'support', event: own.eventId },
  } satisfies Record<Role, Principal | undefined>);
  paidOrderId = (await placeOrder('pm_card_visa')).orderId;
  // Tickets for the scan cells: each cell that may scan admits a ticket of its own.
  for (let i = 0; i < 6; i++) unscanned.push(...(await buyTickets(4)));
  const pack = await call(platform, 'GET', `/v1/events/${own.eventId}/scan-pack`, { token: tokenOf('staff') });
  expect(pack.status).toBe(200);
  packId = pack.body.packId;
  refundId = (await requestRefund((await placeOrder('pm_card_visa')).orderId, tokenOf('buyer'))).body.refundId;
  threeDsPath = pathOf((await placeOrder('pm_card_threeDSecure2Required', uid('buyer'))).payment.hostedUrl);
  const crypto = await placeCrypto(uid('buyer'));
  unpaidCrypto = { orderId: crypto.orderId, path: pathOf(crypto.payment.hostedUrl) };

  const config = loadConfig(PRODUCTION_ENV);
  const server: Server = await new Promise((resolve) => {
    const app = createApp({
      config,
      db: platform.db,
      temporal: platform.client,
      payments: createPaymentProviders(config, platform.db),
      rateLimits: createRateLimits(config, platform.db, { keyPrefix: uid('rl') }),
    });
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  production = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}, 120_000);
afterAll(async () => {
  if (production) await new Promise((r) => production.server.close(r));
  await platform?.stop();
});

const pathOf = (url: string) => new URL(url).pathname;
/** The same calls, against the production-configured app. */
const inProduction = () => ({ ...platform, baseUrl: production.baseUrl });

function tokenOf(role: Role): string | undefined {
  const principal = principals[role];
  if (!principal) return undefined;
  // Signed with another secret: right shape, wrong signature.
  if (role === 'forged')
    return issueToken({ ...platform.config, AUTH_JWT_SECRET: 'not-the-platform-secret-at-all' }, principal);
  return platform.token(principal);
}

/** An order of the owning buyer (or of `sub`), paid or (3-D Secure) still awaiting payment. */
async function placeOrder(
  paymentMethodId: string,
  sub?: string,
): Promise<{ orderId: string; status: string; payment: { hostedUrl: string } }> {
  return place({ method: 'card', paymentMethodId }, sub);
}

/** A crypto order of a buyer of its own, awaiting payment on the sandbox's hosted page. */
async function placeCrypto(
  sub: string,
): Promise<{ orderId: string; status: string; payment: { hostedUrl: string } }> {
  const order = await place({ method: 'crypto' }, sub);
  expect(order.status).toBe('AWAITING_PAYMENT');
  return order;
}

const requestRefund = (orderId: string, token: string | undefined) =>
  call(platform, 'POST', `/v1/orders/${orderId}/refunds`, {
    token,
    headers: { 'Idempotency-Key': uid('rk') },
    body: { reason: 'authz matrix' },
  });

async function place(payment: object, sub?: string) {
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token: sub ? platform.token({ sub, role: 'buyer' }) : tokenOf('buyer'),
    headers: { 'Idempotency-Key': uid('key') },
    body: { eventId: own.eventId, items: [{ ticketTypeId: own.ticketTypeId, quantity: 1 }], payment },
  });
  expect(res.status).toBe(201);
  return res.body;
}

/** Paid tickets of the own event, read back as their buyer sees them. */
async function buyTickets(quantity: number): Promise<Array<{ ticketId: string; code: string }>> {
  const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token,
    headers: { 'Idempotency-Key': uid('key') },
    body: {
      eventId: own.eventId,
      items: [{ ticketTypeId: own.ticketTypeId, quantity }],
      payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    },
  });
  expect(placed.body.status).toBe('PAID');
  return (await call(platform, 'GET', `/v1/checkouts/${placed.body.orderId}`, { token })).body.tickets;
}

const ticketStatus = async (ticketId: string) =>
  (await platform.db('tickets').where({ id: ticketId }).first('status'))?.status as string | undefined;

const orderStatus = async (orderId: string) =>
  (await platform.db('orders').where({ id: orderId }).first('status'))?.status as string | undefined;

type Response = Awaited<ReturnType<typeof call>>;

/** Calls one endpoint as one role; `denied` checks that a refused call changed nothing. */
const ENDPOINTS: Record<
  Endpoint,
  (
    token: string | undefined,
  ) => Promise<{ res: Response; denied: () => Promise<void>; unknown?: () => Promise<void> }>
> = {
  'GET /v1/events': async (token) => ({
    res: await call(platform, 'GET', '/v1/events', { token }),
    denied: async () => {},
  }),
  'GET /v1/events/:eventId': async (token) => ({
    res: await call(platform, 'GET', `/v1/events/${own.eventId}`, { token }),
    denied: async () => {},
  }),
  'POST /v1/events': async (token) => {
    const name = uid('event');
    const res = await call(platform, 'POST', '/v1/events', {
      token,
      body: { name, startsAt: '2027-05-01T19:00:00Z' },
    });
    return {
      res,
      denied: async () => expect(await platform.db('events').where({ name })).toHaveLength(0),
    };
  },
  'POST /v1/events/:eventId/ticket-types': async (token) => {
    const name = uid('type');
    const res = await call(platform, 'POST', `/v1/events/${own.eventId}/ticket-types`, {
      token,
      body: { name, priceMinor: 1000, currency: 'USD', capacity: 10 },
    });
    return {
      res,
      denied: async () => expect(await platform.db('ticket_types').where({ name })).toHaveLength(0),
    };
  },
  'POST /v1/checkouts': async (token) => {
    const key = uid('key');
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token,
      headers: { 'Idempotency-Key': key },
      body: {
        eventId: own.eventId,
        items: [{ ticketTypeId: own.ticketTypeId, quantity: 1 }],
        payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
      },
    });
    return {
      res,
      denied: async () => expect(await platform.db('orders').where({ idempotency_key: key })).toHaveLength(0),
    };
  },
  'GET /v1/checkouts/:orderId': async (token) => ({
    res: await call(platform, 'GET', `/v1/checkouts/${paidOrderId}`, { token }),
    denied: async () => {},
  }),
  'POST /v1/checkouts/:orderId/cancel': async (token) => {
    const order = await placeOrder('pm_card_threeDSecure2Required');
    expect(order.status).toBe('AWAITING_PAYMENT');
    const res = await call(platform, 'POST', `/v1/checkouts/${order.orderId}/cancel`, { token });
    return {
      res,
      denied: async () => {
        expect(await orderStatus(order.orderId)).toBe('AWAITING_PAYMENT');
        // Release the hold so the seats go back.
        const tidy = await call(platform, 'POST', `/v1/checkouts/${order.orderId}/cancel`, {
          token: tokenOf('support'),
        });
        expect(tidy.status).toBe(200);
      },
    };
  },
  'POST /v1/scans': async (token) => {
    const ticket = unscanned.pop()!;
    const res = await call(platform, 'POST', '/v1/scans', { token, body: { code: ticket.code } });
    return {
      res,
      denied: async () => expect(await ticketStatus(ticket.ticketId)).toBe('VALID'),
      // Another event's door token is answered as for a forged ticket, and admits nothing.
      unknown: async () => {
        expect(res.body).toEqual({ result: 'UNKNOWN' });
        expect(await ticketStatus(ticket.ticketId)).toBe('VALID');
      },
    };
  },
  'GET /v1/events/:eventId/scan-pack': async (token) => ({
    res: await call(platform, 'GET', `/v1/events/${own.eventId}/scan-pack`, { token }),
    denied: async () => {},
  }),
  'POST /v1/scans/sync': async (token) => {
    const ticket = unscanned.pop()!;
    const scanId = uid('scan');
    const res = await call(platform, 'POST', '/v1/scans/sync', {
      token,
      body: { packId, scans: [{ scanId, code: ticket.code, scannedAt: new Date().toISOString(), gate: 'North' }] },
    });
    return {
      res,
      denied: async () => {
        expect(await platform.db('scans').where({ id: scanId })).toHaveLength(0);
        expect(await ticketStatus(ticket.ticketId)).toBe('VALID');
      },
    };
  },
  'GET /v1/events/:eventId/attendance': async (token) => ({
    res: await call(platform, 'GET', `/v1/events/${own.eventId}/attendance`, { token }),
    denied: async () => {},
  }),
  'POST /v1/orders/:orderId/refunds': async (token) => {
    const order = await placeOrder('pm_card_visa');
    expect(order.status).toBe('PAID');
    const res = await requestRefund(order.orderId, token);
    return {
      res,
      denied: async () => {
        expect(await platform.db('refunds').where({ order_id: order.orderId })).toHaveLength(0);
        expect(await orderStatus(order.orderId)).toBe('PAID');
      },
    };
  },
  'GET /v1/refunds/:refundId': async (token) => ({
    res: await call(platform, 'GET', `/v1/refunds/${refundId}`, { token }),
    denied: async () => {},
  }),
  'GET /v1/organizers/:organizerId/balance': async (token) => ({
    res: await call(platform, 'GET', `/v1/organizers/${own.organizerId}/balance`, { token }),
    denied: async () => {},
  }),
  'GET /v1/organizers/:organizerId/finance': async (token) => ({
    res: await call(platform, 'GET', `/v1/organizers/${own.organizerId}/finance`, { token }),
    denied: async () => {},
  }),
  'GET /sandbox/stripe/3ds/:intentId': async (token) => ({
    res: await call(platform, 'GET', threeDsPath, { token }),
    denied: async () => {},
  }),
  'POST /sandbox/coinbase/charges/:code/complete': async (token) => {
    // Each cell pays a crypto order of its own: in development the sandbox page is the payment.
    const order = await placeCrypto(uid('buyer'));
    const res = await call(platform, 'POST', `${pathOf(order.payment.hostedUrl)}/complete`, {
      token,
      body: { outcome: 'confirmed' },
    });
    return { res, denied: async () => {} };
  },
  'GET /dev/outbox': async (token) => ({
    res: await call(platform, 'GET', '/dev/outbox?format=json', { token }),
    denied: async () => {},
  }),
  'GET /sandbox/stripe/3ds/:intentId (production)': async (token) => ({
    res: await call(inProduction(), 'GET', threeDsPath, { token }),
    denied: async () => {},
  }),
  'POST /sandbox/coinbase/charges/:code/complete (production)': async (token) => {
    const res = await call(inProduction(), 'POST', `${unpaidCrypto.path}/complete`, {
      token,
      body: { outcome: 'confirmed' },
    });
    return {
      res,
      // The press reached nothing: the charge is unpaid and the order still waits for its payment.
      denied: async () => {
        expect(await orderStatus(unpaidCrypto.orderId)).toBe('AWAITING_PAYMENT');
        const charge = await platform
          .db('sandbox_crypto_charges')
          .where({ order_id: unpaidCrypto.orderId })
          .first('timeline');
        expect(charge.timeline.map((t: { status: string }) => t.status)).not.toContain('COMPLETED');
      },
    };
  },
  'GET /dev/outbox (production)': async (token) => ({
    res: await call(inProduction(), 'GET', '/dev/outbox?format=json', { token }),
    denied: async () => {},
  }),
};

const CELLS = POLICY.flatMap(([endpoint, ...statuses]) =>
  ROLES.map((role, i) => ({ endpoint, role, expected: statuses[i]! })),
);

describe('authorization matrix', () => {
  test('when the policy table is read, then it has one status for every role on every endpoint', () => {
    expect(POLICY.map(([endpoint]) => endpoint).sort()).toEqual(Object.keys(ENDPOINTS).sort());
    for (const [, ...statuses] of POLICY) expect(statuses).toHaveLength(ROLES.length);
  });

  test.each(CELLS)('when $role calls $endpoint, then $expected', async ({ endpoint, role, expected }) => {
    const { res, denied, unknown } = await ENDPOINTS[endpoint](tokenOf(role));
    expect({ role, endpoint, status: res.status }).toEqual({ role, endpoint, status: expected });
    if (expected >= 400) {
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status: expected, type: expect.stringMatching(/^https:\/\//) });
      await denied();
    }
    if (endpoint === 'POST /v1/scans' && expected === 200) {
      if (role === 'otherStaff') await unknown!();
      else expect(res.body.result).toBe('ADMITTED');
    }
    if (endpoint === 'POST /v1/scans/sync' && expected === 200) {
      expect(res.body.results).toEqual([expect.objectContaining({ result: 'ADMITTED' })]);
    }
    if (endpoint === 'POST /v1/checkouts/:orderId/cancel' && expected === 200) {
      expect(res.body.status).toBe('CANCELLED');
    }
    if (endpoint === 'POST /v1/orders/:orderId/refunds' && expected === 202) {
      expect(res.body).toMatchObject({ refundId: expect.any(String), amountMinor: expect.any(Number) });
    }
    if (endpoint === 'GET /v1/refunds/:refundId' && expected === 200) {
      expect(res.body).toMatchObject({ refundId });
    }
    if (endpoint === 'POST /sandbox/coinbase/charges/:code/complete' && expected === 200) {
      expect(res.body.status).toBe('COMPLETED');
    }
    if (endpoint === 'GET /dev/outbox' && expected === 200) {
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    }
    if (endpoint === 'GET /v1/checkouts/:orderId' && expected === 200) {
      expect(res.body).toMatchObject({ orderId: paidOrderId, status: 'PAID' });
      expect(res.body).not.toHaveProperty('buyerId');
    }
  });
});

describe('what a refusal gives away', () => {
  test("when another buyer reads or cancels someone's order, then the answer is the same as for an order that does not exist", async () => {
    const token = tokenOf('otherBuyer');
    const missing = 'ord_doesNotExist00000000';
    for (const [method, suffix] of [
      ['GET', ''],
      ['POST', '/cancel'],
    ] as const) {
      const real = await call(platform, method, `/v1/checkouts/${paidOrderId}${suffix}`, { token });
      const none = await call(platform, method, `/v1/checkouts/${missing}${suffix}`, { token });
      const shape = (r: Response) => ({ status: r.status, type: r.body.type, title: r.body.title });
      expect(shape(real)).toEqual(shape(none));
      expect(real.status).toBe(404);
    }
  });

  test('when an organizer names another organization in a new event, then 422 and nothing is created', async () => {
    const name = uid('event');
    const res = await call(platform, 'POST', '/v1/events', {
      token: tokenOf('organizer'),
      body: { name, startsAt: '2027-05-01T19:00:00Z', organizerId: other.organizerId },
    });
    expect(res.status).toBe(422);
    expect(await platform.db('events').where({ name })).toHaveLength(0);
  });

  test('when an organizer of an unregistered organization creates an event, then 403 and nothing is created', async () => {
    const name = uid('event');
    const res = await call(platform, 'POST', '/v1/events', {
      token: platform.token({ sub: uid('staff'), role: 'organizer', org: uid('org') }),
      body: { name, startsAt: '2027-05-01T19:00:00Z' },
    });
    expect(res.status).toBe(403);
    expect(await platform.db('events').where({ name })).toHaveLength(0);
  });

  test('when a token has expired, claims an unknown role, or is a staff token without an event, then 401 on every endpoint, public ones too', async () => {
    const expired = issueToken(platform.config, { sub: buyerId, role: 'buyer' }, -60);
    const unknownRole = issueToken(platform.config, {
      sub: buyerId,
      role: 'superuser' as Principal['role'],
    });
    const organizerWithoutOrg = issueToken(platform.config, { sub: 'o', role: 'organizer' });
    const staffWithoutEvent = issueToken(platform.config, { sub: 'd', role: 'staff' });
    for (const token of [expired, unknownRole, organizerWithoutOrg, staffWithoutEvent]) {
      for (const path of ['/v1/events', `/v1/checkouts/${paidOrderId}`]) {
        const res = await call(platform, 'GET', path, { token });
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      }
    }
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a.b.c', 'bearer x']) {
      const res = await call(platform, 'GET', '/v1/events', { headers: { authorization: header } });
      expect(res.status).toBe(401);
    }
  });
});
