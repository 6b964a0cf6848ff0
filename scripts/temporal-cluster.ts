import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { CHECKOUT_TASK_QUEUE } from '../domain';
import { temporal } from '@temporalio/proto';
import { ensureDatabase } from './postgres';
import { ensureSearchAttributes } from './temporal-server';
import { findOrBuild, TEMPORAL_SERVER, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER } from './temporal-binaries';

/** The repository root: the server is started with it as `--root`, so config/temporal/ resolves from anywhere. */
const REPO_ROOT = resolve(__dirname, '..');
/** config/temporal/cluster.yaml (`--env cluster`) and config/temporal/ui.yaml (`--env ui`). */
const CONFIG_DIR = 'config/temporal';

/** The four Temporal services, each run as its own process. */
export const CLUSTER_SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
/** One of the four Temporal services. */
export type ClusterService = (typeof CLUSTER_SERVICES)[number];

/** Every port one cluster listens on, all on 127.0.0.1. */
export interface ClusterPorts {
  grpc: Record<ClusterService, number>;
  membership: Record<ClusterService, number>;
  metrics: Record<ClusterService, number>;
  frontendHttp: number;
  ui: number;
}

/**
 * The port layout from the frontend's port: services on +1..+3, membership on +10..+13, the HTTP API on +20,
 * Prometheus metrics on +50..+53. With the default 7233: history 7234, matching 7235, worker 7236.
 */
export function clusterPorts(frontendPort: number, uiPort: number): ClusterPorts {
  const at = (offset: number) =>
    Object.fromEntries(CLUSTER_SERVICES.map((service, i) => [service, frontendPort + offset + i])) as Record<
      ClusterService,
      number
    >;
  return { grpc: at(0), membership: at(10), metrics: at(50), frontendHttp: frontendPort + 20, ui: uiPort };
}

/** Where the cluster keeps its state: two databases on one Postgres server. */
export interface ClusterDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Persistence: executions, history, task queues, namespaces, cluster membership. */
  database: string;
  /** Visibility: what list filters and search attributes query. */
  visibilityDatabase: string;
  tls: boolean;
}

/**
 * Reads TEMPORAL_DB_URL (or the embedded Postgres' URL): the path names the persistence database (default
 * `temporal`), visibility goes in `<it>_visibility`; `?sslmode=require` turns TLS on.
 */
export function clusterDatabaseFrom(url: string): ClusterDatabase {
  const parsed = new URL(url);
  const named = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  const database = named && named !== 'postgres' ? named : 'temporal';
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database,
    visibilityDatabase: `${database}_visibility`,
    tls: ['require', 'verify-ca', 'verify-full'].includes(parsed.searchParams.get('sslmode') ?? ''),
  };
}

/** The programs a cluster runs, found or built once per machine. */
export interface ClusterBinaries {
  server: string;
  sqlTool: string;
  /** Absent when the UI server could not be found or built; the cluster runs without a Web UI then. */
  uiServer?: string;
}

/** Finds or builds temporal-sql-tool, temporal-server and, with `ui`, (best effort) temporal-ui-server. */
export async function findClusterBinaries(
  settings: { TEMPORAL_SERVER_PATH?: string; TEMPORAL_SQL_TOOL_PATH?: string; TEMPORAL_UI_SERVER_PATH?: string },
  log: (line: string) => void,
  options: { ui: boolean } = { ui: true },
): Promise<ClusterBinaries> {
  const sqlTool = await findOrBuild(TEMPORAL_SQL_TOOL, settings.TEMPORAL_SQL_TOOL_PATH, log);
  const server = await findOrBuild(TEMPORAL_SERVER, settings.TEMPORAL_SERVER_PATH, log);
  let uiServer: string | undefined;
  if (options.ui)
    try {
      uiServer = await findOrBuild(TEMPORAL_UI_SERVER, settings.TEMPORAL_UI_SERVER_PATH, log);
    } catch (err) {
      log(`Temporal UI server unavailable, the cluster runs without a Web UI: ${(err as Error).message}`);
    }
  return { server, sqlTool, uiServer };
}

