// `npm run test:chaos`: the crash suite. A stream of checkouts runs through the real API while the worker is
// killed with SIGKILL a dozen times (some of them between a card charge and the activity's completion), the
// Temporal dev server is killed and restarted on its SQLite file, and Postgres is stopped for 20 s. Then the
// books are checked with SQL: every order settled or legitimately waiting, one successful charge per paid order,
// tickets match paid orders, seats match tickets plus holds, the ledger balances.
//
// It brings up its own stack (data in .data/chaos, ports 5599/7399/8399/3199), so `npm start` and `npm run bench`
// can run beside it. Takes about four minutes; too long for every CI run, meant for before a release.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { issueToken } from '../api/auth';
import { platformDataConverter } from '../temporal/payload-codec';
import { loadConfig } from '../config';
import { createDb, migrateLatest, type Db } from '../db';
import { childByName, spawnTs, stopChild } from '../bench/processes';
import { apiAnswers, workerPolls, type ReadinessProbe } from './readiness';
import { startPostgres, type PostgresHandle } from './postgres';
import { findOrInstallTemporalCli } from './temporal-cli';
import { startConfiguredDevServer } from './infrastructure';
import type { TemporalDevServer } from './temporal-server';
import { CLUSTER_CHAOS_ENV, clusterFaults, startChaosCluster } from './chaos-cluster';

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
  // Short holds, so abandoned 3-D Secure checkouts expire within the run instead of waiting 15 minutes.
  HOLD_TTL_SECONDS: '30',
  LOG_LEVEL: 'warn',
  DATABASE_URL: '',
  TEMPORAL_ADDRESS: '',
} as const;

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

interface Outcome {
  key: string;
  buyer: string;
  method: string;
  /** The last answer the buyer got (after retrying the same key through outages), if any. */
  status?: number;
  orderId?: string;
  orderStatus?: string;
  attempts: number;
}

