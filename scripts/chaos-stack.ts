// The crash suite's stack (scripts/chaos.ts, phase 1): Postgres, Temporal, the worker and the API, each held on
// its own so that the faults (chaos-faults.ts) can kill any of them and bring it back. The worker's deaths are
// ours; the API's would be a finding.
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config';
import { createDb, migrateLatest, type Db } from '../db';
import { childByName, spawnTs, stopChild } from '../bench/processes';
import { apiAnswers, type ReadinessProbe } from './readiness';
import { startPostgres, type PostgresHandle } from './postgres';
import { findOrInstallTemporalCli } from './temporal-cli';
import { startConfiguredDevServer } from './infrastructure';
import type { TemporalDevServer } from './temporal-server';
import { CLUSTER_CHAOS_ENV, startChaosCluster } from './chaos-cluster';
import type { ChaosCatalogue } from './chaos-buyers';

/** The suite's log line: a clock, so the faults and the buyers' progress can be read side by side. */
export const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The suite's own data directory and ports, so `npm start` and `npm run bench` can run beside it. */
const CHAOS_ENV = {
  NODE_ENV: 'development',
  DATA_DIR: '.data/chaos',
  TEMPORAL_PORT: '7399',
  TEMPORAL_UI_PORT: '8399',
  EMBEDDED_PG_PORT: '5599',
  PORT: '3199',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3199',
  // Metrics ports of its own too, or a worker or dev server of `npm start` beside it would make this one fail.
  WORKER_METRICS_PORT: '9497',
  WORKER_SDK_METRICS_PORT: '9498',
  TEMPORAL_METRICS_PORT: '9499',
  // Short holds, so abandoned 3-D Secure checkouts expire within the run instead of waiting 15 minutes.
  HOLD_TTL_SECONDS: '30',
  CRYPTO_HOLD_TTL_SECONDS: '20',
  LOG_LEVEL: 'warn',
  DATABASE_URL: '',
  TEMPORAL_ADDRESS: '',
} as const;

/** What to stop if the run fails or is interrupted, latest first: nothing of ours may outlive it. */
export const cleanups: Array<() => Promise<unknown>> = [];
export async function cleanUp(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
}

/** A child process the suite keeps alive: when it dies, it is started again after a short random pause. */
function supervise(
  name: 'worker' | 'api',
  script: string,
  marker: string | ReadinessProbe,
  childEnv: NodeJS.ProcessEnv,
  dataDir: string,
  random: () => number,
) {
  let current = spawnTs(script, childEnv, join(dataDir, `${name}.log`));
  let stopping = false;
  let deaths = 0;
  let kills = 0;
  const watch = () =>
    current.child.once('exit', (code, signal) => {
      if (stopping) return;
      deaths++;
      if (signal !== 'SIGKILL') log(`${name} exited on its own (${signal ?? code}); restarting it`);
      setTimeout(
        () => {
          if (stopping) return;
          current = spawnTs(script, childEnv, join(dataDir, `${name}.log`));
          watch();
        },
        200 + Math.floor(random() * 1300),
      );
    });
  watch();
  return {
    /** How often it died, killed by the suite or on its own. */
    deaths: () => deaths,
    /** How often the suite killed it. */
    kills: () => kills,
    ready: () => current.ready(marker, 120_000),
    /**
     * SIGKILL to a process that is up and polling: if the last one is still being replaced or still starting
     * (bundling the workflows takes a while), wait for it, so that every kill hits a worker at work.
     */
    kill: async () => {
      const until = Date.now() + 120_000;
      while (Date.now() < until) {
        const target = current;
        const exited = () => target.child.exitCode !== null || target.child.signalCode !== null;
        if (!exited()) await target.ready(marker, until - Date.now()).catch(() => undefined);
        if (target === current && !exited() && target.child.kill('SIGKILL')) {
          kills++;
          return;
        }
        await sleep(50);
      }
      throw new Error(`${name} was not up within 120 s`);
    },
    stop: async () => {
      stopping = true;
      await stopChild(current.child);
    },
  };
}

