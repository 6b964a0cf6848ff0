import { z } from 'zod';
import { LOG_LEVELS } from '../observability/logger';
import type { RewardRules } from '../domain/rewards';

/** Development defaults, so `npm start` runs with no configuration at all. `.env.example` lists the same. */
export const DEV_JWT_SECRET = 'bilten-dev-secret-change-me-in-production';
export const DEV_STRIPE_WEBHOOK_SECRET = 'whsec_bilten_sandbox';
export const DEV_COINBASE_WEBHOOK_SECRET = 'bilten-coinbase-sandbox';
/**
 * The development payload encryption key (`<key id>:<base64 of 32 bytes>`). Refused in production, like the JWT
 * secret: it is public, so payloads encrypted with it are only obscured, not protected.
 */
export const DEV_PAYLOAD_KEYS = 'dev1:YmlsdGVuLWRldi1wYXlsb2FkLWtleS0zMi1ieXRlcyE=';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: port(3000),
  PUBLIC_BASE_URL: optionalString,
  DATA_DIR: z.string().default('.data'),
  DATABASE_URL: optionalString,
  EMBEDDED_PG_PORT: port(5488),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** What npm start runs when TEMPORAL_ADDRESS is empty: the CLI dev server, or a cluster on Postgres. */
  TEMPORAL_MODE: z.enum(['dev', 'cluster']).default('dev'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_SERVER_PATH: optionalString,
  TEMPORAL_SQL_TOOL_PATH: optionalString,
  TEMPORAL_UI_SERVER_PATH: optionalString,
  /** The Postgres server the cluster keeps its two databases on; empty: the embedded one. */
  TEMPORAL_DB_URL: optionalString,
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  /** mTLS to a remote cluster or Temporal Cloud: PEM text or a file path each. */
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  /** `on`: workers poll as a version of a Worker Deployment (README, "Worker versioning"). */
  TEMPORAL_WORKER_VERSIONING: z.enum(['off', 'on']).default('off'),
  TEMPORAL_DEPLOYMENT_NAME: z.string().default('bilten'),
  /** The build id workers report; empty: the package version. */
  TEMPORAL_BUILD_ID: optionalString,
  /** The task queues this worker process polls (comma separated); empty: all of them. */
  WORKER_TASK_QUEUES: optionalString,
  AUTH_JWT_SECRET: z.string().min(16, 'AUTH_JWT_SECRET must be at least 16 characters').default(DEV_JWT_SECRET),
  AUTH_JWT_ISSUER: z.string().min(1).default('bilten'),
  AUTH_JWT_AUDIENCE: z.string().min(1).default('bilten-api'),
  /** A token valid for longer than this (exp - iat) is refused, so a leaked token cannot live for years. */
  AUTH_JWT_MAX_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(365 * 86_400)
    .default(30 * 86_400),
  /** Keys that encrypt Temporal payloads: `id:base64key[,id:base64key...]`; the first encrypts, all decrypt. */
  PAYLOAD_ENCRYPTION_KEYS: z.string().default(DEV_PAYLOAD_KEYS),
  /** Origins allowed to call the payload codec endpoint from a browser (the Temporal Web UI); default the dev UI. */
  CODEC_CORS_ORIGINS: optionalString,
  /** Shared rate-limit counters for several API replicas; empty keeps them in Postgres. */
  REDIS_URL: optionalString,
  /** Writes (POST, PUT, PATCH, DELETE) one token subject may make per minute. */
  RATE_LIMIT_WRITES_PER_SUBJECT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  /** Requests per minute from one client IP without a token (catalogue reads, sandbox pages). */
  RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  /**
   * Requests per minute from one client IP with a token: only a loose ceiling, since many buyers share one
   * address behind a venue's wifi or a carrier NAT (the flash-sale tests and the benchmark run from 127.0.0.1).
   */
  RATE_LIMIT_PER_IP_PER_MINUTE: z.coerce.number().int().min(1).default(60_000),
  /**
   * How long an API process serves an event page (GET /v1/events/:eventId) before reading it again: the most its
   * availability may lag the database. Bounded at a second, the staleness buyers were promised.
   */
  CATALOGUE_SNAPSHOT_TTL_MS: z.coerce.number().int().min(0).max(1000).default(250),
  /** Express `trust proxy`: how many proxy hops in front of the API may set X-Forwarded-For (0: none). */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  HOLD_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  MAX_OPEN_HOLDS_PER_BUYER: z.coerce.number().int().min(1).max(100).default(3),
  REFUND_APPROVAL_THRESHOLD_MINOR: z.coerce.number().int().min(0).default(50_000),
  REFUND_REMINDER_SECONDS: z.coerce.number().int().min(1).default(86_400),
  CANCELLATION_FEE_PER_TICKET_MINOR: z.coerce.number().int().min(0).default(0),
  CANCELLATION_PARALLELISM: z.coerce.number().int().min(1).max(500).default(20),
  CANCELLATION_POLL_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
  CANCELLATION_ORDERS_PER_RUN: z.coerce.number().int().min(1).max(5000).default(500),
  /** Tickets one buyer may hold or own per event across all orders; a ticket type's max_per_buyer overrides it. */
  MAX_TICKETS_PER_BUYER_PER_EVENT: z.coerce.number().int().min(1).max(10_000).default(20),
  /** Seats held for an unpaid crypto checkout lapse sooner (never later than HOLD_TTL_SECONDS). */
  CRYPTO_HOLD_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: z.string().default(DEV_STRIPE_WEBHOOK_SECRET),
  STRIPE_API_BASE: optionalString,
  COINBASE_API_KEY: optionalString,
  COINBASE_WEBHOOK_SECRET: z.string().default(DEV_COINBASE_WEBHOOK_SECRET),
  COINBASE_API_BASE: optionalString,
  SENDGRID_API_KEY: optionalString,
  SENDGRID_FROM: z.string().default('tickets@bilten.dev'),
  SENDGRID_TEMPLATE_ID: z.string().default('d-bilten-order-confirmation'),
  SENDGRID_REFUND_TEMPLATE_ID: z.string().default('d-bilten-refund'),
  SENDGRID_API_BASE: optionalString,
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_FROM: z.string().default('+15005550006'),
  TWILIO_API_BASE: optionalString,
  CHAIN_RPC_URL: optionalString,
  CHAIN_PRIVATE_KEY: optionalString,
  NFT_CONTRACT_ADDRESS: optionalString,
  TICKET_SIGNING_KEY: optionalString,
  /** Most scans one offline upload (`POST /v1/scans/sync`) may carry; a bigger batch is refused whole. */
  SCAN_SYNC_MAX_BATCH: z.coerce.number().int().min(1).max(5000).default(500),
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  /** `off` is the benchmark's instant mode: the sandbox providers answer at once and send no webhooks. */
  SANDBOX_WEBHOOKS: z.enum(['on', 'off']).default('on'),
  /** Days after an event ends before its money may be paid out (0: as soon as it ends). */
  PAYOUT_DELAY_DAYS: z.coerce.number().int().min(0).max(365).default(7),
  /** Payouts above this many minor units wait for an admin's approval. */
  PAYOUT_APPROVAL_THRESHOLD_MINOR: z.coerce.number().int().min(0).default(1_000_000),
  SENDGRID_PAYOUT_TEMPLATE_ID: z.string().default('d-bilten-payout-paid'),
  /** Reward points per major currency unit paid (1.00 USD), before the tier multiplier. */
  REWARD_POINTS_PER_MAJOR_UNIT: z.coerce.number().int().min(0).max(1000).default(1),
  /** Tier multipliers in basis points (10000 = x1). */
  REWARD_SILVER_MULTIPLIER_BPS: z.coerce.number().int().min(0).max(100_000).default(12_500),
  REWARD_GOLD_MULTIPLIER_BPS: z.coerce.number().int().min(0).max(100_000).default(15_000),
  /** Points vested within REWARD_TIER_WINDOW_SECONDS that reach silver and gold. */
  REWARD_SILVER_THRESHOLD: z.coerce.number().int().min(1).default(500),
  REWARD_GOLD_THRESHOLD: z.coerce.number().int().min(1).default(2_000),
  /** How far back vested points count towards a tier, and how long a reached tier is kept (12 months). */
  REWARD_TIER_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(365 * 86_400),
  /** Seconds after an event ended (and its refund window passed) before its points vest. */
  REWARD_VESTING_DELAY_SECONDS: z.coerce.number().int().min(0).default(0),
  /** Seconds vested points live before they expire (12 months). */
  REWARD_EXPIRY_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(365 * 86_400),
  /** The discount one point buys, in minor units. */
  REWARD_POINT_VALUE_MINOR: z.coerce.number().int().min(1).max(10_000).default(1),
  /** Points a referrer earns when a referred buyer's first order vests. */
  REWARD_REFERRAL_BONUS_POINTS: z.coerce.number().int().min(0).default(100),
  /** `off`: the worker does not create or update the Temporal Schedules at startup (`npm run schedules` still does). */
  SCHEDULES: z.enum(['on', 'off']).default('on'),
  /** How often the hold sweeper runs, in seconds. */
  SCHEDULE_HOLD_SWEEP_SECONDS: z.coerce.number().int().min(10).max(86_400).default(60),
  /** Cron specs (UTC) of the weekly payouts, the daily rewards sweep and the daily reconciliation. */
  SCHEDULE_WEEKLY_PAYOUTS_CRON: z.string().default('0 6 * * MON'),
  SCHEDULE_DAILY_REWARDS_CRON: z.string().default('30 * * * *'),
  SCHEDULE_DAILY_RECONCILIATION_CRON: z.string().default('0 4 * * *'),
  /** A hold whose checkout workflow is gone or closed is released by the sweeper this long after it lapsed. */
  HOLD_SWEEP_GRACE_SECONDS: z.coerce.number().int().min(0).default(60),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /** `json` (one object a line) or `pretty`; empty: pretty only in development at a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['', 'json', 'pretty']).default(''),
  /** Where the worker serves its Prometheus metrics (activity outcomes, business counters); 0 turns it off. */
  WORKER_METRICS_PORT: port(9464),
  /** Where the Temporal SDK's own Prometheus exporter listens in the worker (task latencies, pollers); 0: off. */
  WORKER_SDK_METRICS_PORT: port(9465),
  /** The dev server's Prometheus metrics port (`temporal server start-dev --metrics-port`); 0: off. */
  TEMPORAL_METRICS_PORT: port(9466),
  /** The interface the worker's metrics ports bind; 0.0.0.0 in a container so Prometheus can reach them. */
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** OTLP/HTTP collector (e.g. http://localhost:4318); set, the API and worker export traces there. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString,
});

