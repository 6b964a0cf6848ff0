// What the sale wrote to Postgres, for the sizing model (sizing.ts): write transactions and rows written. Read from
// Postgres's own counters before and after a phase, so nothing in the platform has to count for the bench.
import type { Db } from '../db';

/** Postgres's write counters at one moment. */
export interface PostgresWriteCounters {
  /**
   * The next transaction id: it advances once per transaction that wrote (read-only transactions get none), so
   * the difference is the write transactions committed or aborted in between, across the whole instance.
   */
  nextTransactionId: number;
  /** Rows inserted, updated or deleted in this database so far (pg_stat_database). */
  rowWrites: number;
}

/**
 * Reads the counters. The transaction id is exact at once. The row counts come from the statistics system, where a
 * busy backend reports at most once a second (and an idle one within 10 s), so a reading misses up to a second of
 * each backend's latest writes. The bench reads both sides the same way, as its warm-up ends and as its sale ends,
 * so the second missed at the end is about the second of warm-up counted at the start.
 */
export async function readPostgresWrites(db: Db): Promise<PostgresWriteCounters> {
  const { rows } = await db.raw(
    `SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid,
            tup_inserted + tup_updated + tup_deleted AS row_writes
       FROM pg_stat_database WHERE datname = current_database()`,
  );
  return { nextTransactionId: Number(rows[0].next_xid), rowWrites: Number(rows[0].row_writes) };
}

/** Write transactions and rows written per paid order between two readings. */
export function postgresWritesPerOrder(
  before: PostgresWriteCounters,
  after: PostgresWriteCounters,
  orders: number,
) {
  const per = (n: number) => Math.round((n / Math.max(1, orders)) * 10) / 10;
  return {
    commitsPerOrder: per(after.nextTransactionId - before.nextTransactionId),
    rowWritesPerOrder: per(after.rowWrites - before.rowWrites),
  };
}
