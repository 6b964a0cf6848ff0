import type { Knex } from 'knex';

/**
 * Payouts over the ledger:
 * - organizers get a Stripe Connect account id (where payouts go) and a contact email (payout notices are
 *   read from here, never carried in workflow histories);
 * - events get an end (the refunds migration adds it too; `IF NOT EXISTS` lets either run first);
 * - every ledger line carries its event, filled from its order by the database, so the finance report and the
 *   balance read the ledger alone;
 * - at most one running payout per organizer, enforced by a partial unique index;
 * - the sandbox Stripe Connect transfers;
 * - `ledger_invariant_violations()` also checks the payout invariants.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE organizers ADD COLUMN IF NOT EXISTS stripe_account_id text`);
  await knex.raw(`ALTER TABLE organizers ADD COLUMN IF NOT EXISTS email text`);
  await knex.raw(`ALTER TABLE events ADD COLUMN IF NOT EXISTS ends_at timestamptz`);

  await knex.raw(`ALTER TABLE ledger_entries ADD COLUMN event_id text`);
  await knex.raw(`CREATE INDEX ledger_entries_event_id ON ledger_entries (event_id)`);
  await knex.raw(`CREATE INDEX ledger_entries_created_at ON ledger_entries (created_at)`);
  await knex.raw(`
    CREATE FUNCTION ledger_entry_event() RETURNS trigger AS $$
    BEGIN
      IF NEW.event_id IS NULL AND NEW.order_id IS NOT NULL THEN
        SELECT event_id INTO NEW.event_id FROM orders WHERE id = NEW.order_id;
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`);
  await knex.raw(`
    CREATE TRIGGER ledger_entries_event BEFORE INSERT ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entry_event()`);
  // The ledger is append-only; filling the new column on lines written before it existed is the one exception.
  await knex.raw(`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`);
  await knex.raw(`
    UPDATE ledger_entries l SET event_id = o.event_id FROM orders o
     WHERE l.order_id = o.id AND l.event_id IS NULL`);
  await knex.raw(`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only`);

  await knex.schema.alterTable('payouts', (t) => {
    t.text('destination_account');
    t.bigInteger('debt_settled_minor').notNullable().defaultTo(0);
    t.boolean('requires_approval').notNullable().defaultTo(false);
    t.text('approved_by');
    t.timestamp('approved_at', { useTz: true });
    t.timestamp('paid_at', { useTz: true });
  });
  await knex.raw(`
    CREATE UNIQUE INDEX payouts_one_running_per_organizer ON payouts (organizer_id)
      WHERE status IN ('PENDING','AWAITING_APPROVAL','IN_TRANSIT')`);

  await knex.schema.createTable('sandbox_transfers', (t) => {
    t.text('id').primary();
    t.text('idempotency_key').notNullable().unique();
    t.text('destination').notNullable();
    t.bigInteger('amount_minor').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.text('transfer_group');
    t.jsonb('metadata').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['created_at']);
  });

  await knex.raw(INVARIANTS_FUNCTION);
}

/**
 * Every ledger invariant, as rows (invariant, detail); no rows means the books are right. Replaces the refunds
 * migration's version (20261202_0004) with a superset of it: its checks verbatim, then the payout ones. Sign
 * convention: a positive amount debits the account.
 */
