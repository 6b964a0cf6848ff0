// `npm run test:chaos`: the crash suite. Buyers walk every money path through the real API (cards paid, declined
// and refunded; 3-D Secure passed, failed and abandoned; crypto confirmed, late and failed; a burst of buyers racing
// for a small ticket type until it sells out) while the worker is killed with SIGKILL again and again (some of
// those kills between a card charge and the activity's completion), the Temporal dev server is killed and
// restarted on its SQLite file, and Postgres is stopped for a while. Then the books are checked (chaos-books.ts):
// ledger_invariant_violations(), no seat oversold, no order lost, one charge per paid order, every refund done,
// and every buyer got an answer that the books bear out. Any finding, or an API process that died, fails the run
// with exit code 1.
//
// It brings up its own stack (data in .data/chaos, ports 5599/7399/8399/3199, metrics 9497-9499), so `npm start` and `npm run bench`
// can run beside it. `--profile full` (the default, before a release) takes about five minutes; `--profile ci`,
// which `.ci/run` runs after `npm test`, about two and a half on two cores.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { loadConfig } from '../config';
import { platformDataConverter } from '../temporal/payload-codec';
import { createDb, migrateLatest, type Db } from '../db';
import { CHECKOUT_WORKFLOW_TYPES, workflowTypeIn } from '../domain';
import { childByName, spawnTs, stopChild } from '../bench/processes';
import { apiAnswers, type ReadinessProbe } from './readiness';
import { startPostgres, type PostgresHandle } from './postgres';
import { findOrInstallTemporalCli } from './temporal-cli';
import { startConfiguredDevServer } from './infrastructure';
import type { TemporalDevServer } from './temporal-server';
import { CLUSTER_CHAOS_ENV, clusterFaults, startChaosCluster, type ClusterFault } from './chaos-cluster';
import { createBuyers, type ChaosCatalogue, type Outcome } from './chaos-buyers';
import { checkBooks, OPEN_ORDER_STATUSES, OPEN_REFUND_STATUSES } from './chaos-books';

const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** How hard a run pushes: `full` before a release, `ci` on every CI run (a few minutes on two cores). */
const PROFILES = {
  full: {
    duration: 150,
    kills: 12,
    concurrency: 4,
    postgresOutageSeconds: 20,
    smallCapacity: 40,
    settleSeconds: 120,
  },
  ci: { duration: 60, kills: 3, concurrency: 3, postgresOutageSeconds: 8, smallCapacity: 15, settleSeconds: 90 },
} as const;
type Profile = (typeof PROFILES)[keyof typeof PROFILES];

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated with its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What to stop if the run fails or is interrupted, latest first: nothing of ours may outlive it. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  const run = readOptions();
  const random = prng(run.seed);
  log(
    `seed ${run.seed}, profile ${run.profileName}: ${run.duration}s of buyers at concurrency ${run.concurrency}, ` +
      `${run.kills} worker kills, Postgres down ${run.postgresOutageSeconds}s`,
  );

  const stack = await startStack(run, random);
  const catalogue = await seedCatalogue(stack.db, run.seed, run.smallCapacity);
  const buyers = createBuyers({ config: stack.config, catalogue, seed: run.seed, random, patienceMs: 60_000 });

  await buyUnderFaults(run, stack, buyers, random);
  log(`stream over: ${buyers.outcomes.length} buyers; settling`);
  const connection = await Connection.connect({ address: stack.temporalAddress() });
  const client = new Client({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    dataConverter: platformDataConverter(stack.config),
  });
  await settle(stack, client, catalogue.eventId, run.settleSeconds);
  if (run.sabotage) await sabotage(stack.db, catalogue, buyers.outcomes);

  const problems = [
    ...(stack.deaths.api > 0 ? [`the API died ${stack.deaths.api} time(s) (see ${stack.dataDir}/api.log)`] : []),
    ...(await checkBooks(stack.db, client, catalogue, buyers.outcomes, stack.chargesCaughtInFlight)),
    ...(await checkCoverage(stack.db, catalogue, buyers.outcomes)),
  ];
  const summary = {
    seed: run.seed,
    profile: run.profileName,
    buyers: buyers.outcomes.length,
    journeys: await journeySummary(stack.db, buyers.outcomes),
    retries: buyers.outcomes.reduce((a, o) => a + Math.max(0, o.checkout.attempts - 1), 0),
    workerKills: stack.killed.worker,
    workerDeaths: stack.deaths.worker,
    apiDeaths: stack.deaths.api,
    chargesCaughtInFlight: stack.chargesCaughtInFlight.length,
    temporal: stack.cluster ? 'cluster: history and matching killed' : 'dev server: killed and restarted',
    postgresOutageSeconds: run.postgresOutageSeconds,
    problems,
    ok: problems.length === 0,
  };
  log(problems.length === 0 ? 'the books balance' : `PROBLEMS:\n  ${problems.join('\n  ')}`);

  // Every buyer's journey and answers, for reading a failed run (the seed repeats it).
  writeFileSync(join(stack.dataDir, 'outcomes.json'), JSON.stringify(buyers.outcomes, null, 1));
  await connection.close();
  await stack.db.destroy();
  await cleanUp();
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}

