import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config';
import { createDb, migrateLatest } from '../db';
import { startPostgres } from './postgres';
import { findOrInstallTemporalCli } from './temporal-cli';
import { ensureSearchAttributes, startTemporalDevServer, type TemporalDevServer } from './temporal-server';
import {
  clusterDatabaseFrom,
  clusterPorts,
  findClusterBinaries,
  prepareClusterDatabases,
  startTemporalCluster,
  type TemporalCluster,
} from './temporal-cluster';
import { temporalConnectionOptions } from '../workers/temporal-connection';

/** The services the platform runs on, whether we started them or were pointed at them. */
export interface Infrastructure {
  databaseUrl: string;
  temporalAddress: string;
  temporalUiUrl: string | null;
  /** In cluster mode: the pid of each Temporal service process, for the benchmark's CPU split. */
  temporalServices?: Record<string, () => number | undefined>;
  stop(): Promise<void>;
}

/**
 * Brings up Postgres (DATABASE_URL, or embedded) and Temporal (TEMPORAL_ADDRESS, or as TEMPORAL_MODE says: the
 * CLI dev server with a SQLite file, or a cluster on Postgres), then migrates the schema. Everything local
 * lives under DATA_DIR.
 */
export async function startInfrastructure(config: Config, log: (line: string) => void): Promise<Infrastructure> {
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const postgres = await startPostgres({
    databaseUrl: config.DATABASE_URL,
    dataDir: resolve(dataDir, 'postgres'),
    port: config.EMBEDDED_PG_PORT,
    database: 'bilten',
    log,
  });
  log(postgres.embedded ? `Postgres: embedded on port ${config.EMBEDDED_PG_PORT}` : 'Postgres: DATABASE_URL');
  const db = createDb(postgres.url, 2);
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }

  if (config.TEMPORAL_ADDRESS) {
    log(`Temporal: using ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS is set; nothing started)`);
    await ensureSearchAttributes(temporalConnectionOptions(config), config.TEMPORAL_NAMESPACE, log);
    return {
      databaseUrl: postgres.url,
      temporalAddress: config.TEMPORAL_ADDRESS,
      temporalUiUrl: null,
      stop: () => postgres.stop(),
    };
  }
  if (config.TEMPORAL_MODE === 'cluster') {
    const cluster = await startConfiguredCluster(config, postgres.url, dataDir, log);
    return {
      databaseUrl: postgres.url,
      temporalAddress: cluster.address,
      temporalUiUrl: cluster.uiUrl,
      temporalServices: Object.fromEntries(
        Object.entries(cluster.services).map(([name, service]) => [name, () => service.pid()]),
      ),
      stop: async () => {
        await cluster.stop();
        await postgres.stop();
      },
    };
  }
  const cliPath = await findOrInstallTemporalCli(log);
  const temporal = await startConfiguredDevServer(config, cliPath, dataDir);
  log(`Temporal: dev server ${temporal.address} (${cliPath})`);
  return {
    databaseUrl: postgres.url,
    temporalAddress: temporal.address,
    temporalUiUrl: temporal.uiUrl,
    stop: async () => {
      await temporal.stop();
      await postgres.stop();
    },
  };
}

/** The Temporal dev server as the configuration describes it, its SQLite file and log under `dataDir`. */
export function startConfiguredDevServer(
  config: Config,
  cliPath: string,
  dataDir: string,
): Promise<TemporalDevServer> {
  return startTemporalDevServer({
    cliPath,
    dbFile: resolve(dataDir, 'temporal.sqlite'),
    logFile: resolve(dataDir, 'temporal.log'),
    port: config.TEMPORAL_PORT,
    uiPort: config.TEMPORAL_UI_PORT,
    namespace: config.TEMPORAL_NAMESPACE,
    metricsPort: config.TEMPORAL_METRICS_PORT,
    // The Web UI decodes encrypted payloads through the API's codec endpoint (api/routes/codec.ts).
    codecEndpoint: `${config.PUBLIC_BASE_URL}/codec`,
  });
}

/**
 * The Temporal cluster as the configuration describes it: its databases on TEMPORAL_DB_URL or beside the app's
 * in `appDatabaseUrl`'s server, frontend on TEMPORAL_PORT (the other services on the next ports), the UI on
 * TEMPORAL_UI_PORT, logs under `dataDir`.
 */
export async function startConfiguredCluster(
  config: Config,
  appDatabaseUrl: string,
  dataDir: string,
  log: (line: string) => void,
  options: { ui: boolean } = { ui: true },
): Promise<TemporalCluster> {
  const binaries = await findClusterBinaries(config, log, options);
  const serverUrl = new URL(appDatabaseUrl);
  serverUrl.pathname = '/temporal';
  const db = clusterDatabaseFrom(config.TEMPORAL_DB_URL ?? serverUrl.toString());
  await prepareClusterDatabases(binaries.sqlTool, db, log);
  return startTemporalCluster({
    binaries,
    db,
    ports: clusterPorts(config.TEMPORAL_PORT, config.TEMPORAL_UI_PORT),
    namespace: config.TEMPORAL_NAMESPACE,
    logDir: dataDir,
    log,
  });
}
