import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from './logger';
import { routeTemplate } from './metrics';

/** Paths scraped or probed every few seconds: logged at debug only, or they would drown everything else. */
const PROBES = new Set(['/metrics', '/healthz', '/readyz']);

/** A caller's X-Request-Id is kept when it looks like an id, so one request can be followed across services. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

/**
 * One line per request (pino-http): method, route template, status, duration, request id, and the order the
 * request is about (`orderId`, from the path or set by the handler with `bindOrder`). Headers are logged with
 * credentials and signatures redacted; bodies are never logged.
 */
export function httpLogging(log: Logger): RequestHandler {
  return pinoHttp({
    logger: log,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (req, res, err) => {
      if (err || res.statusCode >= 500) return 'error';
      if (PROBES.has(req.url ?? '')) return 'debug';
      // A 304 is a browser revalidating a page it already has (an event page, refreshed by thousands of buyers in a
      // flash sale): nothing happened, and at info its line cost more than the answer (issue 12's bench).
      if (res.statusCode === 304) return 'debug';
      return 'info';
    },
    customProps: (req, res) => {
      const orderId = (res as Response).locals?.orderId ?? (req as Request).params?.orderId;
      const route = routeTemplate(req as Request);
      return { ...(route !== 'unmatched' ? { route } : {}), ...(orderId ? { orderId } : {}) };
    },
    customSuccessMessage: (req, res, ms) =>
      `${req.method} ${routeTemplate(req as Request)} ${res.statusCode} in ${Math.round(ms)} ms`,
    customErrorMessage: (req, res) =>
      `${req.method} ${routeTemplate(req as Request)} failed with ${res.statusCode}`,
    serializers: {
      req: (req: { id: string; method: string; url: string; headers: Record<string, unknown> }) => ({
        id: req.id,
        method: req.method,
        url: (req as { originalUrl?: string }).originalUrl ?? req.url,
        headers: req.headers,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

/** Says which order a request is about, so its log line carries `orderId` (and the request's later lines do). */
export function bindOrder(res: Response, orderId: string): void {
  res.locals.orderId = orderId;
  if (res.req?.log) res.req.log = res.req.log.child({ orderId });
}
