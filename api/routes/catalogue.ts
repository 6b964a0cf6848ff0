import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import { CURRENCY_PATTERN } from '../../domain';
import { principalOf, requireRole } from '../auth';
import { problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';

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
  })
  .strict();

const ticketTypeSchema = z
  .object({
    name: displayText(100).pipe(z.string().min(1)),
    priceMinor: z.number().int().min(0).max(100_000_000),
    currency: z.string().regex(CURRENCY_PATTERN, 'must be an upper-case ISO 4217 code'),
    capacity: z.number().int().min(0).max(1_000_000),
    maxPerOrder: z.number().int().min(1).max(50).optional(),
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
});
const eventViewSchema = z.object({
  eventId: z.string(),
  organizerId: z.string(),
  name: z.string(),
  venue: z.string().nullable(),
  startsAt: z.string().datetime(),
  status: z.string(),
  ticketTypes: z.array(ticketTypeViewSchema),
});

const newId = (prefix: string) => `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 20)}`;

/** A ticket type with its live availability. */
function ticketTypeView(t: Record<string, number | string>) {
  return {
    ticketTypeId: t.id,
    name: t.name,
    priceMinor: t.price_minor,
    currency: String(t.currency).trim(),
    capacity: t.capacity,
    available: Number(t.capacity) - Number(t.sold) - Number(t.held),
    maxPerOrder: t.max_per_order,
  };
}

/** Events and ticket types: public reads, organizer writes. */
export function catalogueRoutes({ db }: { db: Db }): Router {
  const router = Router();

  documentRoute('get', '/v1/events', {
    summary: 'Events on sale',
    responses: { 200: z.object({ events: z.array(eventViewSchema.omit({ ticketTypes: true })) }) },
  });
  router.get('/v1/events', async (_req, res) => {
    const events = await db('events').where({ status: 'ON_SALE' }).orderBy('starts_at').limit(200);
    res.json({
      events: events.map((e) => ({
        eventId: e.id,
        organizerId: e.organizer_id,
        name: e.name,
        venue: e.venue,
        startsAt: new Date(e.starts_at).toISOString(),
        status: e.status,
      })),
    });
  });

  documentRoute('get', '/v1/events/:eventId', {
    summary: 'An event with its ticket types and live availability',
    responses: { 200: eventViewSchema },
  });
  router.get('/v1/events/:eventId', async (req, res) => {
    const eventId = String(req.params.eventId ?? '');
    const event = ID_PATTERN.test(eventId) ? await db('events').where({ id: eventId }).first() : undefined;
    if (!event) throw problems.notFound(`event ${eventId.slice(0, 64)}`);
    const types = await db('ticket_types').where({ event_id: eventId }).orderBy('created_at').orderBy('id');
    res.json({
      eventId: event.id,
      organizerId: event.organizer_id,
      name: event.name,
      venue: event.venue,
      startsAt: new Date(event.starts_at).toISOString(),
      status: event.status,
      ticketTypes: types.map(ticketTypeView),
    });
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
      })
      .returning('*');
    res
      .status(201)
      .location(`/v1/events/${event.id}`)
      .json({
        eventId: event.id,
        organizerId,
        name: event.name,
        venue: event.venue,
        startsAt: new Date(event.starts_at).toISOString(),
        status: event.status,
        ticketTypes: [],
      });
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
      })
      .returning('*');
    res.status(201).json(ticketTypeView(type));
  });

  return router;
}
