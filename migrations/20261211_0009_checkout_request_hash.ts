import type { Knex } from 'knex';

/**
 * The request fingerprint beside what the API records for an order before its checkout starts. The first request
 * to record an order's Idempotency-Key fixes the body the key stands for; a second request learns it from the same
 * insert that would record its own (`ON CONFLICT ... RETURNING`), so POST /v1/checkouts no longer reads the order's
 * hash again after the placement. Rows recorded before this migration have none: the first request to find such a
 * row fills it in, and their orders carry the hash in `orders.request_hash` as before.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('checkout_requests', (t) => {
    t.text('request_hash');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('checkout_requests', (t) => {
    t.dropColumn('request_hash');
  });
}
