import type { Knex } from 'knex';

/**
 * Loyalty rewards:
 * - `reward_entries` (created empty by the platform migration, never written) becomes the append-only points
 *   journal: one row per point movement, keyed by its operation id (`order:<id>:accrue`, `refund:<id>:void`, ...),
 *   with how it moves the member's pending, available and reserved balances. A retried activity or a duplicate
 *   request hits the unique operation id and changes nothing. A trigger refuses updates and deletes.
 * - buyers get their tier (and since when they hold it); `referral_code` and `referred_by` were already there.
 * - orders record the points redeemed on them, the discount those bought, and the referrer of a first order.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `ALTER TABLE reward_entries DROP CONSTRAINT IF EXISTS reward_entries_buyer_id_order_id_kind_unique`,
  );
  await knex.raw(`ALTER TABLE reward_entries DROP COLUMN status, DROP COLUMN available_at`);
  await knex.schema.alterTable('reward_entries', (t) => {
    t.text('operation_id').notNullable().unique();
    t.text('refund_id');
    t.integer('pending_delta').notNullable().defaultTo(0);
    t.integer('available_delta').notNullable().defaultTo(0);
    t.integer('reserved_delta').notNullable().defaultTo(0);
    /** For VEST and REFERRAL_BONUS (lots of vested points): when the lot expires. */
    t.timestamp('expires_at', { useTz: true });
    /** For ACCRUAL: when the order's points vest. */
    t.timestamp('vests_at', { useTz: true });
    t.index(['order_id']);
    t.index(['kind', 'expires_at']);
    t.index(['kind', 'vests_at']);
  });
  await knex.raw(`CREATE INDEX reward_entries_buyer_newest ON reward_entries (buyer_id, id DESC)`);
  await knex.raw(`
    ALTER TABLE reward_entries
      ADD CONSTRAINT reward_entries_kind_check CHECK (kind IN ('ACCRUAL','VEST','VOID','CLAWBACK','REFERRAL_BONUS',
        'REDEMPTION_RESERVED','REDEMPTION_SPENT','REDEMPTION_RELEASED','REDEMPTION_REFUNDED','EXPIRY')),
      ADD CONSTRAINT reward_entries_points_check CHECK (points = pending_delta + available_delta + reserved_delta)`);
  await knex.raw(`
    CREATE TRIGGER reward_entries_append_only BEFORE UPDATE OR DELETE ON reward_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only()`);

  await knex.schema.alterTable('buyers', (t) => {
    t.text('tier').notNullable().defaultTo('bronze');
    t.timestamp('tier_since', { useTz: true });
  });
  await knex.raw(`ALTER TABLE buyers ADD CONSTRAINT buyers_tier_check CHECK (tier IN ('bronze','silver','gold'))`);
  await knex.raw(
    `ALTER TABLE buyers ADD CONSTRAINT buyers_not_self_referred CHECK (referred_by IS DISTINCT FROM id)`,
  );

  await knex.schema.alterTable('orders', (t) => {
    t.integer('redeemed_points').notNullable().defaultTo(0);
    t.bigInteger('discount_minor').notNullable().defaultTo(0);
    t.text('referrer_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropColumn('redeemed_points');
    t.dropColumn('discount_minor');
    t.dropColumn('referrer_id');
  });
  await knex.raw(`ALTER TABLE buyers DROP CONSTRAINT IF EXISTS buyers_not_self_referred`);
  await knex.raw(`ALTER TABLE buyers DROP CONSTRAINT IF EXISTS buyers_tier_check`);
  await knex.schema.alterTable('buyers', (t) => {
    t.dropColumn('tier');
    t.dropColumn('tier_since');
  });
  await knex.raw('DROP TRIGGER IF EXISTS reward_entries_append_only ON reward_entries');
  await knex.raw('DELETE FROM reward_entries');
  await knex.schema.alterTable('reward_entries', (t) => {
    t.dropColumn('operation_id');
    t.dropColumn('refund_id');
    t.dropColumn('pending_delta');
    t.dropColumn('available_delta');
    t.dropColumn('reserved_delta');
    t.dropColumn('expires_at');
    t.dropColumn('vests_at');
    t.text('status').notNullable().defaultTo('PENDING');
    t.timestamp('available_at', { useTz: true });
    t.unique(['buyer_id', 'order_id', 'kind']);
  });
}
