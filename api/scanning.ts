import { createHash, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db } from '../db';
import {
  attendanceDeltas,
  settleTicketScans,
  type AttendanceDelta,
  type ScanResultChange,
  type SettledScanResult,
} from '../domain';
import { assembleScanPack, type ScanPack } from '../tickets/scan-pack';
import type { TicketPublicJwk } from '../tickets/signing';
import { Problem, problems } from './problems';

/**
 * Scan packs, recorded admissions and attendance, over Postgres. The rules (what a scan settles as, how counters
 * move) are in domain/scanning.ts; this module reads and writes them, in one transaction per upload.
 */

/** Builds a full pack (no `since`) or a delta, and records it so uploads can name it. */
export async function buildScanPack(
  db: Db,
  input: { eventId: string; since: string | null; issuedTo: string; keys: TicketPublicJwk[] },
): Promise<ScanPack> {
  // One snapshot for the cursor and the tickets, so the cursor says exactly what this pack has seen.
  return db.transaction(
    async (trx) => {
      const [{ cursor, xmax, issued_at: issuedAt }] = (
        await trx.raw(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS cursor,
                              pg_snapshot_xmax(pg_current_snapshot())::text AS xmax,
                              now() AS issued_at`)
      ).rows;
      if (input.since !== null && BigInt(input.since) > BigInt(xmax)) {
        throw problems.validation([{ field: 'since', message: 'is not a cursor this platform issued' }]);
      }
      const rows: Array<{ code: string; status: string }> = await trx('tickets')
        .where('event_id', input.eventId)
        .modify((q) => {
          if (input.since !== null) q.whereRaw('changed_xid >= ?::xid8', [input.since]);
        })
        .select('code', 'status');
      const packId = `spk_${randomUUID().replace(/-/g, '')}`;
      await trx('scan_packs').insert({
        id: packId,
        event_id: input.eventId,
        issued_at: issuedAt,
        since_cursor: input.since,
        cursor,
        issued_to: input.issuedTo.slice(0, 200),
      });
      return assembleScanPack({
        packId,
        eventId: input.eventId,
        issuedAt: new Date(issuedAt).toISOString(),
        cursor: String(cursor),
        since: input.since,
        keys: input.keys,
        tickets: rows,
      });
    },
    { isolationLevel: 'repeatable read' },
  );
}

/** One admission to record: offline from an upload, or online from `POST /v1/scans`. */
export interface AdmissionToRecord {
  scanId: string;
  /** Null when the code matched no ticket (recorded as UNKNOWN, counted nowhere). */
  ticketId: string | null;
  gate: string;
  scannedAt: Date;
  source: 'ONLINE' | 'OFFLINE';
  packId: string | null;
  /** Fingerprint of what the scanner sent, so a replayed scan id with other contents is refused. */
  requestHash: string;
  scannedBy: string;
}

/** A recorded scan as the API answers it. */
export interface RecordedScan {
  scanId: string;
  result: SettledScanResult;
  ticketId: string | null;
  ticketTypeId: string | null;
  gate: string;
  scannedAt: string;
  /** For a DUPLICATE: the admission it repeats, so both gates are named. */
  duplicateOf: { scanId: string; gate: string } | null;
}

/** The fingerprint of one uploaded scan's contents. */
export function scanFingerprint(eventId: string, scan: { code: string; scannedAt: Date; gate: string }): string {
  return createHash('sha256')
    .update(JSON.stringify([eventId, scan.code, scan.scannedAt.toISOString(), scan.gate]))
    .digest('hex');
}

/** Refused upload: a scan id was recorded before with other contents. */
export const scanIdReused = (scanIds: string[]) =>
  new Problem(422, 'scan-id-reused', 'Unprocessable Content', 'a scanId was uploaded before with other contents', {
    errors: scanIds.map((scanId) => ({
      field: 'scans',
      message: `scanId ${scanId} was recorded with other contents`,
    })),
  });

interface ScanRow {
  id: string;
  ticket_id: string | null;
  ticket_type_id: string | null;
  gate: string;
  scanned_at: Date;
  result: SettledScanResult;
  admission_scan_id: string | null;
  admission_gate: string | null;
  request_hash: string;
  scanned_by: string;
}

/**
 * Records admissions and settles every scan of the tickets they touch, inside the caller's transaction. Ticket
 * rows are locked first, in id order, and counter rows after, in key order: uploads, online scans and voids of
 * the same tickets serialize on the ticket rows and never deadlock. Replays of a recorded scan id change nothing.
 */
export async function recordAdmissions(
  trx: Knex.Transaction,
  eventId: string,
  admissions: AdmissionToRecord[],
): Promise<void> {
  const ticketIds = [...new Set(admissions.flatMap((a) => (a.ticketId ? [a.ticketId] : [])))].sort();
  const tickets: Array<{ id: string; ticket_type_id: string; status: string; voided_at: Date | null }> =
    ticketIds.length
      ? await trx('tickets')
          .whereIn('id', ticketIds)
          .orderBy('id')
          .forNoKeyUpdate()
          .select('id', 'ticket_type_id', 'status', 'voided_at')
      : [];
  const ticketById = new Map(tickets.map((t) => [t.id, t]));

  const recorded: Array<Pick<ScanRow, 'id' | 'request_hash'>> = await trx('scans')
    .whereIn(
      'id',
      admissions.map((a) => a.scanId),
    )
    .select('id', 'request_hash');
  const recordedHash = new Map(recorded.map((r) => [r.id, r.request_hash]));
  const reused = admissions.filter(
    (a) => recordedHash.has(a.scanId) && recordedHash.get(a.scanId) !== a.requestHash,
  );
  if (reused.length) throw scanIdReused(reused.map((a) => a.scanId));
  const fresh = admissions.filter((a) => !recordedHash.has(a.scanId));
  if (!fresh.length) return;

  const unknown = fresh.filter((a) => !a.ticketId || !ticketById.has(a.ticketId));
  if (unknown.length) {
    const inserted = await trx('scans')
      .insert(unknown.map((a) => scanInsert(eventId, a, null, 'UNKNOWN')))
      .onConflict('id')
      .ignore()
      .returning('id');
    // Another upload of the same scan id won the insert: refuse if its contents differ, else it is a replay.
    if (inserted.length !== unknown.length) await refuseChangedReplays(trx, unknown);
  }

  const known = fresh.filter((a) => a.ticketId && ticketById.has(a.ticketId));
  if (!known.length) return;
  const touched = [...new Set(known.map((a) => a.ticketId!))];
  const existing: ScanRow[] = await trx('scans').whereIn('ticket_id', touched).select();
  const changes: ScanResultChange[] = [];
  const inserts: Record<string, unknown>[] = [];
  for (const ticketId of touched) {
    const ticket = ticketById.get(ticketId)!;
    const before = existing.filter((s) => s.ticket_id === ticketId);
    const added = known.filter((a) => a.ticketId === ticketId);
    const scans = [
      ...before.map((s) => ({ scanId: s.id, scannedAt: new Date(s.scanned_at), gate: s.gate })),
      ...added.map((a) => ({ scanId: a.scanId, scannedAt: a.scannedAt, gate: a.gate })),
    ];
    const settled = settleTicketScans(scans, ticket.voided_at ? new Date(ticket.voided_at) : null);
    for (const s of settled) {
      const old = before.find((b) => b.id === s.scanId);
      const gate = old?.gate ?? added.find((a) => a.scanId === s.scanId)!.gate;
      changes.push({ ticketTypeId: ticket.ticket_type_id, gate, from: old?.result ?? null, to: s.result });
      if (!old) {
        const admission = added.find((a) => a.scanId === s.scanId)!;
        inserts.push({
          ...scanInsert(eventId, admission, ticket.ticket_type_id, s.result),
          admission_scan_id: s.admissionScanId,
          admission_gate: s.admissionGate,
        });
      } else if (old.result !== s.result || old.admission_scan_id !== s.admissionScanId) {
        await trx('scans').where('id', s.scanId).update({
          result: s.result,
          admission_scan_id: s.admissionScanId,
          admission_gate: s.admissionGate,
          updated_at: trx.fn.now(),
        });
      }
    }
    // The ticket is USED from its admission on; a late, earlier scan moves when that was and who let it in.
    const admitted = settled.find((s) => s.result === 'ADMITTED');
    if (admitted && ticket.status !== 'VOID') {
      const at = scans.find((s) => s.scanId === admitted.scanId)!.scannedAt;
      const by =
        before.find((b) => b.id === admitted.scanId)?.scanned_by ??
        added.find((a) => a.scanId === admitted.scanId)!.scannedBy;
      await trx('tickets')
        .where('id', ticketId)
        .update({
          status: 'USED',
          used_at: at,
          used_by: `${by}@${scans.find((s) => s.scanId === admitted.scanId)!.gate}`.slice(0, 200),
        });
    }
  }
  await trx('scans').insert(inserts);
  await applyAttendance(trx, eventId, attendanceDeltas(changes));
}

function scanInsert(
  eventId: string,
  a: AdmissionToRecord,
  ticketTypeId: string | null,
  result: SettledScanResult,
): Record<string, unknown> {
  return {
    id: a.scanId,
    event_id: eventId,
    ticket_id: result === 'UNKNOWN' ? null : a.ticketId,
    ticket_type_id: ticketTypeId,
    gate: a.gate,
    scanned_at: a.scannedAt,
    source: a.source,
    pack_id: a.packId,
    request_hash: a.requestHash,
    result,
    scanned_by: a.scannedBy.slice(0, 200),
  };
}

async function refuseChangedReplays(trx: Knex.Transaction, admissions: AdmissionToRecord[]): Promise<void> {
  const rows: Array<Pick<ScanRow, 'id' | 'request_hash'>> = await trx('scans')
    .whereIn(
      'id',
      admissions.map((a) => a.scanId),
    )
    .select('id', 'request_hash');
  const hash = new Map(rows.map((r) => [r.id, r.request_hash]));
  const reused = admissions.filter((a) => hash.get(a.scanId) !== a.requestHash);
  if (reused.length) throw scanIdReused(reused.map((a) => a.scanId));
}

async function applyAttendance(trx: Knex.Transaction, eventId: string, deltas: AttendanceDelta[]): Promise<void> {
  if (!deltas.length) return;
  // The rows exist first, so each change is a plain increment: a proposed insert of a negative change would
  // trip the counters' check before ON CONFLICT could turn it into an update.
  await trx('attendance_counters')
    .insert(deltas.map((d) => ({ event_id: eventId, dimension: d.dimension, key: d.key })))
    .onConflict(['event_id', 'dimension', 'key'])
    .ignore();
  for (const d of deltas) {
    await trx('attendance_counters')
      .where({ event_id: eventId, dimension: d.dimension, key: d.key })
      .update({
        admitted: trx.raw('admitted + ?', [d.admitted]),
        admitted_while_void: trx.raw('admitted_while_void + ?', [d.admittedWhileVoid]),
        duplicates: trx.raw('duplicates + ?', [d.duplicates]),
        updated_at: trx.fn.now(),
      });
  }
}

/** Reads recorded scans back, in the order asked for. */
export async function loadRecordedScans(db: Db | Knex.Transaction, scanIds: string[]): Promise<RecordedScan[]> {
  const rows: ScanRow[] = await db('scans').whereIn('id', scanIds).select();
  const byId = new Map(rows.map((r) => [r.id, r]));
  return scanIds.flatMap((id) => {
    const r = byId.get(id);
    if (!r) return [];
    return [
      {
        scanId: r.id,
        result: r.result,
        ticketId: r.ticket_id,
        ticketTypeId: r.ticket_type_id,
        gate: r.gate,
        scannedAt: new Date(r.scanned_at).toISOString(),
        duplicateOf:
          r.result === 'DUPLICATE' && r.admission_scan_id
            ? { scanId: r.admission_scan_id, gate: r.admission_gate ?? '' }
            : null,
      },
    ];
  });
}

/** Counts of one kind of attendance row. */
export interface AttendanceCounts {
  admitted: number;
  admittedWhileVoid: number;
  duplicates: number;
}

/** `GET /v1/events/:eventId/attendance`: from the counters, never from the tickets. */
export interface AttendanceView extends AttendanceCounts {
  eventId: string;
  /** Everyone who walked in: admissions, admissions on void tickets, and second entries on one ticket. */
  entries: number;
  byTicketType: Array<AttendanceCounts & { ticketTypeId: string; name: string }>;
  byGate: Array<AttendanceCounts & { gate: string }>;
  updatedAt: string | null;
}

/** Reads an event's attendance from its counters. */
export async function loadAttendance(db: Db, eventId: string): Promise<AttendanceView> {
  const [counters, types] = await Promise.all([
    db('attendance_counters').where('event_id', eventId).orderBy(['dimension', 'key']).select(),
    db('ticket_types').where('event_id', eventId).orderBy('id').select('id', 'name'),
  ]);
  const counts = (row?: Record<string, unknown>): AttendanceCounts => ({
    admitted: Number(row?.admitted ?? 0),
    admittedWhileVoid: Number(row?.admitted_while_void ?? 0),
    duplicates: Number(row?.duplicates ?? 0),
  });
  const byType = new Map(counters.filter((c) => c.dimension === 'TICKET_TYPE').map((c) => [c.key as string, c]));
  const byTicketType = types.map((t) => ({
    ticketTypeId: t.id as string,
    name: t.name as string,
    ...counts(byType.get(t.id)),
  }));
  const byGate = counters
    .filter((c) => c.dimension === 'GATE')
    .map((c) => ({ gate: c.key as string, ...counts(c) }));
  const total = byTicketType.reduce(
    (sum, t) => ({
      admitted: sum.admitted + t.admitted,
      admittedWhileVoid: sum.admittedWhileVoid + t.admittedWhileVoid,
      duplicates: sum.duplicates + t.duplicates,
    }),
    { admitted: 0, admittedWhileVoid: 0, duplicates: 0 },
  );
  const latest = counters.reduce<Date | null>((max, c) => {
    const at = new Date(c.updated_at);
    return !max || at > max ? at : max;
  }, null);
  return {
    eventId,
    ...total,
    entries: total.admitted + total.admittedWhileVoid + total.duplicates,
    byTicketType,
    byGate,
    updatedAt: latest ? latest.toISOString() : null,
  };
}
