// The bench's own stack: embedded Postgres and Temporal (separate data dir and ports, so a running `npm start` is
// untouched), the real worker and API as child processes, the baseline worker, and the meters on all of them.
import { mkdirSync, rmSync } from 'node:fs';
import { CATALOGUE_LOAD_ENV } from './catalogue';
import type { ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { startInfrastructure, type Infrastructure } from '../scripts/infrastructure';
import { apiAnswers, workerPolls } from '../scripts/readiness';
import { platformDataConverter } from '../temporal/payload-codec';
import {
  childByName,
  spawnTs,
  startResourceSampler,
  stopChild,
  type Component,
  type ResourceSample,
} from './processes';
import type { Phase } from './report';

/** The benchmark's own stack: a data dir and ports of its own, the sandbox in instant mode. */
export const BENCH_ENV = {
  NODE_ENV: 'development',
  DATA_DIR: '.data/bench',
  TEMPORAL_PORT: '7299',
  TEMPORAL_UI_PORT: '8299',
  EMBEDDED_PG_PORT: '5499',
  PORT: '3099',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3099',
  SANDBOX_WEBHOOKS: 'off',
  LOG_LEVEL: 'warn',
  // The catalogue phase's page refreshes all come from 127.0.0.1.
  ...CATALOGUE_LOAD_ENV,
  // Always the embedded stack: never point a load test at a database or cluster someone else uses.
  DATABASE_URL: '',
  TEMPORAL_ADDRESS: '',
} as const;

/** What the stack is asked for. */
export interface StackOptions {
  temporal: 'dev' | 'cluster';
  keepData: boolean;
  /** CPU-profile the (first) checkout worker; the profile is written when it exits. */
  profile: boolean;
  /** Checkout worker processes (default 1): a scale-out phase runs the same stack with more. */
  workers?: number;
  /** API processes (default 1), on consecutive ports from 3099; buyers are spread over them. */
  apis?: number;
  /** Settings on top of BENCH_ENV for every child (webhooks on for a mixed sale, rate limits...). */
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/** The running stack and its meters. */
export interface Stack {
  config: Config;
  dataDir: string;
  infra: Infrastructure;
  db: Db;
  client: Client;
  /** Base URLs of the API processes, the first one on BENCH_ENV.PORT. */
  apiUrls: string[];
  workers: ChildProcess[];
  apis: ChildProcess[];
  profileDir: string;
  /** Seconds since the meters started; every timeline (requests, samples, phases) is on this clock. */
  since: () => number;
  /** Resource samples once a second, by component. */
  samples: ResourceSample[];
  /** The measured phases, in order, for the chart. */
  phases: Phase[];
  /** Runs a phase, records it on the timeline, and returns its result with the CPU seconds each component used. */
  measure: <T>(name: string, run: () => Promise<T>) => Promise<Measured<T>>;
  /** Takes a last sample and stops sampling (before histories are read, which is not part of any phase). */
  stopSampling: () => void;
  /** Stops everything in reverse order of start; safe to call twice. */
  shutdown: () => Promise<void>;
}

/** A phase's result and the CPU seconds each component spent on it. */
export interface Measured<T> {
  result: T;
  cpu: Record<string, number>;
}

const portAnswers = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });

/** Name of the n-th process of a kind on the CPU breakdown: `worker`, `worker-2`, ... */
const nth = (kind: string, i: number) => (i === 0 ? kind : `${kind}-${i + 1}`);

