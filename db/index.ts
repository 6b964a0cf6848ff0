import knex, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../migrations';

// bigint columns hold minor units well inside Number.MAX_SAFE_INTEGER; read them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} exceeds the safe integer range`);
  return n;
});

export type Db = Knex;

/** Opens a knex pool on Postgres. */
export function createDb(databaseUrl: string, poolMax = 10): Db {
  return knex({
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: 'bilten' },
    pool: { min: 0, max: poolMax },
  });
}

/**
 * Runs one read as a named prepared statement: Postgres parses and plans it once per pooled connection instead of on
 * every call, and knex builds no query. For the hottest reads only (pricing a checkout); `text` uses `$1`, `$2`.
 */
export async function preparedRows<Row extends object>(
  db: Db,
  name: string,
  text: string,
  values: unknown[],
): Promise<Row[]> {
  const connection = (await db.client.acquireConnection()) as pg.Client;
  try {
    return (await connection.query<Row>({ name, text, values })).rows;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/** Brings the schema up to date; safe to run concurrently from several processes (knex takes a lock). */
export async function migrateLatest(db: Db): Promise<void> {
  await db.migrate.latest({ migrationSource });
}