/**
 * Creates the two databases if missing and brings both schemas to the version the tool ships, idempotently:
 * `setup-schema -v 0.0` only creates the version tables when they are not there, and `update-schema` applies
 * only the versions above the recorded one. The schemas are the ones embedded in temporal-sql-tool
 * (`--schema-name`), the same files as the module's schema/postgresql/v12 directories, so the tool and the
 * schema it applies can never be from different releases.
 */
export async function prepareClusterDatabases(
  sqlTool: string,
  db: ClusterDatabase,
  log: (line: string) => void,
): Promise<void> {
  const serverUrl = new URL(`postgres://${db.host}:${db.port}/postgres`);
  serverUrl.username = db.user;
  serverUrl.password = db.password;
  if (db.tls) serverUrl.searchParams.set('sslmode', 'require');
  const started = Date.now();
  for (const [database, schema] of [
    [db.database, 'postgresql/v12/temporal'],
    [db.visibilityDatabase, 'postgresql/v12/visibility'],
  ] as const) {
    await ensureDatabase(serverUrl.toString(), database);
    // Credentials go through the tool's environment variables, never its command line (ps shows that).
    const env = {
      ...process.env,
      SQL_PLUGIN: 'postgres12',
      SQL_HOST: db.host,
      SQL_PORT: String(db.port),
      SQL_USER: db.user,
      SQL_PASSWORD: db.password,
      SQL_DATABASE: database,
      ...(db.tls ? { SQL_TLS: 'true' } : {}),
    };
    const run = (args: string[]) =>
      promisify(execFile)(sqlTool, ['--quiet', ...args], { env, maxBuffer: 16 * 1024 * 1024 }).catch(
        (err: Error & { stderr?: string }) => {
          throw new Error(
            `temporal-sql-tool ${args.join(' ')} on ${database} failed: ${err.stderr || err.message}`,
          );
        },
      );
    await run(['setup-schema', '-v', '0.0']);
    await run(['update-schema', '--schema-name', schema]);
  }
  log(`Temporal: schemas of ${db.database} and ${db.visibilityDatabase} up to date (${Date.now() - started} ms)`);
}

/** The environment config/temporal/cluster.yaml is rendered from. */
export function clusterTemplateEnv(ports: ClusterPorts, db: ClusterDatabase): Record<string, string> {
  return {
    TEMPORAL_CLUSTER_PG_HOST: db.host,
    TEMPORAL_CLUSTER_PG_PORT: String(db.port),
    TEMPORAL_CLUSTER_PG_USER: db.user,
    TEMPORAL_CLUSTER_PG_PASSWORD: db.password,
    TEMPORAL_CLUSTER_PG_DATABASE: db.database,
    TEMPORAL_CLUSTER_PG_VISIBILITY_DATABASE: db.visibilityDatabase,
    TEMPORAL_CLUSTER_PG_TLS: String(db.tls),
    TEMPORAL_CLUSTER_BIND_IP: '127.0.0.1',
    TEMPORAL_CLUSTER_BROADCAST_ADDRESS: '127.0.0.1',
    TEMPORAL_CLUSTER_FRONTEND_PORT: String(ports.grpc.frontend),
    TEMPORAL_CLUSTER_FRONTEND_HTTP_PORT: String(ports.frontendHttp),
    TEMPORAL_CLUSTER_HISTORY_PORT: String(ports.grpc.history),
    TEMPORAL_CLUSTER_MATCHING_PORT: String(ports.grpc.matching),
    TEMPORAL_CLUSTER_WORKER_PORT: String(ports.grpc.worker),
    TEMPORAL_CLUSTER_FRONTEND_MEMBERSHIP_PORT: String(ports.membership.frontend),
    TEMPORAL_CLUSTER_HISTORY_MEMBERSHIP_PORT: String(ports.membership.history),
    TEMPORAL_CLUSTER_MATCHING_MEMBERSHIP_PORT: String(ports.membership.matching),
    TEMPORAL_CLUSTER_WORKER_MEMBERSHIP_PORT: String(ports.membership.worker),
  };
}

