import { ORDER_STATUSES } from '../domain';
import { Router } from 'express';
import type { Db } from '../db';
import { metricsText, registerScrapeGauge } from '../observability/metrics';

const problem = { $ref: '#/components/schemas/Problem' };
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const problems = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      { description: 'problem', content: { 'application/problem+json': { schema: problem } } },
    ]),
  );
const bearer = [{ bearer: [] }];
const idParam = (name: string) => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
});

/** The OpenAPI description of the API contract (../shared/API.md), served at /openapi.json. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Bilten API',
    version: '1.0.0',
    description: 'Tickets and money in event ticketing, on durable Temporal workflows.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail'],
        properties: {
          type: { type: 'string', format: 'uri' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          errors: {
            type: 'array',
            items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
          },
        },
      },
      Money: {
        type: 'object',
        properties: {
          totalMinor: { type: 'integer', minimum: 0 },
          currency: { type: 'string', pattern: '^[A-Z]{3}$' },
        },
      },
      Checkout: {
        type: 'object',
        properties: {
          orderId: { type: 'string' },
          status: { enum: [...ORDER_STATUSES] },
          reason: { type: 'string' },
          expiresAt: { type: ['string', 'null'], format: 'date-time' },
          amount: { $ref: '#/components/schemas/Money' },
          payment: { type: 'object' },
          tickets: { type: 'array', items: { type: 'object' } },
          history: {
            type: 'array',
            items: { type: 'object', properties: { at: { type: 'string' }, status: { type: 'string' } } },
          },
        },
      },
      CheckoutRequest: {
        type: 'object',
        required: ['eventId', 'items', 'payment'],
        properties: {
          eventId: { type: 'string' },
          items: {
            type: 'array',
            items: {
              type: 'object',
              properties: { ticketTypeId: { type: 'string' }, quantity: { type: 'integer', minimum: 1 } },
            },
          },
          payment: {
            oneOf: [
              { type: 'object', properties: { method: { const: 'card' }, paymentMethodId: { type: 'string' } } },
              { type: 'object', properties: { method: { const: 'crypto' } } },
            ],
          },
          buyer: {
            type: 'object',
            properties: { email: { type: 'string', format: 'email' }, phone: { type: 'string' } },
          },
          walletAddress: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' },
          redeemPoints: { type: 'integer', minimum: 0 },
          referralCode: { type: 'string' },
        },
      },
    },
  },
  paths: {
    '/v1/events': {
      get: { summary: 'Events on sale', responses: { '200': { description: 'events' } } },
      post: {
        summary: 'Create an event (organizer)',
        security: bearer,
        responses: { '201': { description: 'created' }, ...problems(401, 403, 422) },
      },
    },
    '/v1/events/{eventId}': {
      get: {
        summary: 'An event with ticket types and live availability',
        parameters: [idParam('eventId')],
        responses: { '200': { description: 'event' }, ...problems(404) },
      },
    },
    '/v1/events/{eventId}/ticket-types': {
      post: {
        summary: 'Add a ticket type (organizer of the event)',
        security: bearer,
        parameters: [idParam('eventId')],
        responses: { '201': { description: 'created' }, ...problems(401, 403, 404, 422) },
      },
    },
    '/v1/checkouts': {
      post: {
        summary: 'Start a checkout: hold seats and initiate payment in one round trip',
        security: bearer,
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: true,
            schema: { type: 'string', minLength: 1, maxLength: 255 },
          },
        ],
        requestBody: json({ $ref: '#/components/schemas/CheckoutRequest' }),
        responses: {
          '201': { description: 'order placed', ...json({ $ref: '#/components/schemas/Checkout' }) },
          '200': { description: 'same key again: the same order' },
          ...problems(400, 401, 403, 409, 413, 415, 422),
        },
      },
    },
    '/v1/checkouts/{orderId}': {
      get: {
        summary: 'An order (its buyer, support, admin)',
        security: bearer,
        parameters: [idParam('orderId')],
        responses: {
          '200': { description: 'order', ...json({ $ref: '#/components/schemas/Checkout' }) },
          ...problems(401, 404),
        },
      },
    },
    '/v1/checkouts/{orderId}/cancel': {
      post: {
        summary: 'Cancel an unpaid order (its buyer, support)',
        security: bearer,
        parameters: [idParam('orderId')],
        responses: { '200': { description: 'cancelled' }, ...problems(401, 403, 404, 409) },
      },
    },
    '/healthz': { get: { summary: 'Process is up', responses: { '200': { description: 'ok' } } } },
    '/readyz': {
      get: {
        summary: 'Postgres and Temporal reachable; lists sandboxed providers',
        responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
      },
    },
    '/metrics': {
      get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format' } } },
    },
  },
} as const;

/**
 * Gauges read from Postgres when /metrics is scraped: seats held right now and unpaid orders holding them, by
 * payment method. They are the platform's state, whichever process changed it.
 */
function registerInventoryGauges(db: Db): void {
  registerScrapeGauge(
    'bilten_seats_held',
    'Seats held by unpaid orders right now, by currency',
    ['currency'],
    async () =>
      (
        (await db('ticket_types').select('currency').sum({ held: 'held' }).groupBy('currency')) as Array<
          Record<string, unknown>
        >
      ).map((row) => ({
        labels: { currency: String(row.currency).trim() },
        value: Number(row.held ?? 0),
      })),
  );
  registerScrapeGauge(
    'bilten_open_orders',
    'Orders awaiting or processing payment right now (open holds), by status and payment method',
    ['status', 'method'],
    async () =>
      (
        (await db('orders')
          .whereIn('status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
          .select('status', 'payment_method')
          .count({ n: '*' })
          .groupBy('status', 'payment_method')) as Array<Record<string, unknown>>
      ).map((row) => ({
        labels: { status: String(row.status), method: String(row.payment_method) },
        value: Number(row.n),
      })),
  );
}

/** `/metrics`, `/openapi.json` and `/docs`. */
export function operationsRoutes({ db }: { db: Db }): Router {
  const router = Router();
  registerInventoryGauges(db);
  router.get('/metrics', async (_req, res) => {
    const { contentType, body } = await metricsText();
    res.type(contentType).send(body);
  });
  router.get('/openapi.json', (_req, res) => void res.json(openApiDocument));
  router.get('/docs', (_req, res) => {
    const rows = Object.entries(openApiDocument.paths)
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(
          ([method, op]) =>
            `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${path}</code></td><td>${(op as { summary: string }).summary}</td></tr>`,
        ),
      )
      .join('');
    res
      .type('html')
      .send(
        `<!doctype html><html><head><meta charset="utf-8"><title>Bilten API</title><style>body{font-family:system-ui;margin:2rem}td{padding:.3rem .8rem;border-bottom:1px solid #ddd}</style></head>` +
          `<body><h1>Bilten API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are application/problem+json.</p><table>${rows}</table></body></html>`,
      );
  });
  return router;
}
