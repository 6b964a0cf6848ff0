// `npm run schedules`: creates the platform's Temporal Schedules, or updates them in place when their spec changed,
// on TEMPORAL_ADDRESS (else the dev server `npm start` runs on TEMPORAL_PORT). Safe to run any number of times.
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config';
import { platformDataConverter } from '../temporal/payload-codec';
import { ensureSchedules } from '../temporal/schedules';
import { temporalConnectionOptions } from '../workers/temporal-connection';

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await Connection.connect(
    temporalConnectionOptions(config, config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}`),
  );
  try {
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: platformDataConverter(config),
    });
    for (const { scheduleId, outcome } of await ensureSchedules(client, config))
      console.log(`[schedules] ${scheduleId}: ${outcome}`);
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error('[schedules] failed:', err);
  process.exit(1);
});
