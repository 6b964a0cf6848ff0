import { readFileSync } from 'node:fs';
import type { Config } from '../config';
import { version as packageVersion } from '../package.json';

/** How the API, the workers and the scripts reach Temporal: address, TLS and credentials, from the config. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

/** A PEM setting holds either the PEM text itself (secrets managers inject that) or a path to the file. */
const pem = (value: string): Buffer =>
  Buffer.from(
    value.includes('-----BEGIN') ? `${value.replace(/\\n/g, '\n').trimEnd()}\n` : readFileSync(value, 'utf8'),
  );

/**
 * The connection options for `address` (the configured TEMPORAL_ADDRESS unless given): TLS whenever a client
 * certificate, a CA or an API key is configured (Temporal Cloud takes mTLS or an API key, both over TLS).
 */
export function temporalConnectionOptions(
  config: Pick<
    Config,
    | 'TEMPORAL_ADDRESS'
    | 'TEMPORAL_TLS_CERT'
    | 'TEMPORAL_TLS_KEY'
    | 'TEMPORAL_TLS_CA'
    | 'TEMPORAL_TLS_SERVER_NAME'
    | 'TEMPORAL_API_KEY'
  >,
  address = config.TEMPORAL_ADDRESS,
): TemporalConnectionOptions {
  if (!address) throw new Error('TEMPORAL_ADDRESS is required (npm start sets it)');
  const useTls = Boolean(config.TEMPORAL_TLS_CERT || config.TEMPORAL_TLS_CA || config.TEMPORAL_API_KEY);
  return {
    address,
    ...(useTls
      ? {
          tls: {
            ...(config.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME } : {}),
            ...(config.TEMPORAL_TLS_CA ? { serverRootCACertificate: pem(config.TEMPORAL_TLS_CA) } : {}),
            ...(config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY
              ? { clientCertPair: { crt: pem(config.TEMPORAL_TLS_CERT), key: pem(config.TEMPORAL_TLS_KEY) } }
              : {}),
          },
        }
      : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}

/** The build id workers report under worker versioning: TEMPORAL_BUILD_ID, else the package version. */
export function workerBuildId(config: Pick<Config, 'TEMPORAL_BUILD_ID'>): string {
  return config.TEMPORAL_BUILD_ID ?? packageVersion;
}