/** Phase 0: the command line; a profile gives the defaults and each option may override one. */
function readOptions() {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'full' },
      duration: { type: 'string' },
      kills: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      // `cluster`: on a Temporal cluster on Postgres, killing its history and matching services (chaos-cluster.ts).
      temporal: { type: 'string', default: 'dev' },
      // Breaks the books by SQL after the run, to see the checks fail it (a check that never fails proves nothing).
      sabotage: { type: 'boolean', default: false },
    },
  });
  const profileName = values.profile as keyof typeof PROFILES;
  const profile: Profile = PROFILES[profileName];
  if (!profile) throw new Error(`--profile must be one of ${Object.keys(PROFILES).join(', ')}`);
  return {
    ...profile,
    profileName,
    duration: values.duration ? Number(values.duration) : profile.duration,
    kills: values.kills ? Number(values.kills) : profile.kills,
    concurrency: values.concurrency ? Number(values.concurrency) : profile.concurrency,
    seed: values.seed ? Number(values.seed) : randomBytes(4).readUInt32BE(),
    cluster: values.temporal === 'cluster',
    sabotage: values.sabotage,
  };
}
type RunOptions = ReturnType<typeof readOptions>;

/**
 * Phase 1: Postgres, Temporal, the worker and the API, each held on its own so that each can be killed and brought
 * back. The worker's deaths are ours; the API's would be a finding.
 */