/** A process the cluster keeps alive: restarted with backoff whenever it dies unasked. */
export interface SupervisedProcess {
  readonly name: string;
  pid(): number | undefined;
  /** Kills it with `signal` and lets the supervisor bring it back, as it would after a crash. */
  kill(signal: NodeJS.Signals): void;
  /** Resolves once the current process has exited and a new one has started. */
  restarted(): Promise<void>;
  stop(): Promise<void>;
}

function superviseBinary(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  logFile: string,
  log: (line: string) => void,
): SupervisedProcess {
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  let timer: NodeJS.Timeout | undefined;
  let waiters: Array<() => void> = [];
  const launch = () => {
    if (stopping) return;
    const out = openSync(logFile, 'a');
    child = spawn(command, args, { env, stdio: ['ignore', out, out], cwd: REPO_ROOT });
    closeSync(out);
    const startedAt = Date.now();
    for (const done of waiters.splice(0)) done();
    child.on('exit', (code, signal) => {
      // Exit code 0, or death by SIGINT or SIGTERM, is a stop it was asked for (Ctrl-C reaches the whole
      // process group; the UI server dies of SIGINT rather than exiting): not a crash.
      if (stopping || code === 0 || signal === 'SIGINT' || signal === 'SIGTERM') return;
      restarts = Date.now() - startedAt > 30_000 ? 0 : restarts + 1;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(restarts, 5));
      log(`Temporal ${name} exited (${signal ?? code}); restarting in ${delay} ms (log: ${logFile})`);
      timer = setTimeout(launch, delay);
    });
  };
  launch();
  waiters = [];
  return {
    name,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? child.pid : undefined),
    kill: (signal) => void child?.kill(signal),
    restarted: () => new Promise<void>((done) => waiters.push(done)),
    stop: () =>
      new Promise<void>((done) => {
        stopping = true;
        clearTimeout(timer);
        if (!child || child.exitCode !== null || child.signalCode !== null) return done();
        child.once('exit', () => done());
        child.kill('SIGTERM');
        setTimeout(() => child?.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

/** A running Temporal cluster started by us: four service processes and the Web UI, all supervised. */
export interface TemporalCluster {
  address: string;
  uiUrl: string | null;
  services: Record<ClusterService, SupervisedProcess>;
  ui: SupervisedProcess | null;
  stop(): Promise<void>;
}

/**
 * Starts frontend, history, matching and worker as separate `temporal-server start --service X` processes
 * from config/temporal/cluster.yaml, then the Web UI, then makes sure the namespace and the search attributes
 * exist. Resolves once every service answers: the frontend, matching (a task queue described) and history
 * (an unknown execution reported missing rather than unavailable).
 */
export async function startTemporalCluster(options: {
  binaries: ClusterBinaries;
  db: ClusterDatabase;
  ports: ClusterPorts;
  namespace: string;
  logDir: string;
  log: (line: string) => void;
  /** How long to wait for the whole cluster; a cold start on a busy 2-core machine takes 10-30 s. */
  timeoutMs?: number;
}): Promise<TemporalCluster> {
  const { binaries, ports, log } = options;
  mkdirSync(options.logDir, { recursive: true });
  const started = Date.now();
  const env = { ...process.env, ...clusterTemplateEnv(ports, options.db) };
  const services = Object.fromEntries(
    CLUSTER_SERVICES.map((service) => [
      service,
      superviseBinary(
        service,
        binaries.server,
        [
          '--root',
          REPO_ROOT,
          '--config',
          CONFIG_DIR,
          '--env',
          'cluster',
          '--allow-no-auth',
          'start',
          '--service',
          service,
        ],
        { ...env, TEMPORAL_CLUSTER_METRICS_PORT: String(ports.metrics[service]) },
        join(options.logDir, `temporal-${service}.log`),
        log,
      ),
    ]),
  ) as Record<ClusterService, SupervisedProcess>;
  const address = `127.0.0.1:${ports.grpc.frontend}`;
  const ui = binaries.uiServer
    ? superviseBinary(
        'ui',
        binaries.uiServer,
        ['--root', REPO_ROOT, '--config', CONFIG_DIR, '--env', 'ui', 'start'],
        {
          ...process.env,
          TEMPORAL_CLUSTER_UI_TEMPORAL_ADDRESS: address,
          TEMPORAL_CLUSTER_UI_PORT: String(ports.ui),
          TEMPORAL_CLUSTER_UI_NAMESPACE: options.namespace,
          TEMPORAL_CLUSTER_UI_PUBLIC_URL: `http://localhost:${ports.ui}`,
        },
        join(options.logDir, 'temporal-ui.log'),
        log,
      )
    : null;
  const cluster: TemporalCluster = {
    address,
    uiUrl: ui ? `http://localhost:${ports.ui}` : null,
    services,
    ui,
    stop: async () => {
      await ui?.stop();
      // The frontend first, so clients see it go rather than half a cluster; then the rest together.
      await services.frontend.stop();
      await Promise.all([services.worker.stop(), services.matching.stop(), services.history.stop()]);
    },
  };
  try {
    await waitForCluster(address, options.namespace, Date.now() + (options.timeoutMs ?? 180_000), log);
    await ensureSearchAttributes(address, options.namespace, log);
  } catch (err) {
    await cluster.stop();
    throw new Error(`${(err as Error).message}; see ${options.logDir}/temporal-*.log`);
  }
  log(`Temporal: cluster ${address} up in ${((Date.now() - started) / 1000).toFixed(1)}s (4 services)`);
  return cluster;
}

const code = (err: unknown) => (err as { code?: number }).code;
/** gRPC status codes (the numbers are fixed by the gRPC spec). */
const grpcStatus = { NOT_FOUND: 5, ALREADY_EXISTS: 6 } as const;

/**
 * Registers `namespace` unless it exists (retention 7 days), then waits until the frontend serves it.
 * DescribeNamespace reads the database, but most calls resolve the name through the frontend's namespace
 * registry, a cache that remembers a miss for a while and refreshes every few seconds: a namespace just
 * registered is described at once and still "not found" to the operator service. So it is ready only once a
 * registry-served call (listing its search attributes) finds it too.
 */
export async function ensureNamespace(
  connection: Connection,
  namespace: string,
  log: (line: string) => void,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let registered = false;
  for (;;) {
    try {
      await connection.workflowService.describeNamespace({ namespace });
      await connection.operatorService.listSearchAttributes({ namespace });
      return;
    } catch (err) {
      if (code(err) !== grpcStatus.NOT_FOUND || Date.now() > deadline) throw err;
    }
    if (!registered) {
      await connection.workflowService
        .registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('7 days') })
        .catch((err: unknown) => {
          if (code(err) !== grpcStatus.ALREADY_EXISTS) throw err;
        });
      registered = true;
      log(`Temporal: namespace "${namespace}" created`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits for the frontend, makes sure of the namespace, then waits until matching and history answer for it. */
async function waitForCluster(
  address: string,
  namespace: string,
  deadline: number,
  log: (line: string) => void,
): Promise<void> {
  let last: unknown;
  let connection: Connection | undefined;
  try {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`Temporal cluster on ${address} not ready: ${String(last)}`);
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 2_000 });
        await connection.workflowService.getClusterInfo({});
        await ensureNamespace(connection, namespace, log, Math.max(1_000, deadline - Date.now()));
        // Matching: a task queue can be described.
        await connection.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: CHECKOUT_TASK_QUEUE },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        // History: an execution that does not exist is reported missing, not unavailable.
        try {
          await connection.workflowService.describeWorkflowExecution({
            namespace,
            execution: { workflowId: 'bilten-cluster-readiness-probe' },
          });
        } catch (err) {
          if (code(err) !== grpcStatus.NOT_FOUND) throw err;
        }
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await connection?.close();
  }
}
