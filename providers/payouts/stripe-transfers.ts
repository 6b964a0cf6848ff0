import Stripe from 'stripe';
import { createStripeClient } from '../payments/stripe-card';
import { TransferRefusedError, type PayoutTransfer, type Payouts } from './ports';

/** Settings for the Stripe Connect adapter; `apiBase` points it at stripe-mock in tests. */
export interface StripePayoutsOptions {
  secretKey: string;
  apiBase?: string;
}

/** Builds the real Payouts over Stripe Connect transfers from the platform's balance. */
export function createStripePayouts(options: StripePayoutsOptions): Payouts {
  const stripe = createStripeClient(options);
  return {
    provider: 'stripe',
    sandboxed: false,
    async transfer(input) {
      try {
        const transfer = await stripe.transfers.create(
          {
            amount: input.amountMinor,
            currency: input.currency.toLowerCase(),
            destination: input.destination,
            // Groups the transfer with its payout, so the Dashboard and reconciliation find it by payout id.
            transfer_group: input.payoutId,
            metadata: { payoutId: input.payoutId },
          },
          { idempotencyKey: input.idempotencyKey },
        );
        return toPayoutTransfer(transfer);
      } catch (err) {
        // A 4xx about the request itself (no such account, insufficient balance) will not change on retry;
        // anything else (network, 5xx, rate limit) is retried with the same idempotency key.
        if (
          err instanceof Stripe.errors.StripeInvalidRequestError ||
          err instanceof Stripe.errors.StripePermissionError
        ) {
          throw new TransferRefusedError(err.message, err.code ?? 'invalid_request');
        }
        throw err;
      }
    },
    async listTransfers({ from, to }) {
      const created = { gte: toUnix(from), lt: toUnix(to) };
      const transfers = await stripe.transfers.list({ created, limit: 100 }).autoPagingToArray({ limit: 10_000 });
      return transfers.map(toPayoutTransfer);
    },
  };
}

const toUnix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);

/** Maps a Stripe Transfer onto the platform's PayoutTransfer. */
export function toPayoutTransfer(transfer: Stripe.Transfer): PayoutTransfer {
  const destination = typeof transfer.destination === 'string' ? transfer.destination : transfer.destination?.id;
  return {
    id: transfer.id,
    amountMinor: transfer.amount,
    currency: transfer.currency.toUpperCase(),
    destination: destination ?? '',
    transferGroup: transfer.transfer_group ?? null,
    createdAt: new Date(transfer.created * 1000).toISOString(),
  };
}
