import { issueToken, type Principal } from '../api/auth';
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
  | 'GET /v1/events/:eventId/attendance';

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
];

let platform: TestPlatform;
let own: Awaited<ReturnType<typeof createCatalogue>>;
let other: Awaited<ReturnType<typeof createCatalogue>>;
const buyerId = uid('buyer');
let paidOrderId: string;
let packId: string;
const unscanned: Array<{ ticketId: string; code: string }> = [];
const principals = {} as Record<Role, Principal | undefined>;

beforeAll(async () => {
  platform = await startTestPlatform({ HOLD_TTL_SECONDS: '300', MAX_OPEN_HOLDS_PER_BUYER: '20' });
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
}, 120_000);
afterAll(() => platform?.stop());

function tokenOf(role: Role): string | undefined {
  const principal = principals[role];
  if (!principal) return undefined;
  // Signed with another secret: right shape, wrong signature.
  if (role === 'forged')
    return issueToken({ ...platform.config, AUTH_JWT_SECRET: 'not-the-platform-secret-at-all' }, principal);
  return platform.token(principal);
}

/** An order of the owning buyer, paid or (3-D Secure) still awaiting payment. */
async function placeOrder(paymentMethodId: string): Promise<{ orderId: string; status: string }> {
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token: tokenOf('buyer'),
    headers: { 'Idempotency-Key': uid('key') },
    body: {
      eventId: own.eventId,
      items: [{ ticketTypeId: own.ticketTypeId, quantity: 1 }],
      payment: { method: 'card', paymentMethodId },
    },
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
