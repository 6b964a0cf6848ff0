import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import {
  normalizeTicketCode,
  TICKET_TOKEN_PREFIX,
  verifyTicketToken,
  type TicketSigner,
} from '../../tickets/signing';
import { randomUUID } from 'node:crypto';
import { principalOf, requireRole } from '../auth';
import { recordAdmissions, scanFingerprint } from '../scanning';
import { gateSchema } from './scanning';
import { problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';
import { businessMetrics } from '../../observability/metrics';

/** What a scan answers: let the holder in, or why not. */
export const SCAN_RESULTS = ['ADMITTED', 'ALREADY_USED', 'VOID', 'UNKNOWN'] as const;
export type ScanResult = (typeof SCAN_RESULTS)[number];

/** The gate an online scan counts under when the scanner names none. */
export const ONLINE_GATE = 'online';

/** The body of `POST /v1/scans`: a code as typed or read from the QR (the signed token), and optionally the event. */
export const scanRequestSchema = z
  .object({
    code: z.string().min(1).max(2048),
    /** The event this door belongs to; a token scoped to an event always scans for that event. */
    eventId: z.string().regex(ID_PATTERN, 'must be an id').optional(),
    /** The door this scanner stands at, for attendance per gate; `online` when not said. */
    gate: gateSchema.optional(),
  })
  .strict();

/** The dependencies of the ticket routes. */
export interface TicketRouteDeps {
  db: Db;
  /** Only the public half is used here: scans verify tokens, the key endpoint publishes it. */
  ticketSigner: Pick<TicketSigner, 'publicKeyJwk'>;
}

const TICKET_COLUMNS = ['t.id', 't.event_id', 't.ticket_type_id', 't.code', 't.status', 't.used_at', 'tt.name'];

function ticketView(row: Record<string, unknown>) {
  return {
    ticketId: row.id as string,
    eventId: row.event_id as string,
    ticketTypeId: row.ticket_type_id as string,
    ticketType: row.name as string,
    code: row.code as string,
    status: row.status as string,
    usedAt: row.used_at ? new Date(row.used_at as string).toISOString() : null,
  };
}

/** `GET /v1/tickets/signing-keys`, `GET /v1/tickets/:ticketId/nft`, `POST /v1/scans`. */
export function ticketRoutes({ db, ticketSigner }: TicketRouteDeps): Router {
  const router = Router();

  // The public keys that sign ticket QR tokens, for scanner apps to verify tickets offline. Public by design.
  documentRoute('get', '/v1/tickets/signing-keys', {
    summary: 'Public Ed25519 keys (JWK) that sign ticket QR tokens, for offline scanning',
    responses: {
      200: z.object({ keys: z.array(z.object({ kty: z.string(), kid: z.string().optional() }).passthrough()) }),
    },
  });
  router.get('/v1/tickets/signing-keys', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json({ keys: [ticketSigner.publicKeyJwk] });
  });

  // ERC-721 metadata of a ticket's token (its tokenURI). Says what the ticket is for, never its code.
  documentRoute('get', '/v1/tickets/:ticketId/nft', {
    summary: "ERC-721 metadata of a ticket's NFT (its tokenURI); never the ticket code",
    responses: {
      200: z.object({
        name: z.string(),
        description: z.string(),
        attributes: z.array(z.object({ trait_type: z.string(), value: z.unknown() })),
      }),
    },
  });
  router.get('/v1/tickets/:ticketId/nft', async (req, res) => {
    const ticketId = String(req.params.ticketId ?? '');
    if (!ID_PATTERN.test(ticketId)) throw problems.notFound('ticket');
    const row = await db('tickets as t')
      .join('events as e', 'e.id', 't.event_id')
      .join('ticket_types as tt', 'tt.id', 't.ticket_type_id')
      .where('t.id', ticketId)
      .whereNotNull('t.nft_status')
      .first('e.name as event_name', 'e.venue', 'e.starts_at', 'tt.name as ticket_type');
    if (!row) throw problems.notFound(`ticket ${ticketId}`);
    res.json({
      name: `${row.event_name} (${row.ticket_type})`,
      description: `A ticket to ${row.event_name}, sold on Bilten.`,
      attributes: [
        { trait_type: 'Event', value: row.event_name },
        { trait_type: 'Ticket type', value: row.ticket_type },
        { trait_type: 'Venue', value: row.venue },
        { trait_type: 'Starts at', value: new Date(row.starts_at).toISOString() },
      ],
    });
  });

  /**
   * Admits a ticket at the door. One conditional UPDATE (VALID -> USED) decides, so however many scanners race
   * on one ticket, exactly one gets ADMITTED. A token scoped to an event (claim `event`) scans only that
   * event's tickets: another event's ticket answers UNKNOWN, as a forged one does, and is left untouched.
   * An admission is recorded as a scan in the same transaction, so attendance counts it and a late upload of
   * an earlier offline scan of the same ticket settles against it.
   */
  documentRoute('post', '/v1/scans', {
    summary: 'Scan a ticket at the door (door staff, support, admin; a token scoped to an event scans it only)',
    roles: ['staff', 'support', 'admin'],
    body: scanRequestSchema,
    responses: {
      200: z.object({
        result: z.enum(SCAN_RESULTS),
        ticket: z
          .object({ ticketId: z.string(), eventId: z.string(), status: z.string(), usedAt: z.string().nullable() })
          .passthrough()
          .optional(),
      }),
    },
    problems: [415, 422],
  });
  router.post('/v1/scans', requireRole('staff', 'support', 'admin'), async (req, res) => {
    const staff = principalOf(req);
    const body = parseOr422(scanRequestSchema, req.body);
    if (staff.event && body.eventId && body.eventId !== staff.event) {
      throw problems.forbidden(`this token scans tickets of event ${staff.event} only`);
    }
    const eventId = staff.event ?? body.eventId;
    const by = `${staff.role}:${staff.sub}`.slice(0, 200);
    const answer = (result: ScanResult, row?: Record<string, unknown>) => {
      businessMetrics.scans.inc({ result });
      res.json({ result, ...(row ? { ticket: ticketView(row) } : {}) });
    };

    // A QR token is checked against the published key first: a forged or damaged one never reaches the table.
    let code: string | null;
    let ticketId: string | undefined;
    if (body.code.startsWith(`${TICKET_TOKEN_PREFIX}.`)) {
      const payload = verifyTicketToken(body.code, ticketSigner.publicKeyJwk);
      if (!payload) return answer('UNKNOWN');
      code = payload.code;
      ticketId = payload.tid;
    } else {
      code = normalizeTicketCode(body.code);
    }
    if (code === null) return answer('UNKNOWN');

    const admitted = await db.transaction(async (trx) => {
      const rows: Array<{ id: string; event_id: string; used_at: Date }> = await trx('tickets')
        .where({ code, status: 'VALID' })
        .modify((q) => {
          if (ticketId) q.where('id', ticketId);
          if (eventId) q.where('event_id', eventId);
        })
        // The database's clock, the one that stamps voids: an admission is always older than a later void.
        .update({ status: 'USED', used_at: trx.raw('clock_timestamp()'), used_by: by })
        .returning(['id', 'event_id', 'used_at']);
      const ticket = rows[0];
      if (!ticket) return rows;
      const gate = body.gate ?? ONLINE_GATE;
      const scannedAt = new Date(ticket.used_at);
      await recordAdmissions(trx, ticket.event_id, [
        {
          scanId: `scn_${randomUUID().replace(/-/g, '')}`,
          ticketId: ticket.id,
          gate,
          scannedAt,
          source: 'ONLINE',
          packId: null,
          requestHash: scanFingerprint(ticket.event_id, { code: body.code, scannedAt, gate }),
          scannedBy: by,
        },
      ]);
      return rows;
    });
    const row = await db('tickets as t')
      .join('ticket_types as tt', 'tt.id', 't.ticket_type_id')
      .where('t.code', code)
      .modify((q) => {
        if (ticketId) q.where('t.id', ticketId);
        if (eventId) q.where('t.event_id', eventId);
      })
      .first(TICKET_COLUMNS);
    if (admitted.length === 1) return answer('ADMITTED', row);
    if (!row) return answer('UNKNOWN');
    if (row.status === 'USED') return answer('ALREADY_USED', row);
    if (row.status === 'VOID') return answer('VOID', row);
    // VALID again can only mean a support tool reset it between our two statements; this scan did not admit it.
    return answer('UNKNOWN');
  });

  return router;
}
