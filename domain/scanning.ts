/**
 * Door rules: what each recorded admission of a ticket finally counts as, and how it moves attendance.
 *
 * Scans reach the platform in any order (a gate that was offline for an hour uploads late), so a scan's result is
 * never decided by arrival. It is a function of the set of the ticket's scans and the moment it was voided, and is
 * recomputed whenever a scan of the ticket arrives: whatever the upload order, the same set gives the same results.
 */

/** The final result of a recorded admission. */
export const SETTLED_SCAN_RESULTS = ['ADMITTED', 'DUPLICATE', 'ADMITTED_WHILE_VOID', 'UNKNOWN'] as const;
/** The final result of a recorded admission: the admission, a second entry, an entry on a void ticket, or no ticket. */
export type SettledScanResult = (typeof SETTLED_SCAN_RESULTS)[number];

/** One recorded admission of a ticket, as the settling rule needs it. */
export interface TicketScan {
  scanId: string;
  scannedAt: Date;
  gate: string;
}

/** What one scan finally counts as; a duplicate names the admission it repeats (its scan and gate). */
export interface SettledScan {
  scanId: string;
  result: Exclude<SettledScanResult, 'UNKNOWN'>;
  admissionScanId: string | null;
  admissionGate: string | null;
}

/** Earlier first; the scan id breaks a tie, so two scans in the same millisecond still settle one way. */
export function compareScans(a: TicketScan, b: TicketScan): number {
  const byTime = a.scannedAt.getTime() - b.scannedAt.getTime();
  if (byTime !== 0) return byTime;
  return a.scanId < b.scanId ? -1 : a.scanId > b.scanId ? 1 : 0;
}

/**
 * Settles every scan of one ticket. A scan made when the ticket was already VOID (`scannedAt >= voidedAt`) is
 * ADMITTED_WHILE_VOID, for the organizer to follow up. Of the others, the earliest is the admission and every
 * later one is a DUPLICATE naming it, so support sees both gates. A void always comes after the scans recorded
 * before it (it is stamped when it commits), so voiding never changes a result already given.
 */
export function settleTicketScans(scans: readonly TicketScan[], voidedAt: Date | null): SettledScan[] {
  const ordered = [...scans].sort(compareScans);
  let admission: TicketScan | null = null;
  return ordered.map((scan) => {
    if (voidedAt && scan.scannedAt.getTime() >= voidedAt.getTime()) {
      return { scanId: scan.scanId, result: 'ADMITTED_WHILE_VOID', admissionScanId: null, admissionGate: null };
    }
    if (!admission) {
      admission = scan;
      return { scanId: scan.scanId, result: 'ADMITTED', admissionScanId: null, admissionGate: null };
    }
    return {
      scanId: scan.scanId,
      result: 'DUPLICATE',
      admissionScanId: admission.scanId,
      admissionGate: admission.gate,
    };
  });
}

/** Attendance is counted per ticket type and per gate. */
export type AttendanceDimension = 'TICKET_TYPE' | 'GATE';

/** A change to one attendance counter row. */
export interface AttendanceDelta {
  dimension: AttendanceDimension;
  key: string;
  admitted: number;
  admittedWhileVoid: number;
  duplicates: number;
}

const COUNTED: Record<SettledScanResult, keyof Omit<AttendanceDelta, 'dimension' | 'key'> | null> = {
  ADMITTED: 'admitted',
  ADMITTED_WHILE_VOID: 'admittedWhileVoid',
  DUPLICATE: 'duplicates',
  UNKNOWN: null,
};

/** A scan whose result changed (`from` null: a newly recorded scan), under its ticket type and gate. */
export interface ScanResultChange {
  ticketTypeId: string;
  gate: string;
  from: SettledScanResult | null;
  to: SettledScanResult;
}

/**
 * How attendance moves when scans change result (`from` null: a new scan). Each scan counts once, under its
 * ticket type and its gate; rows whose net change is zero are left out, so nothing is written for them. The rows
 * come sorted, so concurrent writers lock counter rows in one order.
 */
export function attendanceDeltas(changes: readonly ScanResultChange[]): AttendanceDelta[] {
  const rows = new Map<string, AttendanceDelta>();
  const bump = (dimension: AttendanceDimension, key: string, result: SettledScanResult | null, by: number) => {
    const field = result ? COUNTED[result] : null;
    if (!field) return;
    const id = `${dimension}\u0000${key}`;
    const row = rows.get(id) ?? { dimension, key, admitted: 0, admittedWhileVoid: 0, duplicates: 0 };
    row[field] += by;
    rows.set(id, row);
  };
  for (const change of changes) {
    if (change.from === change.to) continue;
    for (const [dimension, key] of [
      ['TICKET_TYPE', change.ticketTypeId],
      ['GATE', change.gate],
    ] as const) {
      bump(dimension, key, change.from, -1);
      bump(dimension, key, change.to, +1);
    }
  }
  return [...rows.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, row]) => row)
    .filter((row) => row.admitted !== 0 || row.admittedWhileVoid !== 0 || row.duplicates !== 0);
}
