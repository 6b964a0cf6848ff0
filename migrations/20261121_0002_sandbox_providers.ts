import type { Knex } from 'knex';

/**
 * State of the local sandbox payment providers, used when no provider keys are configured. Kept in Postgres
 * so the worker (which creates payments) and the API (which serves the hosted pages) see the same payments.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sandbox_card_intents', (t) => {
    t.text('id').primary();
    t.text('idempotency_key').notNullable().unique();
    t.text('order_id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('payment_method').notNullable();
    t.text('status').notNullable();
    t.text('decline_code');
    t.text('client_secret').notNullable();
    t.bigInteger('refunded_minor').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('sandbox_card_refunds', (t) => {
    t.text('id').primary();
    t.text('intent_id').notNullable().references('sandbox_card_intents.id');
    t.text('idempotency_key').notNullable().unique();
    t.bigInteger('amount_minor').notNullable();
    t.text('status').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('sandbox_crypto_charges', (t) => {
    t.text('id').primary();
    t.text('code').notNullable().unique();
    t.text('order_id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.jsonb('timeline').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('sandbox_crypto_charges');
  await knex.schema.dropTableIfExists('sandbox_card_refunds');
  await knex.schema.dropTableIfExists('sandbox_card_intents');
}
