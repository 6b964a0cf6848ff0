// The crash suite's Temporal cluster mode (`npm run test:chaos -- --temporal cluster`): the same stream of
// checkouts and worker kills, on a Temporal cluster on Postgres instead of the dev server, with the faults only a
// cluster has: its history service (which owns the shards, the workflows' state) and its matching service (which
// holds the task queues) each killed with SIGKILL mid-sale and brought back by their supervisor.
import type { Config } from '../config';
import { startConfiguredCluster } from './infrastructure';
import type { ClusterService, TemporalCluster } from './temporal-cluster';

/**
 * What the cluster run changes in the crash suite's environment: a data directory and ports of its own (the
 * cluster takes TEMPORAL_PORT and the 53 ports above it), so it can run beside the dev-server run, `npm start`
 * and `npm run bench`.
 */
export const CLUSTER_CHAOS_ENV = {
  DATA_DIR: '.data/chaos-cluster',
  TEMPORAL_PORT: '7599',
  TEMPORAL_UI_PORT: '8499',
  EMBEDDED_PG_PORT: '5699',
  PORT: '3299',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3299',
  WORKER_METRICS_PORT: '9494',
  WORKER_SDK_METRICS_PORT: '9495',
  TEMPORAL_METRICS_PORT: '9496',
} as const;

/** A fault the crash suite injects at a fraction of the run's duration. */
export interface ClusterFault {
  at: number;
  name: string;
  run: () => Promise<void>;
}

/** The cluster the crash suite runs on, with its databases beside the app's on the suite's own Postgres. */
export function startChaosCluster(
  config: Config,
  appDatabaseUrl: string,
  dataDir: string,
  log: (line: string) => void,
): Promise<TemporalCluster> {
  return startConfiguredCluster(config, appDatabaseUrl, dataDir, log, { ui: false });
}

/**
 * Kills `service` with SIGKILL and resolves once its supervisor has started it again. Until the new process has
 * joined the ring and taken over (seconds, for history: it reacquires every shard), its shards or queues have no
 * owner, and the other services and the clients must ride that out.
 */
async function killService(cluster: TemporalCluster, service: ClusterService): Promise<void> {
  const supervised = cluster.services[service];
  const back = supervised.restarted();
  supervised.kill('SIGKILL');
  await back;
}

/** The cluster's faults over a run of `duration` seconds: history killed at 40%, matching at 55%. */
export function clusterFaults(cluster: TemporalCluster, duration: number): ClusterFault[] {
  return [
    {
      at: duration * 0.4,
      name: 'kill -9 the Temporal history service mid-sale (its supervisor restarts it)',
      run: () => killService(cluster, 'history'),
    },
    {
      at: duration * 0.55,
      name: 'kill -9 the Temporal matching service mid-sale (its supervisor restarts it)',
      run: () => killService(cluster, 'matching'),
    },
  ];
}
