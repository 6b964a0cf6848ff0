import { createDb, type Db } from '../db';
import { postgresWritesPerOrder, readPostgresWrites } from '../bench/postgres-writes';
import { lostOrders } from '../bench/own-stack-sale';
import { createCatalogue, requiredEnv, uid } from './support/env';

// The run's test database, which every test file writes to at once.
let db: Db;
// A database of this test's own, so its row counts are its writes alone, on one connection, so the statistics the
// test causes are flushed by the backend it then reads from.
let own: Db;
const ownDatabase = uid('bench_writes').toLowerCase();
beforeAll(async () => {
  db = createDb(requiredEnv('TEST_DATABASE_URL'), 1);
  await db.raw('CREATE DATABASE ??', [ownDatabase]);
  const url = new URL(requiredEnv('TEST_DATABASE_URL'));
  url.pathname = `/${ownDatabase}`;
  own = createDb(url.toString(), 1);
});
afterAll(async () => {
  await own?.destroy();
  await db?.raw('DROP DATABASE IF EXISTS ??', [ownDatabase]);
  await db?.destroy();
});

/** Makes this backend report its statistics at its next idle moment, as a busy one does within a second. */
const flushStatistics = () => own.raw('SELECT pg_stat_force_next_flush()');

/** Runs a write transaction and answers the transaction id Postgres gave it. */
async function write(fn: (trx: Db) => Promise<unknown>): Promise<number> {
  return own.transaction(async (trx) => {
    await fn(trx as unknown as Db);
    const { rows } = await trx.raw('SELECT pg_current_xact_id()::text::bigint AS xid');
    return Number(rows[0].xid);
  });
}

describe('counting what a phase wrote to Postgres', () => {
  test('when two write transactions and some reads ran, then two commits and their rows are counted', async () => {
    await own.raw('CREATE TABLE IF NOT EXISTS bench_writes (n int)');
    // Transaction ids are the whole cluster's, and other test files write beside this one: a reading counts only
    // our two writes when no other write took an id between the readings, so a reading that shares is taken again.
    for (let attempt = 1; ; attempt++) {
      await flushStatistics();
      const before = await readPostgresWrites(own);
      const first = await write((trx) => trx('bench_writes').insert([{ n: 1 }, { n: 2 }, { n: 3 }]));
      const second = await write((trx) => trx('bench_writes').where({ n: 1 }).update({ n: 10 }));
      await own('bench_writes').select('*');
      await own.raw('SELECT 1');
      await flushStatistics();
      const after = await readPostgresWrites(own);
      const alone =
        first === before.nextTransactionId && second === first + 1 && after.nextTransactionId === second + 1;
      if (!alone && attempt < 20) continue;
      expect(alone).toBe(true);
      // Reading the counters assigns no transaction id, so only the two writes advance it.
      expect(after.nextTransactionId - before.nextTransactionId).toBe(2);
      expect(after.rowWrites - before.rowWrites).toBe(4);
      expect(postgresWritesPerOrder(before, after, 2)).toEqual({ commitsPerOrder: 1, rowWritesPerOrder: 2 });
      return;
    }
  });
});

describe('finding orders the buyers were shown as paid that the books do not have', () => {
  test('when one shown order is PAID, one EXPIRED and one missing, then the last two are lost', async () => {
    const catalogue = await createCatalogue(db, { capacity: 10 });
    const order = (status: string) => ({
      id: uid('ord'),
      buyer_id: uid('buyer'),
      event_id: catalogue.eventId,
      organizer_id: catalogue.organizerId,
      idempotency_key: uid('key'),
      request_hash: 'h',
      status,
      total_minor: 2500,
      currency: 'USD',
      payment_method: 'card',
    });
    const paid = order('PAID');
    const expired = order('EXPIRED');
    await db('orders').insert([paid, expired]);
    expect(await lostOrders(db, [paid.id, expired.id, 'ord_never_written'])).toEqual([
      expired.id,
      'ord_never_written',
    ]);
  });
});
