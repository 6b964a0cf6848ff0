import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { loadConfig } from '../config';
import { platformDataConverter } from '../temporal/payload-codec';
import { createBaselineActivities } from './baseline-activities';
import { BASELINE_TASK_QUEUE } from './baseline-workflow';

/**
 * Worker options the benchmark may try on top of the checkout worker's, as JSON in BENCH_WORKER_OPTIONS
 * (for example `{"maxConcurrentWorkflowTaskPolls":4}`), so a tuning idea can be measured before it is proposed.
 */
export function benchWorkerOverrides(env: NodeJS.ProcessEnv = process.env): Partial<WorkerOptions> {
  if (!env.BENCH_WORKER_OPTIONS) return {};
  return JSON.parse(env.BENCH_WORKER_OPTIONS) as Partial<WorkerOptions>;
}

/** The baseline worker, configured as the checkout worker is (same cache size), on its own task queue. */
export function createBaselineWorker(
  connection: NativeConnection,
  namespace: string,
  maxCachedWorkflows: number,
  taskQueue = BASELINE_TASK_QUEUE,
  dataConverter?: DataConverter,
) {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    // The checkout's payloads are encrypted (temporal/payload-codec.ts); the floor pays the same codec.
    ...(dataConverter ? { dataConverter } : {}),
    workflowsPath: require.resolve('./baseline-workflow'),
    activities: createBaselineActivities(),
    maxCachedWorkflows,
    ...benchWorkerOverrides(),
  });
}

/** The baseline worker process the benchmark starts beside the checkout worker. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required (the benchmark sets it)');
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await createBaselineWorker(
    connection,
    config.TEMPORAL_NAMESPACE,
    config.WORKER_MAX_CACHED_WORKFLOWS,
    BASELINE_TASK_QUEUE,
    platformDataConverter(config),
  );
  console.log(`[baseline-worker] polling task queue "${BASELINE_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS}`);
  await worker.run();
  await connection.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error('[baseline-worker] fatal:', err);
    process.exit(1);
  });
}
