import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../api/app';
import { issueToken, type Principal } from '../../api/auth';
import { loadConfig, type Config } from '../../config';
import type { Db } from '../../db';
import { CHECKOUT_TASK_QUEUE, NFT_TASK_QUEUE, NOTIFICATIONS_TASK_QUEUE, PAYOUTS_TASK_QUEUE } from '../../domain';
import type { Payouts } from '../../providers/payouts/ports';
import {
  createCheckoutQueueActivities,
  createNftQueueActivities,
  createNotificationQueueActivities,
  createPayoutQueueActivities,
} from '../../workers/activities';
import { bundleWorkflowCode } from '@temporalio/worker';
import {
  createConfiguredMinter,
  createConfiguredPayouts,
  createNotificationProviders,
  createPaymentProviders,
  type NotificationProviders,
  type PaymentProviders,
} from '../../providers';
import type { CardPayments } from '../../providers/payments/ports';
import { createTemporalEnv, testDb, uid, Worker } from './env';
import { Client } from '@temporalio/client';
import { answerMalformedHttp } from '../../api/problems';
import { createRateLimits } from '../../api/rate-limits';
import { FAILURE_CONVERTER_PATH, platformDataConverter } from '../../temporal/payload-codec';
import type { Logger as TemporalLogger } from '@temporalio/common';
import type { Logger } from '../../observability/logger';
import { observeActivities, WORKFLOW_INTERCEPTOR_MODULES } from '../../observability/temporal';
import { startTracing, tracingClientInterceptors, workerTracing } from '../../observability/tracing';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

/** The whole platform in one test process: real Temporal dev server, real Postgres, API on a random port. */
export interface TestPlatform {
  baseUrl: string;
  config: Config;
  db: Db;
  env: TestWorkflowEnvironment;
  /** A client over the test server with the platform's data converter (encrypted payloads), as the API has. */
  client: Client;
  token(principal: Principal): string;
  stop(): Promise<void>;
}

/** How a test may change the worker's providers, e.g. to inject provider failures. */
export interface TestPlatformOptions {
  /** Wraps the worker's card provider (the API keeps the plain one, as webhooks re-fetch through it). */
  wrapCard?: (card: CardPayments) => CardPayments;
  /** Replaces the worker's payouts provider, e.g. a sandbox with an injected refusal. */
  payouts?: (config: Config, db: Db) => Payouts;
  /** Replaces the worker's mail and SMS providers, e.g. a mailer that cannot reach its provider. */
  messages?: (config: Config, db: Db) => NotificationProviders;
  logger?: Logger;
  temporalLogger?: TemporalLogger;
  /** The Temporal SDK's Prometheus exporter address, as WORKER_SDK_METRICS_PORT sets it in the worker. */
  sdkMetricsAddress?: string;
  /** The dev server's `--metrics-port`, as TEMPORAL_METRICS_PORT sets it in npm start. */
  serverMetricsPort?: number;
  /** Traces the API, the client, workflows and activities into this exporter (observability/tracing.ts). */
  spanExporter?: SpanExporter;
}

/** Starts the API and a worker running the real activities over sandbox providers. */
export async function startTestPlatform(
  overrides: Record<string, string> = {},
  options: TestPlatformOptions = {},
): Promise<TestPlatform> {
  // What has been started so far, stopped in reverse if a later step fails: a setup that fails or times out
  // under load must not leave a dev server, a listening API or a pool behind, or the jest worker cannot exit.
  const started: Array<() => unknown> = [];
  try {
    return await assemblePlatform(overrides, options, started);
  } catch (err) {
    for (const stop of started.reverse()) await stop();
    throw err;
  }
}

