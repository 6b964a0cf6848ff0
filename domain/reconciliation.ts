// Reconciliation: a day of provider records (charges, refunds, transfers) against the ledger. Pure: the workflow
// runs `reconcile` itself, over what its activities read.

/** What a provider record or ledger posting is: money in (charge), back to a buyer (refund), out to an organizer. */
export type MoneyMovement = 'charge' | 'refund' | 'transfer';

/** One record a provider keeps, read through a port (sandbox or real). */
export interface ProviderRecord {
  kind: MoneyMovement;
  provider: 'stripe' | 'coinbase';
  /** The provider's id: PaymentIntent or charge, refund, transfer. */
  ref: string;
  /** The order a charge (or a refund, when the provider says) belongs to, from its metadata. */
  orderId: string | null;
  /** The charge a refund gives back. */
  chargeRef: string | null;
  /** The payout a transfer pays (its transfer group). */
  payoutId: string | null;
  amountMinor: number;
  currency: string;
  at: string;
}

/** One ledger posting's provider side: a sale's capture, a refund's pay-back, or a payout's transfer. */
export interface LedgerRecord {
  kind: MoneyMovement;
  transactionId: string;
  /** The provider's id as recorded beside the posting (refunds and payouts); null for sales. */
  ref: string | null;
  orderId: string | null;
  payoutId: string | null;
  amountMinor: number;
  currency: string;
  at: string;
}

/** A difference between the provider and the ledger. */
export interface ReconciliationMismatch {
  kind: MoneyMovement;
  problem: 'missing-in-ledger' | 'missing-at-provider' | 'amount-differs';
  ref: string | null;
  transactionId: string | null;
  orderId: string | null;
  payoutId: string | null;
  providerMinor: number | null;
  ledgerMinor: number | null;
  currency: string;
}

/** What one reconciliation found. */
export interface ReconciliationResult {
  date: string;
  from: string;
  to: string;
  checked: Record<MoneyMovement, { provider: number; ledger: number }>;
  matched: number;
  mismatches: ReconciliationMismatch[];
}

/** Input of reconciliationWorkflow: a UTC day, `YYYY-MM-DD`. */
export interface ReconciliationInput {
  date: string;
}

/** One reconciliation per day: `reconciliation-<YYYY-MM-DD>`. */
export function reconciliationWorkflowId(date: string): string {
  return `reconciliation-${date}`;
}

