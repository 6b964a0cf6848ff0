import type { Knex } from 'knex';

/**
 * Refunds and event cancellation. The money rules live in the database as well as in code:
 * - the pending and succeeded refunds of an order never add up to more than its payment captured (a trigger that
 *   locks the order's row, so two concurrent refunds cannot both pass the check);
 * - a ticket is on at most one live refund (a partial unique index over `refund_tickets`);
 * - `ledger_invariant_violations()` lists every broken book-keeping invariant, for tests and audits. Later
 *   migrations extend it with CREATE OR REPLACE; its signature (invariant text, detail text) stays as it is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('events', (t) => {
    t.timestamp('ends_at', { useTz: true });
    t.integer('refund_window_hours').notNullable().defaultTo(48);
    t.timestamp('cancelled_at', { useTz: true });
    t.jsonb('cancellation');
  });
  await knex.raw(`UPDATE events SET ends_at = starts_at + interval '4 hours' WHERE ends_at IS NULL`);
  await knex.raw(`ALTER TABLE events ALTER COLUMN ends_at SET NOT NULL`);
  // Writers that predate ends_at (the seed, older tools) still insert events: they get the default length.
  await knex.raw(`
    CREATE FUNCTION events_default_end() RETURNS trigger AS $$
    BEGIN
      IF NEW.ends_at IS NULL THEN NEW.ends_at := NEW.starts_at + interval '4 hours'; END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE TRIGGER events_default_end BEFORE INSERT OR UPDATE OF starts_at, ends_at ON events
      FOR EACH ROW EXECUTE FUNCTION events_default_end()`);
  await knex.raw(`
    ALTER TABLE events
      DROP CONSTRAINT events_status_check,
      ADD CONSTRAINT events_status_check CHECK (status IN ('DRAFT','ON_SALE','CANCELLING','CANCELLED','ENDED')),
      ADD CONSTRAINT events_refund_window_check CHECK (refund_window_hours >= 0),
      ADD CONSTRAINT events_ends_after_start CHECK (ends_at >= starts_at)`);

  await knex.schema.alterTable('refunds', (t) => {
    t.bigInteger('fee_refund_minor').notNullable().defaultTo(0);
    t.text('failure_reason');
    t.text('decided_by');
    t.text('decision_reason');
    t.text('manual_reference');
    t.text('request_hash');
    t.jsonb('history').notNullable().defaultTo('[]');
    t.timestamp('tickets_voided_at', { useTz: true });
    t.timestamp('seats_released_at', { useTz: true });
    t.index(['provider_ref']);
  });
  await knex.raw(`
    ALTER TABLE refunds
      DROP CONSTRAINT refunds_status_check,
      ADD CONSTRAINT refunds_status_check CHECK (status IN (
        'REQUESTED','AWAITING_APPROVAL','PROCESSING','AWAITING_MANUAL_REFUND','SUCCEEDED','REJECTED','FAILED','OWED'))`);

  // Which tickets a refund gives back. A ticket is on at most one refund that is not FAILED or REJECTED.
  await knex.schema.createTable('refund_tickets', (t) => {
    t.text('refund_id').notNullable().references('refunds.id');
    t.text('ticket_id').notNullable().references('tickets.id');
    t.text('order_id').notNullable().references('orders.id');
    t.bigInteger('amount_minor').notNullable();
    t.boolean('live').notNullable().defaultTo(true);
    t.primary(['refund_id', 'ticket_id']);
  });
  await knex.raw(`CREATE UNIQUE INDEX refund_tickets_once ON refund_tickets (ticket_id) WHERE live`);

  await knex.raw(`
    CREATE FUNCTION refunds_within_capture() RETURNS trigger AS $$
    DECLARE
      captured bigint;
      refunding bigint;
    BEGIN
      -- Serialise the refunds of one order on its row, so the sum below cannot be raced past.
      PERFORM 1 FROM orders WHERE id = NEW.order_id FOR UPDATE;
      SELECT COALESCE(SUM(amount_minor), 0) INTO captured FROM payments
        WHERE order_id = NEW.order_id AND status NOT IN ('failed', 'canceled');
      SELECT COALESCE(SUM(amount_minor), 0) INTO refunding FROM refunds
        WHERE order_id = NEW.order_id AND status NOT IN ('FAILED', 'REJECTED');
      IF refunding > captured THEN
        RAISE EXCEPTION 'refunds of order % (%) would exceed what was captured (%)', NEW.order_id, refunding, captured
          USING ERRCODE = '23514', CONSTRAINT = 'refunds_within_capture';
      END IF;
      RETURN NULL;
    END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE CONSTRAINT TRIGGER refunds_within_capture AFTER INSERT OR UPDATE OF amount_minor, status ON refunds
      FOR EACH ROW EXECUTE FUNCTION refunds_within_capture()`);

  // The sandbox card provider says why a refund failed, as Stripe does.
  await knex.schema.alterTable('sandbox_card_refunds', (t) => {
    t.text('failure_reason');
  });

  await knex.raw(`
    CREATE FUNCTION ledger_invariant_violations() RETURNS TABLE (invariant text, detail text) AS $$
      SELECT 'ledger transaction balances'::text,
             format('%s in %s is off by %s', transaction_id, currency, SUM(amount_minor))
        FROM ledger_entries GROUP BY transaction_id, currency HAVING SUM(amount_minor) <> 0
      UNION ALL
      SELECT 'no refund exceeds its capture'::text,
             format('order %s refunds %s of %s captured', o.id, r.refunding, COALESCE(p.captured, 0))
        FROM orders o
        JOIN (SELECT order_id, SUM(amount_minor) AS refunding FROM refunds
               WHERE status NOT IN ('FAILED', 'REJECTED') GROUP BY order_id) r ON r.order_id = o.id
        LEFT JOIN (SELECT order_id, SUM(amount_minor) AS captured FROM payments
               WHERE status NOT IN ('failed', 'canceled') GROUP BY order_id) p ON p.order_id = o.id
       WHERE r.refunding > COALESCE(p.captured, 0)
      UNION ALL
      SELECT 'no refund exceeds its capture'::text,
             format('order %s has %s of refunds posted to the ledger but only %s captured', l.order_id, l.posted, COALESCE(p.captured, 0))
        FROM (SELECT order_id, -SUM(amount_minor) AS posted FROM ledger_entries
               WHERE refund_id IS NOT NULL AND account LIKE 'provider_clearing:%' GROUP BY order_id) l
        LEFT JOIN (SELECT order_id, SUM(amount_minor) AS captured FROM payments
               WHERE status NOT IN ('failed', 'canceled') GROUP BY order_id) p ON p.order_id = l.order_id
       WHERE l.posted > COALESCE(p.captured, 0)
      UNION ALL
      SELECT 'tickets and seats match'::text,
             format('ticket type %s has sold %s but %s valid or used tickets', tt.id, tt.sold, COALESCE(t.n, 0))
        FROM ticket_types tt
        LEFT JOIN (SELECT t.ticket_type_id, COUNT(*) AS n FROM tickets t
               WHERE t.status IN ('VALID', 'USED')
                  -- A ticket its refund voided keeps its seat until that refund puts the seat back on sale.
                  OR EXISTS (SELECT 1 FROM refund_tickets rt JOIN refunds r ON r.id = rt.refund_id
                              WHERE rt.ticket_id = t.id AND r.tickets_voided_at IS NOT NULL AND r.seats_released_at IS NULL)
               GROUP BY t.ticket_type_id) t ON t.ticket_type_id = tt.id
       WHERE tt.sold <> COALESCE(t.n, 0)
    $$ LANGUAGE sql STABLE`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS ledger_invariant_violations()');
  await knex.raw('DROP TRIGGER IF EXISTS refunds_within_capture ON refunds');
  await knex.raw('DROP FUNCTION IF EXISTS refunds_within_capture()');
  await knex.schema.dropTableIfExists('refund_tickets');
  await knex.schema.alterTable('sandbox_card_refunds', (t) => {
    t.dropColumn('failure_reason');
  });
  await knex.raw(`UPDATE refunds SET status = 'OWED' WHERE status = 'AWAITING_MANUAL_REFUND'`);
  await knex.raw(`
    ALTER TABLE refunds
      DROP CONSTRAINT refunds_status_check,
      ADD CONSTRAINT refunds_status_check CHECK (status IN ('REQUESTED','AWAITING_APPROVAL','PROCESSING','SUCCEEDED','REJECTED','FAILED','OWED'))`);
  await knex.schema.alterTable('refunds', (t) => {
    t.dropIndex(['provider_ref']);
    for (const c of [
      'fee_refund_minor',
      'failure_reason',
      'decided_by',
      'decision_reason',
      'manual_reference',
      'request_hash',
      'history',
      'tickets_voided_at',
      'seats_released_at',
    ])
      t.dropColumn(c);
  });
  await knex.raw('DROP TRIGGER IF EXISTS events_default_end ON events');
  await knex.raw('DROP FUNCTION IF EXISTS events_default_end()');
  await knex.raw(`UPDATE events SET status = 'CANCELLED' WHERE status = 'CANCELLING'`);
  await knex.raw(`
    ALTER TABLE events
      DROP CONSTRAINT events_ends_after_start,
      DROP CONSTRAINT events_refund_window_check,
      DROP CONSTRAINT events_status_check,
      ADD CONSTRAINT events_status_check CHECK (status IN ('DRAFT','ON_SALE','CANCELLED','ENDED'))`);
  await knex.schema.alterTable('events', (t) => {
    t.dropColumn('cancellation');
    t.dropColumn('cancelled_at');
    t.dropColumn('refund_window_hours');
    t.dropColumn('ends_at');
  });
}