async function startStack(run: RunOptions, random: () => number) {
  // On a cluster, a data directory and ports of its own (chaos-cluster.ts), so it never meets a dev-server run.
  const env: NodeJS.ProcessEnv = { ...process.env, ...CHAOS_ENV, ...(run.cluster ? CLUSTER_CHAOS_ENV : {}) };
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
  const cluster = run.cluster ? await startChaosCluster(config, postgres.url, dataDir, log) : undefined;
  const cliPath = cluster ? '' : await findOrInstallTemporalCli(log);
  const startTemporal = () => startConfiguredDevServer(config, cliPath, dataDir);
  let temporal: Pick<TemporalDevServer, 'address' | 'stop'> = cluster ?? (await startTemporal());
  cleanups.push(() => temporal.stop());
  const childEnv = { ...env, DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address, LOG_LEVEL: 'info' };

  const deaths = { worker: 0, api: 0 };
  const killed = { worker: 0, api: 0 };
  const supervised = (name: 'worker' | 'api', script: string, marker: string | ReadinessProbe) => {
    let current = spawnTs(script, childEnv, join(dataDir, `${name}.log`));
    let stopping = false;
    const watch = () =>
      current.child.once('exit', (code, signal) => {
        if (stopping) return;
        deaths[name]++;
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
            killed[name]++;
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
  };
  // The worker is killed and restarted all through the run, so its readiness is its own log line (JSON, at info,
  // which LOG_LEVEL=info lets through), not scripts/readiness.ts's pollers probe: a SIGKILLed worker's poller stays
  // listed on the task queue for a minute, and would make its successor look ready while it is still bundling.
  const worker = supervised('worker', 'workers/main.ts', '"msg":"polling task queues');
  const api = supervised('api', 'api/main.ts', apiAnswers(`${config.PUBLIC_BASE_URL}/readyz`));
  cleanups.push(
    () => worker.stop(),
    () => api.stop(),
  );
  await Promise.all([worker.ready(), api.ready()]);
  const db = createDb(postgres.url, 4);
  const chargesCaughtInFlight: string[] = [];

  return {
    config,
    dataDir,
    db,
    cluster,
    deaths,
    killed,
    worker,
    chargesCaughtInFlight,
    temporalAddress: () => temporal.address,
    async restartTemporal(): Promise<void> {
      const pid = childByName(process.pid, 'temporal');
      if (pid) process.kill(pid, 'SIGKILL');
      await temporal.stop();
      await sleep(2_000);
      temporal = await startTemporal();
    },
    async stopPostgres(ms: number): Promise<void> {
      await postgres.stop();
      await sleep(ms);
      postgres = await startPg();
    },
    /**
     * Holds a lock that the payment record's INSERT waits on: a worker stuck there has charged the card and not
     * yet told Temporal. Kills it then; the retry must find the same PaymentIntent, not make another.
     */
    async killBetweenChargeAndCompletion(): Promise<void> {
      const client = new pg.Client({ connectionString: postgres.url });
      await client.connect();
      try {
        await client.query('BEGIN');
        await client.query('LOCK TABLE payments IN SHARE MODE');
        const lockedAt = (await client.query('SELECT clock_timestamp() AS t')).rows[0].t as Date;
        const until = Date.now() + 10_000;
        let waiting = 0;
        while (waiting === 0 && Date.now() < until) {
          await sleep(20);
          const { rows } = await client.query(
            `SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'payments'::regclass AND NOT granted`,
          );
          waiting = rows[0].n;
        }
        if (waiting === 0) {
          log('  no charge reached the payment record within 10 s; killed anyway');
          return await worker.kill();
        }
        const { rows } = await client.query(
          // Charged at the provider and not yet recorded: charges made while the record was locked out, and
          // recent ones whose record is not there yet (the blocked INSERT is not committed, so it is not seen).
          `SELECT i.order_id FROM sandbox_card_intents i
            WHERE i.created_at >= $1
               OR (i.created_at > $1::timestamptz - interval '30 seconds'
                   AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = i.order_id))`,
          [lockedAt],
        );
        chargesCaughtInFlight.push(...rows.map((r) => r.order_id as string));
        await worker.kill();
        log(`  killed with ${waiting} payment record(s) waiting; ${rows.length} card charge(s) not yet recorded`);
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end().catch(() => undefined);
      }
    },
  };
}
type Stack = Awaited<ReturnType<typeof startStack>>;

/** Phase 2: an event with a large ticket type for the stream and a small one that the burst sells out. */
async function seedCatalogue(db: Db, seed: number, smallCapacity: number): Promise<ChaosCatalogue> {
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

/**
 * Phase 3: the buyers and the faults at once. Worker kills are spread over the run (every third one between a
 * charge and its completion), Temporal goes down once (the dev server, or the cluster's history and matching),
 * Postgres once, and at a third of the run a burst of buyers races for the small ticket type.
 */
async function buyUnderFaults(
  run: RunOptions,
  stack: Stack,
  buyers: ReturnType<typeof createBuyers>,
  random: () => number,
): Promise<void> {
  const { duration } = run;
  const killTimes = Array.from({ length: run.kills }, () => 5 + random() * (duration - 15)).sort((a, b) => a - b);
  const faults: ClusterFault[] = [
    ...killTimes.map((at, i) =>
      i % 3 === 1
        ? {
            at,
            name: 'kill -9 worker between a charge and its completion',
            run: stack.killBetweenChargeAndCompletion,
          }
        : { at, name: 'kill -9 worker', run: stack.worker.kill },
    ),
    ...(stack.cluster
      ? clusterFaults(stack.cluster, duration)
      : [{ at: duration * 0.4, name: 'kill -9 and restart the Temporal dev server', run: stack.restartTemporal }]),
    {
      at: duration * 0.7,
      name: `stop Postgres for ${run.postgresOutageSeconds} s`,
      run: () => stack.stopPostgres(run.postgresOutageSeconds * 1000),
    },
    { at: duration * 0.3, name: `sold-out race: ${run.smallCapacity} buyers at once`, run: buyers.soldOutBurst },
  ].sort((a, b) => a.at - b.at);

  const started = Date.now();
  const monkey = (async () => {
    const running: Array<Promise<void>> = [];
    for (const fault of faults) {
      const wait = started + fault.at * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      log(fault.name);
      // The burst runs beside the faults; a fault that cannot even be injected is said, not a finding.
      const done = fault.run().catch((err) => log(`  could not ${fault.name}: ${(err as Error).message}`));
      if (fault.run === buyers.soldOutBurst) running.push(done);
      else await done;
    }
    await Promise.all(running);
  })();
  await Promise.all([buyers.stream(started + duration * 1000, run.concurrency), monkey]);
}

/**
 * Phase 4: let everything reach its end: orders paid, failed or (3-D Secure abandoned, crypto unpaid) expired after
 * their holds, every accepted refund done, and no checkout, late payment or refund workflow still running (a crypto
 * payment confirmed as its hold lapsed is settled by a late payment workflow after the order shows EXPIRED).
 */
async function settle(stack: Stack, client: Client, eventId: string, seconds: number): Promise<void> {
  const running = async () =>
    (
      await client.workflow
        .count(
          `ExecutionStatus="Running" AND ${workflowTypeIn(...CHECKOUT_WORKFLOW_TYPES, 'latePaymentWorkflow', 'refundWorkflow')}`,
        )
        .catch(() => ({ count: -1 }))
    ).count;
  await stack.worker.ready();
  const settleBy = Date.now() + seconds * 1000;
  while (Date.now() < settleBy) {
    const open = await stack
      .db('orders')
      .where({ event_id: eventId })
      .whereIn('status', OPEN_ORDER_STATUSES)
      .count({ n: '*' })
      .first()
      .catch(() => undefined);
    const refunding = await stack
      .db('refunds')
      .join('orders', 'orders.id', 'refunds.order_id')
      .where('orders.event_id', eventId)
      .whereIn('refunds.status', OPEN_REFUND_STATUSES)
      .count({ n: '*' })
      .first()
      .catch(() => undefined);
    if (open && refunding && Number(open.n) === 0 && Number(refunding.n) === 0 && (await running()) === 0) return;
    await sleep(1_000);
  }
  log(`still not settled after ${seconds} s; checking the books as they are`);
}

/**
 * `--sabotage`: what the checks must catch, done by SQL after the run: the small type's sold counter one below its
 * tickets (a seat sold twice; Postgres's CHECK refuses a counter above capacity, so this is how an oversell would
 * show), and one order a buyer was told is PAID made EXPIRED.
 */
async function sabotage(db: Db, catalogue: ChaosCatalogue, outcomes: Outcome[]): Promise<void> {
  log('sabotage: a seat counted once for two tickets and a paid order expired, by SQL');
  await db('ticket_types')
    .where({ id: catalogue.smallTypeId })
    .update({ sold: db.raw('sold - 1') });
  const told = outcomes.find((o) => o.toldStatus === 'PAID' && o.journey === 'card');
  if (told) await db('orders').where({ id: told.orderId }).update({ status: 'EXPIRED' });
}

/** The paths the issue asks the suite to reach; a run that missed one proves nothing about it, so it fails. */
async function checkCoverage(db: Db, catalogue: ChaosCatalogue, outcomes: Outcome[]): Promise<string[]> {
  const problems: string[] = [];
  const ended = async (journey: string, status: string) => {
    const ids = outcomes.filter((o) => o.journey === journey && o.orderId).map((o) => o.orderId!);
    return Number((await db('orders').whereIn('id', ids).where({ status }).count({ n: '*' }).first())?.n);
  };
  const soldOut = outcomes.some((o) => o.checkout.status === 409);
  const small = await db('ticket_types').where({ id: catalogue.smallTypeId }).first('sold', 'capacity');
  if (!soldOut)
    problems.push(`coverage: no buyer was told sold-out (small type sold ${small?.sold}/${small?.capacity})`);
  for (const [journey, status] of [
    ['3ds-passed', 'PAID'],
    ['crypto-confirmed', 'PAID'],
    ['crypto-late', 'PAID'],
    ['card-refunded', 'REFUNDED'],
  ] as const) {
    if ((await ended(journey, status)) === 0) problems.push(`coverage: no ${journey} order ended ${status}`);
  }
  return problems;
}

/** For the summary: how each journey's orders ended. */
async function journeySummary(db: Db, outcomes: Outcome[]): Promise<Record<string, Record<string, number>>> {
  const summary: Record<string, Record<string, number>> = {};
  const statuses = new Map<string, string>(
    (
      await db('orders').whereIn(
        'id',
        outcomes.flatMap((o) => (o.orderId ? [o.orderId] : [])),
      )
    ).map((r) => [r.id, r.status]),
  );
  for (const o of outcomes) {
    const end = o.orderId ? (statuses.get(o.orderId) ?? 'MISSING') : `HTTP ${o.checkout.status ?? 'none'}`;
    const counts = (summary[o.journey] ??= {});
    counts[end] = (counts[end] ?? 0) + 1;
  }
  return summary;
}

main().catch(async (err) => {
  console.error('[chaos] failed:', err);
  await cleanUp();
  process.exit(1);
});
