import { loadConfig } from '../config';
import { createDb, migrateLatest } from '../db';
import { seedDemo } from '../db/seed';
import { logger } from '../observability/logger';

const log = logger.child({ component: 'migrate' });

/** `npm run migrate`: brings DATABASE_URL's schema up to date and seeds the demo catalogue. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.DATABASE_URL)
    throw new Error('DATABASE_URL is required (npm start migrates the embedded database itself)');
  const db = createDb(config.DATABASE_URL, 2);
  try {
    await migrateLatest(db);
    await seedDemo(db);
    log.info('migrated and seeded');
  } finally {
    await db.destroy();
  }
}

main().catch((err) => {
  log.fatal({ err }, 'migrate failed');
  process.exit(1);
});
