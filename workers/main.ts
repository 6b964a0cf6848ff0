import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, sandboxedProviders, type Config } from '../config';
import { createDb } from '../db';
import { FAILURE_CONVERTER_PATH, platformDataConverter } from '../temporal/payload-codec';
import { CHECKOUT_TASK_QUEUE, NFT_TASK_QUEUE, NOTIFICATIONS_TASK_QUEUE, PAYOUTS_TASK_QUEUE } from '../domain';
import {
  createCheckoutQueueActivities,
  createNftQueueActivities,
  createNotificationQueueActivities,
  createPayoutQueueActivities,
} from './activities';
import {
  createConfiguredMinter,
  createConfiguredPayouts,
  createNotificationProviders,
  createPaymentProviders,
} from '../providers';
import { temporalConnectionOptions, workerBuildId } from './temporal-connection';

const TASK_QUEUES = [CHECKOUT_TASK_QUEUE, NOTIFICATIONS_TASK_QUEUE, PAYOUTS_TASK_QUEUE, NFT_TASK_QUEUE];

/**
 * The worker process: polls the checkout, notifications, payouts and (with a chain configured) nft task queues over
 * one connection, running their workflows and activities until told to stop. WORKER_TASK_QUEUES narrows it to some
 * of them, so that each queue can have its own processes and be scaled on its own.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required by the worker (npm start sets it)');
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required by the worker (npm start sets it)');
  const sandboxed = sandboxedProviders(config);
  if (sandboxed.length > 0)
    console.log(`[worker] sandbox providers (no keys configured): ${sandboxed.join(', ')}`);

  const db = createDb(config.DATABASE_URL, config.DB_POOL_MAX);
  const queues = config.WORKER_TASK_QUEUES?.split(',').map((q) => q.trim()) ?? TASK_QUEUES;
  const unknown = queues.filter((q) => !TASK_QUEUES.includes(q));
  if (unknown.length > 0)
    throw new Error(`WORKER_TASK_QUEUES names unknown task queues: ${unknown.join(', ')} (known: ${TASK_QUEUES})`);
  const connection = await connectWithBackoff(config);
  const dataConverter = platformDataConverter(config);
  const providers = createPaymentProviders(config, db, {
    webhooks: config.SANDBOX_WEBHOOKS === 'on',
    log: (line) => console.warn(`[worker] ${line}`),
  });
  // One bundle for the three workers: every queue runs workflows from the same code.
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    failureConverterPath: FAILURE_CONVERTER_PATH,
  });
  const common = {
    connection,
    dataConverter,
    namespace: config.TEMPORAL_NAMESPACE,
    workflowBundle,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    // Versioned workers only get tasks once their version is made current (README, "Worker versioning").
    // AUTO_UPGRADE: running workflows move to the new version, which our patched() discipline makes safe.
    ...(config.TEMPORAL_WORKER_VERSIONING === 'on'
      ? {
          workerDeploymentOptions: {
            useWorkerVersioning: true,
            version: { deploymentName: config.TEMPORAL_DEPLOYMENT_NAME, buildId: workerBuildId(config) },
            defaultVersioningBehavior: 'AUTO_UPGRADE',
          } as const,
        }
      : {}),
  };
  const workers: Worker[] = [];
  if (queues.includes(CHECKOUT_TASK_QUEUE)) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: CHECKOUT_TASK_QUEUE,
        activities: createCheckoutQueueActivities(config, db, providers),
      }),
    );
  }
  if (queues.includes(NOTIFICATIONS_TASK_QUEUE)) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: NOTIFICATIONS_TASK_QUEUE,
        activities: createNotificationQueueActivities(config, db, createNotificationProviders(config, db)),
      }),
    );
  }
  if (queues.includes(PAYOUTS_TASK_QUEUE)) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: PAYOUTS_TASK_QUEUE,
        activities: createPayoutQueueActivities(config, db, createConfiguredPayouts(config, db), providers),
      }),
    );
  }
  const minter = queues.includes(NFT_TASK_QUEUE) ? createConfiguredMinter(config) : undefined;
  if (minter) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: NFT_TASK_QUEUE,
        activities: createNftQueueActivities(config, db, minter),
      }),
    );
    console.log(
      `[worker] NFT tickets on ${new URL(config.CHAIN_RPC_URL!).origin}, contract ${minter.contractAddress}`,
    );
  } else if (queues.includes(NFT_TASK_QUEUE)) {
    console.warn(
      `[worker] NFT minting is off (CHAIN_RPC_URL, CHAIN_PRIVATE_KEY and NFT_CONTRACT_ADDRESS are not all set): ` +
        `mints wait on task queue "${NFT_TASK_QUEUE}" and tickets stay PENDING until a worker with a chain polls it`,
    );
  }
  console.log(
    `[worker] polling task queues ${workers.map((w) => `"${w.options.taskQueue}"`).join(', ')} on ${config.TEMPORAL_ADDRESS} (Node ${process.version})`,
  );
  // Worker.run handles SIGINT/SIGTERM itself: it stops polling, finishes running activities, then resolves.
  await Promise.all(workers.map((w) => w.run()));
  minter?.close();
  await connection.close();
  await db.destroy();
}

/**
 * Temporal may come up after the worker (a restart, a deploy in the wrong order): wait for it, backing off from
 * half a second to 30 s, instead of exiting and leaving the task queues unpolled.
 */
async function connectWithBackoff(config: Config): Promise<NativeConnection> {
  const address = config.TEMPORAL_ADDRESS;
  for (let attempt = 1, delayMs = 500; ; attempt++, delayMs = Math.min(delayMs * 2, 30_000)) {
    try {
      return await NativeConnection.connect(temporalConnectionOptions(config));
    } catch (err) {
      console.warn(
        `[worker] Temporal at ${address} is not reachable (attempt ${attempt}: ${(err as Error).message}); retrying in ${delayMs / 1000} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

main().catch((err) => {
  console.error('[worker] fatal:', err);
  process.exit(1);
});
