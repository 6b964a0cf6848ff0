import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Logger as TemporalLogger } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '../../db';
import { SearchAttributes } from '../../domain';
import { Client, Connection } from '@temporalio/client';
import { SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { ensureNamespace } from '../../scripts/temporal-cluster';
import { ensureSearchAttributes } from '../../scripts/temporal-server';

/** Tests run inside `npm test`, which provides these; a direct `npx jest` says what is missing. */
export function requiredEnv(name: 'TEMPORAL_CLI_PATH' | 'TEST_DATABASE_URL' | 'STRIPE_MOCK_PATH'): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests with \`npm test\` (optionally \`npm test -- <file>\`)`);
  return value;
}

let runtimeInstalled = false;

/**
 * Tests fail activities on purpose (declines, sold out); the SDK logs each at WARN. Only errors are shown,
 * so a real failure stands out. TEMPORAL_TEST_LOG=INFO brings the rest back.
 */
function installQuietRuntime(logger?: TemporalLogger, sdkMetricsAddress?: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = (process.env.TEMPORAL_TEST_LOG as 'INFO' | 'WARN' | 'ERROR' | undefined) ?? 'ERROR';
  Runtime.install({
    logger: logger ?? new DefaultLogger(level),
    telemetryOptions: {
      logging: { filter: { core: level, other: level } },
      ...(sdkMetricsAddress ? { metrics: { prometheus: { bindAddress: sdkMetricsAddress } } } : {}),
    },
  });
}

/**
 * A real Temporal for one test file, with the platform's search attributes registered: its own dev server, or,
 * with TEST_TEMPORAL_ADDRESS set (`npm run test:cluster` sets it), a namespace of its own on that running
 * cluster. A namespace per file keeps files apart as separate dev servers do: every file's workers poll the
 * same task queue names (`checkout`, ...) and would otherwise take each other's tasks. `logger` receives the
 * SDK's logs instead of the quiet default (the first call in a file decides); `serverMetricsPort` applies to
 * an own dev server only.
 */
export async function createTemporalEnv(
  options: { logger?: TemporalLogger; sdkMetricsAddress?: string; serverMetricsPort?: number } = {},
): Promise<TestWorkflowEnvironment> {
  installQuietRuntime(options.logger, options.sdkMetricsAddress);
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (address) {
    const namespace = uid('test').replace(/_/g, '-');
    const connection = await Connection.connect({ address });
    try {
      await ensureNamespace(connection, namespace, () => {});
    } finally {
      await connection.close();
    }
    await ensureSearchAttributes(address, namespace, (line) => {
      if (!line.includes('registered')) throw new Error(line);
    });
    await untilSearchAttributesAccepted(address, namespace);
    return TestWorkflowEnvironment.createFromExistingServer({ address, namespace });
  }
  const start = () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        ...(options.serverMetricsPort ? { extraArgs: ['--metrics-port', String(options.serverMetricsPort)] } : {}),
        executable: { type: 'existing-path', path: requiredEnv('TEMPORAL_CLI_PATH') },
        searchAttributes: Object.values(SearchAttributes),
      },
    });
  // The SDK gives a dev server 5 s to answer, a limit no option changes; on a loaded 2-core machine a start
  // sometimes takes longer. A second or third start on a fresh port is what a person would do.
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= DEV_SERVER_START_ATTEMPTS || !String(err).includes('Failed to start ephemeral server'))
        throw err;
    }
  }
}

const DEV_SERVER_START_ATTEMPTS = 3;

/**
 * A new namespace's search attributes reach every service's namespace cache within its refresh interval (2 s);
 * until then a start that sets them is refused. Waits until one is accepted, so no test sees that window.
 */
async function untilSearchAttributesAccepted(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        const probe = await client.workflow.start('searchAttributeProbe', {
          taskQueue: 'search-attribute-probe',
          workflowId: uid('search-attribute-probe'),
          typedSearchAttributes: Object.values(SearchAttributes).map((key) =>
            key.type === SearchAttributeType.INT ? { key, value: 0 } : { key, value: 'probe' },
          ) as SearchAttributePair[],
        });
        await probe.terminate('probe only');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await connection.close();
  }
}

/** A pool on the run's test database. */
export function testDb(): Db {
  return createDb(requiredEnv('TEST_DATABASE_URL'), 20);
}

/** A unique id with a readable prefix, so tests never collide on shared tables. */
export const uid = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 16)}`;

/** The worker options every test worker shares: the workflows bundle from source. */
export function workerOptions(
  env: TestWorkflowEnvironment,
  taskQueue: string,
): Pick<WorkerOptions, 'connection' | 'namespace' | 'taskQueue' | 'workflowsPath'> {
  return {
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowsPath: require.resolve('../../workflows'),
  };
}

export { Worker };

/** Inserts an organizer, an on-sale event and one ticket type with the given capacity. */
export async function createCatalogue(
  db: Db,
  options: { capacity: number; priceMinor?: number; currency?: string; maxPerOrder?: number },
): Promise<{ organizerId: string; eventId: string; ticketTypeId: string }> {
  const organizerId = uid('org');
  const eventId = uid('evt');
  const ticketTypeId = uid('tt');
  await db('organizers').insert({ id: organizerId, name: 'Test Org', currency: options.currency ?? 'USD' });
  await db('events').insert({
    id: eventId,
    organizer_id: organizerId,
    name: 'Test Event',
    starts_at: '2027-01-01T20:00:00Z',
  });
  await db('ticket_types').insert({
    id: ticketTypeId,
    event_id: eventId,
    name: 'General',
    price_minor: options.priceMinor ?? 2500,
    currency: options.currency ?? 'USD',
    capacity: options.capacity,
    max_per_order: options.maxPerOrder ?? 10,
  });
  return { organizerId, eventId, ticketTypeId };
}
