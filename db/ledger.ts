import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { LedgerSum, PayoutStatus, PayoutView, PostingKind } from '../domain';

/**
 * One organizer's ledger, summed by currency, event, posting kind and account class: the only input of the
 * balance, the payout amount and the finance report. A line is the organizer's when its event is one of the
 * organizer's, when it names one of the organizer's accounts, or when it belongs to one of its payouts.
 */
export async function organizerLedgerSums(db: Knex | Knex.Transaction, organizerId: string): Promise<LedgerSum[]> {
  const accounts = [
    `organizer_payable:${organizerId}`,
    `organizer_debt:${organizerId}`,
    `payouts_in_transit:${organizerId}`,
  ];
  const rows = await db.raw(
    `SELECT l.currency, l.event_id,
            coalesce(e.ends_at, e.starts_at + interval '4 hours') AS ends_at,
            CASE WHEN l.transaction_id LIKE 'sale:%' THEN 'sale'
                 WHEN l.transaction_id LIKE 'refund:%:debt' THEN 'refund-debt'
                 WHEN l.transaction_id LIKE 'refund:%' THEN 'refund'
                 WHEN l.transaction_id LIKE 'payout:%:paid' THEN 'payout-paid'
                 WHEN l.transaction_id LIKE 'payout:%:reversed' THEN 'payout-reversed'
                 WHEN l.transaction_id LIKE 'payout:%' THEN 'payout-reserve'
            END AS kind,
            split_part(l.account, ':', 1) AS account_class,
            sum(l.amount_minor)::bigint AS amount_minor
       FROM ledger_entries l
       LEFT JOIN events e ON e.id = l.event_id
      WHERE (e.organizer_id = :organizerId OR l.account = ANY(:accounts)
             OR l.payout_id IN (SELECT id FROM payouts WHERE organizer_id = :organizerId))
      GROUP BY 1, 2, 3, 4, 5`,
    { organizerId, accounts },
  );
  return (rows.rows as Array<Record<string, unknown>>).map((r) => ({
    currency: String(r.currency).trim(),
    eventId: (r.event_id as string | null) ?? null,
    eventEndsAt: r.event_id && r.ends_at ? new Date(r.ends_at as string).toISOString() : null,
    kind: (r.kind as PostingKind | null) ?? null,
    accountClass: r.account_class as string,
    amountMinor: Number(r.amount_minor),
  }));
}

/** The balance of one ledger account in one currency, as the sum of its signed lines (debit positive). */
export async function accountBalance(
  db: Knex | Knex.Transaction,
  account: string,
  currency: string,
): Promise<number> {
  const row = await db('ledger_entries').where({ account, currency }).sum({ total: 'amount_minor' }).first();
  return Number(row?.total ?? 0);
}

/** Reads a payout row as the API shows it. */
export function toPayoutView(row: Record<string, unknown>): PayoutView {
  const iso = (v: unknown) => (v ? new Date(v as string).toISOString() : null);
  return {
    payoutId: row.id as string,
    organizerId: row.organizer_id as string,
    status: row.status as PayoutStatus,
    amountMinor: Number(row.amount_minor),
    currency: (row.currency as string).trim(),
    debtSettledMinor: Number(row.debt_settled_minor ?? 0),
    requiresApproval: Boolean(row.requires_approval),
    approvedBy: (row.approved_by as string | null) ?? null,
    transferId: (row.provider_ref as string | null) ?? null,
    failureReason: (row.failure_reason as string | null) ?? null,
    createdAt: iso(row.created_at)!,
    paidAt: iso(row.paid_at),
  };
}

/** The payout a key names: one organizer's same key is always the same payout (the API's and the schedule's). */
export function derivePayoutId(organizerId: string, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${organizerId}\u0000${idempotencyKey}`).digest('base64url');
  return `po_${digest.slice(0, 24)}`;
}