async function assemblePlatform(
  overrides: Record<string, string>,
  options: TestPlatformOptions,
  started: Array<() => unknown>,
): Promise<TestPlatform> {
  const tracing = workerTracing(
    options.spanExporter
      ? startTracing({ serviceName: 'bilten-test', exporter: options.spanExporter })
      : undefined,
  );
  const env = await createTemporalEnv({
    logger: options.temporalLogger,
    sdkMetricsAddress: options.sdkMetricsAddress,
    serverMetricsPort: options.serverMetricsPort,
  });
  started.push(() => env.teardown());
  const db = testDb();
  started.push(() => db.destroy());
  const dataConverter = platformDataConverter(loadConfig({ NODE_ENV: 'test', ...overrides }));
  // The API's client, as api/main.ts builds it: the platform's data converter, traced when tracing is on.
  const client = new Client({
    connection: env.connection,
    namespace: env.namespace ?? 'default',
    dataConverter,
    interceptors: tracingClientInterceptors(),
  });
  // Each test platform counts its own rate limits, as a separate deployment would; test files share a database.
  const rateLimits = () => createRateLimits(config, db, { keyPrefix: uid('rl') });
  // The API listens first so the sandbox can deliver its webhooks to it.
  let config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOLD_TTL_SECONDS: '5', ...overrides });
  const server: Server = await new Promise((resolve) => {
    const app = createApp({
      config,
      db,
      temporal: client,
      payments: createPaymentProviders(config, db),
      rateLimits: rateLimits(),
      logger: options.logger,
    });
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
    answerMalformedHttp(s);
  });
  started.push(() => new Promise((r) => server.close(r)));
  const port = (server.address() as AddressInfo).port;
  config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    HOLD_TTL_SECONDS: '5',
    ...overrides,
  });
  server.removeAllListeners('request');
  // The API's own providers, as in `npm start`: it re-fetches payments for webhooks and serves the sandbox pages.
  const payments = createPaymentProviders(config, db);
  server.on(
    'request',
    createApp({ config, db, temporal: client, payments, rateLimits: rateLimits(), logger: options.logger }),
  );

  // One bundle for every queue's worker, as workers/main.ts does.
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('../../workflows'),
    workflowInterceptorModules: [...WORKFLOW_INTERCEPTOR_MODULES, ...tracing.workflowInterceptorModules],
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: quiet,
  });
  // The interceptors workers/main.ts registers: activity outcome metrics and order ids on activity log lines.
  const interceptors = { activity: [observeActivities, ...tracing.activityInterceptors] };
  const sinks = tracing.sinks;
  // The checkout's confirmations and the notifications queue's messages share the providers, as in workers/main.ts.
  const messages = (options.messages ?? createNotificationProviders)(config, db);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: CHECKOUT_TASK_QUEUE,
    workflowBundle,
    interceptors,
    sinks,
    dataConverter,
    activities: createCheckoutQueueActivities(
      config,
      db,
      workerPayments(createPaymentProviders(config, db)),
      client,
      messages,
    ),
  });
  // Fulfilment as in `npm start`: notifications through the outbox sandboxes, and NFT mints when the overrides
  // configure a chain (CHAIN_RPC_URL, CHAIN_PRIVATE_KEY, NFT_CONTRACT_ADDRESS); without one, mints wait unpolled.
  const minter = createConfiguredMinter(config);
  started.push(() => minter?.close());
  const fulfilmentWorkers = [
    await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: NOTIFICATIONS_TASK_QUEUE,
      workflowBundle,
      interceptors,
      sinks,
      dataConverter,
      activities: createNotificationQueueActivities(config, db, messages),
    }),
    await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: PAYOUTS_TASK_QUEUE,
      workflowBundle,
      interceptors,
      sinks,
      dataConverter,
      activities: createPayoutQueueActivities(
        config,
        db,
        (options.payouts ?? createConfiguredPayouts)(config, db),
        createPaymentProviders(config, db),
      ),
    }),
    ...(minter
      ? [
          await Worker.create({
            connection: env.nativeConnection,
            namespace: env.namespace ?? 'default',
            taskQueue: NFT_TASK_QUEUE,
            workflowBundle,
            interceptors,
            sinks,
            dataConverter,
            activities: createNftQueueActivities(config, db, minter),
          }),
        ]
      : []),
  ];
  function workerPayments(providers: PaymentProviders): PaymentProviders {
    return options.wrapCard ? { ...providers, card: options.wrapCard(providers.card) } : providers;
  }
  const running = worker.run();
  const fulfilmentRunning = fulfilmentWorkers.map((w) => w.run());
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    db,
    env,
    client,
    token: (principal) => issueToken(config, principal),
    stop: async () => {
      worker.shutdown();
      for (const w of fulfilmentWorkers) w.shutdown();
      await Promise.all([running, ...fulfilmentRunning]);
      minter?.close();
      await new Promise((r) => server.close(r));
      await db.destroy();
      await env.teardown();
    },
  };
}

/** A small JSON client for the API under test. */
export async function call(
  platform: TestPlatform,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON responses
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${platform.baseUrl}${path}`, {
    method,
    headers: {
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body:
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? options.body
          : JSON.stringify(options.body),
  });
  const text = await res.text();
  // JSON (problems included) is parsed; anything else (the sandbox's HTML pages) comes back as text.
  const json = /json/.test(res.headers.get('content-type') ?? '');
  return { status: res.status, body: !text ? null : json ? JSON.parse(text) : text, headers: res.headers };
}

/** The sandbox card that is charged at once, with no 3-D Secure step. */
const INSTANT_CARD = { method: 'card', paymentMethodId: 'pm_card_visa' };

/**
 * Places a checkout through the API as a buyer would: one ticket type, its own Idempotency-Key, the instant card
 * unless `payment` says otherwise, and `buyer`'s contact details when given. Buys as a new buyer unless `token`
 * names one; returns the API's answer with the token, so the same buyer can read the order.
 */
export async function buyAs(
  platform: TestPlatform,
  order: {
    eventId: string;
    ticketTypeId: string;
    quantity: number;
    payment?: object;
    buyer?: { email?: string; phone?: string };
    token?: string;
    headers?: Record<string, string>;
  },
): Promise<Awaited<ReturnType<typeof call>> & { token: string }> {
  const token = order.token ?? platform.token({ sub: uid('buyer'), role: 'buyer' });
  const res = await call(platform, 'POST', '/v1/checkouts', {
    token,
    headers: { 'Idempotency-Key': uid('key'), ...order.headers },
    body: {
      eventId: order.eventId,
      items: [{ ticketTypeId: order.ticketTypeId, quantity: order.quantity }],
      payment: order.payment ?? INSTANT_CARD,
      ...(order.buyer ? { buyer: order.buyer } : {}),
    },
  });
  return { ...res, token };
}
