import type { ProviderRecord } from '../../domain/reconciliation';

/** PaymentIntent statuses as Stripe names them; the sandbox uses the same words. */
export type CardIntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'succeeded'
  | 'canceled';

/** A card payment as the platform needs to see it, whichever adapter made it. */
export interface CardIntent {
  id: string;
  status: CardIntentStatus;
  amountMinor: number;
  currency: string;
  clientSecret: string | null;
  /** Where the buyer completes 3-D Secure, when `status` is `requires_action`. */
  actionUrl: string | null;
  /** Set when the last attempt was declined (e.g. `generic_decline`); the intent is then `requires_payment_method`. */
  declineCode: string | null;
  /** The order this intent pays for, from its metadata. */
  orderId: string | null;
}

/** A refund of (part of) a card payment. */
export interface CardRefund {
  id: string;
  status: 'pending' | 'succeeded' | 'failed' | 'canceled' | 'requires_action';
  amountMinor: number;
  currency: string;
  /** The PaymentIntent refunded. */
  intentId: string | null;
  /** Why the refund failed (Stripe's `failure_reason`, e.g. `expired_or_canceled_card`), when it did. */
  failureReason: string | null;
}

/** Charges cards. Implemented over Stripe PaymentIntents, and by a local sandbox with the same behaviour. */
export interface CardPayments {
  readonly provider: 'stripe';
  readonly sandboxed: boolean;
  /** Creates and confirms a PaymentIntent. A decline is a returned intent with `declineCode`, not an exception. */
  charge(input: {
    orderId: string;
    amountMinor: number;
    currency: string;
    paymentMethodId: string;
    idempotencyKey: string;
    returnUrl: string;
  }): Promise<CardIntent>;
  retrieve(intentId: string): Promise<CardIntent>;
  /**
   * Cancels an unpaid intent; cancelling one that is already canceled returns it unchanged, and one that was paid
   * meanwhile (a 3-D Secure passed as the hold expired) returns it as it now is, `succeeded`: the caller must look.
   */
  cancel(intentId: string, idempotencyKey: string): Promise<CardIntent>;
  /** Refunds a succeeded intent, in full when `amountMinor` is omitted. */
  refund(input: {
    intentId: string;
    amountMinor?: number;
    idempotencyKey: string;
    reason?: string;
  }): Promise<CardRefund>;
  /** Succeeded charges created in [from, to), for reconciliation. */
  listCharges(window: { from: string; to: string }): Promise<ProviderRecord[]>;
  /** Succeeded refunds created in [from, to), for reconciliation. */
  listRefunds(window: { from: string; to: string }): Promise<ProviderRecord[]>;
  /** A refund as it now is: `pending` refunds settle later, to `succeeded` or `failed`, announced by webhook. */
  retrieveRefund(refundId: string): Promise<CardRefund>;
}

/** Coinbase Commerce charge timeline statuses, latest first wins. */
export type CryptoChargeStatus =
  | 'NEW'
  | 'SIGNED'
  | 'PENDING'
  | 'COMPLETED'
  | 'CONFIRMED'
  | 'EXPIRED'
  | 'UNRESOLVED'
  | 'RESOLVED'
  | 'CANCELED'
  | 'REFUND PENDING'
  | 'REFUNDED'
  | 'FAILED'
  | 'DELAYED';

/** A crypto charge as the platform needs to see it. */
export interface CryptoCharge {
  id: string;
  code: string;
  status: CryptoChargeStatus;
  hostedUrl: string;
  amountMinor: number;
  currency: string;
  expiresAt: string;
  orderId: string | null;
}

/**
 * Takes crypto payments. Implemented over Coinbase Commerce Charges, and by a local sandbox. Kept small on
 * purpose: the Charges API is being retired, and a successor adapter should only need these three calls.
 */
export interface CryptoPayments {
  readonly provider: 'coinbase';
  readonly sandboxed: boolean;
  createCharge(input: {
    orderId: string;
    amountMinor: number;
    currency: string;
    description: string;
    redirectUrl: string;
  }): Promise<CryptoCharge>;
  retrieveCharge(chargeId: string): Promise<CryptoCharge>;
  /** Cancels a charge nobody has paid yet; a charge already paid stays as it is and is returned. */
  cancelCharge(chargeId: string): Promise<CryptoCharge>;
  /** Paid charges created in [from, to), for reconciliation. */
  listCharges(window: { from: string; to: string }): Promise<ProviderRecord[]>;
}
