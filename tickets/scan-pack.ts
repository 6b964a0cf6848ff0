/**
 * The offline scan pack: what a door scanner downloads so it can admit tickets with no network.
 *
 * A pack carries the keys that sign ticket QR tokens and two sets of hashed ticket codes: the tickets that admit
 * (`issued`) and the ones that no longer do (`revoked`: refunded, cancelled). Codes are never sent in the clear:
 * each is an HMAC-SHA256 under a per-event key, cut to 10 bytes (80 bits). Codes carry 140 random bits, so the
 * hashes give nothing back, and finding any code that matches one of 100,000 hashes still takes about 2^63 tries.
 * The hashes are packed end to end, sorted, in one base64url string: 100,000 tickets are about 1.3 MB, and a
 * re-sync (`?since=<cursor>`) carries only the tickets that changed.
 */
import { createHmac, createHash } from 'node:crypto';
import type { TicketPublicJwk } from './signing';

/** Version of the pack format; a scanner refuses a pack it does not know. */
export const SCAN_PACK_FORMAT = 'bilten-scan-pack/1';

/** Bytes kept of each code's HMAC. */
export const CODE_HASH_BYTES = 10;

/** What a scanner downloads from `GET /v1/events/:eventId/scan-pack`. */
export interface ScanPack {
  format: typeof SCAN_PACK_FORMAT;
  /** Names this pack; an upload of scans made with it names it back (`POST /v1/scans/sync`). */
  packId: string;
  eventId: string;
  /** When the platform issued the pack (ISO-8601); no scan made with it can be older. */
  issuedAt: string;
  /** Pass as `?since=` on the next sync to get only what changed after this pack. */
  cursor: string;
  /** The cursor this pack continues from, or null for a full pack (which replaces what the scanner holds). */
  since: string | null;
  /** The public keys that sign this platform's ticket QR tokens. */
  keys: TicketPublicJwk[];
  /** How codes are hashed: HMAC-SHA256 under `key` (base64url), the first `bytes` bytes. */
  codeHash: { alg: 'HMAC-SHA256'; key: string; bytes: typeof CODE_HASH_BYTES };
  /** Hashes of the codes that admit (issued, not void), sorted, end to end, base64url. In a delta: changed to admitting. */
  issued: string;
  /** Hashes of the codes that are void (refunded, cancelled), same encoding. In a delta: changed to void. */
  revoked: string;
  /** How many hashes each set holds. */
  counts: { issued: number; revoked: number };
}

/**
 * The key that hashes an event's codes. Derived from the event id, because its only job is to keep one event's
 * hashes from matching another's: it travels in the pack anyway, and the codes' own 140 random bits are what make
 * the hashes irreversible.
 */
export function scanPackCodeKey(eventId: string): Buffer {
  return createHash('sha256').update(`${SCAN_PACK_FORMAT}/code-key/${eventId}`).digest();
}

/** The hash of a canonical ticket code under a pack's key. */
export function hashTicketCode(key: Buffer, canonicalCode: string): Buffer {
  return createHmac('sha256', key).update(canonicalCode).digest().subarray(0, CODE_HASH_BYTES);
}

/** Packs hashes into the pack's encoding: sorted (so a pack is deterministic), end to end, base64url. */
export function encodeCodeHashes(hashes: Buffer[]): string {
  // Hex strings sort in byte order and far faster than Buffer.compare (100,000 hashes: milliseconds, not seconds).
  const sorted = hashes.map((h) => h.toString('hex')).sort();
  return Buffer.from(sorted.join(''), 'hex').toString('base64url');
}

/** Reads a pack's hash set back into hex strings; throws on a length that is not whole hashes. */
export function decodeCodeHashes(encoded: string): string[] {
  const bytes = Buffer.from(encoded, 'base64url');
  if (bytes.length % CODE_HASH_BYTES !== 0) throw new TypeError('a scan pack hash set is not whole hashes');
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += CODE_HASH_BYTES) {
    out.push(bytes.subarray(i, i + CODE_HASH_BYTES).toString('hex'));
  }
  return out;
}

/** What a pack is assembled from: who it is, and the tickets (canonical code and status) it covers. */
export interface ScanPackContents {
  packId: string;
  eventId: string;
  issuedAt: string;
  cursor: string;
  since: string | null;
  keys: TicketPublicJwk[];
  tickets: Iterable<{ code: string; status: string }>;
}

/** Assembles a pack: every VOID ticket's hashed code is revoked, every other one's admits. */
export function assembleScanPack(contents: ScanPackContents): ScanPack {
  const key = scanPackCodeKey(contents.eventId);
  const issued: Buffer[] = [];
  const revoked: Buffer[] = [];
  for (const t of contents.tickets) (t.status === 'VOID' ? revoked : issued).push(hashTicketCode(key, t.code));
  return {
    format: SCAN_PACK_FORMAT,
    packId: contents.packId,
    eventId: contents.eventId,
    issuedAt: contents.issuedAt,
    cursor: contents.cursor,
    since: contents.since,
    keys: contents.keys,
    codeHash: { alg: 'HMAC-SHA256', key: key.toString('base64url'), bytes: CODE_HASH_BYTES },
    issued: encodeCodeHashes(issued),
    revoked: encodeCodeHashes(revoked),
    counts: { issued: issued.length, revoked: revoked.length },
  };
}
