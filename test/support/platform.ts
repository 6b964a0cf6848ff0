import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createApp } from '../../api/app';
import { issueToken, type Principal } from '../../api/auth';
import { loadConfig, type Config } from '../../config';
import type { Db } from '../../db';
import { CHECKOUT_TASK_QUEUE } from '../../domain';
import { createCheckoutQueueActivities } from '../../workers/activities';
import { createPaymentProviders } from '../../workers/providers';
import { createTemporalEnv, testDb, Worker } from './env';

/** The whole platform in one test process: real Temporal dev server, real Postgres, API on a random port. */
export interface TestPlatform {
  baseUrl: string;
  config: Config;
  db: Db;
  env: TestWorkflowEnvironment;
  token(principal: Principal): string;
  stop(): Promise<void>;
}

/** Starts the API and a worker running the real activities over sandbox providers. */
export async function startTestPlatform(overrides: Record<string, string> = {}): Promise<TestPlatform> {
  const env = await createTemporalEnv();
  const db = testDb();
  // The API listens first so the sandbox can deliver its webhooks to it.
  let config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOLD_TTL_SECONDS: '5', ...overrides });
  const server: Server = await new Promise((resolve) => {
    const app = createApp({ config, db, temporal: env.client });
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    HOLD_TTL_SECONDS: '5',
    ...overrides,
  });
  server.removeAllListeners('request');
  server.on('request', createApp({ config, db, temporal: env.client }));

  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue: CHECKOUT_TASK_QUEUE,
    workflowsPath: require.resolve('../../workflows'),
    activities: createCheckoutQueueActivities(config, db, createPaymentProviders(config, db)),
  });
  const running = worker.run();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    config,
    db,
    env,
    token: (principal) => issueToken(config.AUTH_JWT_SECRET, principal),
    stop: async () => {
      worker.shutdown();
      await running;
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
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}
