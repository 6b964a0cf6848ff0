import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Db } from '../../db';
import {
  normalizeTicketCode,
  TICKET_TOKEN_PREFIX,
  verifyTicketToken,
  type TicketSigner,
} from '../../tickets/signing';
import { isDoorToken, principalOf, requireRole, type Principal } from '../auth';
import { problems, type FieldError } from '../problems';
import {
  buildScanPack,
  loadAttendance,
  loadRecordedScans,
  recordAdmissions,
  scanFingerprint,
  type AdmissionToRecord,
} from '../scanning';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';
import { SETTLED_SCAN_RESULTS } from '../../domain';

/** A gate as door teams name them: "North", "VIP entrance 2". */
export const gateSchema = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N} _.:#/-]+$/u, 'letters, digits, spaces and _.:#/- only');

/** The body of `POST /v1/scans/sync`: admissions a scanner made offline with the pack it names. */
export function scanSyncSchema(maxBatch: number) {
  return z
    .object({
      packId: z.string().regex(ID_PATTERN, 'must be a pack id'),
      scans: z
        .array(
          z
            .object({
              scanId: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 characters of A-Z a-z 0-9 _ -'),
              code: z.string().min(1).max(2048),
              scannedAt: z.string().datetime({ offset: true }),
              gate: gateSchema,
            })
            .strict(),
        )
        .min(1)
        .max(maxBatch, `at most ${maxBatch} scans per upload (SCAN_SYNC_MAX_BATCH)`),
    })
    .strict();
}

/** An offline scan pack (tickets/scan-pack.ts): hashed codes that admit and that are void, and the signing keys. */
const scanPackSchema = z.object({
  format: z.string(),
  packId: z.string(),
  eventId: z.string(),
  issuedAt: z.string(),
  cursor: z.string(),
  since: z.string().nullable(),
  keys: z.array(z.object({}).passthrough()),
  codeHash: z.object({ alg: z.literal('HMAC-SHA256'), key: z.string(), bytes: z.number().int() }),
  issued: z.string(),
  revoked: z.string(),
  counts: z.object({ issued: z.number().int(), revoked: z.number().int() }),
});

/** What one uploaded scan was recorded as. */
const recordedScanSchema = z.object({
  scanId: z.string(),
  result: z.enum(SETTLED_SCAN_RESULTS),
  ticketId: z.string().nullable(),
  ticketTypeId: z.string().nullable(),
  gate: z.string(),
  scannedAt: z.string(),
  duplicateOf: z.object({ scanId: z.string(), gate: z.string() }).nullable(),
});

const attendanceCounts = {
  admitted: z.number().int(),
  admittedWhileVoid: z.number().int(),
  duplicates: z.number().int(),
};
/** An event's attendance, from its counters. */
const attendanceSchema = z.object({
  eventId: z.string(),
  ...attendanceCounts,
  entries: z.number().int(),
  byTicketType: z.array(z.object({ ticketTypeId: z.string(), name: z.string(), ...attendanceCounts })),
  byGate: z.array(z.object({ gate: z.string(), ...attendanceCounts })),
  updatedAt: z.string().nullable(),
});

/** The dependencies of the door routes. */
export interface ScanningRouteDeps {
  config: Pick<Config, 'SCAN_SYNC_MAX_BATCH'>;
  db: Db;
  ticketSigner: Pick<TicketSigner, 'publicKeyJwk'>;
}

const who = (p: Principal) => `${p.role}:${p.sub}`;

