import { OfflineVerifier } from '../tickets/offline-verifier';
import type { ScanPack } from '../tickets/scan-pack';
import { createCatalogue, uid } from './support/env';
import { call, startTestPlatform, type TestPlatform } from './support/platform';
import { voidBySql } from './support/tickets';

// Offline scanning through the API: packs, uploads of offline admissions, and attendance.

const MAX_BATCH = 5;
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ SCAN_SYNC_MAX_BATCH: String(MAX_BATCH) });
}, 120_000);
afterAll(() => platform?.stop());

interface Ticket {
  ticketId: string;
  ticketTypeId: string;
  code: string;
  qrToken: string;
}
type Catalogue = Awaited<ReturnType<typeof createCatalogue>>;

async function newEvent(): Promise<Catalogue & { staff: string }> {
  const catalogue = await createCatalogue(platform.db, { capacity: 100, maxPerOrder: 10 });
  return { ...catalogue, staff: platform.token({ sub: uid('door'), role: 'staff', event: catalogue.eventId }) };
}

/** Buys tickets through the checkout API, as a buyer does. */
async function buyTickets(event: Catalogue, quantity = 1): Promise<Ticket[]> {
  return (await buyOrder(event, quantity)).tickets;
}

async function buyOrder(event: Catalogue, quantity: number) {
  const token = platform.token({ sub: uid('buyer'), role: 'buyer' });
  const placed = await call(platform, 'POST', '/v1/checkouts', {
    token,
    headers: { 'Idempotency-Key': uid('key') },
    body: {
      eventId: event.eventId,
      items: [{ ticketTypeId: event.ticketTypeId, quantity }],
      payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    },
  });
  expect(placed.body.status).toBe('PAID');
  const read = await call(platform, 'GET', `/v1/checkouts/${placed.body.orderId}`, { token });
  return { token, orderId: placed.body.orderId as string, tickets: read.body.tickets as Ticket[] };
}

