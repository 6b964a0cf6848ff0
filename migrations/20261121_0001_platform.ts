import type { Knex } from 'knex';

/**
 * The whole data model. Invariants live in constraints, not only in code:
 * sold + held never exceeds capacity, idempotency keys, ticket codes and provider event ids are unique,
 * and every ledger transaction balances (checked at commit by a deferred trigger).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organizers', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('events', (t) => {
    t.text('id').primary();
    t.text('organizer_id').notNullable().references('organizers.id');
    t.text('name').notNullable();
    t.text('venue').notNullable().defaultTo('');
    t.timestamp('starts_at', { useTz: true }).notNullable();
    t.text('status').notNullable().defaultTo('ON_SALE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['organizer_id']);
  });
  await knex.raw(
    `ALTER TABLE events ADD CONSTRAINT events_status_check CHECK (status IN ('DRAFT','ON_SALE','CANCELLED','ENDED'))`,
  );

  await knex.schema.createTable('ticket_types', (t) => {
    t.text('id').primary();
    t.text('event_id').notNullable().references('events.id');
    t.text('name').notNullable();
    t.bigInteger('price_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.integer('capacity').notNullable();
    t.integer('sold').notNullable().defaultTo(0);
    t.integer('held').notNullable().defaultTo(0);
    t.integer('max_per_order').notNullable().defaultTo(10);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['event_id']);
  });
  await knex.raw(`
    ALTER TABLE ticket_types
      ADD CONSTRAINT ticket_types_price_check CHECK (price_minor >= 0),
      ADD CONSTRAINT ticket_types_counts_check CHECK (capacity >= 0 AND sold >= 0 AND held >= 0),
      ADD CONSTRAINT ticket_types_no_oversell CHECK (sold + held <= capacity),
      ADD CONSTRAINT ticket_types_max_per_order_check CHECK (max_per_order >= 1)`);

  await knex.schema.createTable('buyers', (t) => {
    t.text('id').primary();
    t.text('email');
    t.text('phone');
    t.text('referral_code').unique();
    t.text('referred_by').references('buyers.id');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('orders', (t) => {
    t.text('id').primary();
    t.text('buyer_id').notNullable();
    t.text('event_id').notNullable().references('events.id');
    t.text('organizer_id').notNullable().references('organizers.id');
    t.text('idempotency_key').notNullable();
    t.text('request_hash').notNullable();
    t.text('status').notNullable();
    t.text('status_reason');
    t.bigInteger('total_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('payment_method').notNullable();
    t.text('contact_email');
    t.text('contact_phone');
    t.text('wallet_address');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['buyer_id', 'idempotency_key']);
    t.index(['buyer_id', 'status']);
    t.index(['event_id']);
  });
  await knex.raw(`
    ALTER TABLE orders
      ADD CONSTRAINT orders_total_check CHECK (total_minor >= 0),
      ADD CONSTRAINT orders_status_check CHECK (status IN ('AWAITING_PAYMENT','PAYMENT_PROCESSING','PAID','CANCELLED','EXPIRED','FAILED','PARTIALLY_REFUNDED','REFUNDED')),
      ADD CONSTRAINT orders_payment_method_check CHECK (payment_method IN ('card','crypto'))`);

  await knex.schema.createTable('order_items', (t) => {
    t.text('order_id').notNullable().references('orders.id');
    t.text('ticket_type_id').notNullable().references('ticket_types.id');
    t.integer('quantity').notNullable();
    t.bigInteger('unit_price_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.primary(['order_id', 'ticket_type_id']);
  });
  await knex.raw(
    `ALTER TABLE order_items ADD CONSTRAINT order_items_check CHECK (quantity > 0 AND unit_price_minor >= 0)`,
  );

  await knex.schema.createTable('order_status_history', (t) => {
    t.bigIncrements('id');
    t.text('order_id').notNullable().references('orders.id');
    t.text('status').notNullable();
    t.text('reason');
    t.timestamp('at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['order_id', 'status']);
  });

  await knex.schema.createTable('reservations', (t) => {
    t.text('order_id').notNullable().references('orders.id');
    t.text('ticket_type_id').notNullable().references('ticket_types.id');
    t.integer('quantity').notNullable();
    t.text('status').notNullable().defaultTo('HELD');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('settled_at', { useTz: true });
    t.primary(['order_id', 'ticket_type_id']);
    t.index(['status', 'expires_at']);
  });
  await knex.raw(
    `ALTER TABLE reservations ADD CONSTRAINT reservations_check CHECK (quantity > 0 AND status IN ('HELD','CONVERTED','RELEASED'))`,
  );

  await knex.schema.createTable('payments', (t) => {
    t.text('id').primary();
    t.text('order_id').notNullable().references('orders.id');
    t.text('provider').notNullable();
    t.text('method').notNullable();
    t.text('provider_ref');
    t.text('status').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('idempotency_key').notNullable().unique();
    t.text('client_secret');
    t.text('hosted_url');
    t.text('failure_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['provider', 'provider_ref']);
    t.index(['order_id']);
  });
  await knex.raw(`ALTER TABLE payments ADD CONSTRAINT payments_amount_check CHECK (amount_minor >= 0)`);

  await knex.schema.createTable('tickets', (t) => {
    t.text('id').primary();
    t.text('order_id').notNullable().references('orders.id');
    t.text('ticket_type_id').notNullable().references('ticket_types.id');
    t.text('event_id').notNullable().references('events.id');
    t.text('code').notNullable().unique();
    t.text('status').notNullable().defaultTo('VALID');
    t.text('qr_payload');
    t.timestamp('used_at', { useTz: true });
    t.text('nft_status');
    t.text('nft_token_id');
    t.text('nft_tx_hash');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id']);
  });
  await knex.raw(`
    ALTER TABLE tickets
      ADD CONSTRAINT tickets_status_check CHECK (status IN ('VALID','USED','VOID')),
      ADD CONSTRAINT tickets_nft_status_check CHECK (nft_status IS NULL OR nft_status IN ('PENDING','MINTED','FAILED'))`);

  await knex.schema.createTable('refunds', (t) => {
    t.text('id').primary();
    t.text('order_id').notNullable().references('orders.id');
    t.text('payment_id').references('payments.id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('status').notNullable();
    t.text('reason').notNullable();
    t.text('requested_by').notNullable();
    t.text('idempotency_key').notNullable().unique();
    t.text('provider_ref');
    t.specificType('ticket_ids', 'text[]');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id']);
  });
  await knex.raw(`
    ALTER TABLE refunds
      ADD CONSTRAINT refunds_amount_check CHECK (amount_minor > 0),
      ADD CONSTRAINT refunds_status_check CHECK (status IN ('REQUESTED','AWAITING_APPROVAL','PROCESSING','SUCCEEDED','REJECTED','FAILED','OWED'))`);

  await knex.schema.createTable('payouts', (t) => {
    t.text('id').primary();
    t.text('organizer_id').notNullable().references('organizers.id');
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('status').notNullable();
    t.text('idempotency_key').notNullable();
    t.text('provider_ref');
    t.text('failure_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['organizer_id', 'idempotency_key']);
  });
  await knex.raw(`
    ALTER TABLE payouts
      ADD CONSTRAINT payouts_amount_check CHECK (amount_minor > 0),
      ADD CONSTRAINT payouts_status_check CHECK (status IN ('PENDING','AWAITING_APPROVAL','IN_TRANSIT','PAID','FAILED'))`);

  // Double-entry ledger: append-only; each transaction_id's signed amounts sum to zero per currency.
  await knex.schema.createTable('ledger_entries', (t) => {
    t.bigIncrements('id');
    t.text('transaction_id').notNullable();
    t.text('account').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('order_id');
    t.text('refund_id');
    t.text('payout_id');
    t.text('memo');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['transaction_id', 'account']);
    t.index(['account']);
  });
  await knex.raw(`ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_nonzero CHECK (amount_minor <> 0)`);
  await knex.raw(`
    CREATE FUNCTION ledger_transaction_balances() RETURNS trigger AS $$
    BEGIN
      IF EXISTS (
        SELECT 1 FROM ledger_entries WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING SUM(amount_minor) <> 0
      ) THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', NEW.transaction_id USING ERRCODE = '23514';
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE CONSTRAINT TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transaction_balances()`);
  await knex.raw(`
    CREATE FUNCTION ledger_is_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'ledger entries are append-only'; END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only()`);

  await knex.schema.createTable('reward_entries', (t) => {
    t.bigIncrements('id');
    t.text('buyer_id').notNullable();
    t.text('order_id');
    t.text('kind').notNullable();
    t.integer('points').notNullable();
    t.text('status').notNullable();
    t.timestamp('available_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['buyer_id', 'order_id', 'kind']);
    t.index(['buyer_id']);
  });

  // Outbox of notifications: one row per message, so a retried send never reaches the buyer twice.
  await knex.schema.createTable('notifications', (t) => {
    t.text('id').primary();
    t.text('order_id');
    t.text('channel').notNullable();
    t.text('recipient').notNullable();
    t.text('template').notNullable();
    t.jsonb('payload').notNullable();
    t.text('status').notNullable().defaultTo('PENDING');
    t.text('provider_message_id');
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
    t.timestamp('sent_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['order_id']);
  });
  await knex.raw(
    `ALTER TABLE notifications ADD CONSTRAINT notifications_check CHECK (channel IN ('EMAIL','SMS') AND status IN ('PENDING','SENDING','SENT','FAILED'))`,
  );

  await knex.schema.createTable('webhook_events', (t) => {
    t.bigIncrements('id');
    t.text('provider').notNullable();
    t.text('event_id').notNullable();
    t.text('type').notNullable();
    t.text('object_ref');
    t.text('order_id');
    t.jsonb('payload').notNullable();
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('processed_at', { useTz: true });
    t.text('outcome');
    t.unique(['provider', 'event_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'webhook_events',
    'notifications',
    'reward_entries',
    'ledger_entries',
    'payouts',
    'refunds',
    'tickets',
    'payments',
    'reservations',
    'order_status_history',
    'order_items',
    'orders',
    'buyers',
    'ticket_types',
    'events',
    'organizers',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw('DROP FUNCTION IF EXISTS ledger_transaction_balances() CASCADE');
  await knex.raw('DROP FUNCTION IF EXISTS ledger_is_append_only() CASCADE');
}
