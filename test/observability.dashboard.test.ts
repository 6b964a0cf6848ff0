import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { checkoutWorkflowId, statusQuery } from '../domain';
import { serveMetrics } from '../observability/metrics';
import { createCatalogue } from './support/env';
import { buyAs, call, startTestPlatform, type TestPlatform } from './support/platform';
import { PROMETHEUS_CONFIGS, scrapeJobs } from './support/scrape-config';

const dashboard = JSON.parse(
  readFileSync(join(__dirname, '..', 'observability', 'grafana', 'bilten-dashboard.json'), 'utf8'),
) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords or label names. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '');
  return [...bare.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?/g)]
    .filter(([, name, call]) => !call && !PROMQL_WORDS.has(name!) && !/^\d/.test(name!))
    .map(([, name]) => name!);
}

/** Every sample name an exposition-format text exports (histograms as _bucket, _sum and _count). */
function exported(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      names.add(type[1]!);
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(type[1]! + s);
      if (type[2] === 'counter' && !type[1]!.endsWith('_total')) names.add(`${type[1]}_total`);
    } else if (line && !line.startsWith('#')) names.add(line.split(/[{ ]/)[0]!);
  }
  return names;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return res.text();
}

let platform: TestPlatform;
let workerMetrics: Server;
let sdkPort: number;
let serverPort: number;

beforeAll(async () => {
  [sdkPort, serverPort] = [await freePort(), await freePort()];
  platform = await startTestPlatform(
    {},
    { sdkMetricsAddress: `127.0.0.1:${sdkPort}`, serverMetricsPort: serverPort },
  );
  // The worker's own endpoint, as workers/main.ts serves it on WORKER_METRICS_PORT.
  workerMetrics = await serveMetrics(0);
  const catalogue = await createCatalogue(platform.db, { capacity: 10, priceMinor: 2500 });
  const res = await buyAs(platform, {
    eventId: catalogue.eventId,
    ticketTypeId: catalogue.ticketTypeId,
    quantity: 2,
  });
  expect(res.status).toBe(201);
  await platform.client.workflow.getHandle(checkoutWorkflowId(res.body.orderId)).result();
  // A crypto buyer too: the instant card's steps all run locally now, and the charge's creation is the activity
  // task (with its schedule-to-start) and the Coinbase webhook the signal the dashboard shows.
  const crypto = await buyAs(platform, {
    eventId: catalogue.eventId,
    ticketTypeId: catalogue.ticketTypeId,
    quantity: 1,
    payment: { method: 'crypto' },
    token: res.token,
  });
  expect(crypto.status).toBe(201);
  const hosted = new URL(crypto.body.payment.hostedUrl as string).pathname;
  expect((await call(platform, 'POST', `${hosted}/complete`, { body: { outcome: 'confirmed' } })).status).toBe(
    200,
  );
  const cryptoCheckout = platform.client.workflow.getHandle(checkoutWorkflowId(crypto.body.orderId));
  await cryptoCheckout.result();
  // A query of a closed checkout is answered by replaying its history: the SDK's replay latency.
  await cryptoCheckout.query(statusQuery);
}, 180_000);
afterAll(async () => {
  await new Promise((r) => workerMetrics?.close(r));
  await platform?.stop();
});

describe('metrics and the Grafana dashboard', () => {
  test('when a buyer has bought tickets, then /metrics shows the checkout by outcome and the sale', async () => {
    const text = await scrape(`${platform.baseUrl}/metrics`);
    expect(text).toMatch(/bilten_checkouts_total\{outcome="PAID",method="card"\} [1-9]/);
    expect(text).toMatch(/bilten_checkouts_finished_total\{status="PAID",method="card"\} [1-9]/);
    expect(text).toMatch(/bilten_tickets_sold_total\{method="card"\} [2-9]/);
    expect(text).toMatch(/bilten_checkout_to_paid_seconds_count\{method="card"\} [1-9]/);
    expect(text).toMatch(
      /bilten_activity_executions_total\{activity_type="chargeCard",task_queue="checkout",outcome="completed"\} [1-9]/,
    );
    expect(text).toMatch(/bilten_webhooks_total\{provider="coinbase",outcome="signalled"\} [1-9]/);
  });

  test("when the dashboard is loaded, then every panel's query names a metric that a job Prometheus scrapes exports", async () => {
    // What each scrape job of the shipped Prometheus configs reads, from the real endpoints of this platform.
    const sources: Record<string, string> = {
      'bilten-api': await scrape(`${platform.baseUrl}/metrics`),
      'bilten-worker': await scrape(`http://127.0.0.1:${(workerMetrics.address() as AddressInfo).port}/metrics`),
      'bilten-worker-sdk': await scrape(`http://127.0.0.1:${sdkPort}/metrics`),
      'temporal-server': await scrape(`http://127.0.0.1:${serverPort}/metrics`),
    };
    // Only what Prometheus really scrapes counts: every source is a job of both configs, and every job is read.
    for (const config of Object.values(PROMETHEUS_CONFIGS))
      expect(scrapeJobs(config)).toEqual(Object.keys(sources).sort());
    const available = new Set(Object.values(sources).flatMap((text) => [...exported(text)]));
    const unknown = dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((t) =>
        metricNames(t.expr)
          .filter((name) => !available.has(name))
          .map((name) => `${panel.title}: ${name}`),
      ),
    );
    expect(unknown).toEqual([]);
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    // Each source is really read: the SDK and the server say who they are.
    expect([...exported(sources['bilten-worker-sdk']!)].some((n) => n.startsWith('temporal_workflow_task'))).toBe(
      true,
    );
    expect(exported(sources['temporal-server']!).has('service_requests')).toBe(true);
  });
});
