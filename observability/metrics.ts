import { createServer, type Server } from 'node:http';
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every Prometheus metric Bilten exports, in one place so the dashboard (observability/grafana/) and the code
 * agree on names. One registry per process: the API serves it at /metrics, the worker on WORKER_METRICS_PORT.
 * Metric objects are module singletons, so any layer increments them without wiring, e.g.
 * `businessMetrics.refunds.inc({ status: 'SUCCEEDED' })`.
 *
 * To add one: define it below with `registers: [registry]`, a `bilten_` name, bounded labels (never ids), and
 * use it where the event happens. The dashboard test (test/observability.dashboard.test.ts) then knows it.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'bilten_process_' });

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

/** HTTP traffic of the API, labelled by route template (`/v1/checkouts/:orderId`), never the raw path. */
export const httpMetrics = {
  requestSeconds: new Histogram({
    name: 'bilten_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  }),
  rateLimited: new Counter({
    name: 'bilten_rate_limited_total',
    help: 'Requests refused with 429 by a rate limit, by limit (ip, anonymous, subject) and route template',
    labelNames: ['limit', 'route'] as const,
    registers: [registry],
  }),
};

/** What the business does, counted where it happens. Labels are statuses and methods, never ids. */
export const businessMetrics = {
  checkouts: new Counter({
    name: 'bilten_checkouts_total',
    help: 'POST /v1/checkouts answers by outcome (the order status answered, or the refusal) and payment method',
    labelNames: ['outcome', 'method'] as const,
    registers: [registry],
  }),
  checkoutsFinished: new Counter({
    name: 'bilten_checkouts_finished_total',
    help: 'Orders that reached a final status (PAID, FAILED, EXPIRED, CANCELLED), by status and payment method',
    labelNames: ['status', 'method'] as const,
    registers: [registry],
  }),
  ticketsSold: new Counter({
    name: 'bilten_tickets_sold_total',
    help: 'Tickets issued to paid orders, by payment method',
    labelNames: ['method'] as const,
    registers: [registry],
  }),
  checkoutToPaidSeconds: new Histogram({
    name: 'bilten_checkout_to_paid_seconds',
    help: 'Seconds from the order being placed to it being PAID, by payment method',
    labelNames: ['method'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  }),
  refunds: new Counter({
    name: 'bilten_refunds_total',
    help: 'Refunds reaching a status (REQUESTED, AWAITING_APPROVAL, SUCCEEDED, REJECTED, FAILED, ...)',
    labelNames: ['status'] as const,
    registers: [registry],
  }),
  refundedMinor: new Counter({
    name: 'bilten_refunded_minor_total',
    help: 'Money refunded, in minor units, by currency',
    labelNames: ['currency'] as const,
    registers: [registry],
  }),
  payouts: new Counter({
    name: 'bilten_payouts_total',
    help: 'Payouts reaching a status (PENDING, AWAITING_APPROVAL, IN_TRANSIT, PAID, FAILED)',
    labelNames: ['status'] as const,
    registers: [registry],
  }),
  webhooks: new Counter({
    name: 'bilten_webhooks_total',
    help: 'Provider webhooks received, by provider and outcome (signalled, duplicate, invalid_signature, ...)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  }),
  scans: new Counter({
    name: 'bilten_scans_total',
    help: 'Ticket scans at the door, by result (ADMITTED, ALREADY_USED, VOID, UNKNOWN)',
    labelNames: ['result'] as const,
    registers: [registry],
  }),
};

/** What the worker's activities came to; a provider outage shows as failures of its activities. */
export const workerMetrics = {
  activities: new Counter({
    name: 'bilten_activity_executions_total',
    help: 'Activity executions by activity type, task queue and outcome (completed, retryable_failure, business_failure, cancelled)',
    labelNames: ['activity_type', 'task_queue', 'outcome'] as const,
    registers: [registry],
  }),
  activitySeconds: new Histogram({
    name: 'bilten_activity_duration_seconds',
    help: 'Activity execution time by activity type and outcome',
    labelNames: ['activity_type', 'outcome'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [registry],
  }),
};

/** A gauge read from somewhere else at scrape time (the database); registered once per process. */
export function registerScrapeGauge(
  name: string,
  help: string,
  labelNames: string[],
  read: () => Promise<Array<{ labels: Record<string, string>; value: number }>>,
): void {
  if (registry.getSingleMetric(name)) registry.removeSingleMetric(name);
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const { labels, value } of await read()) this.set(labels, value);
      } catch {
        // A scrape must answer even when the database does not; the gauge is simply absent this time.
      }
    },
  });
}

/** The route template a request matched (`/v1/checkouts/:orderId`), or `unmatched`: bounded label values. */
export function routeTemplate(req: { baseUrl?: string; route?: { path?: unknown } }): string {
  return req.route?.path ? `${req.baseUrl ?? ''}${String(req.route.path)}` : 'unmatched';
}

/** Times every request by route template and status. */
export const httpMetricsMiddleware: RequestHandler = (req, res, next) => {
  const end = httpMetrics.requestSeconds.startTimer();
  res.on('finish', () => end({ method: req.method, route: routeTemplate(req), status: String(res.statusCode) }));
  next();
};

/** The registry in Prometheus text format, as /metrics answers. */
export async function metricsText(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

/** Serves the registry on its own port (the worker has no HTTP API); port 0 picks a free one. */
export function serveMetrics(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    metricsText().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err) => res.writeHead(500).end(String(err)),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
