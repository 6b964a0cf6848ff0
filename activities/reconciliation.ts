import type { Db } from '../db';
import type { LedgerRecord, ProviderRecord } from '../domain';
import type { CardPayments, CryptoPayments } from '../providers/payments/ports';
import type { Payouts } from '../providers/payouts/ports';

/** What reconciliation reads: the ledger, and every provider port that moves money. */
export interface ReconciliationActivityDeps {
  db: Db;
  card: CardPayments;
  crypto: CryptoPayments;
  payouts: Payouts;
}

/** A window of time, ISO instants, `from` inclusive and `to` exclusive. */
export interface RecordWindow {
  from: string;
  to: string;
}

/** Activities of reconciliationWorkflow: two reads, one per side. Reading twice changes nothing. */
export function createReconciliationActivities(deps: ReconciliationActivityDeps) {
  const { db } = deps;

  /** The providers' charges, refunds and transfers created in the window, through the ports. */
  async function loadProviderRecords(window: RecordWindow): Promise<ProviderRecord[]> {
    const [cardCharges, cardRefunds, cryptoCharges, transfers] = await Promise.all([
      deps.card.listCharges(window),
      deps.card.listRefunds(window),
      deps.crypto.listCharges(window),
      deps.payouts.listTransfers(window),
    ]);
    return [
      ...cardCharges,
      ...cardRefunds,
      ...cryptoCharges,
      ...transfers.map(
        (t): ProviderRecord => ({
          kind: 'transfer',
          provider: 'stripe',
          ref: t.id,
          orderId: null,
          chargeRef: null,
          payoutId: t.transferGroup,
          amountMinor: t.amountMinor,
          currency: t.currency,
          at: t.createdAt,
        }),
      ),
    ];
  }

  /** The provider side of the ledger's postings in the window: sales captured, refunds paid back, transfers sent. */
  async function loadLedgerRecords(window: RecordWindow): Promise<LedgerRecord[]> {
    const rows = await db.raw(
      `SELECT l.transaction_id, l.order_id, l.payout_id, l.amount_minor, l.currency, l.created_at,
              CASE WHEN l.transaction_id LIKE 'sale:%' THEN 'charge'
                   WHEN l.transaction_id LIKE 'refund:%' THEN 'refund'
                   ELSE 'transfer' END AS kind,
              coalesce(r.provider_ref, p.provider_ref) AS ref
         FROM ledger_entries l
         LEFT JOIN refunds r ON r.id = l.refund_id
         LEFT JOIN payouts p ON p.id = l.payout_id
        WHERE l.account LIKE 'provider_clearing:%'
          AND (l.transaction_id LIKE 'sale:%'
               OR (l.transaction_id LIKE 'refund:%' AND l.transaction_id NOT LIKE '%:debt')
               OR l.transaction_id LIKE 'payout:%:paid')
          AND l.created_at >= ? AND l.created_at < ?
        ORDER BY l.id`,
      [window.from, window.to],
    );
    return (rows.rows as Array<Record<string, unknown>>).map((r) => {
      const kind = r.kind as LedgerRecord['kind'];
      const amount = Number(r.amount_minor);
      return {
        kind,
        transactionId: r.transaction_id as string,
        ref: (r.ref as string | null) ?? null,
        orderId: (r.order_id as string | null) ?? null,
        payoutId: (r.payout_id as string | null) ?? null,
        // Money in debits the provider's clearing account; refunds and transfers credit it.
        amountMinor: kind === 'charge' ? amount : -amount,
        currency: String(r.currency).trim(),
        at: new Date(r.created_at as string).toISOString(),
      };
    });
  }

  return { loadProviderRecords, loadLedgerRecords };
}
