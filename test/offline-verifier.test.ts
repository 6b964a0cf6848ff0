import { OfflineVerifier } from '../tickets/offline-verifier';
import { assembleScanPack, decodeCodeHashes, type ScanPack } from '../tickets/scan-pack';
import { generateTicketCode, loadTicketSigner, type TicketSigner } from '../tickets/signing';

// The verifier alone: packs are assembled here exactly as the API assembles them, with no database or network.

const platform = loadTicketSigner('5c'.repeat(32));
const forger = loadTicketSigner('e7'.repeat(32));
const EVENT = 'evt_door';
const OTHER_EVENT = 'evt_elsewhere';

interface Ticket {
  id: string;
  eventId: string;
  code: string;
  status: 'VALID' | 'USED' | 'VOID';
  qr: string;
}

let next = 0;
function issue(eventId = EVENT, signer: TicketSigner = platform): Ticket {
  const id = `tkt_${++next}`;
  const code = generateTicketCode();
  return {
    id,
    eventId,
    code,
    status: 'VALID',
    qr: signer.sign({ v: 1, tid: id, eid: eventId, ttid: 'tt_ga', code }),
  };
}

function pack(tickets: Ticket[], options: { since?: string | null; cursor?: string } = {}): ScanPack {
  return assembleScanPack({
    packId: `spk_${++next}`,
    eventId: EVENT,
    issuedAt: new Date().toISOString(),
    cursor: options.cursor ?? String(next),
    since: options.since ?? null,
    keys: [platform.publicKeyJwk],
    tickets: tickets.filter((t) => t.eventId === EVENT),
  });
}

describe('offline verifier', () => {
  test('when a valid ticket is scanned by QR, then ADMITTED once and ALREADY_USED_HERE after, by QR or typed code', () => {
    const ticket = issue();
    const verifier = new OfflineVerifier(pack([ticket]), 'North');

    expect(verifier.scan(ticket.qr, new Date())).toEqual({
      result: 'ADMITTED',
      ticketId: ticket.id,
      ticketTypeId: 'tt_ga',
    });
    expect(verifier.scan(ticket.qr, new Date()).result).toBe('ALREADY_USED_HERE');
    expect(verifier.scan(ticket.code.toLowerCase(), new Date()).result).toBe('ALREADY_USED_HERE');
    expect(verifier.pendingScans).toEqual([
      { scanId: expect.stringMatching(/^scn_/), code: ticket.qr, scannedAt: expect.any(String), gate: 'North' },
    ]);
  });

  test('when a valid ticket is typed in loosely, then ADMITTED; a code the pack never issued is UNKNOWN', () => {
    const ticket = issue();
    const verifier = new OfflineVerifier(pack([ticket]), 'North');
    const loose = ticket.code.replace(/-/g, ' ').replace(/0/g, 'O').toLowerCase();

    expect(verifier.scan(loose, new Date()).result).toBe('ADMITTED');
    expect(verifier.scan(generateTicketCode(), new Date()).result).toBe('UNKNOWN');
    expect(verifier.scan('not a code', new Date()).result).toBe('UNKNOWN');
    expect(verifier.pendingScans).toHaveLength(1);
  });

  test('when a ticket is refunded after the pack, then the stale pack still admits it and a re-sync makes it VOID', () => {
    const refunded = issue();
    const kept = issue();
    const first = pack([refunded, kept], { cursor: '100' });
    const stale = new OfflineVerifier(first, 'North');
    const resynced = new OfflineVerifier(first, 'South');

    refunded.status = 'VOID';
    // The stale pack cannot know: this is why scanners re-sync, and why the upload flags ADMITTED_WHILE_VOID.
    expect(stale.check(refunded.qr).result).toBe('ADMITTED');
    // The delta since the first pack carries only the ticket that changed.
    const delta = pack([refunded], { since: first.cursor, cursor: '101' });
    expect(delta.counts).toEqual({ issued: 0, revoked: 1 });
    resynced.applyPack(delta);

    expect(resynced.scan(refunded.qr, new Date())).toMatchObject({ result: 'VOID', ticketId: refunded.id });
    expect(resynced.scan(refunded.code, new Date()).result).toBe('VOID');
    expect(resynced.scan(kept.code, new Date()).result).toBe('ADMITTED');
    expect(resynced.pendingScans.map((s) => s.code)).toEqual([kept.code]);
    expect(resynced.pack.cursor).toBe('101');
  });

  test('when a full pack is re-synced, then it replaces what the scanner knew, but not what it admitted', () => {
    const ticket = issue();
    const later = issue();
    const verifier = new OfflineVerifier(pack([ticket]), 'North');
    expect(verifier.scan(ticket.code, new Date()).result).toBe('ADMITTED');
    expect(verifier.check(later.code).result).toBe('UNKNOWN');

    verifier.applyPack(pack([ticket, later]));

    expect(verifier.check(later.code).result).toBe('ADMITTED');
    expect(verifier.check(ticket.code).result).toBe('ALREADY_USED_HERE');
  });

  test('when a QR token is forged or altered, then UNKNOWN, even with a real code in it', () => {
    const ticket = issue();
    const verifier = new OfflineVerifier(pack([ticket]), 'North');
    const forged = forger.sign({ v: 1, tid: ticket.id, eid: EVENT, ttid: 'tt_ga', code: ticket.code });
    const [prefix, body, signature] = ticket.qr.split('.') as [string, string, string];
    const json = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const altered = `${prefix}.${Buffer.from(JSON.stringify({ ...json, ttid: 'tt_vip' })).toString('base64url')}.${signature}`;

    expect(verifier.scan(forged, new Date())).toEqual({ result: 'UNKNOWN' });
    expect(verifier.scan(altered, new Date())).toEqual({ result: 'UNKNOWN' });
    expect(verifier.pendingScans).toHaveLength(0);
  });

  test("when another event's ticket is scanned, then UNKNOWN by QR and by typed code", () => {
    const ours = issue();
    const theirs = issue(OTHER_EVENT);
    const verifier = new OfflineVerifier(pack([ours, theirs]), 'North');

    expect(verifier.scan(theirs.qr, new Date())).toEqual({ result: 'UNKNOWN' });
    expect(verifier.scan(theirs.code, new Date())).toEqual({ result: 'UNKNOWN' });
    expect(verifier.pendingScans).toHaveLength(0);
  });

  test('when a ticket was sold after the pack, then its signed QR admits it but its typed code cannot', () => {
    const verifier = new OfflineVerifier(pack([issue()]), 'North');
    const late = issue();

    expect(verifier.check(late.code).result).toBe('UNKNOWN');
    expect(verifier.scan(late.qr, new Date()).result).toBe('ADMITTED');
  });

  test('when a pack is read, then it holds no plain code, only 10-byte hashes', () => {
    const tickets = [issue(), issue(), issue()];
    tickets[2]!.status = 'VOID';
    const p = pack(tickets);
    const text = JSON.stringify(p);

    for (const t of tickets) {
      expect(text).not.toContain(t.code);
      expect(text).not.toContain(t.code.replace(/-/g, ''));
    }
    expect(decodeCodeHashes(p.issued)).toHaveLength(2);
    expect(decodeCodeHashes(p.revoked)).toHaveLength(1);
    expect(() => new OfflineVerifier({ ...p, eventId: OTHER_EVENT }, 'x').applyPack(p)).toThrow(/another event/);
  });
});
