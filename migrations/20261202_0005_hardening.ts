import type { Knex } from 'knex';

/**
 * Hardening: what a checkout needs but its workflow history must not carry (the buyer's contact and payment
 * method, read by the activities), a per-buyer ticket cap per ticket type, staff-only details of order status
 * changes (buyers see the business reason only), and the rate limiter's counters (rate-limiter-flexible's
 * Postgres store, in the shape it expects).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('checkout_requests', (t) => {
    t.text('order_id').primary();
    t.text('buyer_id').notNullable();
    t.text('contact_email');
    t.text('contact_phone');
    t.text('payment_method_id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.alterTable('ticket_types', (t) => {
    t.integer('max_per_buyer');
  });
  await knex.raw(
    'ALTER TABLE ticket_types ADD CONSTRAINT ticket_types_max_per_buyer_check CHECK (max_per_buyer IS NULL OR max_per_buyer > 0)',
  );
  await knex.schema.alterTable('order_status_history', (t) => {
    t.text('detail');
  });
  await knex.schema.createTable('rate_limits', (t) => {
    t.string('key', 255).primary();
    t.integer('points').notNullable().defaultTo(0);
    t.bigInteger('expire');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('rate_limits');
  await knex.schema.alterTable('order_status_history', (t) => t.dropColumn('detail'));
  await knex.raw('ALTER TABLE ticket_types DROP CONSTRAINT IF EXISTS ticket_types_max_per_buyer_check');
  await knex.schema.alterTable('ticket_types', (t) => t.dropColumn('max_per_buyer'));
  await knex.schema.dropTableIfExists('checkout_requests');
}
