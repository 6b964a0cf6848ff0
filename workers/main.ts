import { bundleWorkflowCode, Runtime, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { ensureSchedules } from '../temporal/schedules';
import { loadConfig, sandboxedProviders } from '../config';
import { createDb } from '../db';
import { FAILURE_CONVERTER_PATH, platformDataConverter } from '../temporal/payload-codec';
import { CHECKOUT_TASK_QUEUE, NFT_TASK_QUEUE, NOTIFICATIONS_TASK_QUEUE, PAYOUTS_TASK_QUEUE } from '../domain';
import { logger } from '../observability/logger';
import { serveMetrics } from '../observability/metrics';
import { startTracing, workerTracing } from '../observability/tracing';
import {
  debugOnlyTemporalLogger,
  observeActivities,
  temporalLevel,
  temporalLogger,
  WORKFLOW_INTERCEPTOR_MODULES,
} from '../observability/temporal';
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
import { connectWithBackoff } from './connect';
import { temporalConnectionOptions, workerBuildId } from './temporal-connection';

const TASK_QUEUES = [CHECKOUT_TASK_QUEUE, NOTIFICATIONS_TASK_QUEUE, PAYOUTS_TASK_QUEUE, NFT_TASK_QUEUE];

const log = logger.child({ component: 'worker' });

/**
 * The worker process: polls the checkout, notifications, payouts and (with a chain configured) nft task queues over
 * one connection, running their workflows and activities until told to stop. WORKER_TASK_QUEUES narrows it to some
 * of them, so that each queue can have its own processes and be scaled on its own.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const tracing = workerTracing(
    startTracing({ serviceName: 'bilten-worker', endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }),
  );
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required by the worker (npm start sets it)');
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required by the worker (npm start sets it)');
  // The SDK's own logs (worker lifecycle, workflow and activity `log` calls, core) go through pino, and its
  // Prometheus exporter answers on its own port.
  const level = temporalLevel(config.LOG_LEVEL);
  Runtime.install({
    logger: temporalLogger(logger.child({ component: 'temporal' })),
    telemetryOptions: {
      logging: {
        forward: {},
        filter: { core: level === 'TRACE' || level === 'DEBUG' ? level : 'WARN', other: 'WARN' },
      },
      ...(config.WORKER_SDK_METRICS_PORT
        ? { metrics: { prometheus: { bindAddress: `${config.METRICS_HOST}:${config.WORKER_SDK_METRICS_PORT}` } } }
        : {}),
    },
  });
  if (config.WORKER_METRICS_PORT) {
    await serveMetrics(config.WORKER_METRICS_PORT, config.METRICS_HOST).then(
      () => log.info({ port: config.WORKER_METRICS_PORT }, 'metrics on /metrics'),
      // Metrics are for operators; a taken port must not stop the worker from selling tickets.
      (err) => log.warn({ err, port: config.WORKER_METRICS_PORT }, 'metrics port unavailable; serving no metrics'),
    );
  }
  const sandboxed = sandboxedProviders(config);
  if (sandboxed.length > 0)
    log.info({ sandboxed }, `sandbox providers (no keys configured): ${sandboxed.join(', ')}`);

  const db = createDb(config.DATABASE_URL, config.DB_POOL_MAX);
  const queues = config.WORKER_TASK_QUEUES?.split(',').map((q) => q.trim()) ?? TASK_QUEUES;
  const unknown = queues.filter((q) => !TASK_QUEUES.includes(q));
  if (unknown.length > 0)
    throw new Error(`WORKER_TASK_QUEUES names unknown task queues: ${unknown.join(', ')} (known: ${TASK_QUEUES})`);
  const connection = await connectWithBackoff(config, ({ attempt, retryInMs, err }) =>
    log.warn(
      { err, attempt, retryInMs },
      `Temporal at ${config.TEMPORAL_ADDRESS} is not reachable (attempt ${attempt}: ${err.message}); retrying in ${retryInMs / 1000} s`,
    ),
  );
  const dataConverter = platformDataConverter(config);
  // A client for what activities ask Temporal (the hold sweeper) and for the schedules.
  const clientConnection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection: clientConnection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
  if (config.SCHEDULES === 'on') {
    // Idempotent: every worker process does it at every start, and two starts leave one of each schedule.
    // A schedule that cannot be written must not stop the worker from selling tickets: it says so, loudly.
    await ensureSchedules(client, config).then(
      (outcomes) =>
        log.info(
          { schedules: outcomes },
          `schedules: ${outcomes.map((o) => `${o.scheduleId} ${o.outcome}`).join(', ')}`,
        ),
      (err) => log.error({ err }, 'schedules were not created or updated; run `npm run schedules`'),
    );
  }
  const providers = createPaymentProviders(config, db, {
    webhooks: config.SANDBOX_WEBHOOKS === 'on',
    log: (line) => log.warn(line),
  });
  // One bundle for every queue's worker: every queue runs workflows from the same code. Webpack's output is only
  // interesting when the bundle is broken, so it is logged at debug.
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    workflowInterceptorModules: [...WORKFLOW_INTERCEPTOR_MODULES, ...tracing.workflowInterceptorModules],
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: debugOnlyTemporalLogger(log.child({ component: 'bundler' })),
  });
  const common = {
    connection,
    dataConverter,
    namespace: config.TEMPORAL_NAMESPACE,
    workflowBundle,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    interceptors: { activity: [observeActivities, ...tracing.activityInterceptors] },
    sinks: tracing.sinks,
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
  // The checkout sends order confirmations itself, and the notifications queue sends the rest: one set of clients.
  const messages = createNotificationProviders(config, db);
  const workers: Worker[] = [];
  if (queues.includes(CHECKOUT_TASK_QUEUE)) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: CHECKOUT_TASK_QUEUE,
        activities: createCheckoutQueueActivities(config, db, providers, client, messages),
      }),
    );
  }
  if (queues.includes(NOTIFICATIONS_TASK_QUEUE)) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: NOTIFICATIONS_TASK_QUEUE,
        activities: createNotificationQueueActivities(config, db, messages),
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
    log.info(
      { chain: new URL(config.CHAIN_RPC_URL!).origin, contract: minter.contractAddress },
      `NFT tickets on ${new URL(config.CHAIN_RPC_URL!).origin}, contract ${minter.contractAddress}`,
    );
  } else if (queues.includes(NFT_TASK_QUEUE)) {
    log.warn(
      `NFT minting is off (CHAIN_RPC_URL, CHAIN_PRIVATE_KEY and NFT_CONTRACT_ADDRESS are not all set): ` +
        `mints wait on task queue "${NFT_TASK_QUEUE}" and tickets stay PENDING until a worker with a chain polls it`,
    );
  }
  log.info(
    {
      taskQueues: workers.map((w) => w.options.taskQueue),
      temporal: config.TEMPORAL_ADDRESS,
      node: process.version,
    },
    `polling task queues ${workers.map((w) => `"${w.options.taskQueue}"`).join(', ')} on ${config.TEMPORAL_ADDRESS} (Node ${process.version})`,
  );
  // Worker.run handles SIGINT/SIGTERM itself: it stops polling, finishes running activities, then resolves.
  await Promise.all(workers.map((w) => w.run()));
  minter?.close();
  await clientConnection.close();
  await connection.close();
  await db.destroy();
}

main().catch((err) => {
  log.fatal({ err }, 'worker failed');
  process.exit(1);
});