/** `GET /v1/events/:eventId/scan-pack`, `POST /v1/scans/sync`, `GET /v1/events/:eventId/attendance`. */
export function scanningRoutes({ config, db, ticketSigner }: ScanningRouteDeps): Router {
  const router = Router();
  const syncSchema = scanSyncSchema(config.SCAN_SYNC_MAX_BATCH);

  /** The event in the path, or 404; a door token of another event is refused before anything is read. */
  async function eventFor(req: Request, caller: Principal) {
    const eventId = String(req.params.eventId ?? '');
    if (!ID_PATTERN.test(eventId)) throw problems.notFound('event');
    if (isDoorToken(caller) && caller.event !== eventId) {
      throw problems.forbidden(`this token is for event ${caller.event}`);
    }
    const event = await db('events').where({ id: eventId }).first('id', 'organizer_id');
    if (!event) throw problems.notFound(`event ${eventId}`);
    return event as { id: string; organizer_id: string };
  }

  documentRoute('get', '/v1/events/:eventId/scan-pack', {
    summary:
      "An event's offline scan pack, full or (with ?since=) a delta (door staff of the event, support, admin)",
    roles: ['staff', 'support', 'admin'],
    query: z.object({
      since: z
        .string()
        .regex(/^\d{1,20}$/)
        .optional(),
    }),
    responses: { 200: scanPackSchema },
    problems: [422],
  });
  router.get('/v1/events/:eventId/scan-pack', requireRole('staff', 'support', 'admin'), async (req, res) => {
    const caller = principalOf(req);
    const event = await eventFor(req, caller);
    const since = req.query.since;
    if (since !== undefined && (typeof since !== 'string' || !/^\d{1,20}$/.test(since))) {
      throw problems.validation([{ field: 'since', message: 'must be the cursor of an earlier pack' }]);
    }
    const pack = await buildScanPack(db, {
      eventId: event.id,
      since: since ?? null,
      issuedTo: who(caller),
      keys: [ticketSigner.publicKeyJwk],
    });
    res.setHeader('Cache-Control', 'private, no-store');
    res.json(pack);
  });

  documentRoute('post', '/v1/scans/sync', {
    summary:
      'Upload scans made offline with a scan pack; each is settled against the others (door staff, support, admin)',
    description:
      'At most SCAN_SYNC_MAX_BATCH scans per upload. Uploading the same scanId again answers as before.',
    roles: ['staff', 'support', 'admin'],
    body: syncSchema,
    responses: {
      200: z.object({ packId: z.string(), eventId: z.string(), results: z.array(recordedScanSchema) }),
    },
    problems: [413, 415, 422],
  });
  router.post('/v1/scans/sync', requireRole('staff', 'support', 'admin'), async (req, res) => {
    const caller = principalOf(req);
    const body = parseOr422(syncSchema, req.body);
    const pack = await db('scan_packs').where({ id: body.packId }).first('id', 'event_id', 'issued_at');
    if (!pack) throw problems.validation([{ field: 'packId', message: 'no such scan pack' }]);
    if (isDoorToken(caller) && caller.event !== pack.event_id) {
      throw problems.forbidden(`this token uploads scans of event ${caller.event} only`);
    }
    const eventId = pack.event_id as string;
    const issuedAt = new Date(pack.issued_at);
    const errors: FieldError[] = [];

    // What each code names: a QR token must verify and name this event; a typed code is looked up.
    const resolved = body.scans.map((scan, i) => {
      const scannedAt = new Date(scan.scannedAt);
      if (scannedAt < issuedAt) {
        errors.push({
          field: `scans.${i}.scannedAt`,
          message: `is before its pack was issued (${issuedAt.toISOString()})`,
        });
      }
      let code: string | null = null;
      let tokenTicketId: string | null = null;
      if (scan.code.startsWith(`${TICKET_TOKEN_PREFIX}.`)) {
        const payload = verifyTicketToken(scan.code, ticketSigner.publicKeyJwk);
        if (payload && payload.eid !== eventId) {
          errors.push({ field: `scans.${i}.code`, message: 'is a ticket of another event' });
        }
        if (payload) {
          code = normalizeTicketCode(payload.code);
          tokenTicketId = payload.tid;
        }
      } else {
        code = normalizeTicketCode(scan.code);
      }
      return { ...scan, scannedAt, canonicalCode: code, tokenTicketId };
    });
    const codes = [...new Set(resolved.flatMap((r) => (r.canonicalCode ? [r.canonicalCode] : [])))];
    const tickets: Array<{ id: string; code: string; event_id: string }> = codes.length
      ? await db('tickets').whereIn('code', codes).select('id', 'code', 'event_id')
      : [];
    const ticketByCode = new Map(tickets.map((t) => [t.code, t]));
    const seen = new Map<string, string>();
    const admissions: AdmissionToRecord[] = [];
    resolved.forEach((r, i) => {
      const ticket = r.canonicalCode ? ticketByCode.get(r.canonicalCode) : undefined;
      if (ticket && ticket.event_id !== eventId && !errors.some((e) => e.field === `scans.${i}.code`)) {
        errors.push({ field: `scans.${i}.code`, message: 'is a ticket of another event' });
      }
      const requestHash = scanFingerprint(eventId, r);
      if (seen.has(r.scanId)) {
        if (seen.get(r.scanId) !== requestHash) {
          errors.push({ field: `scans.${i}.scanId`, message: 'appears twice in this upload with other contents' });
        }
        return;
      }
      seen.set(r.scanId, requestHash);
      const matches = ticket && (!r.tokenTicketId || r.tokenTicketId === ticket.id);
      admissions.push({
        scanId: r.scanId,
        ticketId: matches ? ticket.id : null,
        gate: r.gate,
        scannedAt: r.scannedAt,
        source: 'OFFLINE',
        packId: pack.id,
        requestHash,
        scannedBy: who(caller),
      });
    });
    if (errors.length) throw problems.validation(errors);

    const results = await db.transaction(async (trx) => {
      // The platform's clock decides "in the future": the same clock stamps voids, so a scan recorded here is
      // always older than any void that comes after it.
      const now: Date = (await trx.raw('SELECT clock_timestamp() AS now')).rows[0].now;
      const future = resolved.flatMap((r, i) =>
        r.scannedAt > now ? [{ field: `scans.${i}.scannedAt`, message: 'is in the future' }] : [],
      );
      if (future.length) throw problems.validation(future);
      await recordAdmissions(trx, eventId, admissions);
      return loadRecordedScans(
        trx,
        admissions.map((a) => a.scanId),
      );
    });
    const byId = new Map(results.map((r) => [r.scanId, r]));
    res.json({ packId: pack.id, eventId, results: body.scans.map((s) => byId.get(s.scanId)!) });
  });

  documentRoute('get', '/v1/events/:eventId/attendance', {
    summary: "An event's live attendance, by ticket type and gate (door staff, its organizer, support, admin)",
    roles: ['staff', 'organizer', 'support', 'admin'],
    responses: { 200: attendanceSchema },
  });
  router.get(
    '/v1/events/:eventId/attendance',
    requireRole('staff', 'organizer', 'support', 'admin'),
    async (req, res) => {
      const caller = principalOf(req);
      const event = await eventFor(req, caller);
      if (caller.role === 'organizer' && caller.org !== event.organizer_id) {
        throw problems.forbidden('this event belongs to another organizer');
      }
      res.setHeader('Cache-Control', 'private, no-store');
      res.json(await loadAttendance(db, event.id));
    },
  );

  return router;
}
