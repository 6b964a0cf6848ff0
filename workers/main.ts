import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, sandboxedProviders } from '../config';
import { createDb } from '../db';
import { CHECKOUT_TASK_QUEUE } from '../domain';
import { createCheckoutQueueActivities } from './activities';
import { createPaymentProviders } from './providers';

/** The worker process: runs checkout workflows and their activities until told to stop. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required by the worker (npm start sets it)');
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required by the worker (npm start sets it)');
  const sandboxed = sandboxedProviders(config);
  if (sandboxed.length > 0)
    console.log(`[worker] sandbox providers (no keys configured): ${sandboxed.join(', ')}`);

  const db = createDb(config.DATABASE_URL, config.DB_POOL_MAX);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const providers = createPaymentProviders(config, db, { log: (line) => console.warn(`[worker] ${line}`) });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: CHECKOUT_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createCheckoutQueueActivities(config, db, providers),
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  });
  console.log(`[worker] polling task queue "${CHECKOUT_TASK_QUEUE}" on ${config.TEMPORAL_ADDRESS}`);
  // Worker.run handles SIGINT/SIGTERM itself: it stops polling, finishes running activities, then resolves.
  await worker.run();
  await connection.close();
  await db.destroy();
}

main().catch((err) => {
  console.error('[worker] fatal:', err);
  process.exit(1);
});
