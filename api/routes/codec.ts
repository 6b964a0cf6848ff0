import express, { Router, type Request, type RequestHandler } from 'express';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { Config } from '../../config';
import { authenticate } from '../auth';
import { problems } from '../problems';
import { z } from 'zod';
import { documentRoute } from '../openapi';

/** Payloads as the Temporal UI sends and receives them: metadata values and data in base64. */
const payloadsSchema = z.object({
  payloads: z
    .array(z.object({ metadata: z.record(z.string()).optional(), data: z.string().optional() }))
    .max(1000)
    .optional()
    .describe('absent when there are none (proto JSON), as for a query without arguments'),
});

/** Whether an address is this machine's (IPv4, IPv6, or IPv4 mapped into IPv6). */
function isLoopback(address: string | undefined): boolean {
  return address === '::1' || (address?.replace(/^::ffff:/, '').startsWith('127.') ?? false);
}

/** The Temporal UI sends payloads as JSON: metadata values and data in base64. */
interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

function payloadsOf(req: Request): Payload[] {
  const body = req.body as { payloads?: unknown } | undefined;
  // Proto JSON leaves out an empty list: the CLI encodes a query without arguments as `{}`.
  const payloads = body !== null && typeof body === 'object' && body.payloads === undefined ? [] : body?.payloads;
  const valid =
    Array.isArray(payloads) &&
    payloads.length <= 1000 &&
    payloads.every(
      (p) =>
        p !== null &&
        typeof p === 'object' &&
        (p.data === undefined || typeof p.data === 'string') &&
        (p.metadata === undefined ||
          (p.metadata !== null &&
            typeof p.metadata === 'object' &&
            Object.values(p.metadata).every((v) => typeof v === 'string'))),
    );
  if (!valid) throw problems.validation([{ field: 'payloads', message: 'must be an array of payloads' }]);
  return (payloads as JsonPayload[]).map(fromJson);
}

/**
 * The payload codec endpoint the Temporal Web UI calls (`--ui-codec-endpoint <api>/codec`) to show encrypted
 * payloads decoded: `POST /codec/decode` and `POST /codec/encode`, `{ payloads: [...] }` both ways.
 *
 * Decoded payloads are what support staff see in the UI anyway, so whoever may read the UI may call it: a
 * support or admin token, or, outside production, a browser on this machine (the dev server's UI listens on
 * 127.0.0.1 only, so reaching the UI and reaching this are the same thing). Browsers may call it only from the
 * configured UI origins (CORS); a buyer or organizer token is refused.
 */
export function codecRoutes({ config, codec }: { config: Config; codec: PayloadCodec }): Router {
  const router = Router();
  const origins = new Set(
    (
      config.CODEC_CORS_ORIGINS ??
      `http://localhost:${config.TEMPORAL_UI_PORT},http://127.0.0.1:${config.TEMPORAL_UI_PORT}`
    )
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
  );

  const cors: RequestHandler = (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
      res.setHeader('Access-Control-Max-Age', '600');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') return void res.status(204).end();
    // A browser page of another origin must not be able to use a staff member's local access.
    if (origin && !origins.has(origin)) return next(problems.forbidden('this origin may not call the codec'));
    next();
  };
  const staffOnly: RequestHandler = (req, _res, next) => {
    const role = req.principal?.role;
    if (role === 'support' || role === 'admin') return next();
    if (req.principal) return next(problems.forbidden('requires role support or admin'));
    if (config.NODE_ENV !== 'production' && isLoopback(req.socket.remoteAddress)) return next();
    next(problems.unauthorized());
  };

  router.use('/codec', authenticate(config));
  documentRoute('options', '/codec/:operation', {
    summary: "CORS preflight of the Temporal UI's codec calls (from the configured UI origins)",
    responses: { 204: 'preflight answered' },
    problems: [403],
  });
  router.options('/codec/:operation', cors);
  for (const operation of ['encode', 'decode'] as const) {
    documentRoute('post', `/codec/${operation}`, {
      summary: `${operation === 'encode' ? 'Encrypt' : 'Decrypt'} Temporal payloads for the Web UI (support, admin; outside production also this machine)`,
      description:
        'The Temporal UI payload codec protocol (`--ui-codec-endpoint <api>/codec`). Without a token, only loopback callers outside production.',
      body: payloadsSchema,
      responses: { 200: payloadsSchema },
      problems: [401, 403, 413, 422],
      tags: ['codec'],
    });
    router.post(
      `/codec/${operation}`,
      cors,
      staffOnly,
      // The UI posts JSON but does not always say so; the body is parsed as JSON whatever its type.
      express.json({ limit: '4mb', type: () => true }),
      async (req, res) => {
        const payloads = payloadsOf(req);
        let result: Payload[];
        try {
          result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
        } catch {
          throw problems.validation([{ field: 'payloads', message: `a payload cannot be ${operation}d` }]);
        }
        res.json({ payloads: result.map(toJson) });
      },
    );
  }
  return router;
}