/** Brings the stack up on a fresh data directory; `cluster` runs Temporal as a cluster on Postgres instead. */
export async function startStack(options: { cluster: boolean }, random: () => number) {
  // On a cluster, a data directory and ports of its own (chaos-cluster.ts), so it never meets a dev-server run.
  const env: NodeJS.ProcessEnv = { ...process.env, ...CHAOS_ENV, ...(options.cluster ? CLUSTER_CHAOS_ENV : {}) };
  const config = loadConfig(env);
  const dataDir = resolve(config.DATA_DIR);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const startPg = () =>
    startPostgres({
      dataDir: resolve(dataDir, 'postgres'),
      port: config.EMBEDDED_PG_PORT,
      database: 'bilten',
      log,
    });
  let postgres: PostgresHandle = await startPg();
  cleanups.push(() => postgres.stop());
  const migrator = createDb(postgres.url, 2);
  await migrateLatest(migrator);
  await migrator.destroy();
  const cluster = options.cluster ? await startChaosCluster(config, postgres.url, dataDir, log) : undefined;
  const cliPath = cluster ? '' : await findOrInstallTemporalCli(log);
  const startTemporal = () => startConfiguredDevServer(config, cliPath, dataDir);
  let temporal: Pick<TemporalDevServer, 'address' | 'stop'> = cluster ?? (await startTemporal());
  cleanups.push(() => temporal.stop());
  const childEnv = { ...env, DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address, LOG_LEVEL: 'info' };

  // The worker is killed and restarted all through the run, so its readiness is its own log line (JSON, at info,
  // which LOG_LEVEL=info lets through), not scripts/readiness.ts's pollers probe: a SIGKILLed worker's poller stays
  // listed on the task queue for a minute, and would make its successor look ready while it is still bundling.
  const worker = supervise('worker', 'workers/main.ts', '"msg":"polling task queues', childEnv, dataDir, random);
  const api = supervise(
    'api',
    'api/main.ts',
    apiAnswers(`${config.PUBLIC_BASE_URL}/readyz`),
    childEnv,
    dataDir,
    random,
  );
  cleanups.push(
    () => worker.stop(),
    () => api.stop(),
  );
  await Promise.all([worker.ready(), api.ready()]);
  const db = createDb(postgres.url, 4);

  return {
    config,
    dataDir,
    db,
    cluster,
    worker,
    api,
    postgresUrl: () => postgres.url,
    temporalAddress: () => temporal.address,
    /** SIGKILL to the dev server, then a new one on the same SQLite file. */
    async restartTemporal(): Promise<void> {
      const pid = childByName(process.pid, 'temporal');
      if (pid) process.kill(pid, 'SIGKILL');
      await temporal.stop();
      await sleep(2_000);
      temporal = await startTemporal();
    },
    /** Postgres down for `ms`, then up again on the same data. */
    async stopPostgres(ms: number): Promise<void> {
      await postgres.stop();
      await sleep(ms);
      postgres = await startPg();
    },
  };
}
/** The running stack, as the later phases use it. */
export type Stack = Awaited<ReturnType<typeof startStack>>;

/** Phase 2: an event with a large ticket type for the stream and a small one that the burst sells out. */
export async function seedCatalogue(db: Db, seed: number, smallCapacity: number): Promise<ChaosCatalogue> {
  const catalogue = {
    eventId: `evt_chaos_${seed}`,
    largeTypeId: `tt_chaos_${seed}`,
    smallTypeId: `tt_chaos_small_${seed}`,
    smallCapacity,
  };
  await db('organizers')
    .insert({ id: 'org_chaos', name: 'Chaos Promotions', currency: 'USD' })
    .onConflict()
    .ignore();
  await db('events').insert({
    id: catalogue.eventId,
    organizer_id: 'org_chaos',
    name: 'Crash night',
    starts_at: '2030-01-01',
  });
  const seat = { event_id: catalogue.eventId, price_minor: 2500, currency: 'USD', max_per_order: 4 };
  await db('ticket_types').insert([
    { ...seat, id: catalogue.largeTypeId, name: 'Seat', capacity: 100_000 },
    { ...seat, id: catalogue.smallTypeId, name: 'Front row', capacity: smallCapacity },
  ]);
  return catalogue;
}