/** True for a real calendar day written `YYYY-MM-DD`. */
export function isReconciliationDate(date: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  const d = new Date(`${date}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(date);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The day's window, and the wider one records are read in: a charge captured just before midnight may be posted
 * just after it, so each side of the day is matched against a day either side of the other.
 */
export function reconciliationWindow(date: string): {
  from: string;
  to: string;
  readFrom: string;
  readTo: string;
} {
  const from = new Date(`${date}T00:00:00Z`).getTime();
  return {
    from: new Date(from).toISOString(),
    to: new Date(from + DAY_MS).toISOString(),
    readFrom: new Date(from - DAY_MS).toISOString(),
    readTo: new Date(from + 2 * DAY_MS).toISOString(),
  };
}

const providerKey = (r: ProviderRecord) =>
  r.kind === 'charge' && r.orderId
    ? `charge:${r.orderId}`
    : r.kind === 'transfer' && r.payoutId
      ? `transfer:${r.payoutId}`
      : `${r.kind}:ref:${r.ref}`;
const ledgerKey = (l: LedgerRecord) =>
  l.kind === 'charge' && l.orderId
    ? `charge:${l.orderId}`
    : l.kind === 'transfer' && l.payoutId
      ? `transfer:${l.payoutId}`
      : `${l.kind}:ref:${l.ref ?? l.transactionId}`;

/**
 * Compares the day's provider records with the day's ledger postings. Charges match sales by order, refunds
 * match by the provider's refund id, transfers by payout. A charge the provider refunded in full before any sale
 * was posted (a checkout that could not issue tickets) is settled at the provider and is no mismatch.
 */
export function reconcile(input: {
  date: string;
  provider: ProviderRecord[];
  ledger: LedgerRecord[];
}): ReconciliationResult {
  const { from, to } = reconciliationWindow(input.date);
  const inDay = (at: string) => at >= from && at < to;
  const byProvider = new Map<string, ProviderRecord[]>();
  for (const r of input.provider) byProvider.set(providerKey(r), [...(byProvider.get(providerKey(r)) ?? []), r]);
  const byLedger = new Map<string, LedgerRecord[]>();
  for (const l of input.ledger) byLedger.set(ledgerKey(l), [...(byLedger.get(ledgerKey(l)) ?? []), l]);

  // Refunds the provider made of each charge, for charges that never reached the ledger.
  const refundedAtProvider = new Map<string, number>();
  for (const r of input.provider)
    if (r.kind === 'refund' && r.chargeRef)
      refundedAtProvider.set(r.chargeRef, (refundedAtProvider.get(r.chargeRef) ?? 0) + r.amountMinor);
  const settledCharges = new Set(
    input.provider
      .filter(
        (r) =>
          r.kind === 'charge' && !byLedger.has(providerKey(r)) && refundedAtProvider.get(r.ref) === r.amountMinor,
      )
      .map((r) => r.ref),
  );
  const settledAtProvider = (r: ProviderRecord) =>
    settledCharges.has(r.ref) || (r.kind === 'refund' && r.chargeRef !== null && settledCharges.has(r.chargeRef));

  const mismatches: ReconciliationMismatch[] = [];
  let matched = 0;
  const seen = new Set<string>();
  const sum = (xs: Array<{ amountMinor: number }>) => xs.reduce((n, x) => n + x.amountMinor, 0);
  for (const [key, records] of byProvider) {
    if (!records.some((r) => inDay(r.at)) || records.every(settledAtProvider)) continue;
    seen.add(key);
    const first = records[0]!;
    const posted = byLedger.get(key);
    const base = {
      kind: first.kind,
      ref: first.ref,
      orderId: first.orderId,
      payoutId: first.payoutId,
      currency: first.currency,
    };
    if (!posted) {
      mismatches.push({
        ...base,
        problem: 'missing-in-ledger',
        transactionId: null,
        providerMinor: sum(records),
        ledgerMinor: null,
      });
    } else if (sum(posted) !== sum(records) || posted[0]!.currency !== first.currency) {
      mismatches.push({
        ...base,
        problem: 'amount-differs',
        transactionId: posted[0]!.transactionId,
        providerMinor: sum(records),
        ledgerMinor: sum(posted),
      });
    } else matched++;
  }
  for (const [key, posted] of byLedger) {
    if (seen.has(key) || !posted.some((l) => inDay(l.at))) continue;
    if (byProvider.has(key)) {
      // Matched against provider records outside the day that were not themselves checked.
      const records = byProvider.get(key)!;
      if (sum(records) === sum(posted)) matched++;
      else
        mismatches.push({
          kind: posted[0]!.kind,
          problem: 'amount-differs',
          ref: records[0]!.ref,
          transactionId: posted[0]!.transactionId,
          orderId: posted[0]!.orderId,
          payoutId: posted[0]!.payoutId,
          providerMinor: sum(records),
          ledgerMinor: sum(posted),
          currency: posted[0]!.currency,
        });
      continue;
    }
    const l = posted[0]!;
    mismatches.push({
      kind: l.kind,
      problem: 'missing-at-provider',
      ref: l.ref,
      transactionId: l.transactionId,
      orderId: l.orderId,
      payoutId: l.payoutId,
      providerMinor: null,
      ledgerMinor: sum(posted),
      currency: l.currency,
    });
  }
  const count = (kind: MoneyMovement) => ({
    provider: input.provider.filter((r) => r.kind === kind && inDay(r.at)).length,
    ledger: input.ledger.filter((l) => l.kind === kind && inDay(l.at)).length,
  });
  return {
    date: input.date,
    from,
    to,
    checked: { charge: count('charge'), refund: count('refund'), transfer: count('transfer') },
    matched,
    mismatches,
  };
}
