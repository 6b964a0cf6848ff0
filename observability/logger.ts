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

/** Where a ticket code sits in what we log; `code` alone is too common (error codes) to redact everywhere. */
const TICKET_CODE_PATHS = [
  'ticket.code',
  '*.ticket.code',
  'tickets[*].code',
  '*.tickets[*].code',
  'body.code',
  'req.body.code',
  'scan.code',
];

/**
 * pino redaction paths: every sensitive key at the top level and up to three objects deep (a request's headers,
 * a body's buyer, an error's request), plus ticket codes where they sit.
 */
export const REDACT_PATHS: string[] = [
  ...SENSITIVE_KEYS.flatMap((key) => {
    const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const join = (prefix: string) => (k.startsWith('[') ? `${prefix}${k}` : `${prefix}.${k}`);
    return [k, join('*'), join('*.*'), join('*.*.*')];
  }),
  ...TICKET_CODE_PATHS,
];

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
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
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
