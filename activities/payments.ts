import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import { FailureType, type Money } from '../domain';
import type { CardIntent, CardPayments, CryptoCharge, CryptoPayments } from '../providers/payments/ports';

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

/** What the compensation did about the order's payment. */
export interface VoidOrRefundResult {
  outcome: 'nothing_to_do' | 'canceled' | 'refunded' | 'refund_owed';
}

/** Input of the late-payment activities: the order, and the provider object that was paid after it ended. */
export interface LatePaymentActivityInput {
  orderId: string;
  paymentRef: string;
}

/** Result of recordRefundOwed: the refund support has to settle. */
export interface RecordRefundOwedResult {
  refundId: string;
}

/** Idempotency keys derive from the business key and the operation, so a retry is the same request. */
export const paymentKeys = {
  charge: (orderId: string) => `order:${orderId}:charge`,
  cancel: (orderId: string) => `order:${orderId}:cancel`,
  cryptoCharge: (orderId: string) => `order:${orderId}:crypto-charge`,
  compensatingRefund: (orderId: string) => `order:${orderId}:refund:compensation`,
  latePaymentRefund: (orderId: string) => `order:${orderId}:refund:late-payment`,
};

const CRYPTO_PAID = new Set(['PENDING', 'COMPLETED', 'CONFIRMED', 'RESOLVED', 'DELAYED']);
const CRYPTO_UNPAID_OPEN = new Set(['NEW', 'SIGNED']);
const CRYPTO_ENDED_UNPAID = new Set(['EXPIRED', 'FAILED', 'CANCELED']);

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

  /**
   * Compensation for a checkout that will not complete: re-reads the payment at the provider, then
   * cancels it if unpaid or refunds it if paid. Crypto charges cannot be refunded by API, so a paid one is
   * recorded as a refund owed for support to settle. Safe to run any number of times.
   */
  async function voidOrRefundPayment(input: { orderId: string; reason?: string }): Promise<VoidOrRefundResult> {
    const payment = await db('payments').where({ order_id: input.orderId }).orderBy('created_at', 'desc').first();
    if (!payment?.provider_ref) return { outcome: 'nothing_to_do' };
    const reason = input.reason ?? 'checkout did not complete';

    if (payment.method === 'card') {
      const intent: CardIntent = await card.retrieve(payment.provider_ref);
      if (intent.status === 'canceled' || (intent.status === 'requires_payment_method' && intent.declineCode)) {
        await db('payments')
          .where({ id: payment.id })
          .update({ status: intent.status === 'canceled' ? 'canceled' : 'failed', updated_at: db.fn.now() });
        return { outcome: 'nothing_to_do' };
      }
      if (intent.status === 'succeeded') {
        const refund = await card.refund({
          intentId: intent.id,
          idempotencyKey: paymentKeys.compensatingRefund(input.orderId),
          reason,
        });
        await recordRefund(
          input.orderId,
          payment,
          refund.status === 'succeeded' ? 'SUCCEEDED' : 'PROCESSING',
          refund.id,
          reason,
        );
        await db('payments').where({ id: payment.id }).update({ status: 'refunded', updated_at: db.fn.now() });
        return { outcome: 'refunded' };
      }
      if (intent.status === 'processing') {
        // Stripe cannot cancel a processing payment; wait for it to settle, then refund or let it fail.
        throw ApplicationFailure.retryable(
          'card payment still processing; retrying compensation',
          'PaymentStillProcessing',
        );
      }
      await card.cancel(intent.id, paymentKeys.cancel(input.orderId));
      await db('payments').where({ id: payment.id }).update({ status: 'canceled', updated_at: db.fn.now() });
      return { outcome: 'canceled' };
    }

    const charge = await crypto.retrieveCharge(payment.provider_ref);
    if (CRYPTO_PAID.has(charge.status)) {
      await recordRefund(input.orderId, payment, 'OWED', null, `${reason}; crypto refunds are settled by support`);
      await db('payments').where({ id: payment.id }).update({ status: 'refund_owed', updated_at: db.fn.now() });
      return { outcome: 'refund_owed' };
    }
    if (CRYPTO_UNPAID_OPEN.has(charge.status)) {
      await crypto.cancelCharge(charge.id);
      await db('payments').where({ id: payment.id }).update({ status: 'canceled', updated_at: db.fn.now() });
      return { outcome: 'canceled' };
    }
    if (CRYPTO_ENDED_UNPAID.has(charge.status)) {
      // Nothing to undo, but the order's payment should say how it ended rather than look still open.
      await db('payments')
        .where({ id: payment.id })
        .update({ status: charge.status === 'CANCELED' ? 'canceled' : 'failed', updated_at: db.fn.now() });
    }
    return { outcome: 'nothing_to_do' };
  }

  async function recordRefund(
    orderId: string,
    payment: { id: string; amount_minor: number; currency: string },
    status: string,
    providerRef: string | null,
    reason: string,
  ): Promise<void> {
    await db('refunds')
      .insert({
        id: `ref_${orderId}_compensation`,
        order_id: orderId,
        payment_id: payment.id,
        amount_minor: payment.amount_minor,
        currency: payment.currency,
        status,
        reason,
        requested_by: 'system:checkout-compensation',
        idempotency_key: paymentKeys.compensatingRefund(orderId),
        provider_ref: providerRef,
      })
      .onConflict('idempotency_key')
      .merge(['status', 'provider_ref', 'updated_at']);
  }

  /** The payment of an order, found by the provider object the late payment was made to. */
  async function latePayment(trx: typeof db, input: LatePaymentActivityInput) {
    const payment = await trx('payments')
      .where({ order_id: input.orderId, provider_ref: input.paymentRef })
      .forUpdate()
      .first();
    if (!payment) {
      throw ApplicationFailure.nonRetryable(
        `order ${input.orderId} has no payment ${input.paymentRef}`,
        FailureType.InvalidOrder,
      );
    }
    return payment;
  }

  /**
   * A late payment whose seats are gone: records a refund owed for support to settle (crypto cannot be
   * refunded by API) and marks the payment so. One refund per payment, however often this runs.
   */
  async function recordRefundOwed(
    input: LatePaymentActivityInput & { reason: string },
  ): Promise<RecordRefundOwedResult> {
    return db.transaction(async (trx) => {
      const payment = await latePayment(trx, input);
      const existing = await trx('refunds')
        .where({ payment_id: payment.id })
        .whereIn('status', ['OWED', 'PROCESSING', 'SUCCEEDED'])
        .first('id');
      const refundId = existing?.id ?? `ref_${input.orderId}_late_payment`;
      if (!existing) {
        await trx('refunds')
          .insert({
            id: refundId,
            order_id: input.orderId,
            payment_id: payment.id,
            amount_minor: payment.amount_minor,
            currency: payment.currency,
            status: 'OWED',
            reason: `${input.reason}; crypto refunds are settled by support`,
            requested_by: 'system:late-payment',
            idempotency_key: paymentKeys.latePaymentRefund(input.orderId),
          })
          .onConflict('idempotency_key')
          .ignore();
      }
      await trx('payments').where({ id: payment.id }).update({ status: 'refund_owed', updated_at: trx.fn.now() });
      return { refundId };
    });
  }

  return { chargeCard, createCryptoCharge, voidOrRefundPayment, recordRefundOwed };
}
