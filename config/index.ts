import { z } from 'zod';
import { LOG_LEVELS } from '../observability/logger';

/** Development defaults, so `npm start` runs with no configuration at all. `.env.example` lists the same. */
export const DEV_JWT_SECRET = 'bilten-dev-secret-change-me-in-production';
const DEV_STRIPE_WEBHOOK_SECRET = 'whsec_bilten_sandbox';
const DEV_COINBASE_WEBHOOK_SECRET = 'bilten-coinbase-sandbox';

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
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  AUTH_JWT_SECRET: z.string().min(16, 'AUTH_JWT_SECRET must be at least 16 characters').default(DEV_JWT_SECRET),
  HOLD_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  MAX_OPEN_HOLDS_PER_BUYER: z.coerce.number().int().min(1).max(100).default(3),
  STRIPE_SECRET_KEY: optionalString,
  STRIPE_WEBHOOK_SECRET: z.string().default(DEV_STRIPE_WEBHOOK_SECRET),
  STRIPE_API_BASE: optionalString,
  COINBASE_API_KEY: optionalString,
  COINBASE_WEBHOOK_SECRET: z.string().default(DEV_COINBASE_WEBHOOK_SECRET),
  COINBASE_API_BASE: optionalString,
  SENDGRID_API_KEY: optionalString,
  SENDGRID_FROM: z.string().default('tickets@bilten.dev'),
  SENDGRID_TEMPLATE_ID: z.string().default('d-bilten-order-confirmation'),
  SENDGRID_API_BASE: optionalString,
  TWILIO_ACCOUNT_SID: optionalString,
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_FROM: z.string().default('+15005550006'),
  TWILIO_API_BASE: optionalString,
  CHAIN_RPC_URL: optionalString,
  CHAIN_PRIVATE_KEY: optionalString,
  NFT_CONTRACT_ADDRESS: optionalString,
  TICKET_SIGNING_KEY: optionalString,
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  /** `off` is the benchmark's instant mode: the sandbox providers answer at once and send no webhooks. */
  SANDBOX_WEBHOOKS: z.enum(['on', 'off']).default('on'),
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
  if (value.NODE_ENV === 'production' && value.AUTH_JWT_SECRET === DEV_JWT_SECRET) {
    throw new ConfigError(
      'Invalid configuration:\n  AUTH_JWT_SECRET: the development default must not be used in production',
    );
  }
  if (value.STRIPE_SECRET_KEY && !env.STRIPE_WEBHOOK_SECRET) {
    throw new ConfigError(
      'Invalid configuration:\n  STRIPE_WEBHOOK_SECRET: required when STRIPE_SECRET_KEY is set',
    );
  }
  if (value.COINBASE_API_KEY && !env.COINBASE_WEBHOOK_SECRET) {
    throw new ConfigError(
      'Invalid configuration:\n  COINBASE_WEBHOOK_SECRET: required when COINBASE_API_KEY is set',
    );
  }
  return { ...value, PUBLIC_BASE_URL: value.PUBLIC_BASE_URL ?? `http://localhost:${value.PORT}` };
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