/** What to stop if the run fails or is interrupted, latest first: nothing of ours may outlive it. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  for (const stop of cleanups.splice(0).reverse()) await stop().catch(() => undefined);
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '150' },
      kills: { type: 'string', default: '12' },
      concurrency: { type: 'string', default: '4' },
      seed: { type: 'string' },
      // `cluster`: on a Temporal cluster on Postgres, killing its history and matching services (chaos-cluster.ts).
      temporal: { type: 'string', default: 'dev' },
    },
  });
  const duration = Number(values.duration);
  const kills = Number(values.kills);
  const concurrency = Number(values.concurrency);
  const seed = values.seed ? Number(values.seed) : randomBytes(4).readUInt32BE();
  const random = prng(seed);
  log(`seed ${seed}: ${duration}s of checkouts at concurrency ${concurrency}, ${kills} worker kills`);

  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...CHAOS_ENV,
    ...(values.temporal === 'cluster' ? CLUSTER_CHAOS_ENV : {}),
  };
  const config = loadConfig(env);
  const dataDir = resolve(config.DATA_DIR);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  // The pieces of scripts/infrastructure.ts, held separately so each can be killed and brought back.
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
  const cluster =
    values.temporal === 'cluster' ? await startChaosCluster(config, postgres.url, dataDir, log) : undefined;
  const cliPath = cluster ? '' : await findOrInstallTemporalCli(log);
  const startTemporal = () => startConfiguredDevServer(config, cliPath, dataDir);
  let temporal: Pick<TemporalDevServer, 'address' | 'stop'> = cluster ?? (await startTemporal());
  cleanups.push(() => temporal.stop());
  const childEnv = { ...env, DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address };

  // Worker and API, each brought back whenever it dies. The worker's deaths are ours; the API's would be a finding.
  const deaths = { worker: 0, api: 0 };
  const killed = { worker: 0, api: 0 };
  const supervised = (name: 'worker' | 'api', script: string, marker: ReadinessProbe) => {
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
      /** SIGKILL to a live process: if the last one is still being replaced, wait for its successor. */
      kill: async () => {
        const until = Date.now() + 30_000;
        while (current.child.exitCode !== null || current.child.signalCode !== null || !current.child.pid) {
          if (Date.now() > until) throw new Error(`${name} did not come back within 30 s`);
          await sleep(50);
        }
        if (current.child.kill('SIGKILL')) killed[name]++;
      },
      stop: async () => {
        stopping = true;
        await stopChild(current.child);
      },
    };
  };
  const polling = workerPolls({ address: temporal.address }, config.TEMPORAL_NAMESPACE);
  const worker = supervised('worker', 'workers/main.ts', polling);
  const api = supervised('api', 'api/main.ts', apiAnswers(`${config.PUBLIC_BASE_URL}/readyz`));
  cleanups.push(
    () => polling.close(),
    () => worker.stop(),
    () => api.stop(),
  );
  await Promise.all([worker.ready(), api.ready()]);

  const db = createDb(postgres.url, 4);
  const eventId = `evt_chaos_${seed}`;
  const ticketTypeId = `tt_chaos_${seed}`;
  await db('organizers')
    .insert({ id: 'org_chaos', name: 'Chaos Promotions', currency: 'USD' })
    .onConflict()
    .ignore();
  await db('events').insert({
    id: eventId,
    organizer_id: 'org_chaos',
    name: 'Crash night',
    starts_at: '2030-01-01',
  });
  await db('ticket_types').insert({
    id: ticketTypeId,
    event_id: eventId,
    name: 'Seat',
    price_minor: 2500,
    currency: 'USD',
    capacity: 100_000,
    max_per_order: 4,
  });

  // The buyers: mostly cards that pay, some declines, some 3-D Secure checkouts left to expire.
  const outcomes: Outcome[] = [];
  const deadline = Date.now() + duration * 1000;
  let n = 0;
  const buy = async () => {
    const i = n++;
    const roll = random();
    const method =
      roll < 0.8 ? 'pm_card_visa' : roll < 0.9 ? 'pm_card_chargeDeclined' : 'pm_card_threeDSecure2Required';
    const outcome: Outcome = { key: `chaos-${i}`, buyer: `chaos_buyer_${seed}_${i}`, method, attempts: 0 };
    outcomes.push(outcome);
    const token = issueToken(config, { sub: outcome.buyer, role: 'buyer' }, 3600);
    const body = JSON.stringify({
      eventId,
      items: [{ ticketTypeId, quantity: 1 + Math.floor(random() * 2) }],
      payment: { method: 'card', paymentMethodId: method },
      buyer: { email: `buyer${i}@chaos.example` },
    });
    // A buyer's app retries the same Idempotency-Key through errors and timeouts, as the contract allows.
    for (let attempt = 0; attempt < 40 && Date.now() < deadline + 60_000; attempt++) {
      outcome.attempts++;
      try {
        const res = await fetch(`${config.PUBLIC_BASE_URL}/v1/checkouts`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'idempotency-key': outcome.key,
          },
          body,
          signal: AbortSignal.timeout(20_000),
        });
        const json = (await res.json().catch(() => null)) as { orderId?: string; status?: string } | null;
        outcome.status = res.status;
        if (res.status < 500) {
          outcome.orderId = json?.orderId;
          outcome.orderStatus = json?.status;
          return;
        }
      } catch {
        outcome.status = undefined; // timed out or the API was unreachable: try again
      }
      await sleep(1000);
    }
  };
  const stream = Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) await buy();
    }),
  );

  // The chaos: worker kills spread over the run (every third one between a charge and its completion), one
  // Temporal restart, one Postgres outage.
  const killTimes = Array.from({ length: kills }, () => 5 + random() * (duration - 15)).sort((a, b) => a - b);
  const events: Array<{ at: number; name: string; run: () => Promise<void> }> = [
    ...killTimes.map((at, i) =>
      i % 3 === 1
        ? {
            at,
            name: `kill -9 worker between a charge and its completion`,
            run: () => killBetweenChargeAndCompletion(),
          }
        : {
            at,
            name: 'kill -9 worker',
            run: () => worker.kill(),
          },
    ),
    ...(cluster
      ? clusterFaults(cluster, duration)
      : [
          {
            at: duration * 0.4,
            name: 'kill -9 and restart the Temporal dev server',
            run: () => restartTemporal(),
          },
        ]),
    { at: duration * 0.7, name: 'stop Postgres for 20 s', run: () => stopPostgres(20_000) },
  ].sort((a, b) => a.at - b.at);
  const started = Date.now();
  const chargesCaughtInFlight: string[] = [];

  async function killBetweenChargeAndCompletion(): Promise<void> {
    // Hold a lock that the payment record's INSERT waits on: a worker stuck there has charged the card and not
    // yet told Temporal. Kill it then; the retry must find the same PaymentIntent, not make another.
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
      if (waiting > 0) {
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
        log(
          `  killed with ${waiting} payment record(s) waiting; ${rows.length} card charge(s) made and not yet recorded`,
        );
      } else {
        log('  no charge reached the payment record within 10 s; killed anyway');
        await worker.kill();
      }
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
      await client.end().catch(() => undefined);
    }
  }

  async function restartTemporal(): Promise<void> {
    const pid = childByName(process.pid, 'temporal');
    if (pid) process.kill(pid, 'SIGKILL');
    await temporal.stop();
    await sleep(2_000);
    temporal = await startTemporal();
  }

  async function stopPostgres(ms: number): Promise<void> {
    await postgres.stop();
    await sleep(ms);
    postgres = await startPg();
  }

  const monkey = (async () => {
    for (const event of events) {
      const wait = started + event.at * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      log(event.name);
      await event.run();
    }
  })();

  await Promise.all([stream, monkey]);
  log(`stream over: ${outcomes.length} checkouts; settling`);
  await worker.ready();

  // Let every order reach its end: paid, failed, or (3-D Secure, abandoned) expired after HOLD_TTL_SECONDS.
  const settleBy = Date.now() + 120_000;
  let open = Infinity;
  while (Date.now() < settleBy) {
    const row = await db('orders')
      .where({ event_id: eventId })
      .whereIn('status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
      .count({ n: '*' })
      .first();
    open = Number(row?.n ?? 0);
    if (open === 0) break;
    await sleep(1_000);
  }

  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: platformDataConverter(config),
  });
  const problems = await checkBooks(db, client, eventId, ticketTypeId, outcomes, chargesCaughtInFlight);
  const statuses = (
    await db.raw('SELECT status, count(*)::int AS n FROM orders WHERE event_id = ? GROUP BY status', [eventId])
  ).rows as Array<{ status: string; n: number }>;
  const summary = {
    seed,
    checkouts: outcomes.length,
    answered: outcomes.filter((o) => o.status !== undefined && o.status < 500).length,
    retries: outcomes.reduce((a, o) => a + o.attempts - 1, 0),
    orders: Object.fromEntries(statuses.map((s) => [s.status, s.n])),
    workerKills: killed.worker,
    workerDeaths: deaths.worker,
    apiDeaths: deaths.api,
    chargesCaughtInFlight: chargesCaughtInFlight.length,
    temporal: cluster ? 'cluster: history and matching killed' : 'dev server: killed and restarted',
    temporalRestarts: 1,
    postgresOutageSeconds: 20,
    problems,
    ok: problems.length === 0,
  };
  log(problems.length === 0 ? 'the books balance' : `PROBLEMS:\n  ${problems.join('\n  ')}`);

  await connection.close();
  await db.destroy();
  await cleanUp();
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}

