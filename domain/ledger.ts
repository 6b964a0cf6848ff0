// Ledger accounts and postings beyond the sale (domain/fees.ts): payouts, organizer debt, and the transaction
// ids that say what each posting is. Pure: workflows, activities and the API import this.
import { LedgerAccount, type LedgerLine } from './fees';

/**
 * Accounts the payout flows add. Signs as everywhere in the ledger: a positive amount debits the account.
 * - `payouts_in_transit:<org>` (liability): money taken out of the organizer's payable for a payout that has not
 *   yet left the provider (waiting for approval, or the transfer is on its way).
 * - `organizer_debt:<org>` (asset, a receivable): what the organizer owes the platform because a refund came
 *   after the money was paid out; deducted from the next payout.
 */
export const PayoutAccount = {
  inTransit: (organizerId: string) => `payouts_in_transit:${organizerId}`,
  organizerDebt: (organizerId: string) => `organizer_debt:${organizerId}`,
} as const;

/** The provider whose balance Connect transfers leave from. */
export const PAYOUT_PROVIDER = 'stripe';

/** Transaction ids of payout postings; with `sale:<orderId>` and `refund:<refundId>` they name every posting. */
export const PayoutTransaction = {
  /** The payout's amount moves from payable to in transit (and any debt is settled) when it is created. */
  reserve: (payoutId: string) => `payout:${payoutId}`,
  /** The transfer left the provider's balance. */
  paid: (payoutId: string) => `payout:${payoutId}:paid`,
  /** The transfer failed: the reservation is undone. */
  reversed: (payoutId: string) => `payout:${payoutId}:reversed`,
  /** The part of a refund's organizer share its payable could not cover, recorded as debt. */
  refundDebt: (refundId: string) => `refund:${refundId}:debt`,
} as const;

/**
 * The posting that creates a payout: the transfer amount moves from the organizer's payable to in transit, and
 * the organizer's debt (if any) is paid off from the payable too, so the transfer is what is left.
 */
export function payoutReserveLines(input: {
  organizerId: string;
  currency: string;
  amountMinor: number;
  debtSettledMinor: number;
}): LedgerLine[] {
  const { organizerId, currency } = input;
  const lines: LedgerLine[] = [
    {
      account: LedgerAccount.organizerPayable(organizerId),
      amountMinor: input.amountMinor + input.debtSettledMinor,
      currency,
    },
    { account: PayoutAccount.inTransit(organizerId), amountMinor: -input.amountMinor, currency },
    { account: PayoutAccount.organizerDebt(organizerId), amountMinor: -input.debtSettledMinor, currency },
  ];
  return lines.filter((l) => l.amountMinor !== 0);
}

/** The posting when the transfer left the provider: in transit is settled from the provider's balance. */
export function payoutPaidLines(input: {
  organizerId: string;
  currency: string;
  amountMinor: number;
}): LedgerLine[] {
  return [
    {
      account: PayoutAccount.inTransit(input.organizerId),
      amountMinor: input.amountMinor,
      currency: input.currency,
    },
    {
      account: LedgerAccount.providerClearing(PAYOUT_PROVIDER),
      amountMinor: -input.amountMinor,
      currency: input.currency,
    },
  ];
}

/** The posting that undoes a reservation whose transfer failed: every line of it with its sign flipped. */
export function payoutReversalLines(reserve: LedgerLine[]): LedgerLine[] {
  return reserve.map((line) => ({ ...line, amountMinor: -line.amountMinor }));
}

/**
 * The refund-after-payout rule. A refund debits the organizer's payable by its organizer share; when the
 * payable was already paid out, that would drive it below zero. The platform pays the refund anyway (the money
 * leaves its provider balance), and the part the payable cannot cover becomes the organizer's debt: this
 * posting brings the payable back to zero and records the same amount as debt, which the next payout deducts.
 * `payableBalanceMinor` is the payable after the refund, as the organizer sees it (credit positive).
 * Returns no lines when the payable still covers the refund.
 */
export function refundDebtLines(input: {
  organizerId: string;
  currency: string;
  payableBalanceMinor: number;
}): LedgerLine[] {
  if (input.payableBalanceMinor >= 0) return [];
  const deficit = -input.payableBalanceMinor;
  return [
    {
      account: LedgerAccount.organizerPayable(input.organizerId),
      amountMinor: -deficit,
      currency: input.currency,
    },
    { account: PayoutAccount.organizerDebt(input.organizerId), amountMinor: deficit, currency: input.currency },
  ];
}

/** What kind of posting a transaction id names; the finance report and reconciliation group by it. */
export type PostingKind = 'sale' | 'refund' | 'refund-debt' | 'payout-reserve' | 'payout-paid' | 'payout-reversed';

/** The kind of a posting, from its transaction id; null for ids this module does not know. */
export function postingKind(transactionId: string): PostingKind | null {
  if (transactionId.startsWith('sale:')) return 'sale';
  if (transactionId.startsWith('refund:')) return transactionId.endsWith(':debt') ? 'refund-debt' : 'refund';
  if (transactionId.startsWith('payout:')) {
    if (transactionId.endsWith(':paid')) return 'payout-paid';
    if (transactionId.endsWith(':reversed')) return 'payout-reversed';
    return 'payout-reserve';
  }
  return null;
}