/** Refunds one ticket through the refund API, as its buyer does, and waits until the refund is final. */
async function refundTicket(order: { token: string; orderId: string }, ticketId: string) {
  const requested = await call(platform, 'POST', `/v1/orders/${order.orderId}/refunds`, {
    token: order.token,
    headers: { 'Idempotency-Key': uid('rk') },
    body: { ticketIds: [ticketId], reason: 'cannot come' },
  });
  if (requested.status !== 202) return { status: requested.status, type: requested.body.type as string };
  for (let i = 0; i < 150; i++) {
    const refund = await call(platform, 'GET', `/v1/refunds/${requested.body.refundId}`, { token: order.token });
    if (['SUCCEEDED', 'FAILED', 'REJECTED'].includes(refund.body.status)) return { status: 202, ...refund.body };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the refund did not finish');
}

async function downloadPack(event: { eventId: string; staff: string }, since?: string): Promise<ScanPack> {
  const res = await call(
    platform,
    'GET',
    `/v1/events/${event.eventId}/scan-pack${since ? `?since=${since}` : ''}`,
    { token: event.staff },
  );
  expect(res.status).toBe(200);
  return res.body;
}

const upload = (token: string, packId: string, scans: unknown[]) =>
  call(platform, 'POST', '/v1/scans/sync', { token, body: { packId, scans } });

const attendance = async (event: { eventId: string; staff: string }) => {
  const res = await call(platform, 'GET', `/v1/events/${event.eventId}/attendance`, { token: event.staff });
  expect(res.status).toBe(200);
  return res.body;
};

const scanRows = (ticketId: string) =>
  platform.db('scans').where({ ticket_id: ticketId }).orderBy('scanned_at').select('id', 'gate', 'result');

/** A time after the pack was issued and before now. */
const justAfter = (pack: ScanPack, ms: number) => new Date(Date.parse(pack.issuedAt) + ms).toISOString();
const settle = () => new Promise((r) => setTimeout(r, 300));

describe('GET /v1/events/:eventId/scan-pack', () => {
  test("when door staff download the pack, then it verifies the event's tickets offline and holds no plain code", async () => {
    const event = await newEvent();
    const [a, b] = await buyTickets(event, 2);
    const pack = await downloadPack(event);

    expect(pack).toMatchObject({
      format: 'bilten-scan-pack/1',
      eventId: event.eventId,
      since: null,
      counts: { issued: 2, revoked: 0 },
      keys: [expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', kid: expect.any(String) })],
    });
    const text = JSON.stringify(pack);
    for (const t of [a!, b!]) expect(text).not.toContain(t.code);
    const verifier = new OfflineVerifier(pack, 'North');
    expect(verifier.scan(a!.qrToken, new Date()).result).toBe('ADMITTED');
    expect(verifier.scan(b!.code, new Date()).result).toBe('ADMITTED');
    expect(await platform.db('scan_packs').where({ id: pack.packId }).first('event_id')).toEqual({
      event_id: event.eventId,
    });
  });

  test('when a ticket is voided after the pack (by SQL, as any path that voids; the refund API has its own test), then the stale pack admits it and the re-synced one says VOID', async () => {
    const event = await newEvent();
    const [refunded, kept] = await buyTickets(event, 2);
    const first = await downloadPack(event);
    const stale = new OfflineVerifier(first, 'North');
    const resynced = new OfflineVerifier(first, 'South');

    await voidBySql(platform.db, refunded!.ticketId);
    const delta = await downloadPack(event, first.cursor);
    resynced.applyPack(delta);

    expect(delta).toMatchObject({ since: first.cursor, counts: { issued: 0, revoked: 1 } });
    expect(stale.check(refunded!.qrToken).result).toBe('ADMITTED');
    expect(resynced.check(refunded!.qrToken).result).toBe('VOID');
    expect(resynced.check(refunded!.code).result).toBe('VOID');
    expect(resynced.check(kept!.code).result).toBe('ADMITTED');
    // Nothing changed since: the next delta is empty.
    expect((await downloadPack(event, delta.cursor)).counts).toEqual({ issued: 0, revoked: 0 });
  });

  test('when a staff token of another event or a buyer asks for the pack, then 403; a bad cursor is 422', async () => {
    const event = await newEvent();
    const other = await newEvent();
    const path = `/v1/events/${event.eventId}/scan-pack`;
    expect((await call(platform, 'GET', path, { token: other.staff })).status).toBe(403);
    const buyer = platform.token({ sub: uid('buyer'), role: 'buyer' });
    expect((await call(platform, 'GET', path, { token: buyer })).status).toBe(403);
    expect((await call(platform, 'GET', `${path}?since=abc`, { token: event.staff })).status).toBe(422);
    expect((await call(platform, 'GET', `${path}?since=99999999999999`, { token: event.staff })).status).toBe(422);
  });
});

describe('through the refund API', () => {
  test('when a ticket is refunded after the pack, then the re-synced pack refuses it offline and an upload of a stale-pack scan is ADMITTED_WHILE_VOID', async () => {
    const event = await newEvent();
    const order = await buyOrder(event, 2);
    const [refunded, kept] = order.tickets;
    const first = await downloadPack(event);
    const stale = new OfflineVerifier(first, 'North');

    expect(await refundTicket(order, refunded!.ticketId)).toMatchObject({ status: 'SUCCEEDED' });
    const resynced = new OfflineVerifier(first, 'South');
    resynced.applyPack(await downloadPack(event, first.cursor));
    await settle();

    expect(resynced.scan(refunded!.qrToken, new Date()).result).toBe('VOID');
    expect(resynced.scan(kept!.code, new Date()).result).toBe('ADMITTED');
    // The stale scanner lets the refunded ticket in; its upload says so.
    expect(stale.scan(refunded!.qrToken, new Date()).result).toBe('ADMITTED');
    const res = await upload(event.staff, first.packId, stale.drainQueue());
    expect(res.body.results).toEqual([expect.objectContaining({ result: 'ADMITTED_WHILE_VOID' })]);
    expect(await attendance(event)).toMatchObject({ admitted: 0, admittedWhileVoid: 1 });
  });

  test('when a refund races the upload of an earlier offline scan, then the scan is ADMITTED either way, and either the refund fails and the ticket is USED or it succeeds and the ticket is VOID after the scan', async () => {
    const event = await newEvent();
    const order = await buyOrder(event, 1);
    const [ticket] = order.tickets;
    const pack = await downloadPack(event);
    await settle();
    const scan = {
      scanId: uid('race'),
      code: ticket!.qrToken,
      scannedAt: new Date().toISOString(),
      gate: 'North',
    };

    const [refund, synced] = await Promise.all([
      refundTicket(order, ticket!.ticketId),
      upload(event.staff, pack.packId, [scan]),
    ]);

    expect(synced.body.results).toEqual([expect.objectContaining({ result: 'ADMITTED' })]);
    const row = await platform.db('tickets').where({ id: ticket!.ticketId }).first('status', 'voided_at');
    if (refund.status === 'SUCCEEDED') {
      expect(row.status).toBe('VOID');
      expect(new Date(row.voided_at).getTime()).toBeGreaterThan(Date.parse(scan.scannedAt));
    } else {
      // The upload admitted the ticket first: a refund never pays for an admitted ticket.
      expect(row.status).toBe('USED');
      expect(refund.status === 409 || refund.status === 'FAILED').toBe(true);
    }
    expect(await attendance(event)).toMatchObject({ admitted: 1, admittedWhileVoid: 0 });
  });
});

describe('POST /v1/scans/sync', () => {
  test('when two gates admitted the same tickets offline and sync in either order, then one ADMITTED and one DUPLICATE naming both gates, the same both ways', async () => {
    const event = await newEvent();
    const [first, second] = await buyTickets(event, 2);
    const pack = await downloadPack(event);
    await settle();
    const north = (t: Ticket) => ({
      scanId: uid('n'),
      code: t.qrToken,
      scannedAt: justAfter(pack, 10),
      gate: 'North',
    });
    const south = (t: Ticket) => ({
      scanId: uid('s'),
      code: t.code,
      scannedAt: justAfter(pack, 20),
      gate: 'South',
    });
    const [n1, s1, n2, s2] = [north(first!), south(first!), north(second!), south(second!)];

    // First ticket: North uploads first. Second ticket: South (the later scan) uploads first.
    const a = await upload(event.staff, pack.packId, [n1]);
    const b = await upload(event.staff, pack.packId, [s1, s2]);
    const c = await upload(event.staff, pack.packId, [n2]);

    expect(a.body.results).toEqual([expect.objectContaining({ scanId: n1.scanId, result: 'ADMITTED' })]);
    expect(b.body.results).toEqual([
      expect.objectContaining({
        result: 'DUPLICATE',
        gate: 'South',
        duplicateOf: { scanId: n1.scanId, gate: 'North' },
      }),
      expect.objectContaining({ result: 'ADMITTED', gate: 'South' }),
    ]);
    expect(c.body.results).toEqual([expect.objectContaining({ scanId: n2.scanId, result: 'ADMITTED' })]);
    // The late, earlier scan took over: both tickets end the same way whatever the upload order.
    for (const t of [first!, second!]) {
      expect((await scanRows(t.ticketId)).map((r) => [r.gate, r.result])).toEqual([
        ['North', 'ADMITTED'],
        ['South', 'DUPLICATE'],
      ]);
    }
    const replay = await upload(event.staff, pack.packId, [s2]);
    expect(replay.body.results).toEqual([
      expect.objectContaining({ result: 'DUPLICATE', duplicateOf: { scanId: n2.scanId, gate: 'North' } }),
    ]);
    expect(await attendance(event)).toMatchObject({
      admitted: 2,
      duplicates: 2,
      admittedWhileVoid: 0,
      entries: 4,
      byTicketType: [{ ticketTypeId: event.ticketTypeId, admitted: 2, duplicates: 2 }],
      byGate: [
        { gate: 'North', admitted: 2, duplicates: 0, admittedWhileVoid: 0 },
        { gate: 'South', admitted: 0, duplicates: 2, admittedWhileVoid: 0 },
      ],
    });
    const row = await platform.db('tickets').where({ id: second!.ticketId }).first('status', 'used_at');
    expect(row.status).toBe('USED');
    expect(new Date(row.used_at).toISOString()).toBe(n2.scannedAt);
  });

  test('when an online admission is followed by the upload of an earlier offline scan, then the offline scan is the admission and the online one a duplicate', async () => {
    const event = await newEvent();
    const [ticket] = await buyTickets(event);
    const pack = await downloadPack(event);
    const offlineAt = new Date().toISOString();
    await settle();

    const online = await call(platform, 'POST', '/v1/scans', {
      token: event.staff,
      body: { code: ticket!.code, gate: 'Main' },
    });
    expect(online.body.result).toBe('ADMITTED');
    expect(await attendance(event)).toMatchObject({ admitted: 1, byGate: [{ gate: 'Main', admitted: 1 }] });

    const late = await upload(event.staff, pack.packId, [
      { scanId: uid('side'), code: ticket!.qrToken, scannedAt: offlineAt, gate: 'Side' },
    ]);

    expect(late.body.results).toEqual([expect.objectContaining({ result: 'ADMITTED', gate: 'Side' })]);
    expect((await scanRows(ticket!.ticketId)).map((r) => [r.gate, r.result])).toEqual([
      ['Side', 'ADMITTED'],
      ['Main', 'DUPLICATE'],
    ]);
    expect(await attendance(event)).toMatchObject({
      admitted: 1,
      duplicates: 1,
      byGate: [
        { gate: 'Main', admitted: 0, duplicates: 1 },
        { gate: 'Side', admitted: 1, duplicates: 0 },
      ],
    });
  });

  test('when a ticket was already VOID at scannedAt (voided by SQL), then the upload records ADMITTED_WHILE_VOID', async () => {
    const event = await newEvent();
    const [ticket] = await buyTickets(event);
    const pack = await downloadPack(event);
    await voidBySql(platform.db, ticket!.ticketId);
    await settle();

    const res = await upload(event.staff, pack.packId, [
      { scanId: uid('v'), code: ticket!.qrToken, scannedAt: new Date().toISOString(), gate: 'North' },
    ]);

    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([expect.objectContaining({ result: 'ADMITTED_WHILE_VOID' })]);
    expect(await platform.db('tickets').where({ id: ticket!.ticketId }).first('status')).toEqual({
      status: 'VOID',
    });
    expect(await attendance(event)).toMatchObject({ admitted: 0, admittedWhileVoid: 1 });
  });

  test('when a void (by SQL, as any path that voids; the refund API has its own test) races the upload of a scan, then the result fits the recorded void time and the counters fit the scans', async () => {
    const event = await newEvent();
    const tickets = await buyTickets(event, 8);
    const pack = await downloadPack(event);
    await settle();

    for (const [i, ticket] of tickets.entries()) {
      const scannedAt = new Date().toISOString();
      const voiding = voidBySql(platform.db, ticket.ticketId);
      const syncing = upload(event.staff, pack.packId, [
        { scanId: uid(`race${i}`), code: ticket.code, scannedAt, gate: i % 2 ? 'East' : 'West' },
      ]);
      const [, res] = await Promise.all([voiding, syncing]);
      expect(res.status).toBe(200);
      const { voided_at: voidedAt } = await platform
        .db('tickets')
        .where({ id: ticket.ticketId })
        .first('voided_at');
      // The scan was made before the void was stamped, whichever transaction committed first.
      expect(new Date(voidedAt).getTime()).toBeGreaterThan(Date.parse(scannedAt));
      expect(res.body.results[0].result).toBe('ADMITTED');
    }
    const counted = await platform.db('scans').where({ event_id: event.eventId, result: 'ADMITTED' }).count();
    expect((await attendance(event)).admitted).toBe(Number(counted[0]!.count));
    expect((await attendance(event)).admitted).toBe(tickets.length);
  });

  test('when an upload is replayed, then the same results and nothing new; a scanId replayed with other contents is 422 and changes nothing', async () => {
    const event = await newEvent();
    const [ticket, other] = await buyTickets(event, 2);
    const pack = await downloadPack(event);
    await settle();
    const scan = { scanId: uid('r'), code: ticket!.code, scannedAt: new Date().toISOString(), gate: 'North' };

    const first = await upload(event.staff, pack.packId, [scan]);
    const again = await upload(event.staff, pack.packId, [scan]);
    const changed = await upload(event.staff, pack.packId, [
      { scanId: uid('fresh'), code: other!.code, scannedAt: scan.scannedAt, gate: 'North' },
      { ...scan, gate: 'South' },
    ]);

    expect(again.body).toEqual(first.body);
    expect(changed.status).toBe(422);
    expect(changed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(changed.body.type).toMatch(/\/scan-id-reused$/);
    expect(await platform.db('scans').where({ event_id: event.eventId }).count()).toEqual([{ count: 1 }]);
    expect(await platform.db('tickets').where({ id: other!.ticketId }).first('status')).toEqual({
      status: 'VALID',
    });
    expect(await attendance(event)).toMatchObject({ admitted: 1, duplicates: 0 });
  });

  test('when an upload is bad (too big, from the future, older than its pack, or naming another event), then 422 problem+json and nothing is recorded', async () => {
    const event = await newEvent();
    const other = await newEvent();
    const [ticket] = await buyTickets(event);
    const [theirs] = await buyTickets(other);
    const pack = await downloadPack(event);
    await settle();
    const ok = () => ({
      scanId: uid('ok'),
      code: ticket!.code,
      scannedAt: new Date().toISOString(),
      gate: 'North',
    });
    const before = new Date(Date.parse(pack.issuedAt) - 60_000).toISOString();
    const future = new Date(Date.now() + 60_000).toISOString();

    const bad = [
      { field: 'scans', scans: Array.from({ length: MAX_BATCH + 1 }, ok) },
      { field: 'scans.1.scannedAt', scans: [ok(), { ...ok(), scannedAt: future }] },
      { field: 'scans.1.scannedAt', scans: [ok(), { ...ok(), scannedAt: before }] },
      { field: 'scans.1.code', scans: [ok(), { ...ok(), code: theirs!.code }] },
      { field: 'scans.1.code', scans: [ok(), { ...ok(), code: theirs!.qrToken }] },
      { field: 'scans.0.scannedAt', scans: [{ ...ok(), scannedAt: 'yesterday' }] },
    ];
    for (const { field, scans } of bad) {
      const res = await upload(event.staff, pack.packId, scans);
      expect({ field, status: res.status }).toEqual({ field, status: 422 });
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    }
    const unknownPack = await upload(event.staff, 'spk_nope', [ok()]);
    expect(unknownPack.status).toBe(422);
    const foreignStaff = await upload(other.staff, pack.packId, [ok()]);
    expect(foreignStaff.status).toBe(403);

    expect(await platform.db('scans').whereIn('event_id', [event.eventId, other.eventId]).count()).toEqual([
      { count: 0 },
    ]);
    expect(await platform.db('tickets').where({ id: ticket!.ticketId }).first('status')).toEqual({
      status: 'VALID',
    });
    expect((await attendance(event)).entries).toBe(0);
  });

  test('when an offline scanner uploads a code no ticket has, then it is recorded as UNKNOWN and counted nowhere', async () => {
    const event = await newEvent();
    await buyTickets(event);
    const pack = await downloadPack(event);
    await settle();

    const res = await upload(event.staff, pack.packId, [
      {
        scanId: uid('u'),
        code: '0000-0000-0000-0000-0000-0000-0000',
        scannedAt: new Date().toISOString(),
        gate: 'N',
      },
    ]);

    expect(res.body.results).toEqual([expect.objectContaining({ result: 'UNKNOWN', ticketId: null })]);
    expect((await attendance(event)).entries).toBe(0);
  });
});

describe('GET /v1/events/:eventId/attendance', () => {
  test('when tickets are scanned online, then attendance counts them per ticket type and gate from its counters, not from the tickets table', async () => {
    const event = await newEvent();
    const [a, b] = await buyTickets(event, 2);
    for (const [t, gate] of [
      [a!, 'North'],
      [b!, 'South'],
    ] as const) {
      const res = await call(platform, 'POST', '/v1/scans', { token: event.staff, body: { code: t.code, gate } });
      expect(res.body.result).toBe('ADMITTED');
    }
    // A ticket marked used behind the platform's back is not an admission: attendance reads counters only.
    const [c] = await buyTickets(event);
    await platform.db('tickets').where({ id: c!.ticketId }).update({ status: 'USED', used_at: new Date() });

    const organizer = platform.token({ sub: uid('org'), role: 'organizer', org: event.organizerId });
    const res = await call(platform, 'GET', `/v1/events/${event.eventId}/attendance`, { token: organizer });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      eventId: event.eventId,
      admitted: 2,
      byTicketType: [{ ticketTypeId: event.ticketTypeId, name: 'General', admitted: 2 }],
      byGate: [
        { gate: 'North', admitted: 1 },
        { gate: 'South', admitted: 1 },
      ],
    });
  });
});
