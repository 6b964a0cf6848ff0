/**
 * The reference offline verifier: what a scanner app embeds to admit tickets with no network.
 *
 * It holds a scan pack (keys, hashed issued and revoked codes) and the admissions made at this scanner, and
 * answers each scanned QR token or typed code with ADMITTED, ALREADY_USED_HERE, VOID or UNKNOWN. It does no I/O:
 * a pack goes in (`applyPack`, full or delta), answers come out, and every admission is queued in the shape
 * `POST /v1/scans/sync` takes.
 *
 * - A QR token is admitted on its signature alone (a ticket sold after the pack still gets in), unless its event
 *   is another one (UNKNOWN) or its code is revoked in the pack (VOID).
 * - A typed code has no signature, so it is admitted only when its hash is among the pack's issued codes.
 * - Whether another gate already admitted the ticket is not knowable offline; the upload settles that (DUPLICATE).
 */
import { randomUUID } from 'node:crypto';
import { normalizeTicketCode, TICKET_TOKEN_PREFIX, verifyTicketToken, type TicketPublicJwk } from './signing';
import { decodeCodeHashes, hashTicketCode, SCAN_PACK_FORMAT, type ScanPack } from './scan-pack';

/** What the scanner tells the door. */
export type OfflineScanResult = 'ADMITTED' | 'ALREADY_USED_HERE' | 'VOID' | 'UNKNOWN';

/** An answer, with what the scanned QR said about the ticket when it was a QR token. */
export interface OfflineVerdict {
  result: OfflineScanResult;
  ticketId?: string;
  ticketTypeId?: string;
}

/** One admission waiting for upload, exactly as `POST /v1/scans/sync` takes it. */
export interface QueuedScan {
  scanId: string;
  code: string;
  scannedAt: string;
  gate: string;
}

/** Admits tickets against a scan pack, offline. */
export class OfflineVerifier {
  private eventId: string;
  private keys: TicketPublicJwk[];
  private codeKey: Buffer;
  private issued = new Set<string>();
  private revoked = new Set<string>();
  /** Code hashes admitted at this scanner, kept across re-syncs. */
  private readonly admittedHere = new Set<string>();
  private readonly queue: QueuedScan[] = [];
  private currentPack: Pick<ScanPack, 'packId' | 'cursor' | 'issuedAt'>;

  constructor(
    pack: ScanPack,
    private readonly gate: string,
    private readonly newScanId: () => string = () => `scn_${randomUUID().replace(/-/g, '')}`,
  ) {
    this.eventId = pack.eventId;
    this.keys = pack.keys;
    this.codeKey = Buffer.from(pack.codeHash.key, 'base64url');
    this.currentPack = pack;
    this.applyPack(pack);
  }

  /** The pack this scanner last synced: its cursor is the next `?since=`. */
  get pack(): Pick<ScanPack, 'packId' | 'cursor' | 'issuedAt'> {
    return this.currentPack;
  }

  /** Admissions made here and not yet uploaded. */
  get pendingScans(): readonly QueuedScan[] {
    return this.queue;
  }

  /** Applies a re-sync: a full pack replaces the sets, a delta (`since` set) changes only what it names. */
  applyPack(pack: ScanPack): void {
    if (pack.format !== SCAN_PACK_FORMAT) throw new TypeError(`unknown scan pack format ${String(pack.format)}`);
    if (pack.eventId !== this.eventId) throw new TypeError('a scan pack of another event');
    if (pack.codeHash.alg !== 'HMAC-SHA256') throw new TypeError('unknown code hash');
    this.keys = pack.keys;
    this.codeKey = Buffer.from(pack.codeHash.key, 'base64url');
    if (pack.since === null) {
      this.issued = new Set(decodeCodeHashes(pack.issued));
      this.revoked = new Set(decodeCodeHashes(pack.revoked));
    } else {
      for (const hash of decodeCodeHashes(pack.issued)) {
        this.issued.add(hash);
        this.revoked.delete(hash);
      }
      for (const hash of decodeCodeHashes(pack.revoked)) {
        this.revoked.add(hash);
        this.issued.delete(hash);
      }
    }
    this.currentPack = { packId: pack.packId, cursor: pack.cursor, issuedAt: pack.issuedAt };
  }

  /** What a scan would answer, without admitting anyone. */
  check(input: string): OfflineVerdict {
    return this.judge(input).verdict;
  }

  /** Scans a QR token or typed code; an admission is remembered here and queued for upload. */
  scan(input: string, scannedAt: Date): OfflineVerdict {
    const { verdict, hash } = this.judge(input);
    if (verdict.result === 'ADMITTED' && hash) {
      this.admittedHere.add(hash);
      this.queue.push({
        scanId: this.newScanId(),
        code: input,
        scannedAt: scannedAt.toISOString(),
        gate: this.gate,
      });
    }
    return verdict;
  }

  /** Takes the queued admissions out for upload; put them back with `requeue` if the upload failed. */
  drainQueue(): QueuedScan[] {
    return this.queue.splice(0, this.queue.length);
  }

  /** Puts scans back at the front of the queue after a failed upload (their scan ids keep the retry idempotent). */
  requeue(scans: QueuedScan[]): void {
    this.queue.unshift(...scans);
  }

  private judge(input: string): { verdict: OfflineVerdict; hash?: string } {
    let code: string | null;
    let fromToken: { ticketId: string; ticketTypeId: string } | null = null;
    if (input.startsWith(`${TICKET_TOKEN_PREFIX}.`)) {
      const payload = verifyTicketToken(input, this.keys);
      if (!payload || payload.eid !== this.eventId) return { verdict: { result: 'UNKNOWN' } };
      code = normalizeTicketCode(payload.code);
      fromToken = { ticketId: payload.tid, ticketTypeId: payload.ttid };
    } else {
      code = normalizeTicketCode(input);
    }
    if (code === null) return { verdict: { result: 'UNKNOWN' } };
    const hash = hashTicketCode(this.codeKey, code).toString('hex');
    const about = fromToken ?? {};
    if (this.revoked.has(hash)) return { verdict: { result: 'VOID', ...about }, hash };
    // A typed code proves nothing by itself: only the pack's issued set vouches for it.
    if (!fromToken && !this.issued.has(hash)) return { verdict: { result: 'UNKNOWN' } };
    if (this.admittedHere.has(hash)) return { verdict: { result: 'ALREADY_USED_HERE', ...about }, hash };
    return { verdict: { result: 'ADMITTED', ...about }, hash };
  }
}
