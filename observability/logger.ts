import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/** The levels LOG_LEVEL takes (config/index.ts validates the same list). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys whose value is personal data or a secret wherever it appears in a log line. */
const SENSITIVE_KEYS = [
  // credentials and signatures
  'authorization',
  'cookie',
  'set-cookie',
  'stripe-signature',
  'x-cc-webhook-signature',
  'x-twilio-signature',
  'password',
  'secret',
  'token',
  'apiKey',
  'secretKey',
  'privateKey',
  'clientSecret',
  'client_secret',
  'AUTH_JWT_SECRET',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'COINBASE_API_KEY',
  'COINBASE_WEBHOOK_SECRET',
  'SENDGRID_API_KEY',
  'TWILIO_AUTH_TOKEN',
  'CHAIN_PRIVATE_KEY',
  'TICKET_SIGNING_KEY',
  'DATABASE_URL',
  'taskToken',
  // card data
  'card',
  'cardNumber',
  'cvc',
  'cvv',
  'exp_month',
  'exp_year',
  'paymentMethodId',
  // contact details
  'email',
  'phone',
  'recipient',
  'contact',
  'buyerEmail',
  'buyerPhone',
  // tickets: a code or QR token is a ticket; whoever reads it can walk in
  'ticketCode',
  'qr',
  'qrToken',
  'qr_payload',
];

/**
 * Where a ticket code sits in what we log: `code` alone is too common (error codes) to redact everywhere, so it is
 * redacted inside these objects only (`ticket.code`, `tickets[*].code`, a request `body.code`, `scan.code`).
 */
const TICKET_CODE_PARENTS = new Set(['ticket', 'tickets', 'body', 'scan']);

const SENSITIVE = new Set(SENSITIVE_KEYS);
const CENSOR = '[redacted]';
const escapeRegExp = (key: string) => key.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
/** A line holds something to redact only if one of these keys appears in it, as `"key":`; most lines hold none. */
const MAY_HOLD_SENSITIVE = new RegExp(`"(?:${SENSITIVE_KEYS.map(escapeRegExp).join('|')})":`);
const MAY_HOLD_TICKET_PARENT = new RegExp(`"(?:${[...TICKET_CODE_PARENTS].join('|')})":`);
const MAY_HOLD_TICKET_CODE = (line: string) => line.includes('"code":') && MAY_HOLD_TICKET_PARENT.test(line);

/** Censors, in place, every sensitive key's value in `value` at any depth (it is a freshly parsed line). */
function censor(value: unknown, ticketCodes: boolean): void {
  if (Array.isArray(value)) {
    for (const item of value) censor(item, ticketCodes);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (SENSITIVE.has(key) || (ticketCodes && key === 'code')) fields[key] = CENSOR;
    else censor(fields[key], TICKET_CODE_PARENTS.has(key));
  }
}

/**
 * Redacts a finished JSON line, as pino hands it to its stream: every sensitive key at any depth, in the line's
 * fields, its child loggers' bindings and its serialized errors alike. A line with none of the keys is passed on
 * untouched after a regular-expression test. A line with one is always written anew from its parsed fields, even
 * when the key's last copy is harmless: pino writes a child's bindings before the line's own fields, so a key can
 * stand twice, and only a rewrite drops the shadowed copy with whatever it held.
 *
 * This replaces pino's path redaction, which needed a path per key and depth (175 of them) and cost about 195 µs a
 * line and 50 µs per child logger, even at a level that logs nothing: pino-http makes children on every request
 * (issue 12's bench, bench/README.md). Numbers above 2^53 in a rewritten line lose precision, as JSON.parse reads
 * them; we log none.
 */
export function redactLine(line: string): string {
  if (!MAY_HOLD_SENSITIVE.test(line) && !MAY_HOLD_TICKET_CODE(line)) return line;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    // pino writes JSON, so this does not happen; if it ever did, the line is withheld rather than written unread.
    return `${JSON.stringify({
      level: 'error',
      time: new Date().toISOString(),
      service: 'bilten',
      msg: 'a log line was withheld: it could not be read for redaction',
    })}\n`;
  }
  censor(parsed, false);
  return `${JSON.stringify(parsed)}${line.endsWith('\n') ? '\n' : ''}`;
}

/** Whether lines are JSON (one object a line, for machines) or pretty (for a developer's terminal). */
export type LogFormat = 'json' | 'pretty';

/** How the process logs: level and format, by default from LOG_LEVEL and LOG_FORMAT. */
export interface LoggerSettings {
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a memory stream. */
  destination?: DestinationStream;
  /** Fields on every line, such as `service`. */
  base?: Record<string, unknown>;
}

/**
 * JSON in production and anywhere stdout is not a terminal (files, collectors, CI); pretty only for a developer
 * at a terminal. `LOG_FORMAT=json|pretty` overrides.
 */
export function defaultLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat {
  if (env.LOG_FORMAT === 'json' || env.LOG_FORMAT === 'pretty') return env.LOG_FORMAT;
  return (env.NODE_ENV ?? 'development') === 'development' && process.stdout.isTTY ? 'pretty' : 'json';
}

function defaultLevel(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const level = env.LOG_LEVEL?.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : 'info';
}

/** Builds a logger with the platform's redaction, field names and timestamp. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? defaultLevel(),
    base: { service: 'bilten', ...settings.base },
    hooks: { streamWrite: redactLine },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  if (settings.destination) return pino(options, settings.destination);
  const format = settings.format ?? defaultLogFormat();
  if (format === 'pretty') {
    return pino(
      options,
      pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }),
    );
  }
  return pino(options);
}

/**
 * The process's root logger. Other modules take a child with their component:
 * `const log = logger.child({ component: 'refunds' })`, and put the business ids on each line:
 * `log.info({ orderId }, 'refund requested')`.
 */
export const logger: Logger = createLogger();
