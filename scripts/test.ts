import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb, migrateLatest } from '../db';
import { ensureDatabase, startPostgres } from './postgres';
import { ensureStripeMock } from './stripe-mock';
import { findOrInstallTemporalCli } from './temporal-cli';
import { logger } from '../observability/logger';

/**
 * `npm test`: finds or installs what the tests run against (the Temporal CLI, stripe-mock, Postgres),
 * gives the run a fresh migrated database, then runs jest with any extra arguments.
 */
async function main(): Promise<void> {
  const testLog = logger.child({ component: 'test' });
  const log = (line: string) => testLog.info(line);
  const started = Date.now();
  const [temporalCli, stripeMock] = await Promise.all([findOrInstallTemporalCli(log), ensureStripeMock()]);
  log(`Temporal CLI ${temporalCli}; stripe-mock ${stripeMock}`);

  // Each run gets its own throwaway cluster on a free port, so runs side by side never stop each other's.
  const scratch = mkdtempSync(join(tmpdir(), 'bilten-test-'));
  // mkdtemp makes it 0700; as root, Postgres runs as the `postgres` user, which must be able to enter it.
  chmodSync(scratch, 0o755);
  const postgres = await startPostgres({
    databaseUrl: process.env.DATABASE_URL,
    dataDir: join(scratch, 'postgres'),
    port: await freePort(),
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
        // Tests fail requests on purpose; only warnings and errors are shown unless LOG_LEVEL says otherwise.
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
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
  rmSync(scratch, { recursive: true, force: true });
  process.exit(code);
}

/** A TCP port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

main().catch((err) => {
  logger.fatal({ err, component: 'test' }, 'test setup failed');
  process.exit(1);
});
