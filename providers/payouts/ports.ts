/** A Connect transfer of a payout to an organizer's connected account, as the platform needs to see it. */
export interface PayoutTransfer {
  id: string;
  amountMinor: number;
  currency: string;
  /** The connected account (`acct_...`) the money went to. */
  destination: string;
  /** The payout id the transfer belongs to (Stripe's `transfer_group`). */
  transferGroup: string | null;
  createdAt: string;
}

/** The provider refused a transfer for good (no such account, insufficient platform balance): do not retry. */
export class TransferRefusedError extends Error {
  override readonly name = 'TransferRefusedError';
  constructor(
    message: string,
    /** The provider's error code, e.g. `balance_insufficient`, `account_invalid`. */
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Pays organizers. Implemented over Stripe Connect transfers, and by a local sandbox with the same behaviour
 * (including refusals). The same idempotency key always answers with the first transfer.
 */
export interface Payouts {
  readonly provider: 'stripe';
  readonly sandboxed: boolean;
  /** Transfers `amountMinor` to `destination`; throws TransferRefusedError when the provider refuses it. */
  transfer(input: {
    payoutId: string;
    amountMinor: number;
    currency: string;
    destination: string;
    idempotencyKey: string;
  }): Promise<PayoutTransfer>;
  /** Transfers created in [from, to), for reconciliation. */
  listTransfers(input: { from: string; to: string }): Promise<PayoutTransfer[]>;
}