/** Brings up the whole stack and waits until a checkout would run; stops what started if anything fails. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const { log } = options;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...BENCH_ENV,
    TEMPORAL_MODE: options.temporal,
    ...options.env,
  };
  const config = loadConfig(env);
  const dataDir = resolve(config.DATA_DIR);

  // A fresh stack per run, so figures do not depend on what an earlier run left in SQLite or Postgres.
  const leftovers = (await portAnswers(config.EMBEDDED_PG_PORT)) || (await portAnswers(config.TEMPORAL_PORT));
  if (leftovers)
    log(`something already listens on ${config.EMBEDDED_PG_PORT} or ${config.TEMPORAL_PORT}; reusing it`);
  else if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
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
    const infra = await startInfrastructure(config, log);
    stops.push(() => infra.stop());
    const temporalPid = childByName(process.pid, 'temporal');
    const postgresPid = childByName(process.pid, 'postgres');

    const childEnv = { ...env, DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress };
    const profileDir = join(dataDir, 'profiles');
    const workers = Array.from({ length: options.workers ?? 1 }, (_, i) =>
      spawnTs(
        'workers/main.ts',
        // A second worker on the same machine cannot bind the first one's metrics ports.
        i === 0 ? childEnv : { ...childEnv, WORKER_METRICS_PORT: '0', WORKER_SDK_METRICS_PORT: '0' },
        join(dataDir, `${nth('worker', i)}.log`),
        options.profile && i === 0 ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      ),
    );
    for (const w of workers) stops.push(() => stopChild(w.child));
    const apiUrls = Array.from({ length: options.apis ?? 1 }, (_, i) => `http://127.0.0.1:${config.PORT + i}`);
    const apis = apiUrls.map((_, i) =>
      spawnTs(
        'api/main.ts',
        { ...childEnv, PORT: String(config.PORT + i) },
        join(dataDir, `${nth('api', i)}.log`),
      ),
    );
    for (const a of apis) stops.push(() => stopChild(a.child));
    const baselineWorker = spawnTs('bench/baseline-worker.ts', childEnv, join(dataDir, 'baseline-worker.log'));
    stops.push(() => stopChild(baselineWorker.child));
    const polling = workerPolls({ address: infra.temporalAddress }, config.TEMPORAL_NAMESPACE);
    stops.push(() => polling.close());
    await Promise.all([
      ...workers.map((w) => w.ready(polling, 120_000)),
      ...apis.map((a, i) => a.ready(apiAnswers(`${apiUrls[i]}/readyz`), 120_000)),
      baselineWorker.ready('[baseline-worker] polling', 120_000),
    ]);
    log(
      `stack up in ${((Date.now() - startedInfra) / 1000).toFixed(1)}s on Node ${process.version} ` +
        `(${workers.length} worker, ${apis.length} API processes; logs under ${config.DATA_DIR})`,
    );

    const db = createDb(infra.databaseUrl, 4);
    stops.push(() => db.destroy());
    const connection = await Connection.connect({ address: infra.temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: platformDataConverter(config),
    });

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
      ...workers.map((w, i) => ({ name: nth('worker', i), pid: () => w.child.pid, withDescendants: false })),
      ...apis.map((a, i) => ({ name: nth('api', i), pid: () => a.child.pid, withDescendants: false })),
      { name: 'baseline-worker', pid: () => baselineWorker.child.pid, withDescendants: false },
      { name: 'bench', pid: () => process.pid, withDescendants: false },
    ];
    const t0 = Date.now();
    const since = () => (Date.now() - t0) / 1000;
    const sampler = startResourceSampler(components, t0);
    stops.push(async () => sampler.stop());
    const phases: Phase[] = [];
    const measure = async <T>(name: string, run: () => Promise<T>): Promise<Measured<T>> => {
      sampler.sampleNow();
      const before = sampler.cpuSeconds();
      const from = since();
      const result = await run();
      sampler.sampleNow();
      const after = sampler.cpuSeconds();
      phases.push({ name, from, to: since() });
      const cpu: Record<string, number> = {};
      for (const [k, v] of after) cpu[k] = v - (before.get(k) ?? 0);
      return { result, cpu };
    };
    return {
      config,
      dataDir,
      infra,
      db,
      client,
      apiUrls,
      workers: workers.map((w) => w.child),
      apis: apis.map((a) => a.child),
      profileDir,
      since,
      samples: sampler.samples,
      phases,
      measure,
      stopSampling: () => {
        sampler.sampleNow();
        sampler.stop();
      },
      shutdown,
    };
  } catch (err) {
    await shutdown();
    throw err;
  }
}
