import type { Money } from './money';

/** Platform fee in basis points of the order total, plus a fixed part per order. */
export const PLATFORM_FEE_BPS = 500;
export const PLATFORM_FEE_FIXED_MINOR = 30;

/**
 * The platform's fee on a paid order: 5% rounded half up, plus 30 minor units, never more than the total.
 * Integer arithmetic only, so the ledger never sees a fraction of a cent.
 */
export function platformFee(total: Money): Money {
  if (total.amountMinor === 0) return { amountMinor: 0, currency: total.currency };
  const percentage = Math.floor((total.amountMinor * PLATFORM_FEE_BPS + 5_000) / 10_000);
  return {
    amountMinor: Math.min(total.amountMinor, percentage + PLATFORM_FEE_FIXED_MINOR),
    currency: total.currency,
  };
}

/** One line of a double-entry posting: positive amounts debit the account, negative ones credit it. */
export interface LedgerLine {
  account: string;
  amountMinor: number;
  currency: string;
}

/** Ledger accounts, named by what they hold. */
export const LedgerAccount = {
  providerClearing: (provider: string) => `provider_clearing:${provider}`,
  organizerPayable: (organizerId: string) => `organizer_payable:${organizerId}`,
  platformRevenue: 'platform_revenue',
} as const;

/** The posting for a paid order: the provider holds the money; it is owed to the organizer and the platform. */
export function saleLedgerLines(input: { total: Money; organizerId: string; provider: string }): LedgerLine[] {
  const fee = platformFee(input.total);
  const currency = input.total.currency;
  const lines: LedgerLine[] = [
    { account: LedgerAccount.providerClearing(input.provider), amountMinor: input.total.amountMinor, currency },
    {
      account: LedgerAccount.organizerPayable(input.organizerId),
      amountMinor: -(input.total.amountMinor - fee.amountMinor),
      currency,
    },
    { account: LedgerAccount.platformRevenue, amountMinor: -fee.amountMinor, currency },
  ];
  return lines.filter((line) => line.amountMinor !== 0);
}

/** The posting that reverses a sale when it is refunded in full: every line with its sign flipped. */
export function reversalLedgerLines(sale: LedgerLine[]): LedgerLine[] {
  return sale.map((line) => ({ ...line, amountMinor: -line.amountMinor }));
}

/** True when a posting balances in every currency it touches. */
export function isBalanced(lines: LedgerLine[]): boolean {
  const sums = new Map<string, number>();
  for (const line of lines) sums.set(line.currency, (sums.get(line.currency) ?? 0) + line.amountMinor);
  return [...sums.values()].every((sum) => sum === 0);
}
