import { parseArgs } from 'node:util';
import { issueToken, ROLES, type Role } from '../api/auth';
import { loadConfig } from '../config';

/** Prints a signed API token: `npm run token -- --role buyer --sub u1 [--org org_demo] [--event evt_x] [--hours 24]` (`--role staff --event evt_x` for door staff). */
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
console.log(
  issueToken(
    config.AUTH_JWT_SECRET,
    {
      sub: values.sub ?? `${role}_1`,
      role,
      ...(values.org ? { org: values.org } : {}),
      ...(values.event ? { event: values.event } : {}),
    },
    Math.round(Number(values.hours) * 3600),
  ),
);
