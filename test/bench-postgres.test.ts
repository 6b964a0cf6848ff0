import { createDb, type Db } from '../db';
import { postgresWritesPerOrder, readPostgresWrites } from '../bench/postgres-writes';
import { lostOrders } from '../bench/own-stack-sale';
import { createCatalogue, requiredEnv, uid } from './support/env';

// One connection, so the statistics this test causes are flushed by the backend the test then reads from.
let db: Db;
beforeAll(() => {
  db = createDb(requiredEnv('TEST_DATABASE_URL'), 1);
});
afterAll(() => db?.destroy());

/** Makes this backend report its statistics at its next idle moment, as a busy one does within a second. */
const flushStatistics = () => db.raw('SELECT pg_stat_force_next_flush()');

describe('counting what a phase wrote to Postgres', () => {
  test('when two write transactions and some reads ran, then two commits and their rows are counted', async () => {
    await db.raw('CREATE TEMP TABLE IF NOT EXISTS bench_writes (n int)');
    await flushStatistics();
    const before = await readPostgresWrites(db);
    await db.transaction(async (trx) => {
      await trx('bench_writes').insert([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });
    await db('bench_writes').where({ n: 1 }).update({ n: 10 });
    await db('bench_writes').select('*');
    await db.raw('SELECT 1');
    await flushStatistics();
    const after = await readPostgresWrites(db);
    // Reading the counters assigns no transaction id, so only the two writes advance it.
    expect(after.nextTransactionId - before.nextTransactionId).toBe(2);
    expect(after.rowWrites - before.rowWrites).toBe(4);
    expect(postgresWritesPerOrder(before, after, 2)).toEqual({ commitsPerOrder: 1, rowWritesPerOrder: 2 });
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