/** Every setting the platform reads; `.env.example` lists each of them (a test keeps the two in step). */
export const CONFIG_KEYS = Object.keys(schema.shape);

/** The platform's configuration, read once from the environment and validated at startup. */
export type Config = z.infer<typeof schema> & { PUBLIC_BASE_URL: string };

/** Raised when the environment does not describe a runnable platform; the message names every bad setting. */
export class ConfigError extends Error {}

/** Reads and validates the configuration; throws one ConfigError that lists every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const value = parsed.data;
  const problems: string[] = [];
  if (value.STRIPE_SECRET_KEY && !env.STRIPE_WEBHOOK_SECRET)
    problems.push('STRIPE_WEBHOOK_SECRET: required when STRIPE_SECRET_KEY is set');
  if (value.COINBASE_API_KEY && !env.COINBASE_WEBHOOK_SECRET)
    problems.push('COINBASE_WEBHOOK_SECRET: required when COINBASE_API_KEY is set');
  try {
    parsePayloadKeys(value.PAYLOAD_ENCRYPTION_KEYS);
  } catch (err) {
    problems.push(`PAYLOAD_ENCRYPTION_KEYS: ${(err as Error).message}`);
  }
  if (Boolean(value.TEMPORAL_TLS_CERT) !== Boolean(value.TEMPORAL_TLS_KEY))
    problems.push('TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: an mTLS client needs both the certificate and its key');
  if (value.NODE_ENV === 'production') problems.push(...productionProblems(value));
  if (problems.length > 0)
    throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return { ...value, PUBLIC_BASE_URL: value.PUBLIC_BASE_URL ?? `http://localhost:${value.PORT}` };
}

/**
 * What production must not run on: a sandbox for any payment, email or SMS provider (a sandbox payment page would
 * hand out free tickets), a development secret anyone can read in `.env.example`, or no ticket signing key.
 */
