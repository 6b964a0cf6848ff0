import { parseArgs } from 'node:util';
import { issueToken, ROLES, type Role } from '../api/auth';
import { loadConfig } from '../config';

/** Prints a signed API token (with exp, and the configured iss and aud): `npm run token -- --role buyer --sub u1 [--org org_demo] [--event evt_x] [--hours 24]` (`--role staff --event evt_x` for door staff). */
const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'buyer' },
    sub: { type: 'string' },
    org: { type: 'string' },
    event: { type: 'string' },
    hours: { type: 'string', default: '24' },
  },
});
const role = values.role as Role;
if (!ROLES.includes(role)) {
  console.error(`--role must be one of ${ROLES.join(', ')}`);
  process.exit(2);
}
if (role === 'staff' && !values.event) {
  console.error('--event is required for a staff token (door staff scan one event)');
  process.exit(2);
}
if (role === 'organizer' && !values.org) {
  console.error('--org is required for an organizer token');
  process.exit(2);
}
const config = loadConfig();
const seconds = Math.round(Number(values.hours) * 3600);
if (!(seconds > 0) || seconds > config.AUTH_JWT_MAX_TTL_SECONDS) {
  console.error(
    `--hours must be more than 0 and at most ${config.AUTH_JWT_MAX_TTL_SECONDS / 3600} (AUTH_JWT_MAX_TTL_SECONDS)`,
  );
  process.exit(2);
}
console.log(
  issueToken(
    config,
    {
      sub: values.sub ?? `${role}_1`,
      role,
      ...(values.org ? { org: values.org } : {}),
      ...(values.event ? { event: values.event } : {}),
    },
    seconds,
  ),
);
