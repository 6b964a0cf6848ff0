import type { RequestHandler } from 'express';
import { Redis } from 'ioredis';
import {
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import type { Config } from '../config';
import type { Db } from '../db';
import { Problem } from './problems';
import { httpMetrics, routeTemplate } from '../observability/metrics';

/** The table the Postgres store keeps its counters in (created by migrations/20261202_0005_hardening.ts). */
export const RATE_LIMIT_TABLE = 'rate_limits';
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const isRead = (method: string) => method === 'GET' || method === 'HEAD';

/** The three limits of the API contract's "Limits" section, as Express middleware. */
export interface RateLimits {
  /** A loose ceiling per client IP on every request: many buyers may share one address. */
  perIpCeiling: RequestHandler;
  /** After authentication: per client IP without a token, per token subject on every write. */
  perCaller: RequestHandler;
  /** Closes the Redis connection, when there is one. */
  close(): Promise<void>;
}

/**
 * Counters live where every API replica sees them: Postgres by default (the platform already has it), Redis when
 * REDIS_URL is set. Should the store fail, each replica falls back to counting in its own memory rather than
 * letting everything through or refusing everyone. `keyPrefix` separates deployments that share a database.
 */
export function createRateLimits(config: Config, db: Db, options: { keyPrefix?: string } = {}): RateLimits {
  const prefix = options.keyPrefix ?? 'bilten';
  const redis = config.REDIS_URL ? new Redis(config.REDIS_URL, { enableOfflineQueue: false }) : null;
  const limiter = (name: string, points: number): RateLimiterAbstract => {
    const common = { keyPrefix: `${prefix}:${name}`, points, duration: 60 };
    const insuranceLimiter = new RateLimiterMemory(common);
    return redis
      ? new RateLimiterRedis({ ...common, storeClient: redis, insuranceLimiter })
      : new RateLimiterPostgres({
          ...common,
          storeClient: db,
          storeType: 'knex',
          tableName: RATE_LIMIT_TABLE,
          tableCreated: true,
          insuranceLimiter,
        });
  };
  const ceiling = limiter('ip', config.RATE_LIMIT_PER_IP_PER_MINUTE);
  const anonymous = limiter('anon', config.RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE);
  // Reads are counted in each replica's own memory: a buyer refreshing an event page in a flash sale must not cost
  // a database write (at thousands of reads a second the counters would be the heaviest writes of the sale), and a
  // flood of reads from one address is still stopped by every replica it reaches. Writes stay shared.
  const memory = (name: string, points: number) =>
    new RateLimiterMemory({ keyPrefix: `${prefix}:${name}:reads`, points, duration: 60 });
  const readCeiling = memory('ip', config.RATE_LIMIT_PER_IP_PER_MINUTE);
  const anonymousReads = memory('anon', config.RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE);
  const writes = limiter('sub-writes', config.RATE_LIMIT_WRITES_PER_SUBJECT_PER_MINUTE);

  const consume =
    (
      pick: (
        req: Parameters<RequestHandler>[0],
      ) => { limiter: RateLimiterAbstract; key: string; limit: 'ip' | 'anonymous' | 'subject' } | null,
    ): RequestHandler =>
    (req, res, next) => {
      const chosen = pick(req);
      if (!chosen) return next();
      chosen.limiter.consume(chosen.key).then(
        () => next(),
        (rejection: unknown) => {
          if (!(rejection instanceof RateLimiterRes)) return next(rejection);
          const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
          // Limits run before routing, so the route is `unmatched`; the limit says which one refused.
          httpMetrics.rateLimited.inc({ limit: chosen.limit, route: routeTemplate(req) });
          res.setHeader('Retry-After', String(seconds));
          next(
            new Problem(429, 'rate-limited', 'Too Many Requests', `too many requests; retry in ${seconds} s`, {
              retryAfterSeconds: seconds,
            }),
          );
        },
      );
    };

  return {
    perIpCeiling: consume((req) => ({
      limiter: isRead(req.method) ? readCeiling : ceiling,
      key: req.ip ?? 'unknown',
      limit: 'ip',
    })),
    perCaller: consume((req) => {
      if (!req.principal)
        return {
          limiter: isRead(req.method) ? anonymousReads : anonymous,
          key: req.ip ?? 'unknown',
          limit: 'anonymous',
        };
      if (WRITE_METHODS.has(req.method)) return { limiter: writes, key: req.principal.sub, limit: 'subject' };
      return null;
    }),
    close: async () => {
      if (redis) await redis.quit();
    },
  };
}
