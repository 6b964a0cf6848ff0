import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import { FailureType, type Money } from '../domain';
import type { CardPayments, CryptoCharge, CryptoPayments } from '../providers/payments/ports';

/** What the payment activities need: the database and the two payment ports. */
export interface PaymentActivityDeps {
  db: Db;
  card: CardPayments;
  crypto: CryptoPayments;
  /** Where buyers come back to after a hosted payment page. */
  publicBaseUrl: string;
}

/** Result of chargeCard: how far the card payment got in this attempt. */
export interface ChargeCardResult {
  intentId: string;
  status: 'succeeded' | 'requires_action' | 'processing';
  /**
   * No longer returned: the client secret lets anyone confirm the payment, so it stays in Postgres (`payments`)
   * and the API reads it there. Results recorded before that carry it.
   */
  clientSecret?: string | null;
  actionUrl: string | null;
}

/** Result of createCryptoCharge. */
export interface CryptoChargeResult {
  chargeId: string;
  hostedUrl: string;
  expiresAt: string;
}

/** Idempotency keys derive from the business key and the operation, so a retry is the same request. */
export const paymentKeys = {
  charge: (orderId: string) => `order:${orderId}:charge`,
  cancel: (orderId: string) => `order:${orderId}:cancel`,
  cryptoCharge: (orderId: string) => `order:${orderId}:crypto-charge`,
  compensatingRefund: (orderId: string) => `order:${orderId}:refund:compensation`,
  latePaymentRefund: (orderId: string) => `order:${orderId}:refund:late-payment`,
};

/** Activities that move money through the card and crypto providers, recording each payment in Postgres. */
export function createPaymentActivities(deps: PaymentActivityDeps) {
  const { db, card, crypto } = deps;

  async function recordPayment(row: {
    orderId: string;
    provider: string;
    method: string;
    providerRef: string;
    status: string;
    amount: Money;
    idempotencyKey: string;
    clientSecret?: string | null;
    hostedUrl?: string | null;
    failureReason?: string | null;
  }): Promise<void> {
    await db('payments')
      .insert({
        id: `pay_${row.idempotencyKey.replace(/[^A-Za-z0-9_]/g, '_')}`,
        order_id: row.orderId,
        provider: row.provider,
        method: row.method,
        provider_ref: row.providerRef,
        status: row.status,
        amount_minor: row.amount.amountMinor,
        currency: row.amount.currency,
        idempotency_key: row.idempotencyKey,
        client_secret: row.clientSecret ?? null,
        hosted_url: row.hostedUrl ?? null,
        failure_reason: row.failureReason ?? null,
      })
      .onConflict('idempotency_key')
      .merge(['status', 'provider_ref', 'client_secret', 'hosted_url', 'failure_reason', 'updated_at']);
  }

  /**
   * Creates and confirms the order's card payment. The provider idempotency key makes a retry return the
   * same PaymentIntent instead of charging twice. A decline is a non-retryable business failure.
   */
  async function chargeCard(input: {
    orderId: string;
    amount: Money;
    /** Absent: read from the checkout request the API recorded, so the workflow history never holds it. */
    paymentMethodId?: string;
  }): Promise<ChargeCardResult> {
    const idempotencyKey = paymentKeys.charge(input.orderId);
    const paymentMethodId =
      input.paymentMethodId ??
      ((await db('checkout_requests').where({ order_id: input.orderId }).first('payment_method_id'))
        ?.payment_method_id as string | undefined);
    if (!paymentMethodId)
      throw ApplicationFailure.nonRetryable(
        'no payment method recorded for the order',
        FailureType.PaymentDeclined,
      );
    const intent = await card.charge({
      orderId: input.orderId,
      amountMinor: input.amount.amountMinor,
      currency: input.amount.currency,
      paymentMethodId,
      idempotencyKey,
      returnUrl: `${deps.publicBaseUrl}/v1/checkouts/${input.orderId}`,
    });
    const declined =
      intent.declineCode !== null || intent.status === 'requires_payment_method' || intent.status === 'canceled';
    await recordPayment({
      orderId: input.orderId,
      provider: card.provider,
      method: 'card',
      providerRef: intent.id,
      status: declined ? 'failed' : intent.status,
      amount: input.amount,
      idempotencyKey,
      clientSecret: intent.clientSecret,
      failureReason: intent.declineCode,
    });
    if (declined) {
      throw ApplicationFailure.nonRetryable(
        `card declined (${intent.declineCode ?? intent.status})`,
        FailureType.PaymentDeclined,
      );
    }
    const status =
      intent.status === 'succeeded' || intent.status === 'requires_action' ? intent.status : 'processing';
    return { intentId: intent.id, status, actionUrl: intent.actionUrl };
  }

  /**
   * Creates the order's crypto charge. Coinbase has no idempotency keys, so we look before we act: a
   * charge already recorded for the order is returned instead of creating another.
   */
  async function createCryptoCharge(input: { orderId: string; amount: Money }): Promise<CryptoChargeResult> {
    const idempotencyKey = paymentKeys.cryptoCharge(input.orderId);
    const recorded = await db('payments').where({ idempotency_key: idempotencyKey }).first('provider_ref');
    const charge: CryptoCharge = recorded?.provider_ref
      ? await crypto.retrieveCharge(recorded.provider_ref)
      : await crypto.createCharge({
          orderId: input.orderId,
          amountMinor: input.amount.amountMinor,
          currency: input.amount.currency,
          description: `Bilten order ${input.orderId}`,
          redirectUrl: `${deps.publicBaseUrl}/v1/checkouts/${input.orderId}`,
        });
    await recordPayment({
      orderId: input.orderId,
      provider: crypto.provider,
      method: 'crypto',
      providerRef: charge.id,
      status: charge.status.toLowerCase(),
      amount: input.amount,
      idempotencyKey,
      hostedUrl: charge.hostedUrl,
    });
    return { chargeId: charge.id, hostedUrl: charge.hostedUrl, expiresAt: charge.expiresAt };
  }

  return { chargeCard, createCryptoCharge };
}