function productionProblems(value: z.infer<typeof schema>): string[] {
  const problems: string[] = [];
  const sandbox = (what: string) => `would run on the sandbox (${what}): configure the real provider`;
  if (!value.STRIPE_SECRET_KEY) problems.push(`STRIPE_SECRET_KEY: ${sandbox('card payments')}`);
  if (!value.COINBASE_API_KEY) problems.push(`COINBASE_API_KEY: ${sandbox('crypto payments')}`);
  if (!value.SENDGRID_API_KEY) problems.push(`SENDGRID_API_KEY: ${sandbox('email')}`);
  if (!value.TWILIO_ACCOUNT_SID) problems.push(`TWILIO_ACCOUNT_SID: ${sandbox('SMS')}`);
  if (!value.TWILIO_AUTH_TOKEN) problems.push(`TWILIO_AUTH_TOKEN: ${sandbox('SMS')}`);
  const devDefault = 'the development default must not be used in production';
  if (value.AUTH_JWT_SECRET === DEV_JWT_SECRET) problems.push(`AUTH_JWT_SECRET: ${devDefault}`);
  if (value.STRIPE_WEBHOOK_SECRET === DEV_STRIPE_WEBHOOK_SECRET)
    problems.push(`STRIPE_WEBHOOK_SECRET: ${devDefault}`);
  if (value.COINBASE_WEBHOOK_SECRET === DEV_COINBASE_WEBHOOK_SECRET)
    problems.push(`COINBASE_WEBHOOK_SECRET: ${devDefault}`);
  if (value.PAYLOAD_ENCRYPTION_KEYS === DEV_PAYLOAD_KEYS) problems.push(`PAYLOAD_ENCRYPTION_KEYS: ${devDefault}`);
  if (!value.TICKET_SIGNING_KEY)
    problems.push('TICKET_SIGNING_KEY: required in production (tickets signed with a throwaway key never verify)');
  return problems;
}

