import { Client, Connection } from '@temporalio/client';
import { loadConfig, sandboxedProviders } from '../config';
import { createDb } from '../db';
import { createPaymentProviders } from '../providers';
import { platformDataConverter } from '../temporal/payload-codec';
import { temporalConnectionOptions } from '../workers/temporal-connection';
import { createApp } from './app';
import { answerMalformedHttp } from './problems';
import { logger } from '../observability/logger';
import { startTracing, tracingClientInterceptors } from '../observability/tracing';

const log = logger.child({ component: 'api' });

/** The API process: serves HTTP until SIGINT/SIGTERM, then drains and exits. */
async function main(): Promise<void> {
  const config = loadConfig();
  // Before the server exists, so its requests are instrumented.
  const tracing = startTracing({ serviceName: 'bilten-api', endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  if (tracing) log.info({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT }, 'tracing on');
  if (!config.TEMPORAL_ADDRESS) throw new Error('TEMPORAL_ADDRESS is required by the API (npm start sets it)');
  if (!config.DATABASE_URL) throw new Error('DATABASE_URL is required by the API (npm start sets it)');
  const db = createDb(config.DATABASE_URL, config.DB_POOL_MAX);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const temporal = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: platformDataConverter(config),
    interceptors: tracingClientInterceptors(),
  });
  const sandboxed = sandboxedProviders(config);
  if (sandboxed.length > 0)
    log.info({ sandboxed }, `sandbox providers (no keys configured): ${sandboxed.join(', ')}`);
  // The API re-fetches payments when webhooks arrive, and serves the sandbox's hosted pages.
  const payments = createPaymentProviders(config, db, {
    webhooks: config.SANDBOX_WEBHOOKS === 'on',
    log: (line) => log.warn(line),
  });
  const server = createApp({ config, db, temporal, payments }).listen(config.PORT, () =>
    log.info(
      { port: config.PORT, node: process.version },
      `listening on ${config.PUBLIC_BASE_URL} (Node ${process.version})`,
    ),
  );
  answerMalformedHttp(server);
  const stop = () => {
    server.close(() => {
      void Promise.all([connection.close(), db.destroy(), tracing?.shutdown()]).then(() => process.exit(0));
    });
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  log.fatal({ err }, 'api failed');
  process.exit(1);
});
