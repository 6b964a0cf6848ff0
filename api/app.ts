import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import { z } from 'zod';
import { documentRoute } from './openapi';
import type { Config } from '../config';
import { sandboxedProviders } from '../config';
import type { Db } from '../db';
import { authenticate } from './auth';
import { problemHandler, problems, Problem } from './problems';
import { catalogueRoutes } from './routes/catalogue';
import { checkoutRoutes } from './routes/checkouts';
import { operationsRoutes } from './operations';
import { devRoutes } from './routes/dev';
import { ticketRoutes } from './routes/tickets';
import { sandboxRoutes } from './routes/sandbox';
import { webhookRoutes } from './routes/webhooks';
import type { PaymentProviders } from '../workers/providers';
import { configuredTicketSigner } from '../tickets/configured-signer';
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
}

const readinessSchema = z.object({
  status: z.enum(['ready', 'not-ready']),
  postgres: z.enum(['ok', 'unreachable']),
  temporal: z.enum(['ok', 'unreachable']),
  sandboxedProviders: z.array(z.string()),
});

/** Bodies are small JSON documents; anything bigger is refused before it is parsed. */
export const BODY_LIMIT = '16kb';

/** Builds the Express app. Pure wiring: no listening, so tests run it in-process on a random port. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
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
    summary: 'Postgres and Temporal reachable; lists the sandboxed providers',
    responses: { 200: readinessSchema, 503: readinessSchema },
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await Promise.allSettled([
      deps.db.raw('select 1'),
      deps.temporal.connection.workflowService.getSystemInfo({}),
    ]);
    const [postgres, temporal] = checks.map((c) => (c.status === 'fulfilled' ? 'ok' : 'unreachable'));
    const ready = postgres === 'ok' && temporal === 'ok';
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : 'not-ready',
      postgres,
      temporal,
      sandboxedProviders: sandboxedProviders(deps.config),
    });
  });

  // Webhooks are verified over their raw bytes and the sandbox pages take form posts: both read their own
  // bodies, so they come before the JSON parser.
  app.use(webhookRoutes(deps));
  if (deps.payments.card.sandboxed || deps.payments.crypto.sandboxed) app.use(sandboxRoutes(deps));

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
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.use(authenticate(deps.config.AUTH_JWT_SECRET));

  app.use(catalogueRoutes(deps));
  app.use(checkoutRoutes(deps));
  app.use(ticketRoutes({ db: deps.db, ticketSigner: deps.ticketSigner ?? configuredTicketSigner(deps.config) }));
  if (deps.config.NODE_ENV !== 'production') app.use(devRoutes(deps));

  app.use((req, _res, next) => next(problems.notFound(`${req.method} ${req.path.slice(0, 200)}`)));
  app.use(problemHandler);
  return app;
}