/** One AES-256 key that encrypts Temporal payloads, named so that keys can rotate. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** Parses `id:base64key[,id:base64key...]`; the first key encrypts, every key decrypts. */
export function parsePayloadKeys(spec: string): PayloadKey[] {
  const keys = spec
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const at = part.indexOf(':');
      const id = at > 0 ? part.slice(0, at) : '';
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new Error('each key must be "<id>:<base64 of 32 bytes>"');
      const key = Buffer.from(part.slice(at + 1), 'base64');
      if (key.length !== 32) throw new Error(`key "${id}" must be 32 bytes (base64)`);
      return { id, key };
    });
  if (keys.length === 0) throw new Error('at least one key is required');
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('key ids must be unique');
  return keys;
}

/** The reward rules (domain/rewards.ts) as configured. */
export function rewardRules(config: Config): RewardRules {
  return {
    pointsPerMajorUnit: config.REWARD_POINTS_PER_MAJOR_UNIT,
    tierMultiplierBps: {
      bronze: 10_000,
      silver: config.REWARD_SILVER_MULTIPLIER_BPS,
      gold: config.REWARD_GOLD_MULTIPLIER_BPS,
    },
    silverThreshold: config.REWARD_SILVER_THRESHOLD,
    goldThreshold: config.REWARD_GOLD_THRESHOLD,
    tierWindowMs: config.REWARD_TIER_WINDOW_SECONDS * 1000,
    vestingDelayMs: config.REWARD_VESTING_DELAY_SECONDS * 1000,
    expiryMs: config.REWARD_EXPIRY_SECONDS * 1000,
    pointValueMinor: config.REWARD_POINT_VALUE_MINOR,
    referralBonusPoints: config.REWARD_REFERRAL_BONUS_POINTS,
  };
}

/** Which providers run as local sandboxes because no keys are configured; said at startup and in /readyz. */
export function sandboxedProviders(config: Config): string[] {
  const sandboxed: string[] = [];
  if (!config.STRIPE_SECRET_KEY) sandboxed.push('stripe');
  if (!config.COINBASE_API_KEY) sandboxed.push('coinbase');
  if (!config.SENDGRID_API_KEY) sandboxed.push('sendgrid');
  if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) sandboxed.push('twilio');
  return sandboxed;
}
