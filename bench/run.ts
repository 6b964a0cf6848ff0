// `npm run bench`: a flash sale on the embedded stack, beside a no-op baseline on the same Temporal server.
// Brings up its own Postgres and Temporal dev server (separate data dir and ports, so a running `npm start`
// is untouched), runs the real worker and API as child processes, and drives buyers through the real API.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { issueToken } from '../api/auth';
import { platformDataConverter } from '../temporal/payload-codec';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { checkoutWorkflowId } from '../domain';
import { startInfrastructure, type Infrastructure } from '../scripts/infrastructure';
import { createBaselineWorker } from './baseline-worker';
import { awaitBaselineUpdate, BASELINE_TASK_QUEUE, type BaselineMode } from './baseline-workflow';
import type { baselineWorkflow } from './baseline-workflow';
import {
  childByName,
  spawnTs,
  startResourceSampler,
  stopChild,
  type Component,
  type ResourceSample,
} from './processes';
import { apiAnswers, workerPolls } from '../scripts/readiness';
import { summarizeProfiles } from './profile';
import { latencySummary, renderChart, type Phase, type TimedRequest } from './report';

const log = (line: string) => console.log(`[bench] ${line}`);

/** The benchmark's own stack: a data dir and ports of its own, the sandbox in instant mode. */
const BENCH_ENV = {
  NODE_ENV: 'development',
  DATA_DIR: '.data/bench',
  TEMPORAL_PORT: '7299',
  TEMPORAL_UI_PORT: '8299',
  EMBEDDED_PG_PORT: '5499',
  PORT: '3099',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3099',
  SANDBOX_WEBHOOKS: 'off',
  LOG_LEVEL: 'warn',
  // Always the embedded stack: never point a load test at a database or cluster someone else uses.
  DATABASE_URL: '',
  TEMPORAL_ADDRESS: '',
} as const;

interface Flags {
  buyers: number;
  seats: number;
  concurrency: number;
  /** Seconds of the flash sale. */
  duration: number;
  /** Seconds of each baseline measurement. */
  baselineDuration: number;
  /** Seconds of unmeasured warm-up before each measured phase (JIT, caches, pools). */
  warmup: number;
  /** Tickets per order. */
  quantity: number;
  experiments: boolean;
  /** CPU-profile the checkout worker and break its time down by package over the flash sale. */
  profile: boolean;
  keepData: boolean;
  temporal: 'dev' | 'cluster';
}

