import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import type { Config } from '../config';
import { sandboxedProviders } from '../config';
import type { Db } from '../db';
import { authenticate } from './auth';
import { problemHandler, problems, Problem } from './problems';
import { catalogueRoutes } from './routes/catalogue';
import { checkoutRoutes } from './routes/checkouts';

/** What the HTTP API is built over. */
export interface ApiDeps {
  config: Config;
  db: Db;
  temporal: Client;
}

/** Bodies are small JSON documents; anything bigger is refused before it is parsed. */
export const BODY_LIMIT = '16kb';

/** Builds the Express app. Pure wiring: no listening, so tests run it in-process on a random port. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
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

  app.use((req, _res, next) => next(problems.notFound(`${req.method} ${req.path.slice(0, 200)}`)));
  app.use(problemHandler);
  return app;
}
