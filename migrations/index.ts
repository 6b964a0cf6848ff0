import type { Knex } from 'knex';
import * as platform from './20261121_0001_platform';
import * as sandboxProviders from './20261121_0002_sandbox_providers';
import * as fulfilment from './20261121_0003_fulfilment';
import * as refunds from './20261202_0004_refunds';
import * as hardening from './20261202_0005_hardening';
import * as payouts from './20261202_0006_payouts';
import * as scanning from './20261202_0007_scanning';
import * as rewards from './20261210_0008_rewards';
import * as checkoutRequestHash from './20261211_0009_checkout_request_hash';

/** Migrations in order. Listed here, not discovered on disk, so they run the same under tsx, jest and compiled JS. */
const migrations: Record<string, Knex.Migration> = {
  '20261121_0001_platform': platform,
  '20261121_0002_sandbox_providers': sandboxProviders,
  '20261121_0003_fulfilment': fulfilment,
  '20261202_0004_refunds': refunds,
  '20261202_0005_hardening': hardening,
  '20261202_0006_payouts': payouts,
  '20261202_0007_scanning': scanning,
  '20261210_0008_rewards': rewards,
  '20261211_0009_checkout_request_hash': checkoutRequestHash,
};

/** A knex migration source over the list above. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};