function readFlags(): Flags {
  const quick = process.env.BENCH_QUICK === '1';
  const { values } = parseArgs({
    options: {
      buyers: { type: 'string' },
      seats: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      'baseline-duration': { type: 'string' },
      warmup: { type: 'string' },
      quantity: { type: 'string' },
      experiments: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'keep-data': { type: 'boolean', default: false },
      // `cluster`: the same sale and baseline on a Temporal cluster on Postgres (four service processes).
      temporal: { type: 'string', default: 'dev' },
    },
  });
  if (values.temporal !== 'dev' && values.temporal !== 'cluster')
    throw new Error(`--temporal must be dev or cluster, got ${values.temporal}`);
  const int = (name: string, raw: string | undefined, fallback: number, min = 1) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${raw}`);
    return n;
  };
  // Sized so the seats run out before the clock on this 2-core machine (~500 tickets/min): the sale ends in a
  // real race for the last seats, and the sustained rate is measured up to the last sale.
  const seats = int('seats', values.seats, quick ? 200 : 800);
  return {
    seats,
    buyers: int('buyers', values.buyers, seats * 2),
    // Where throughput peaked in the concurrency sweep (bench/README.md); more only adds queueing.
    concurrency: int('concurrency', values.concurrency, 16),
    duration: int('duration', values.duration, quick ? 30 : 120),
    baselineDuration: int('baseline-duration', values['baseline-duration'], quick ? 12 : 40),
    warmup: int('warmup', values.warmup, quick ? 3 : 10, 0),
    quantity: int('quantity', values.quantity, 1),
    experiments: values.experiments ?? false,
    profile: values.profile ?? false,
    keepData: values['keep-data'] ?? false,
    temporal: values.temporal,
  };
}

const portAnswers = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });

/** Runs `job` from `concurrency` lanes until the deadline passes or `jobs` have been started. */
async function drive(concurrency: number, seconds: number, jobs: number, job: (i: number) => Promise<void>) {
  let next = 0;
  const deadline = Date.now() + seconds * 1000;
  const lane = async () => {
    while (Date.now() < deadline && next < jobs) await job(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** What one phase of checkouts observed from the buyers' side. */
interface CheckoutPhase {
  from: number;
  to: number;
  requests: TimedRequest[];
  /** POST latency of the requests that got an order (the sold-out refusals are quick and kept apart). */
  postMs: number[];
  soldOutMs: number[];
  paidMs: number[];
  paidOrderIds: string[];
  tickets: number;
  soldOut: number;
  /** Orders that ended without tickets for another reason (FAILED, EXPIRED...), by status and reason. */
  unpaid: Record<string, number>;
  /** Responses that were neither an order nor sold-out (5xx, network errors...), by status. */
  errors: Record<string, number>;
  lastPaidAt: number;
}

/** What one baseline variant observed. */
interface BaselinePhase {
  name: string;
  from: number;
  to: number;
  requests: TimedRequest[];
  latencyMs: number[];
  workflowIds: string[];
  errors: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const since = (t0: number) => (Date.now() - t0) / 1000;
const count = (record: Record<string, number>, key: string) => (record[key] = (record[key] ?? 0) + 1);

async function main(): Promise<void> {
  // In-process workers log at INFO by default; only warnings belong in a benchmark's output.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const flags = readFlags();
  const env: NodeJS.ProcessEnv = { ...process.env, ...BENCH_ENV, TEMPORAL_MODE: flags.temporal };
  const config = loadConfig(env);
  const dataDir = resolve(config.DATA_DIR);
  const runId = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  log(
    `flash sale: ${flags.buyers} buyers for ${flags.seats} seats, ${flags.quantity} per order, concurrency ` +
      `${flags.concurrency}, ${flags.duration}s (+${flags.warmup}s warm-up); baseline ${flags.baselineDuration}s`,
  );

  // A fresh stack per run, so figures do not depend on what an earlier run left in SQLite or Postgres.
  const leftovers = (await portAnswers(config.EMBEDDED_PG_PORT)) || (await portAnswers(config.TEMPORAL_PORT));
  if (leftovers)
    log(`something already listens on ${config.EMBEDDED_PG_PORT} or ${config.TEMPORAL_PORT}; reusing it`);
  else if (!flags.keepData) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const stops: Array<() => Promise<void>> = [];
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));
  process.once('SIGTERM', () => void shutdown().then(() => process.exit(143)));

  try {
    const startedInfra = Date.now();
    const infra: Infrastructure = await startInfrastructure(config, log);
    stops.push(() => infra.stop());
    const temporalPid = childByName(process.pid, 'temporal');
    const postgresPid = childByName(process.pid, 'postgres');

    const childEnv = { ...env, DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress };
    const profileDir = join(dataDir, 'profiles');
    const worker = spawnTs(
      'workers/main.ts',
      childEnv,
      join(dataDir, 'worker.log'),
      flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    );
    stops.push(() => stopChild(worker.child));
    const api = spawnTs('api/main.ts', childEnv, join(dataDir, 'api.log'));
    stops.push(() => stopChild(api.child));
    const baselineWorker = spawnTs('bench/baseline-worker.ts', childEnv, join(dataDir, 'baseline-worker.log'));
    stops.push(() => stopChild(baselineWorker.child));
    const polling = workerPolls({ address: infra.temporalAddress }, config.TEMPORAL_NAMESPACE);
    stops.push(() => polling.close());
    await Promise.all([
      worker.ready(polling, 120_000),
      api.ready(apiAnswers(`${config.PUBLIC_BASE_URL}/readyz`), 120_000),
      baselineWorker.ready('[baseline-worker] polling', 120_000),
    ]);
    log(
      `stack up in ${((Date.now() - startedInfra) / 1000).toFixed(1)}s on Node ${process.version} (logs under ${config.DATA_DIR})`,
    );

    const db = createDb(infra.databaseUrl, 4);
    stops.push(() => db.destroy());
    const catalogue = await seed(db, runId, flags);
    const connection = await Connection.connect({ address: infra.temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: platformDataConverter(config),
    });

    const t0 = Date.now();
    const components: Component[] = [
      // On a cluster, each Temporal service is a process of its own: the CPU split says which one works.
      ...(infra.temporalServices
        ? Object.entries(infra.temporalServices).map(([service, pid]) => ({
            name: `temporal-${service}`,
            pid,
            withDescendants: false,
          }))
        : [{ name: 'temporal', pid: () => temporalPid, withDescendants: true }]),
      { name: 'postgres', pid: () => postgresPid, withDescendants: true },
      { name: 'worker', pid: () => worker.child.pid, withDescendants: false },
      { name: 'api', pid: () => api.child.pid, withDescendants: false },
      { name: 'baseline-worker', pid: () => baselineWorker.child.pid, withDescendants: false },
      { name: 'bench', pid: () => process.pid, withDescendants: false },
    ];
    const sampler = startResourceSampler(components, t0);
    stops.push(async () => sampler.stop());
    const phases: Phase[] = [];
    const cpuDuring = async <T>(name: string, run: () => Promise<T>) => {
      sampler.sampleNow();
      const before = sampler.cpuSeconds();
      const from = since(t0);
      const result = await run();
      sampler.sampleNow();
      const after = sampler.cpuSeconds();
      phases.push({ name, from, to: since(t0) });
      const cpu: Record<string, number> = {};
      for (const [k, v] of after) cpu[k] = v - (before.get(k) ?? 0);
      return { result, cpu };
    };

    const apiUrl = config.PUBLIC_BASE_URL;
    const checkouts = (eventId: string, ticketTypeId: string, label: string, seconds: number, buyers: number) => {
      const phase: CheckoutPhase = {
        from: since(t0),
        to: 0,
        requests: [],
        postMs: [],
        soldOutMs: [],
        paidMs: [],
        paidOrderIds: [],
        tickets: 0,
        soldOut: 0,
        unpaid: {},
        errors: {},
        lastPaidAt: 0,
      };
      const body = (i: number) =>
        JSON.stringify({
          eventId,
          items: [{ ticketTypeId, quantity: flags.quantity }],
          payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
          buyer: { email: `buyer${i}@bench.example` },
        });
      const buy = async (i: number) => {
        const sub = `bench_${runId}_${label}_${i}`;
        const token = issueToken(config, { sub, role: 'buyer' }, 3600);
        const started = performance.now();
        let status: number;
        // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON, read field by field
        let json: any;
        try {
          const res = await fetch(`${apiUrl}/v1/checkouts`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'idempotency-key': `bench-${i}`,
            },
            body: body(i),
          });
          status = res.status;
          const text = await res.text();
          json = text ? JSON.parse(text) : null;
        } catch (err) {
          count(phase.errors, `network: ${(err as Error).message}`);
          return;
        }
        const postMs = performance.now() - started;
        if (status === 201 || status === 200) {
          phase.postMs.push(postMs);
          let order = json;
          // An instant card payment answers PAID already; anything still open is polled until it settles.
          const pollUntil = Date.now() + 60_000;
          while (order && (order.status === 'AWAITING_PAYMENT' || order.status === 'PAYMENT_PROCESSING')) {
            if (Date.now() > pollUntil) break;
            await sleep(100);
            const res = await fetch(`${apiUrl}/v1/checkouts/${json.orderId}`, {
              headers: { authorization: `Bearer ${token}` },
            });
            order = res.ok ? await res.json() : order;
          }
          if (order?.status === 'PAID') {
            const paidMs = performance.now() - started;
            phase.paidMs.push(paidMs);
            phase.paidOrderIds.push(json.orderId);
            phase.tickets += flags.quantity;
            phase.lastPaidAt = since(t0);
            phase.requests.push({ end: since(t0), latencyMs: postMs, units: flags.quantity });
          } else {
            count(phase.unpaid, `${order?.status ?? 'unknown'} ${order?.reason ?? ''}`.trim());
            phase.requests.push({ end: since(t0), latencyMs: postMs, units: 0 });
          }
        } else if (status === 409 && String(json?.type).endsWith('/sold-out')) {
          phase.soldOut++;
          phase.soldOutMs.push(postMs);
          phase.requests.push({ end: since(t0), latencyMs: postMs, units: 0 });
        } else {
          count(phase.errors, `HTTP ${status} ${json?.type ?? ''}`.trim());
        }
      };
      return drive(flags.concurrency, seconds, buyers, buy).then(() => {
        phase.to = since(t0);
        return phase;
      });
    };

    const baseline = (
      name: string,
      seconds: number,
      start: (workflowId: string) => Promise<unknown>,
    ): Promise<BaselinePhase> => {
      const phase: BaselinePhase = {
        name,
        from: since(t0),
        to: 0,
        requests: [],
        latencyMs: [],
        workflowIds: [],
        errors: {},
      };
      const prefix = `baseline-${runId}-${name.replace(/[^a-z0-9]+/gi, '-')}-${randomBytes(3).toString('hex')}`;
      return drive(flags.concurrency, seconds, Number.MAX_SAFE_INTEGER, async (i) => {
        const workflowId = `${prefix}-${i}`;
        const started = performance.now();
        try {
          await start(workflowId);
        } catch (err) {
          count(phase.errors, (err as Error).message.slice(0, 120));
          return;
        }
        const ms = performance.now() - started;
        phase.latencyMs.push(ms);
        phase.workflowIds.push(workflowId);
        phase.requests.push({ end: since(t0), latencyMs: ms, units: 1 });
      }).then(() => {
        phase.to = since(t0);
        return phase;
      });
    };
    /** Starts one baseline workflow the way the API starts a checkout, and waits for its update's answer. */
    const updateWithStart = (mode: BaselineMode) => {
      return (workflowId: string) =>
        client.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
          startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
            workflowId,
            taskQueue: BASELINE_TASK_QUEUE,
            args: [{ mode }],
            workflowIdConflictPolicy: 'USE_EXISTING',
          }),
        });
    };

    // Warm-up: JIT, the sticky cache and the connection pools, on a ticket type of its own.
    if (flags.warmup > 0) {
      log(`warm-up ${flags.warmup}s`);
      await cpuDuring('warm-up', () =>
        checkouts(
          catalogue.eventId,
          catalogue.warmupTicketTypeId,
          'warmup',
          flags.warmup,
          Number.MAX_SAFE_INTEGER,
        ),
      );
    }
    log(`flash sale ${flags.duration}s`);
    const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
    const saleWindowUs = { from: monotonicUs(), to: 0 };
    const sale = await cpuDuring('flash sale', () =>
      checkouts(catalogue.eventId, catalogue.ticketTypeId, 'sale', flags.duration, flags.buyers),
    );
    saleWindowUs.to = monotonicUs();
    log(`flash sale done: ${sale.result.tickets} tickets, ${sale.result.soldOut} sold-out answers`);
    const invariants = await checkInvariants(db, catalogue, sale.result);

    if (flags.warmup > 0) {
      await baseline('baseline warm-up', Math.min(3, flags.warmup), updateWithStart('activities'));
    }
    log(`baseline ${flags.baselineDuration}s`);
    const base = await cpuDuring('baseline', () =>
      baseline('baseline', flags.baselineDuration, updateWithStart('activities')),
    );

    const experiments: Array<{ result: BaselinePhase; cpu: Record<string, number> }> = [];
    const notes: string[] = [];
    if (flags.experiments) {
      log('experiments: baseline variants');
      experiments.push(
        await cpuDuring('local activities', () =>
          baseline('local activities', flags.baselineDuration, updateWithStart('local')),
        ),
      );
      experiments.push(
        await cpuDuring('start + result', () =>
          baseline('start + result (no update)', flags.baselineDuration, (workflowId) =>
            client.workflow.execute<typeof baselineWorkflow>('baselineWorkflow', {
              workflowId,
              taskQueue: BASELINE_TASK_QUEUE,
              args: [{ mode: 'activities' }],
            }),
          ),
        ),
      );
      // Eager start needs a worker in the caller's process sharing its NativeConnection.
      const native = await NativeConnection.connect({ address: infra.temporalAddress });
      const eagerQueue = `${BASELINE_TASK_QUEUE}-eager`;
      const eagerWorker = await createBaselineWorker(
        native,
        config.TEMPORAL_NAMESPACE,
        config.WORKER_MAX_CACHED_WORKFLOWS,
        eagerQueue,
        platformDataConverter(config),
      );
      const eagerClient = new Client({
        connection: native,
        namespace: config.TEMPORAL_NAMESPACE,
        dataConverter: platformDataConverter(config),
      });
      const running = eagerWorker.run();
      for (const mode of ['activities', 'local'] as const) {
        experiments.push(
          await cpuDuring(`eager ${mode}`, () =>
            baseline(`eager start + result, ${mode} (in-process worker)`, flags.baselineDuration, (workflowId) =>
              eagerClient.workflow.execute<typeof baselineWorkflow>('baselineWorkflow', {
                workflowId,
                taskQueue: eagerQueue,
                args: [{ mode }],
                requestEagerStart: true,
              }),
            ),
          ),
        );
      }
      // Checkout answers in one round trip with update-with-start; can that be started eagerly too?
      try {
        await eagerClient.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
          startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
            workflowId: `baseline-${runId}-eager-update-with-start`,
            taskQueue: eagerQueue,
            args: [{ mode: 'local' }],
            workflowIdConflictPolicy: 'USE_EXISTING',
            requestEagerStart: true,
          }),
        });
        notes.push('eager update-with-start: accepted by the server');
      } catch (err) {
        notes.push(`eager update-with-start: refused by the server: ${(err as Error).message}`);
      }
      eagerWorker.shutdown();
      await running;
      await native.close();
    }

    sampler.sampleNow();
    sampler.stop();
    const historyOf = async (workflowIds: string[]) => {
      const sample = workflowIds.filter((_, i) => i % Math.max(1, Math.floor(workflowIds.length / 20)) === 0);
      const lengths: number[] = [];
      const types = new Map<string, number>();
      for (const id of sample.slice(0, 20)) {
        const history = await client.workflow.getHandle(id).fetchHistory();
        lengths.push(history.events?.length ?? 0);
        if (lengths.length === 1) {
          for (const e of history.events ?? []) {
            const type = String(e.eventType ?? '');
            types.set(type, (types.get(type) ?? 0) + 1);
          }
        }
      }
      const mean = lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : 0;
      return { mean: Math.round(mean * 10) / 10, sampled: lengths.length, types: Object.fromEntries(types) };
    };
    const checkoutHistory = await historyOf(sale.result.paidOrderIds.map(checkoutWorkflowId));
    // Everything one order set going: the checkout and the children it started (confirmation, mints).
    const orderWorkflows = async (orderIds: string[]) => {
      const step = Math.max(1, Math.floor(orderIds.length / 10));
      let workflows = 0;
      let events = 0;
      let sampled = 0;
      for (const orderId of orderIds.filter((_, i) => i % step === 0).slice(0, 10)) {
        sampled++;
        for await (const wf of client.workflow.list({ query: `OrderId="${orderId}"` })) {
          workflows++;
          events += (await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory()).events?.length ?? 0;
        }
      }
      const per = (n: number) => Math.round((n / Math.max(1, sampled)) * 10) / 10;
      return { workflowsPerOrder: per(workflows), eventsPerOrder: per(events), sampled };
    };
    const perOrder = await orderWorkflows(sale.result.paidOrderIds);
    const baselineHistory = await historyOf(base.result.workflowIds);
    const experimentHistories: HistoryStats[] = [];
    for (const e of experiments) experimentHistories.push(await historyOf(e.result.workflowIds));

    let workerProfile: Array<{ category: string; percent: number }> = [];
    if (flags.profile) {
      // The profile is written when the worker exits.
      await stopChild(worker.child);
      const files = readdirSync(profileDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(profileDir, f));
      workerProfile = summarizeProfiles(files, saleWindowUs.from, saleWindowUs.to);
    }

    const report = summarize({
      flags,
      config,
      runId,
      sale,
      base,
      experiments: experiments.map((e, i) => ({ phase: e.result, cpu: e.cpu, history: experimentHistories[i]! })),
      invariants,
      checkoutHistory,
      perOrder,
      baselineHistory,
      notes,
      workerProfile,
      cores: cpus().length,
      resources: sampler.samples,
      serverLatency: await serverSideLatency(db, catalogue.ticketTypeId),
    });

    const resultsDir = resolve(__dirname, 'results');
    mkdirSync(resultsDir, { recursive: true });
    const chartPath = join(resultsDir, `${runId}.svg`);
    writeFileSync(
      chartPath,
      renderChart({
        title: `Bilten flash sale, ${runId}`,
        subtitle:
          `${report.json.ticketsPerMinute} tickets/min, POST p95 ${report.json.checkoutP95Ms} ms, ` +
          `baseline ratio ${report.json.baselineRatio}, oversold ${report.json.oversold}; concurrency ` +
          `${flags.concurrency}, ${cpus().length} cores, Node ${process.versions.node}`,
        phases,
        checkouts: sale.result.requests,
        baseline: [...base.result.requests, ...experiments.flatMap((e) => e.result.requests)],
        resources: sampler.samples.filter((s) => s.t >= 0),
        cores: cpus().length,
      }),
    );
    writeFileSync(
      join(resultsDir, `${runId}.json`),
      // Figures differ between Node lines, so every result names the one it was measured on.
      JSON.stringify({ ...report.json, node: process.version, details: report.details }, null, 2) + '\n',
    );
    console.log(report.text);
    console.log(`[bench] chart: ${chartPath}`);
    await shutdown();
    console.log(JSON.stringify({ ...report.json, chart: chartPath }));
    process.exit(invariants.ok ? 0 : 1);
  } catch (err) {
    console.error('[bench] failed:', err);
    await shutdown();
    process.exit(1);
  }
}

/** The benchmark's catalogue: an organizer, an event, the sale's ticket type and a warm-up one. */
async function seed(db: Db, runId: string, flags: Flags) {
  const organizerId = 'org_bench';
  const eventId = `evt_bench_${runId}`;
  const ticketTypeId = `tt_bench_${runId}`;
  const warmupTicketTypeId = `tt_bench_warmup_${runId}`;
  await db('organizers')
    .insert({ id: organizerId, name: 'Bench Promotions', currency: 'USD' })
    .onConflict('id')
    .ignore();
  await db('events').insert({
    id: eventId,
    organizer_id: organizerId,
    name: 'Flash sale',
    starts_at: '2030-01-01T20:00:00Z',
  });
  await db('ticket_types').insert([
    {
      id: ticketTypeId,
      event_id: eventId,
      name: 'Flash sale seat',
      price_minor: 2500,
      currency: 'USD',
      capacity: flags.seats,
      max_per_order: Math.max(10, flags.quantity),
    },
    {
      id: warmupTicketTypeId,
      event_id: eventId,
      name: 'Warm-up seat',
      price_minor: 2500,
      currency: 'USD',
      capacity: 1_000_000,
      max_per_order: Math.max(10, flags.quantity),
    },
  ]);
  return { organizerId, eventId, ticketTypeId, warmupTicketTypeId, capacity: flags.seats };
}

/** What the database says after the sale: nothing oversold, one charge per paid order, a balanced ledger. */
async function checkInvariants(
  db: Db,
  catalogue: Awaited<ReturnType<typeof seed>>,
  sale: CheckoutPhase,
): Promise<{
  ok: boolean;
  oversold: number;
  sold: number;
  held: number;
  ticketRows: number;
  paidOrders: number;
  paidWithoutExactlyOneCharge: number;
  ledgerImbalanceMinor: number;
  openOrders: number;
  problems: string[];
}> {
  // Checkouts the API gave up on (5xx) may still be finishing in their workflows; let them settle.
  let openOrders = 0;
  for (let i = 0; i < 60; i++) {
    const open = await db('orders')
      .join('order_items', 'order_items.order_id', 'orders.id')
      .where('order_items.ticket_type_id', catalogue.ticketTypeId)
      .whereIn('orders.status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
      .count({ n: '*' })
      .first();
    openOrders = Number(open?.n ?? 0);
    if (openOrders === 0) break;
    await sleep(500);
  }
  const type = await db('ticket_types').where({ id: catalogue.ticketTypeId }).first('capacity', 'sold', 'held');
  const tickets = await db('tickets').where({ ticket_type_id: catalogue.ticketTypeId }).count({ n: '*' }).first();
  const paid = await db('orders')
    .join('order_items', 'order_items.order_id', 'orders.id')
    .where('order_items.ticket_type_id', catalogue.ticketTypeId)
    .where('orders.status', 'PAID')
    .count({ n: '*' })
    .first();
  const badCharges = await db.raw(
    `SELECT count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id
      WHERE i.ticket_type_id = ? AND o.status = 'PAID'
        AND (SELECT count(*) FROM sandbox_card_intents c WHERE c.order_id = o.id AND c.status = 'succeeded') <> 1`,
    [catalogue.ticketTypeId],
  );
  const ledger = await db.raw(
    `SELECT coalesce(sum(l.amount_minor), 0) AS total FROM ledger_entries l
      JOIN order_items i ON i.order_id = l.order_id WHERE i.ticket_type_id = ?`,
    [catalogue.ticketTypeId],
  );
  const sold = Number(type.sold);
  const held = Number(type.held);
  const ticketRows = Number(tickets?.n ?? 0);
  const paidOrders = Number(paid?.n ?? 0);
  const oversold = Math.max(0, ticketRows - catalogue.capacity, sold + held - catalogue.capacity);
  const result = {
    oversold,
    sold,
    held,
    ticketRows,
    paidOrders,
    paidWithoutExactlyOneCharge: Number(badCharges.rows[0].n),
    ledgerImbalanceMinor: Number(ledger.rows[0].total),
    openOrders,
    problems: [] as string[],
  };
  if (oversold > 0) result.problems.push(`oversold by ${oversold}`);
  if (ticketRows !== sold) result.problems.push(`ticket rows ${ticketRows} != sold counter ${sold}`);
  if (held !== 0 && openOrders === 0) result.problems.push(`${held} seats still held with no open order`);
  if (result.paidWithoutExactlyOneCharge > 0)
    result.problems.push(`${result.paidWithoutExactlyOneCharge} paid orders without exactly one charge`);
  if (result.ledgerImbalanceMinor !== 0) result.problems.push(`ledger off by ${result.ledgerImbalanceMinor}`);
  if (sale.tickets > ticketRows)
    result.problems.push(`buyers saw ${sale.tickets} tickets, database has ${ticketRows}`);
  return { ok: result.problems.length === 0, ...result };
}

/** Reserve-to-PAID inside the worker, from the order's own timestamps (created by reserveSeats, updated at PAID). */
async function serverSideLatency(db: Db, ticketTypeId: string) {
  const result = await db.raw(
    `SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
              (ORDER BY extract(epoch FROM o.updated_at - o.created_at) * 1000) AS p
       FROM orders o JOIN order_items i ON i.order_id = o.id
      WHERE i.ticket_type_id = ? AND o.status = 'PAID'`,
    [ticketTypeId],
  );
  const p = (result.rows[0]?.p ?? [0, 0, 0]) as number[];
  return { p50: Math.round(p[0] ?? 0), p95: Math.round(p[1] ?? 0), p99: Math.round(p[2] ?? 0) };
}

interface HistoryStats {
  mean: number;
  sampled: number;
  types: Record<string, number>;
}

function summarize(input: {
  flags: Flags;
  config: Config;
  runId: string;
  sale: { result: CheckoutPhase; cpu: Record<string, number> };
  base: { result: BaselinePhase; cpu: Record<string, number> };
  experiments: Array<{ phase: BaselinePhase; cpu: Record<string, number>; history: HistoryStats }>;
  invariants: Awaited<ReturnType<typeof checkInvariants>>;
  checkoutHistory: HistoryStats;
  perOrder: { workflowsPerOrder: number; eventsPerOrder: number; sampled: number };
  baselineHistory: HistoryStats;
  notes: string[];
  workerProfile: Array<{ category: string; percent: number }>;
  cores: number;
  resources: ResourceSample[];
  serverLatency: { p50: number; p95: number; p99: number };
}) {
  const { flags, sale, base, invariants } = input;
  const s = sale.result;
  // Sustained: over the selling window, which ends at the last sale when the seats ran out before the clock.
  const soldOutEarly = s.soldOut > 0 && s.lastPaidAt > 0;
  const windowSeconds = Math.max(0.001, (soldOutEarly ? s.lastPaidAt : s.to) - s.from);
  const perMinute = (n: number, seconds: number) => Math.round((n / seconds) * 60);
  const ticketsPerMinute = perMinute(s.tickets, windowSeconds);
  const checkoutsPerMinute = perMinute(s.paidOrderIds.length, windowSeconds);
  const baselineSeconds = Math.max(0.001, base.result.to - base.result.from);
  const baselinePerMinute = perMinute(base.result.workflowIds.length, baselineSeconds);
  const post = latencySummary(s.postMs);
  const paid = latencySummary(s.paidMs);
  const basePost = latencySummary(base.result.latencyMs);
  const rss = input.resources.map((r) => r.components.worker?.rssMb ?? 0);
  const workerRssMbPeak = Math.round(Math.max(0, ...rss));
  const workerRssMbEnd = Math.round(rss.filter((v) => v > 0).at(-1) ?? 0);
  const cpuPer = (cpu: Record<string, number>, n: number) =>
    Object.fromEntries(
      Object.entries(cpu)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => [k, Math.round(((v * 1000) / Math.max(1, n)) * 10) / 10]),
    );
  const saleCpuMsPerCheckout = cpuPer(sale.cpu, s.paidOrderIds.length);
  const baselineCpuMsPerWorkflow = cpuPer(base.cpu, base.result.workflowIds.length);
  const busy = (from: number, to: number) => {
    const inside = input.resources.filter((r) => r.t > from && r.t <= to);
    return Math.round(inside.reduce((a, r) => a + r.machineBusyPercent, 0) / Math.max(1, inside.length));
  };
  /** Cores used by processes that are not ours (other people's builds and tests on a shared machine). */
  const otherCores = (from: number, to: number) => {
    const inside = input.resources.filter((r) => r.t > from && r.t <= to);
    const others = inside.map((r) => {
      const ours = Object.values(r.components).reduce((a, c) => a + c.cpuPercent, 0) / 100;
      return Math.max(0, (r.machineBusyPercent / 100) * input.cores - ours);
    });
    return Math.round((others.reduce((a, b) => a + b, 0) / Math.max(1, others.length)) * 100) / 100;
  };

  const json = {
    ticketsPerMinute,
    checkoutsPerMinute,
    checkoutP50Ms: post.p50,
    checkoutP95Ms: post.p95,
    checkoutP99Ms: post.p99,
    paidP50Ms: paid.p50,
    paidP95Ms: paid.p95,
    paidP99Ms: paid.p99,
    oversold: invariants.oversold,
    invariantsOk: invariants.ok,
    baselinePerMinute,
    baselineRatio: Math.round((checkoutsPerMinute / Math.max(1, baselinePerMinute)) * 100) / 100,
    baselineP95Ms: basePost.p95,
    historyEventsPerCheckout: input.checkoutHistory.mean,
    workflowsPerOrder: input.perOrder.workflowsPerOrder,
    historyEventsPerOrder: input.perOrder.eventsPerOrder,
    historyEventsPerBaseline: input.baselineHistory.mean,
    workerRssMbPeak,
    workerRssMbEnd,
    soldOutResponses: s.soldOut,
    errors: Object.values(s.errors).reduce((a, b) => a + b, 0),
    concurrency: flags.concurrency,
    seats: flags.seats,
    buyers: flags.buyers,
    quick: process.env.BENCH_QUICK === '1',
    temporal: flags.temporal,
  };
  const details = {
    runId: input.runId,
    flags,
    dbPoolMax: input.config.DB_POOL_MAX,
    workerMaxCachedWorkflows: input.config.WORKER_MAX_CACHED_WORKFLOWS,
    benchWorkerOptions: process.env.BENCH_WORKER_OPTIONS ?? null,
    sale: {
      windowSeconds: Math.round(windowSeconds * 10) / 10,
      soldOutEarly,
      attempts: s.postMs.length + s.soldOutMs.length,
      soldOutLatencyMs: latencySummary(s.soldOutMs),
      unpaid: s.unpaid,
      errors: s.errors,
      machineBusyPercent: busy(s.from, s.to),
      otherProcessesCores: otherCores(s.from, s.to),
      serverReserveToPaidMs: input.serverLatency,
      cpuMsPerCheckout: saleCpuMsPerCheckout,
    },
    baseline: {
      seconds: Math.round(baselineSeconds * 10) / 10,
      workflows: base.result.workflowIds.length,
      latencyMs: basePost,
      errors: base.result.errors,
      machineBusyPercent: busy(base.result.from, base.result.to),
      otherProcessesCores: otherCores(base.result.from, base.result.to),
      cpuMsPerWorkflow: baselineCpuMsPerWorkflow,
    },
    invariants,
    checkoutHistory: input.checkoutHistory,
    perOrder: input.perOrder,
    baselineHistory: input.baselineHistory,
    notes: input.notes,
    workerProfile: input.workerProfile,
    experiments: input.experiments.map((e) => {
      const seconds = Math.max(0.001, e.phase.to - e.phase.from);
      return {
        name: e.phase.name,
        perMinute: perMinute(e.phase.workflowIds.length, seconds),
        latencyMs: latencySummary(e.phase.latencyMs),
        historyEvents: e.history.mean,
        cpuMsPerWorkflow: cpuPer(e.cpu, e.phase.workflowIds.length),
        errors: e.phase.errors,
      };
    }),
  };

  const target = (ok: boolean) => (ok ? 'meets target' : 'below target');
  const fmtCpu = (cpu: Record<string, number>) =>
    Object.entries(cpu)
      .sort(([, a], [, b]) => b - a)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const lines = [
    '',
    `Flash sale (${input.runId}) on the Temporal ${flags.temporal === 'cluster' ? 'cluster (Postgres, 4 services)' : 'dev server'}: ${flags.buyers} buyers, ${flags.seats} seats, concurrency ${flags.concurrency}`,
    `  tickets sold           ${s.tickets} in ${details.sale.windowSeconds}s${soldOutEarly ? ' (sold out)' : ''}; ${s.soldOut} sold-out answers; ${json.errors} errors`,
    `  tickets/minute         ${ticketsPerMinute}  (target 10000: ${target(ticketsPerMinute >= 10_000)})`,
    `  POST /v1/checkouts     p50 ${post.p50} ms, p95 ${post.p95} ms, p99 ${post.p99} ms, orders only (p95 target 200: ${target(post.p95 < 200)})`,
    `  POST, sold out (409)   p50 ${details.sale.soldOutLatencyMs.p50} ms, p95 ${details.sale.soldOutLatencyMs.p95} ms`,
    `  checkout -> PAID       p50 ${paid.p50} ms, p95 ${paid.p95} ms, p99 ${paid.p99} ms (buyer's view)`,
    `  reserve -> PAID        p50 ${input.serverLatency.p50} ms, p95 ${input.serverLatency.p95} ms (inside the worker)`,
    `  oversold               ${invariants.oversold} (sold ${invariants.sold}, held ${invariants.held}, capacity ${flags.seats}, ticket rows ${invariants.ticketRows})`,
    `  invariants             ${invariants.ok ? 'ok' : invariants.problems.join('; ')}`,
    `  history events         ${input.checkoutHistory.mean} per checkout workflow; ${input.perOrder.eventsPerOrder} per order over ` +
      `${input.perOrder.workflowsPerOrder} workflows (checkout + children); ${input.baselineHistory.mean} per baseline workflow`,
    `  worker RSS             peak ${workerRssMbPeak} MB, end ${workerRssMbEnd} MB`,
    `  CPU ms per checkout    ${fmtCpu(saleCpuMsPerCheckout)}`,
    `  machine                ${details.sale.machineBusyPercent}% busy; other people's processes used ${details.sale.otherProcessesCores} of ${input.cores} cores`,
    `Baseline (no-op workflow, 3 activities, update-with-start, same server and concurrency)`,
    `  workflows/minute       ${baselinePerMinute}; p50 ${basePost.p50} ms, p95 ${basePost.p95} ms`,
    `  CPU ms per workflow    ${fmtCpu(baselineCpuMsPerWorkflow)}`,
    `  machine                ${details.baseline.machineBusyPercent}% busy; other people's processes used ${details.baseline.otherProcessesCores} of ${input.cores} cores`,
    `  checkout / baseline    ${json.baselineRatio}  (target 0.7: ${target(json.baselineRatio >= 0.7)})`,
    ...details.experiments.flatMap((e) => [
      `Experiment: ${e.name}`,
      `  workflows/minute       ${e.perMinute}; p50 ${e.latencyMs.p50} ms, p95 ${e.latencyMs.p95} ms; ${e.historyEvents} history events` +
        (Object.keys(e.errors).length ? `; errors ${JSON.stringify(e.errors)}` : ''),
      `  CPU ms per workflow    ${fmtCpu(e.cpuMsPerWorkflow)}`,
    ]),
    ...input.notes.map((n) => `Note: ${n}`),
    ...(input.workerProfile.length
      ? [
          'Checkout worker CPU during the sale, by where the code lives (self time)',
          ...input.workerProfile.slice(0, 16).map((p) => `  ${p.percent.toFixed(1).padStart(5)}%  ${p.category}`),
        ]
      : []),
    '',
  ];
  return { json, details, text: lines.join('\n') };
}

void main();
