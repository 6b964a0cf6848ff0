import { Router } from 'express';
import type { Db } from '../../db';
import { ID_PATTERN } from '../validation';
import { z } from 'zod';
import { documentRoute } from '../openapi';

const escapeHtml = (value: unknown): string =>
  String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

type OutboxView = ReturnType<typeof outboxView>;

function outboxView(row: Record<string, unknown>) {
  const at = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return {
    messageId: row.id,
    kind: row.kind,
    orderId: row.order_id,
    channel: row.channel,
    recipient: row.recipient,
    template: row.template,
    status: row.status,
    providerMessageId: row.provider_message_id,
    attempts: row.attempts,
    lastError: row.last_error,
    payload: row.payload,
    createdAt: at(row.created_at),
    sentAt: at(row.sent_at),
  };
}

/**
 * Development pages, mounted only outside production. `GET /dev/outbox` lists the newest notifications (the
 * sandbox Mailer and Sms "send" by marking these rows), as HTML, or JSON with `?format=json` or
 * `Accept: application/json`; `?orderId=` narrows it to one order.
 */
export function devRoutes({ db }: { db: Db }): Router {
  const router = Router();
  documentRoute('get', '/dev/outbox', {
    summary: 'The notification outbox (development only): HTML, or JSON with ?format=json',
    query: z.object({ orderId: z.string().optional(), format: z.enum(['json']).optional() }),
    responses: { 200: { html: 'the newest 200 messages' } },
  });
  router.get('/dev/outbox', async (req, res) => {
    const orderId =
      typeof req.query.orderId === 'string' && ID_PATTERN.test(req.query.orderId) ? req.query.orderId : null;
    const rows = await db('notifications')
      .modify((q) => {
        if (orderId) q.where({ order_id: orderId });
      })
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(200);
    const messages = rows.map(outboxView);
    if (req.query.format === 'json' || req.accepts(['html', 'json']) === 'json')
      return void res.json({ messages });

    const cells = (m: OutboxView) =>
      [m.createdAt, m.channel, m.recipient, m.template, m.status, m.providerMessageId, m.attempts, m.lastError]
        .map((v) => `<td>${escapeHtml(v)}</td>`)
        .join('');
    const body = messages
      .map(
        (m: OutboxView) =>
          `<tr>${cells(m)}<td><details><summary>${escapeHtml(m.messageId)}</summary><pre>${escapeHtml(
            JSON.stringify(m.payload, null, 2),
          )}</pre></details></td></tr>`,
      )
      .join('\n');
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bilten outbox</title>
<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}pre{margin:0;max-width:40rem;white-space:pre-wrap}</style>
</head><body>
<h1>Outbox${orderId ? ` of ${escapeHtml(orderId)}` : ''}</h1>
<p>Emails and SMS as the platform sent them (sandbox providers keep them here instead of sending). Newest first; <a href="?format=json${orderId ? `&amp;orderId=${escapeHtml(orderId)}` : ''}">JSON</a>.</p>
<table><thead><tr><th>Created</th><th>Channel</th><th>To</th><th>Template</th><th>Status</th><th>Provider id</th><th>Attempts</th><th>Last error</th><th>Message</th></tr></thead>
<tbody>
${body || '<tr><td colspan="9">No messages yet.</td></tr>'}
</tbody></table>
</body></html>`);
  });
  return router;
}
