import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, migrateLatest } from '../db';
import { ensureDatabase, startPostgres } from './postgres';
import { ensureStripeMock } from './stripe-mock';
import { findExecutable } from './temporal-cli';
import { findOrBuild, TEMPORAL_SERVER, TEMPORAL_SQL_TOOL } from './temporal-binaries';
import {
  clusterDatabaseFrom,
  clusterPorts,
  prepareClusterDatabases,
  startTemporalCluster,
  type ClusterPorts,
} from './temporal-cluster';

/**
 * The suites `npm run test:cluster` runs against a Temporal cluster on Postgres: every flow that moves money or
 * tickets (checkout, payments, webhooks, fulfilment, refunds, payouts), through the workflow tests and the API.
 * Add a flow's suites here when it lands (rewards, schedules); suites about the dev server itself or about
 * providers alone stay out. test/event-cancellation.api.test.ts passes on the cluster too (`npm run
 * test:cluster -- test/event-cancellation.api.test.ts`), but it buys and refunds 200 orders, about 7 minutes on
 * a loaded 2-core machine, longer than all of these together, so the default run leaves it out.
 */
export const CLUSTER_SUITES = [
  'test/checkout.workflow.test.ts',
  'test/checkout.api.test.ts',
  'test/checkout.payments.api.test.ts',
  'test/idempotency.api.test.ts',
  'test/webhooks.api.test.ts',
  'test/fulfilment.test.ts',
  'test/refunds.api.test.ts',
  'test/payouts.api.test.ts',
];

/**
 * `npm run test:cluster`: a throwaway Temporal cluster (four service processes, persistence and visibility on an
 * embedded Postgres, 4 history shards) on free ports, then jest over CLUSTER_SUITES (or the files given) with
 * TEST_TEMPORAL_ADDRESS pointing at it. Each test file gets a namespace of its own on that cluster.
 */
async function main(): Promise<void> {
  const log = (line: string) => console.log(`[test:cluster] ${line}`);
  const started = Date.now();
  // The suites need no Web UI; building it here would only cost CI time.
  const sqlTool = await findOrBuild(TEMPORAL_SQL_TOOL, process.env.TEMPORAL_SQL_TOOL_PATH, log);
  const [server, stripeMock] = await Promise.all([
    findOrBuild(TEMPORAL_SERVER, process.env.TEMPORAL_SERVER_PATH, log),
    ensureStripeMock(),
  ]);
  const binaries = { server, sqlTool };
  log(`temporal-server ${binaries.server}; temporal-sql-tool ${binaries.sqlTool}; stripe-mock ${stripeMock}`);

  const scratch = mkdtempSync(join(tmpdir(), 'bilten-test-cluster-'));
  // mkdtemp makes it 0700; as root, Postgres runs as the `postgres` user, which must be able to enter it.
  chmodSync(scratch, 0o755);
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanUp = async () => {
    for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  try {
    const postgres = await startPostgres({
      dataDir: join(scratch, 'postgres'),
      port: await freePort(),
      database: 'postgres',
      log,
    });
    cleanups.push(() => postgres.stop());
    const testUrl = await ensureDatabase(postgres.url, 'bilten_test');
    const db = createDb(testUrl, 2);
    await migrateLatest(db);
    await db.destroy();

    const temporalUrl = new URL(postgres.url);
    temporalUrl.pathname = '/temporal';
    const temporalDb = clusterDatabaseFrom(temporalUrl.toString());
    await prepareClusterDatabases(binaries.sqlTool, temporalDb, log);
    const ports = await freeClusterPorts();
    const cluster = await startTemporalCluster({
      binaries,
      db: temporalDb,
      ports,
      namespace: 'default',
      logDir: join(scratch, 'logs'),
      log,
    });
    cleanups.push(() => cluster.stop());
    log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)}s since start of the run`);

    const files = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
    const flags = process.argv.slice(2).filter((arg) => arg.startsWith('-'));
    const code = await new Promise<number>((done) => {
      const jest = spawn(
        process.execPath,
        [require.resolve('jest/bin/jest'), ...flags, ...(files.length ? files : CLUSTER_SUITES)],
        {
          stdio: 'inherit',
          env: {
            ...process.env,
            NODE_ENV: 'test',
            // As in `npm test`: tests fail requests on purpose; only warnings and errors are shown.
            LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
            TEST_TEMPORAL_ADDRESS: cluster.address,
            STRIPE_MOCK_PATH: stripeMock,
            TEST_DATABASE_URL: testUrl,
            // Suites outside CLUSTER_SUITES may still want the CLI; pass it when this machine has one.
            ...(findExecutable('temporal') ? { TEMPORAL_CLI_PATH: findExecutable('temporal') } : {}),
          },
        },
      );
      jest.on('exit', (exitCode, signal) => done(exitCode ?? (signal ? 1 : 0)));
    });
    await cleanUp();
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    process.exit(code);
  } catch (err) {
    await cleanUp();
    throw err;
  }
}

/**
 * Cluster ports nobody listens on right now, all below 32768: Temporal keeps membership ports in a Postgres
 * smallint (cluster_membership.rpc_port), so the kernel's ephemeral ports (32768 and up) make every service fail
 * with 'value out of range for type smallint'. The layout is start:cluster's, from a random frontend port.
 */
async function freeClusterPorts(): Promise<ClusterPorts> {
  for (;;) {
    const ports = clusterPorts(20_000 + Math.floor(Math.random() * 12_000), 0);
    const all = [
      ...Object.values(ports.grpc),
      ...Object.values(ports.membership),
      ...Object.values(ports.metrics),
    ];
    if ((await Promise.all([...all, ports.frontendHttp].map(isFree))).every(Boolean)) return ports;
  }
}

const isFree = (port: number) =>
  new Promise<boolean>((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });

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

if (require.main === module) {
  main().catch((err) => {
    console.error('[test:cluster] setup failed:', err);
    process.exit(1);
  });
}