const INVARIANTS_FUNCTION = `
CREATE OR REPLACE FUNCTION ledger_invariant_violations()
RETURNS TABLE (invariant text, detail text) LANGUAGE sql STABLE AS $$
  -- The refunds migration's invariants, unchanged: transactions balance, no refund exceeds its capture, tickets
  -- and seats match.
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
    LEFT JOIN (SELECT ticket_type_id, COUNT(*) AS n FROM tickets
           WHERE status IN ('VALID', 'USED') GROUP BY ticket_type_id) t ON t.ticket_type_id = tt.id
   WHERE tt.sold <> COALESCE(t.n, 0)
  UNION ALL
  -- payable - debt = sales - fees - refunds - payouts, per organizer and currency: the ledger's payable and debt
  -- accounts against what the orders, refunds and payouts tables say happened
  SELECT 'payable equals sales - fees - refunds - payouts',
         x.organizer_id || ' ' || x.currency || ': ledger ' || x.ledger || ', expected ' || x.expected
    FROM (
      SELECT o.id AS organizer_id, c.currency,
             coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l
                        WHERE l.account = 'organizer_payable:' || o.id AND l.currency = c.currency), 0)
           - coalesce((SELECT sum(l.amount_minor) FROM ledger_entries l
                        WHERE l.account = 'organizer_debt:' || o.id AND l.currency = c.currency), 0) AS ledger,
             -- sales: orders with a posted sale, at their total
             coalesce((SELECT sum(od.total_minor) FROM orders od
                        WHERE od.organizer_id = o.id AND od.currency = c.currency
                          AND EXISTS (SELECT 1 FROM ledger_entries s WHERE s.transaction_id = 'sale:' || od.id)), 0)
             -- fees kept: the platform's revenue from this organizer's orders (sale fees less refunded fees)
           - coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l JOIN orders od ON od.id = l.order_id
                        WHERE od.organizer_id = o.id AND l.currency = c.currency
                          AND l.account = 'platform_revenue'), 0)
             -- refunds: what the refunds table says went back to buyers, for every refund posted
           - coalesce((SELECT sum(r.amount_minor) FROM refunds r JOIN orders od ON od.id = r.order_id
                        WHERE od.organizer_id = o.id AND r.currency = c.currency
                          AND EXISTS (SELECT 1 FROM ledger_entries s WHERE s.transaction_id = 'refund:' || r.id)), 0)
             -- payouts: what the payouts table says was sent or is on its way
           - coalesce((SELECT sum(p.amount_minor) FROM payouts p
                        WHERE p.organizer_id = o.id AND p.currency = c.currency
                          AND p.status IN ('PENDING','AWAITING_APPROVAL','IN_TRANSIT','PAID')), 0) AS expected
        FROM organizers o
        CROSS JOIN (SELECT DISTINCT currency FROM ledger_entries) c
    ) x
   WHERE x.ledger <> x.expected
  UNION ALL
  -- an organizer's payable never goes negative: what cannot be covered is recorded as debt instead
  SELECT 'payable never negative', account || ' ' || currency || ' is ' || -sum(amount_minor)
    FROM ledger_entries WHERE account LIKE 'organizer_payable:%'
   GROUP BY account, currency HAVING sum(amount_minor) > 0
  UNION ALL
  SELECT 'debt never negative', account || ' ' || currency || ' is ' || sum(amount_minor)
    FROM ledger_entries WHERE account LIKE 'organizer_debt:%'
   GROUP BY account, currency HAVING sum(amount_minor) < 0
  UNION ALL
  -- money in transit is exactly the running payouts
  SELECT 'in transit equals running payouts',
         p.organizer_id || ' ' || p.currency || ': running ' || sum(p.amount_minor) || ', in transit ' ||
         coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l
                    WHERE l.account = 'payouts_in_transit:' || p.organizer_id AND l.currency = p.currency), 0)
    FROM payouts p WHERE p.status IN ('PENDING','AWAITING_APPROVAL','IN_TRANSIT')
   GROUP BY p.organizer_id, p.currency
  HAVING sum(p.amount_minor) <> coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l
                    WHERE l.account = 'payouts_in_transit:' || p.organizer_id AND l.currency = p.currency), 0)
  UNION ALL
  SELECT 'no money in transit without a running payout', l.account || ' ' || l.currency || ' holds ' || -sum(l.amount_minor)
    FROM ledger_entries l
   WHERE l.account LIKE 'payouts_in_transit:%'
     AND NOT EXISTS (SELECT 1 FROM payouts p WHERE 'payouts_in_transit:' || p.organizer_id = l.account
                       AND p.currency = l.currency AND p.status IN ('PENDING','AWAITING_APPROVAL','IN_TRANSIT'))
   GROUP BY l.account, l.currency HAVING sum(l.amount_minor) <> 0
  UNION ALL
  -- a paid payout left the provider exactly once, at its amount; a failed one was reversed in full
  SELECT 'paid payout posted once', p.id || ' is ' || p.status || ' but its transfer posting is ' ||
         coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l
                    WHERE l.transaction_id = 'payout:' || p.id || ':paid' AND l.account LIKE 'provider_clearing:%'), 0)
    FROM payouts p
   WHERE coalesce((SELECT -sum(l.amount_minor) FROM ledger_entries l
                    WHERE l.transaction_id = 'payout:' || p.id || ':paid' AND l.account LIKE 'provider_clearing:%'), 0)
         <> CASE WHEN p.status = 'PAID' THEN p.amount_minor ELSE 0 END
$$`;

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS ledger_invariant_violations()');
  await knex.schema.dropTableIfExists('sandbox_transfers');
  await knex.raw('DROP INDEX IF EXISTS payouts_one_running_per_organizer');
  await knex.schema.alterTable('payouts', (t) => {
    for (const c of ['destination_account', 'debt_settled_minor', 'requires_approval', 'approved_by'])
      t.dropColumn(c);
    t.dropColumn('approved_at');
    t.dropColumn('paid_at');
  });
  await knex.raw('DROP TRIGGER IF EXISTS ledger_entries_event ON ledger_entries');
  await knex.raw('DROP FUNCTION IF EXISTS ledger_entry_event()');
  await knex.raw(`ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only`);
  await knex.raw('ALTER TABLE ledger_entries DROP COLUMN event_id');
  await knex.raw(`ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only`);
  await knex.raw('ALTER TABLE organizers DROP COLUMN IF EXISTS email');
  await knex.raw('ALTER TABLE organizers DROP COLUMN IF EXISTS stripe_account_id');
}
