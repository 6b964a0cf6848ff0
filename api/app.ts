import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import { z } from 'zod';
import { documentRoute } from './openapi';
import type { Config } from '../config';
import { sandboxedProviders } from '../config';
import type { Db } from '../db';
import { authenticate, requireRole } from './auth';
import { problemHandler, problems, Problem } from './problems';
import { catalogueRoutes, createEventPages } from './routes/catalogue';
import { checkoutRoutes } from './routes/checkouts';
import { refundRoutes } from './routes/refunds';
import { operationsRoutes } from './operations';
import { devRoutes } from './routes/dev';
import { financeRoutes } from './routes/finance';
import { payoutRoutes } from './routes/payouts';
import { rewardRoutes } from './routes/rewards';
import { ticketRoutes } from './routes/tickets';
import { scanningRoutes } from './routes/scanning';
import { sandboxRoutes } from './routes/sandbox';
import { webhookRoutes } from './routes/webhooks';
import type { PaymentProviders } from '../providers';
import { configuredTicketSigner } from '../tickets/configured-signer';
import { configuredPayloadCodec } from '../temporal/payload-codec';
import { codecRoutes } from './routes/codec';
import { createRateLimits, type RateLimits } from './rate-limits';
import type { TicketSigner } from '../tickets/signing';
import { logger as rootLogger, type Logger } from '../observability/logger';
import { httpLogging } from '../observability/http-logging';
import { httpMetricsMiddleware } from '../observability/metrics';
import { nameServerSpan } from '../observability/tracing';

/** What the HTTP API is built over. */
export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
  /** The payment providers webhooks are re-fetched from; the sandbox pages are served when they are sandboxes. */
  payments: PaymentProviders;
  /** Verifies scanned tickets and publishes the public key; loaded from the config when not given. */
  ticketSigner?: Pick<TicketSigner, 'publicKeyJwk'>;
  /** Where request lines go; the process logger (component `api`) when not given. Tests pass a capturing one. */
  logger?: Logger;
  /** The rate limits; built over the config's store when not given (tests give each platform its own prefix). */
  rateLimits?: RateLimits;
}

/** Which dependency failed and which providers are sandboxes is only told to admins. */
const readinessSchema = z.object({
  status: z.enum(['ready', 'not-ready']),
  postgres: z.enum(['ok', 'unreachable']).optional(),
  temporal: z.enum(['ok', 'unreachable']).optional(),
  sandboxedProviders: z.array(z.string()).optional(),
});

/** Bodies are small JSON documents; anything bigger is refused before it is parsed. */
export const BODY_LIMIT = '16kb';

/** Builds the Express app. Pure wiring: no listening, so tests run it in-process on a random port. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  const production = deps.config.NODE_ENV === 'production';
  app.disable('x-powered-by');
  app.set('trust proxy', deps.config.TRUST_PROXY_HOPS);
  const limits = deps.rateLimits ?? createRateLimits(deps.config, deps.db);
  app.use(httpLogging(deps.logger ?? rootLogger.child({ component: 'api' })));
  app.use(httpMetricsMiddleware);
  app.use(nameServerSpan);
  app.use(operationsRoutes(deps));

  documentRoute('get', '/healthz', {
    summary: 'The process is up; names the Node.js version it runs on',
    responses: { 200: z.object({ status: z.literal('ok'), node: z.string() }) },
  });
  // The Node version lets operators see at a glance that every API process left an end-of-life runtime.
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok', node: process.version }));
  documentRoute('get', '/readyz', {
    summary: 'Postgres and Temporal reachable; an admin token also sees each check and the sandboxed providers',
    description: 'No token needed for ready or not; a bearer token with role admin adds the details.',
    responses: { 200: readinessSchema, 503: readinessSchema },
    problems: [401],
  });
  // Ready or not for everyone; which dependency failed and which providers are sandboxes is for admins only.
  app.get('/readyz', authenticate(deps.config), async (req, res) => {
    const checks = await Promise.allSettled([
      deps.db.raw('select 1'),
      deps.temporal.connection.workflowService.getSystemInfo({}),
    ]);
    const [postgres, temporal] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unreachable'));
    const ready = postgres === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not-ready',
      ...(req.principal?.role === 'admin'
        ? { postgres, temporal, sandboxedProviders: sandboxedProviders(deps.config) }
        : {}),
    });
  });

  app.use(limits.perIpCeiling);
  // Webhooks are verified over their raw bytes and the sandbox pages take form posts: both read their own
  // bodies, so they come before the JSON parser. Production never has sandbox pages (nor sandbox providers).
  app.use(webhookRoutes(deps));
  if (!production && (deps.payments.card.sandboxed || deps.payments.crypto.sandboxed))
    app.use(sandboxRoutes(deps));
  // The Temporal UI's payload codec reads large bodies of its own and authenticates itself.
  app.use(codecRoutes({ config: deps.config, codec: configuredPayloadCodec(deps.config) }));

  // Mutating requests must be JSON; say so clearly rather than parsing nothing.
  app.use((req, _res, next) => {
    if (
      ['POST', 'PUT', 'PATCH'].includes(req.method) &&
      !req.path.startsWith('/webhooks/') &&
      !req.path.startsWith('/sandbox/')
    ) {
      const length = Number(req.headers['content-length'] ?? 0);
      const chunked = req.headers['transfer-encoding'] !== undefined;
      if ((length > 0 || chunked) && !req.is('application/json')) {
        return next(new Problem(415, 'unsupported-media-type', 'Unsupported Media Type', 'send application/json'));
      }
    }
    next();
  });
  // An offline scanner uploads its queue in one batch: up to SCAN_SYNC_MAX_BATCH scans of about 1 kB each.
  app.use('/v1/scans/sync', express.json({ limit: `${deps.config.SCAN_SYNC_MAX_BATCH}kb`, strict: true }));
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.use(authenticate(deps.config));
  app.use(limits.perCaller);

  // One snapshot of event pages per process, shared with the checkout so a sold-out answer drops a page that
  // still shows seats.
  const eventPages = createEventPages(deps);
  app.use(catalogueRoutes({ ...deps, eventPages }));
  app.use(checkoutRoutes({ ...deps, eventPages }));
  app.use(payoutRoutes(deps));
  app.use(financeRoutes(deps));
  app.use(refundRoutes(deps));
  app.use(rewardRoutes(deps));
  const ticketSigner = deps.ticketSigner ?? configuredTicketSigner(deps.config);
  app.use(ticketRoutes({ db: deps.db, ticketSigner }));
  app.use(scanningRoutes({ config: deps.config, db: deps.db, ticketSigner }));
  // The outbox holds every buyer's contact details and ticket codes: support and admin only, never in production.
  if (!production) {
    app.use('/dev', requireRole('support', 'admin'));
    app.use(devRoutes(deps));
  }

  app.use((req, _res, next) => next(problems.notFound(`${req.method} ${req.path.slice(0, 200)}`)));
  app.use(problemHandler);
  return app;
}
