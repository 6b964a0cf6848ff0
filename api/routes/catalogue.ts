import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Config } from '../../config';
import type { Db } from '../../db';
import {
  cancellationProgressQuery,
  CHECKOUT_TASK_QUEUE,
  CURRENCY_PATTERN,
  DEFAULT_EVENT_LENGTH_MS,
  DEFAULT_REFUND_WINDOW_HOURS,
  eventCancellationWorkflowId,
  SearchAttributes,
  type CancellationProgress,
} from '../../domain';
import type { eventCancellationWorkflow } from '../../workflows/event-cancellation';
import { principalOf, requireRole } from '../auth';
import { problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';
import { createCatalogueSnapshot, type CatalogueSnapshot } from '../catalogue-snapshot';

/**
 * An event page is public and changes with every sale, so a browser or CDN may keep it but must ask again each
 * time; the strong ETag makes that question cost a 304 when nothing changed.
 */
export const EVENT_PAGE_CACHE_CONTROL = 'public, max-age=0, must-revalidate';

/** Free text shown to buyers. Control characters are refused: Postgres cannot store NUL in text (it was a 500). */
const displayText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters');

const eventSchema = z
  .object({
    name: displayText(200).pipe(z.string().min(1)),
    venue: displayText(200).optional(),
    startsAt: z.string().datetime({ offset: true }),
    endsAt: z.string().datetime({ offset: true }).optional(),
    refundWindowHours: z
      .number()
      .int()
      .min(0)
      .max(24 * 365)
      .optional(),
  })
  .strict()
  .refine((e) => e.endsAt === undefined || Date.parse(e.endsAt) >= Date.parse(e.startsAt), {
    message: 'must not be before startsAt',
    path: ['endsAt'],
  });

const ticketTypeSchema = z
  .object({
    name: displayText(100).pipe(z.string().min(1)),
    priceMinor: z.number().int().min(0).max(100_000_000),
    currency: z.string().regex(CURRENCY_PATTERN, 'must be an upper-case ISO 4217 code'),
    capacity: z.number().int().min(0).max(1_000_000),
    maxPerOrder: z.number().int().min(1).max(50).optional(),
    /** Anti-scalping: tickets of this type one buyer may hold or own across orders (instead of the event-wide cap). */
    maxPerBuyer: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();

const ticketTypeViewSchema = z.object({
  ticketTypeId: z.string(),
  name: z.string(),
  priceMinor: z.number().int(),
  currency: z.string(),
  capacity: z.number().int(),
  available: z.number().int(),
  maxPerOrder: z.number().int(),
  maxPerBuyer: z.number().int().optional(),
});
const cancellationProgressSchema = z.object({
  total: z.number().int(),
  refunded: z.number().int(),
  failed: z.number().int(),
  inProgress: z.number().int(),
});
const eventViewSchema = z.object({
  eventId: z.string(),
  organizerId: z.string(),
  name: z.string(),
  venue: z.string().nullable(),
  startsAt: z.string().datetime(),
  endsAt: z.string().datetime(),
  refundWindowHours: z.number().int(),
  status: z.string(),
  /** While and after the event is cancelled: how far refunding its orders got. */
  cancellation: cancellationProgressSchema.optional(),
  ticketTypes: z.array(ticketTypeViewSchema),
});

const newId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 20)}`;

/** A ticket type with its live availability. */
function ticketTypeView(t: Record<string, number | string>) {
  return {
    ticketTypeId: String(t.id),
    name: t.name,
    priceMinor: t.price_minor,
    currency: String(t.currency).trim(),
    capacity: t.capacity,
    available: Number(t.capacity) - Number(t.sold) - Number(t.held),
    maxPerOrder: t.max_per_order,
    ...(t.max_per_buyer ? { maxPerBuyer: t.max_per_buyer } : {}),
  };
}

/** An event as the API shows it (without its ticket types). */
function eventView(e: Record<string, unknown>) {
  return {
    eventId: e.id,
    organizerId: e.organizer_id,
    name: e.name,
    venue: e.venue,
    startsAt: new Date(e.starts_at as string).toISOString(),
    endsAt: new Date(e.ends_at as string).toISOString(),
    refundWindowHours: Number(e.refund_window_hours),
    status: e.status,
  };
}

/** Whether an If-None-Match header names this ETag (RFC 9110: a list, `*`, and weak comparison). */
function matchesETag(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

/**
 * How long a page read waits for the cancellation workflow's live progress. Every buyer refreshing the event shares
 * that one read, so a slow Temporal must not hold them all: past this, the page shows the progress as last recorded.
 */
export const CANCELLATION_QUERY_DEADLINE_MS = 500;

/** How an event's cancellation stands: live from its workflow, or as it last recorded. */
async function cancellationOf(
  temporal: Client,
  event: Record<string, unknown>,
): Promise<CancellationProgress | null> {
  if (event.status !== 'CANCELLING' && event.status !== 'CANCELLED') return null;
  try {
    return await temporal.withDeadline(Date.now() + CANCELLATION_QUERY_DEADLINE_MS, () =>
      temporal.workflow
        .getHandle(eventCancellationWorkflowId(event.id as string))
        .query(cancellationProgressQuery),
    );
  } catch {
    return (
      (event.cancellation as CancellationProgress | null) ?? { total: 0, refunded: 0, failed: 0, inProgress: 0 }
    );
  }
}

/**
 * The snapshot GET /v1/events/:eventId serves from: each event read in one query (the event, its ticket types and
 * their live counts) at most once per CATALOGUE_SNAPSHOT_TTL_MS by this API process, however many buyers refresh.
 */
export function createEventPages({
  db,
  temporal,
  config,
}: {
  db: Db;
  temporal: Client;
  config: Config;
}): CatalogueSnapshot {
  return createCatalogueSnapshot({
    ttlMs: config.CATALOGUE_SNAPSHOT_TTL_MS,
    read: async (eventId) => {
      const {
        rows: [event],
      } = await db.raw(
        `SELECT e.*, COALESCE(
           (SELECT json_agg(t ORDER BY t.created_at, t.id) FROM ticket_types t WHERE t.event_id = e.id), '[]'
         ) AS ticket_types
         FROM events e WHERE e.id = ?`,
        [eventId],
      );
      if (!event) return null;
      const cancellation = await cancellationOf(temporal, event);
      return {
        ...eventView(event),
        ...(cancellation ? { cancellation } : {}),
        ticketTypes: (event.ticket_types as Array<Record<string, number | string>>).map(ticketTypeView),
      };
    },
  });
}

/** Events and ticket types: public reads, organizer writes, and the cancellation of an event. */
export function catalogueRoutes({
  db,
  temporal,
  config,
  eventPages,
}: {
  db: Db;
  temporal: Client;
  config: Config;
  eventPages: CatalogueSnapshot;
}): Router {
  const router = Router();

  documentRoute('post', '/v1/events/:eventId/cancel', {
    summary: 'Cancel an event: sales stop at once and every paid order is refunded (its organizer, admin)',
    description:
      'Cancelling again joins the cancellation already running; GET /v1/events/{eventId} shows its progress.',
    roles: ['organizer', 'admin'],
    responses: { 202: z.object({ eventId: z.string(), status: z.string() }) },
  });
  router.post('/v1/events/:eventId/cancel', requireRole('organizer', 'admin'), async (req, res) => {
    const caller = principalOf(req);
    const eventId = String(req.params.eventId ?? '');
    const event = ID_PATTERN.test(eventId) ? await db('events').where({ id: eventId }).first() : undefined;
    if (!event) throw problems.notFound(`event ${eventId.slice(0, 64)}`);
    if (caller.role === 'organizer' && event.organizer_id !== caller.org)
      throw problems.forbidden(`event ${eventId} belongs to another organizer`);
    // Sales stop now, before the workflow runs: a checkout after this answer gets 409.
    await db('events')
      .where({ id: eventId })
      .whereIn('status', ['ON_SALE', 'DRAFT', 'ENDED'])
      .update({ status: 'CANCELLING' });
    try {
      await temporal.workflow.start<typeof eventCancellationWorkflow>('eventCancellationWorkflow', {
        workflowId: eventCancellationWorkflowId(eventId),
        taskQueue: CHECKOUT_TASK_QUEUE,
        args: [
          {
            eventId,
            organizerId: event.organizer_id,
            requestedBy: `${caller.role}:${caller.sub}`,
            parallelism: config.CANCELLATION_PARALLELISM,
            pollMs: config.CANCELLATION_POLL_SECONDS * 1000,
            reminderAfterMs: config.REFUND_REMINDER_SECONDS * 1000,
            ordersPerRun: config.CANCELLATION_ORDERS_PER_RUN,
          },
        ],
        // Cancelling twice joins the cancellation already running (or done): one per event.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchAttributes.EventId, value: eventId },
          { key: SearchAttributes.OrganizerId, value: event.organizer_id },
        ],
        memo: { eventId },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    const now = await db('events').where({ id: eventId }).first('status');
    res.status(202).location(`/v1/events/${eventId}`).json({ eventId, status: now.status });
  });

  documentRoute('get', '/v1/events', {
    summary: 'Events on sale',
    responses: {
      200: z.object({ events: z.array(eventViewSchema.omit({ ticketTypes: true, cancellation: true })) }),
    },
  });
  router.get('/v1/events', async (_req, res) => {
    const events = await db('events').where({ status: 'ON_SALE' }).orderBy('starts_at').limit(200);
    res.json({ events: events.map(eventView) });
  });

  documentRoute('get', '/v1/events/:eventId', {
    summary: 'An event with its ticket types and live availability',
    responses: { 200: eventViewSchema },
  });
  router.get('/v1/events/:eventId', async (req, res) => {
    const eventId = String(req.params.eventId ?? '');
    const page = ID_PATTERN.test(eventId) ? await eventPages.page(eventId) : null;
    if (!page) throw problems.notFound(`event ${eventId.slice(0, 64)}`);
    res.set({ ETag: page.etag, 'Cache-Control': EVENT_PAGE_CACHE_CONTROL });
    if (matchesETag(req.headers['if-none-match'], page.etag)) return void res.status(304).end();
    res.type('application/json').send(page.body);
  });

  documentRoute('post', '/v1/events', {
    summary: 'Create an event (its organizer)',
    roles: ['organizer'],
    body: eventSchema,
    responses: { 201: eventViewSchema },
    problems: [415, 422],
  });
  router.post('/v1/events', requireRole('organizer'), async (req, res) => {
    const organizerId = principalOf(req).org!;
    const body = parseOr422(eventSchema, req.body);
    const organizer = await db('organizers').where({ id: organizerId }).first('id');
    if (!organizer) throw problems.forbidden(`organizer ${organizerId} is not registered`);
    const [event] = await db('events')
      .insert({
        id: newId('evt'),
        organizer_id: organizerId,
        name: body.name,
        venue: body.venue ?? '',
        starts_at: body.startsAt,
        ends_at: body.endsAt ?? new Date(Date.parse(body.startsAt) + DEFAULT_EVENT_LENGTH_MS).toISOString(),
        refund_window_hours: body.refundWindowHours ?? DEFAULT_REFUND_WINDOW_HOURS,
      })
      .returning('*');
    res
      .status(201)
      .location(`/v1/events/${event.id}`)
      .json({ ...eventView(event), ticketTypes: [] });
  });

  documentRoute('post', '/v1/events/:eventId/ticket-types', {
    summary: 'Add a ticket type to an event (its organizer)',
    roles: ['organizer'],
    body: ticketTypeSchema,
    responses: { 201: ticketTypeViewSchema },
    problems: [415, 422],
  });
  router.post('/v1/events/:eventId/ticket-types', requireRole('organizer'), async (req, res) => {
    const eventId = String(req.params.eventId ?? '');
    const event = ID_PATTERN.test(eventId)
      ? await db('events').where({ id: eventId }).first('organizer_id')
      : undefined;
    if (!event) throw problems.notFound(`event ${eventId.slice(0, 64)}`);
    // Events are public (GET /v1/events/:eventId shows anyone's), so hiding one here would hide nothing: adding to
    // another organizer's event is a forbidden action, 403 as the contract says.
    if (event.organizer_id !== principalOf(req).org)
      throw problems.forbidden(`event ${eventId.slice(0, 64)} belongs to another organizer`);
    const body = parseOr422(ticketTypeSchema, req.body);
    const [type] = await db('ticket_types')
      .insert({
        id: newId('tt'),
        event_id: eventId,
        name: body.name,
        price_minor: body.priceMinor,
        currency: body.currency,
        capacity: body.capacity,
        max_per_order: body.maxPerOrder ?? 10,
        max_per_buyer: body.maxPerBuyer ?? null,
      })
      .returning('*');
    res.status(201).json(ticketTypeView(type));
  });

  return router;
}
