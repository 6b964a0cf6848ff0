import { generateTicketCode, loadTicketSigner, renderTicketQr, verifyTicketToken } from '../tickets/signing';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';
import { voidBySql } from './support/tickets';

let platform: TestPlatform;
let catalogue: Awaited<ReturnType<typeof createCatalogue>>;

beforeAll(async () => {
  platform = await startTestPlatform();
  catalogue = await createCatalogue(platform.db, { capacity: 100, priceMinor: 2500, maxPerOrder: 10 });
}, 120_000);
afterAll(() => platform?.stop());

interface Ticket {
  ticketId: string;
  ticketTypeId: string;
  code: string;
  qr: string;
  qrToken: string;
  status: string;
}

/** Buys `quantity` tickets by card and returns them as the buyer reads them back. */
async function buyTickets(quantity = 1): Promise<Ticket[]> {
  return (await buyOrder(quantity)).tickets;
}

/** Buys `quantity` tickets by card; returns the order, its buyer's token and its tickets. */
async function buyOrder(quantity = 1): Promise<{ orderId: string; token: string; tickets: Ticket[] }> {
  const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token,
    headers: { 'Idempotency-Key': uid('key') },
    body: {
      eventId: catalogue.eventId,
      items: [{ ticketTypeId: catalogue.ticketTypeId, quantity }],
      payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    },
  });
  expect(placed.body.status).toBe('PAID');
  const read = await call(platform, 'GET', `/v1/checkouts/${placed.body.orderId}`, { token });
  expect(read.body.tickets).toHaveLength(quantity);
  return { orderId: placed.body.orderId, token, tickets: read.body.tickets };
}

const support = () => platform.token({ sub: uid('staff'), role: 'support' });
const scan = (code: string, token = support(), extra: Record<string, unknown> = {}) =>
  call(platform, 'POST', '/v1/scans', { token, body: { code, ...extra } });