/** The invariants the issue lists, checked with SQL against the platform and the sandbox provider's own records. */
async function checkBooks(
  db: Db,
  client: Client,
  eventId: string,
  ticketTypeId: string,
  outcomes: Outcome[],
  chargesCaughtInFlight: string[],
): Promise<string[]> {
  const problems: string[] = [];
  const rows = async (sql: string, bindings: unknown[] = []) =>
    (await db.raw(sql, bindings as never)).rows as Array<Record<string, unknown>>;
  const report = (what: string, found: Array<Record<string, unknown>>) => {
    if (found.length > 0) problems.push(`${what}: ${found.length} (e.g. ${JSON.stringify(found.slice(0, 3))})`);
  };

  report(
    'orders neither settled nor legitimately waiting',
    await rows(
      `SELECT id, status, expires_at FROM orders WHERE event_id = ?
          AND status IN ('AWAITING_PAYMENT', 'PAYMENT_PROCESSING')
          AND (expires_at IS NULL OR expires_at < now() - interval '30 seconds')`,
      [eventId],
    ),
  );
  report(
    'paid orders without exactly one successful, unrefunded charge at the provider',
    await rows(
      `SELECT o.id, count(i.id) AS charges FROM orders o
         LEFT JOIN sandbox_card_intents i ON i.order_id = o.id AND i.status = 'succeeded'
        WHERE o.event_id = ? AND o.status = 'PAID'
        GROUP BY o.id HAVING count(i.id) <> 1 OR sum(i.refunded_minor) <> 0`,
      [eventId],
    ),
  );
  report(
    'orders with more than one PaymentIntent',
    await rows(
      `SELECT o.id, count(*) AS intents FROM orders o JOIN sandbox_card_intents i ON i.order_id = o.id
        WHERE o.event_id = ? GROUP BY o.id HAVING count(*) > 1`,
      [eventId],
    ),
  );
  report(
    'unpaid orders whose card was charged and not refunded',
    await rows(
      `SELECT o.id, o.status, i.amount_minor, i.refunded_minor FROM orders o
         JOIN sandbox_card_intents i ON i.order_id = o.id AND i.status = 'succeeded'
        WHERE o.event_id = ? AND o.status <> 'PAID' AND i.refunded_minor <> i.amount_minor`,
      [eventId],
    ),
  );
  report(
    'orders whose tickets do not match their payment (paid: one per seat bought; otherwise none)',
    await rows(
      `SELECT o.id, o.status, (SELECT sum(quantity) FROM order_items WHERE order_id = o.id) AS bought,
              (SELECT count(*) FROM tickets WHERE order_id = o.id AND status <> 'VOID') AS tickets
         FROM orders o WHERE o.event_id = ?
          AND (SELECT count(*) FROM tickets WHERE order_id = o.id AND status <> 'VOID')
              <> CASE WHEN o.status = 'PAID' THEN (SELECT sum(quantity) FROM order_items WHERE order_id = o.id) ELSE 0 END`,
      [eventId],
    ),
  );
  report(
    'seat counters that differ from tickets plus holds',
    await rows(
      `SELECT t.id, t.capacity, t.sold, t.held,
              (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID') AS tickets,
              (SELECT coalesce(sum(quantity), 0) FROM reservations r WHERE r.ticket_type_id = t.id AND r.status = 'HELD')
                AS holds
         FROM ticket_types t WHERE t.id = ?
          AND (t.sold <> (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID')
           OR t.held <> (SELECT coalesce(sum(quantity), 0) FROM reservations r
                          WHERE r.ticket_type_id = t.id AND r.status = 'HELD')
           OR t.sold + t.held > t.capacity)`,
      [ticketTypeId],
    ),
  );
  report(
    'holds on orders that are no longer open',
    await rows(
      `SELECT r.order_id, o.status FROM reservations r JOIN orders o ON o.id = r.order_id
        WHERE o.event_id = ? AND r.status = 'HELD' AND o.status NOT IN ('AWAITING_PAYMENT', 'PAYMENT_PROCESSING')`,
      [eventId],
    ),
  );
  report(
    'ledger transactions that do not balance',
    await rows(
      `SELECT transaction_id, currency, sum(amount_minor) AS off FROM ledger_entries
        GROUP BY transaction_id, currency HAVING sum(amount_minor) <> 0`,
    ),
  );
  report(
    'paid orders whose sale is not in the ledger exactly once, at the order total',
    await rows(
      `SELECT o.id, o.total_minor,
              (SELECT sum(amount_minor) FROM ledger_entries l
                WHERE l.order_id = o.id AND l.account LIKE 'provider_clearing:%' AND l.transaction_id = 'sale:' || o.id)
                AS cleared
         FROM orders o WHERE o.event_id = ? AND o.status = 'PAID'
          AND (SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries l
                WHERE l.order_id = o.id AND l.account LIKE 'provider_clearing:%' AND l.transaction_id = 'sale:' || o.id)
              <> o.total_minor`,
      [eventId],
    ),
  );

  // What buyers were told must be what the books say.
  const told = outcomes.filter((o) => o.status === 201 && o.orderId);
  for (const o of told) {
    const order = await db('orders').where({ id: o.orderId }).first('status');
    if (!order) problems.push(`buyer was told order ${o.orderId} exists; it does not`);
    else if (o.orderStatus === 'PAID' && order.status !== 'PAID')
      problems.push(`buyer was told ${o.orderId} is PAID; it is ${order.status}`);
  }
  for (const orderId of chargesCaughtInFlight) {
    const intents = await db('sandbox_card_intents').where({ order_id: orderId }).count({ n: '*' }).first();
    if (Number(intents?.n) !== 1) problems.push(`order ${orderId}, killed mid-charge, has ${intents?.n} intents`);
  }

  // And Temporal: nothing failed, nothing stuck.
  for (const status of ['Failed', 'Terminated', 'TimedOut']) {
    const { count } = await client.workflow.count(
      `WorkflowType="checkoutWorkflow" AND ExecutionStatus="${status}"`,
    );
    if (count > 0) problems.push(`${count} checkout workflows ${status}`);
  }
  const running = (await client.workflow.count(`WorkflowType="checkoutWorkflow" AND ExecutionStatus="Running"`))
    .count;
  const openOrders = Number(
    (
      await db('orders')
        .where({ event_id: eventId })
        .whereIn('status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
        .count({ n: '*' })
        .first()
    )?.n,
  );
  if (running > openOrders)
    problems.push(`${running} checkout workflows still running for ${openOrders} open orders`);
  return problems;
}

main().catch(async (err) => {
  console.error('[chaos] failed:', err);
  await cleanUp();
  process.exit(1);
});
