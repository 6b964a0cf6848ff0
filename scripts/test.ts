import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import pg from 'pg';
import { createDb, migrateLatest } from '../db';
import { ensureDatabase, startPostgres } from './postgres';
import { ensureStripeMock } from './stripe-mock';
import { findOrInstallTemporalCli } from './temporal-cli';

/**
 * `npm test`: finds or installs what the tests run against (the Temporal CLI, stripe-mock, Postgres),
 * gives the run a fresh migrated database, then runs jest with any extra arguments.
 */
async function main(): Promise<void> {
  const log = (line: string) => console.log(`[test] ${line}`);
  const started = Date.now();
  const [temporalCli, stripeMock] = await Promise.all([findOrInstallTemporalCli(log), ensureStripeMock()]);
  log(`Temporal CLI ${temporalCli}; stripe-mock ${stripeMock}`);

  const postgres = await startPostgres({
    databaseUrl: process.env.DATABASE_URL,
    dataDir: resolve(process.env.DATA_DIR ?? '.data', 'test-postgres'),
    port: Number(process.env.TEST_PG_PORT ?? 5489),
    database: 'postgres',
    log,
  });
  // A fresh database per run, so no run depends on what an earlier one left behind.
  const testDatabase = `bilten_test_${process.pid}`;
  const testUrl = await ensureDatabase(postgres.url, testDatabase);
  const db = createDb(testUrl, 2);
  await migrateLatest(db);
  await db.destroy();
  log(
    `Postgres ready (${postgres.embedded ? 'embedded' : 'DATABASE_URL'}), database ${testDatabase}, in ${Date.now() - started} ms`,
  );

  const code = await new Promise<number>((done) => {
    const jest = spawn(process.execPath, [require.resolve('jest/bin/jest'), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: {
        ...process.env,
        NODE_ENV: 'test',
        TEMPORAL_CLI_PATH: temporalCli,
        STRIPE_MOCK_PATH: stripeMock,
        TEST_DATABASE_URL: testUrl,
      },
    });
    jest.on('exit', (exitCode, signal) => done(exitCode ?? (signal ? 1 : 0)));
  });

  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${testDatabase}" WITH (FORCE)`).catch(() => undefined);
  await admin.end();
  await postgres.stop();
  process.exit(code);
}

main().catch((err) => {
  console.error('[test] setup failed:', err);
  process.exit(1);
});
