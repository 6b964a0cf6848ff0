import type { NextFunction, Request, RequestHandler, Response } from 'express';
import jwt from 'jsonwebtoken';
import type { Config } from '../config';
import { problems } from './problems';

export const ROLES = ['buyer', 'organizer', 'support', 'admin', 'staff'] as const;
/** Who may do what is decided by these roles. */
export type Role = (typeof ROLES)[number];

/** The authenticated caller, from the JWT's claims. */
export interface Principal {
  sub: string;
  role: Role;
  /** Organizer id, for organizers. */
  org?: string;
  /** Event id a door token (`staff`, or a `support` token with this claim) is scoped to. */
  event?: string;
}

/**
 * A door token: `staff`, or a `support` token scoped to one event (the older form of a door token). It scans
 * that event's tickets and reads its attendance, nothing else: routes admit it only by listing `staff`.
 */
export function isDoorToken(principal: Principal): boolean {
  return principal.role === 'staff' || (principal.role === 'support' && principal.event !== undefined);
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** What signs and checks API tokens: the secret, the issuer and audience every token must name, its longest life. */
export type TokenSettings = Pick<
  Config,
  'AUTH_JWT_SECRET' | 'AUTH_JWT_ISSUER' | 'AUTH_JWT_AUDIENCE' | 'AUTH_JWT_MAX_TTL_SECONDS'
>;

/** Signs a token, as `npm run token` prints it: always with exp, iss and aud. */
export function issueToken(settings: TokenSettings, principal: Principal, expiresInSeconds = 24 * 3600): string {
  return jwt.sign({ ...principal }, settings.AUTH_JWT_SECRET, {
    algorithm: 'HS256',
    expiresIn: expiresInSeconds,
    issuer: settings.AUTH_JWT_ISSUER,
    audience: settings.AUTH_JWT_AUDIENCE,
  });
}

/**
 * Reads the bearer token when there is one; routes then decide with `requireRole`. A token must carry `exp` (one
 * without it would never expire), name our issuer and audience, and be valid for at most the configured maximum.
 */
export function authenticate(settings: TokenSettings): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (!header) return next();
    const match = /^Bearer ([A-Za-z0-9._-]+)$/.exec(header);
    if (!match) return next(problems.unauthorized('the Authorization header must be "Bearer <token>"'));
    try {
      const claims = jwt.verify(match[1]!, settings.AUTH_JWT_SECRET, {
        algorithms: ['HS256'],
        issuer: settings.AUTH_JWT_ISSUER,
        audience: settings.AUTH_JWT_AUDIENCE,
      }) as Record<string, unknown>;
      if (typeof claims.exp !== 'number') throw new Error('token without exp');
      // Without iat the lifetime is measured from now: a token minted for years is refused either way.
      const issuedAt = typeof claims.iat === 'number' ? claims.iat : Math.floor(Date.now() / 1000);
      if (claims.exp - issuedAt > settings.AUTH_JWT_MAX_TTL_SECONDS) throw new Error('token lives too long');
      const role = claims.role as Role;
      if (typeof claims.sub !== 'string' || !ROLES.includes(role)) throw new Error('bad claims');
      if (role === 'organizer' && typeof claims.org !== 'string') throw new Error('organizer token without org');
      if (role === 'staff' && typeof claims.event !== 'string') throw new Error('staff token without event');
      req.principal = {
        sub: claims.sub,
        role,
        ...(typeof claims.org === 'string' ? { org: claims.org } : {}),
        ...(typeof claims.event === 'string' ? { event: claims.event } : {}),
      };
      next();
    } catch {
      next(problems.unauthorized('the token is invalid or expired'));
    }
  };
}

/**
 * Lets the request through only for the given roles: 401 without a token, 403 with another role. A door token
 * counts as `staff` whatever its role claim says, so a support token scoped to an event never gets support's
 * other powers.
 */
export function requireRole(...roles: Role[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) return next(problems.unauthorized());
    const role = isDoorToken(req.principal) ? 'staff' : req.principal.role;
    if (!roles.includes(role)) return next(problems.forbidden(`requires role ${roles.join(' or ')}`));
    next();
  };
}

/** The caller, for handlers behind `requireRole`. */
export function principalOf(req: Request): Principal {
  if (!req.principal) throw problems.unauthorized();
  return req.principal;
}