describe('POST /v1/scans', () => {
  test('when 20 scanners scan one ticket at once, then exactly one admits it and the others see ALREADY_USED', async () => {
    const [ticket] = await buyTickets();
    const staff = support();

    const answers = await Promise.all(Array.from({ length: 20 }, () => scan(ticket!.code, staff)));

    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const results = answers.map((a) => a.body.result as string);
    expect(results.filter((r) => r === 'ADMITTED')).toHaveLength(1);
    expect(results.filter((r) => r === 'ALREADY_USED')).toHaveLength(19);
    const admitted = answers.find((a) => a.body.result === 'ADMITTED')!;
    expect(admitted.body.ticket).toMatchObject({
      ticketId: ticket!.ticketId,
      eventId: catalogue.eventId,
      ticketType: 'General',
      status: 'USED',
      usedAt: expect.any(String),
    });
    const row = await platform.db('tickets').where({ id: ticket!.ticketId }).first('status', 'used_at', 'used_by');
    expect(row).toMatchObject({ status: 'USED', used_by: expect.stringMatching(/^support:/) });
  });

  test('when door staff type the code loosely or scan the QR token, then the ticket is admitted', async () => {
    const [typed, scanned] = await buyTickets(2);
    const loose = typed!.code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o');

    expect((await scan(loose)).body).toMatchObject({ result: 'ADMITTED', ticket: { ticketId: typed!.ticketId } });
    expect((await scan(scanned!.qrToken)).body).toMatchObject({
      result: 'ADMITTED',
      ticket: { ticketId: scanned!.ticketId },
    });
    expect((await scan(scanned!.qrToken)).body.result).toBe('ALREADY_USED');
  });

  test('when the buyer refunds a ticket through the API, then its scan answers VOID and does not admit it, and the ticket kept scans ADMITTED', async () => {
    const { orderId, token, tickets } = await buyOrder(2);
    const [refunded, kept] = tickets as [Ticket, Ticket];
    const requested = await call(platform, 'POST', `/v1/orders/${orderId}/refunds`, {
      token,
      headers: { 'Idempotency-Key': uid('rk') },
      body: { ticketIds: [refunded.ticketId], reason: 'cannot come' },
    });
    expect(requested.status).toBe(202);
    let refund = requested.body;
    for (let i = 0; i < 150 && refund.status !== 'SUCCEEDED'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      refund = (await call(platform, 'GET', `/v1/refunds/${requested.body.refundId}`, { token })).body;
    }
    expect(refund.status).toBe('SUCCEEDED');

    const answer = await scan(refunded.code);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ result: 'VOID', ticket: { ticketId: refunded.ticketId, status: 'VOID' } });
    expect(await platform.db('tickets').where({ id: refunded.ticketId }).first('status', 'used_at')).toEqual({
      status: 'VOID',
      used_at: null,
    });
    expect((await scan(kept.code)).body.result).toBe('ADMITTED');
  });

  test('when a ticket is VOID (set by SQL, as any voiding path leaves it; the refund path is the test above), then the scan answers VOID and does not admit it', async () => {
    const [ticket] = await buyTickets();
    await voidBySql(platform.db, ticket!.ticketId);

    const answer = await scan(ticket!.code);

    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ result: 'VOID', ticket: { ticketId: ticket!.ticketId, status: 'VOID' } });
    expect(await platform.db('tickets').where({ id: ticket!.ticketId }).first('status')).toEqual({
      status: 'VOID',
    });
  });

  test('when a code was never issued, or a QR token is forged or altered, then the scan answers UNKNOWN', async () => {
    const [ticket] = await buyTickets();
    const forger = loadTicketSigner('e7'.repeat(32));
    const forged = forger.sign({
      v: 1,
      tid: ticket!.ticketId,
      eid: catalogue.eventId,
      ttid: catalogue.ticketTypeId,
      code: ticket!.code,
    });
    const [prefix, body, signature] = ticket!.qrToken.split('.') as [string, string, string];
    const altered = `${prefix}.${body.slice(0, -2)}${body.at(-2) === 'A' ? 'B' : 'A'}${body.at(-1)}.${signature}`;

    for (const code of [generateTicketCode(), 'not a ticket', forged, altered]) {
      const answer = await scan(code);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ result: 'UNKNOWN' });
    }
    expect(await platform.db('tickets').where({ id: ticket!.ticketId }).first('status')).toEqual({
      status: 'VALID',
    });
  });

  test('when a staff token is scoped to another event, then its scan is refused as UNKNOWN and the ticket stays valid', async () => {
    const [ticket] = await buyTickets();
    const elsewhere = platform.token({ sub: uid('staff'), role: 'support', event: uid('evt') });
    const here = platform.token({ sub: uid('staff'), role: 'support', event: catalogue.eventId });

    expect((await scan(ticket!.code, elsewhere)).body).toEqual({ result: 'UNKNOWN' });
    expect((await scan(ticket!.qrToken, elsewhere)).body).toEqual({ result: 'UNKNOWN' });
    expect((await scan(ticket!.code, here, { eventId: uid('evt') })).status).toBe(403);
    expect(await platform.db('tickets').where({ id: ticket!.ticketId }).first('status')).toEqual({
      status: 'VALID',
    });

    expect((await scan(ticket!.code, here)).body.result).toBe('ADMITTED');
  });

  test('when someone without a staff role scans, then 401 without a token and 403 for a buyer', async () => {
    const [ticket] = await buyTickets();
    const buyer = platform.token({ sub: uid('buyer'), role: 'buyer' });

    expect((await call(platform, 'POST', '/v1/scans', { body: { code: ticket!.code } })).status).toBe(401);
    expect((await scan(ticket!.code, buyer)).status).toBe(403);
    expect((await call(platform, 'POST', '/v1/scans', { token: support(), body: {} })).status).toBe(422);
  });
});

describe('offline verification', () => {
  test('when a scanner checks a ticket QR with the published key, then it passes, and fails once one payload byte changes', async () => {
    const [ticket] = await buyTickets();
    const published = await call(platform, 'GET', '/v1/tickets/signing-keys');
    expect(published.status).toBe(200);
    expect(published.body.keys).toEqual([
      expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String) }),
    ]);
    expect(published.body.keys[0]).not.toHaveProperty('d');
    const keys = published.body.keys;

    // The QR the buyer is shown encodes exactly the signed token.
    expect(ticket!.qr).toBe(
      `data:image/svg+xml;base64,${Buffer.from(await renderTicketQr(ticket!.qrToken)).toString('base64')}`,
    );
    // It names the ticket, the event and the ticket type, and verifies with nothing but the published key.
    expect(verifyTicketToken(ticket!.qrToken, keys)).toMatchObject({
      tid: ticket!.ticketId,
      eid: catalogue.eventId,
      ttid: catalogue.ticketTypeId,
      code: ticket!.code,
    });

    const [prefix, body, signature] = ticket!.qrToken.split('.') as [string, string, string];
    const json = Buffer.from(body, 'base64url');
    const at = json.indexOf(ticket!.ticketId) + ticket!.ticketId.length - 1;
    json[at] = json[at] === 0x30 ? 0x31 : 0x30;
    const tampered = `${prefix}.${json.toString('base64url')}.${signature}`;
    expect(verifyTicketToken(tampered, keys)).toBeNull();
  });
});
