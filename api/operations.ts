import { Router } from 'express';
import type { Db } from '../db';
import { z } from 'zod';
import { metricsText, registerScrapeGauge } from '../observability/metrics';
import { documentRoute, openApiDocument } from './openapi';

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
  documentRoute('get', '/metrics', {
    summary: 'Prometheus metrics',
    responses: { 200: { text: 'Prometheus text exposition format' } },
  });
  documentRoute('get', '/openapi.json', {
    summary: 'This document (OpenAPI 3.1)',
    responses: { 200: z.object({}).passthrough() },
  });
  router.get('/openapi.json', (_req, res) => void res.json(openApiDocument()));
  documentRoute('get', '/docs', {
    summary: 'This document, readable',
    responses: { 200: { html: 'every route, grouped by area' } },
  });
  router.get('/docs', (_req, res) => void res.type('html').send(docsPage(openApiDocument() as OpenApiDocument)));
  return router;
}

interface OpenApiDocument {
  paths: Record<
    string,
    Record<string, { summary?: string; tags?: string[]; security?: unknown[]; 'x-roles'?: string[] }>
  >;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** /docs: every operation of the generated document, grouped by area, with who may call it. */
function docsPage(doc: OpenApiDocument): string {
  const rows = Object.entries(doc.paths)
    .flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ tag: op.tags?.[0] ?? '', path, method, op })),
    )
    .sort((a, b) => a.tag.localeCompare(b.tag) || a.path.localeCompare(b.path))
    .map(
      ({ tag, path, method, op }) =>
        `<tr><td>${escapeHtml(tag)}</td><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td>` +
        `<td>${escapeHtml(op.summary ?? '')}</td><td>${escapeHtml(op['x-roles']?.join(', ') ?? 'public')}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Bilten API</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}</style></head>
<body><h1>Bilten API</h1><p>Generated from the code's zod schemas. Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).
Errors are <code>application/problem+json</code>.</p>
<table><thead><tr><th>Area</th><th>Method</th><th>Path</th><th>What it does</th><th>Who</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
