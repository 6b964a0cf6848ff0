import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../db';
import { minorToDecimalString } from '../../domain/money-format';
import type {
  CardIntent,
  CardIntentStatus,
  CardPayments,
  CardRefund,
  CryptoCharge,
  CryptoChargeStatus,
  CryptoPayments,
} from './ports';
import { signCoinbasePayload, signStripePayload } from './webhook-signatures';
import type { WebhookDelivery } from './webhook-delivery';

/** Stripe's test PaymentMethods, and what each does. Anything else is refused as Stripe would. */
const TEST_CARDS: Record<string, { status: CardIntentStatus; declineCode?: string }> = {
  pm_card_visa: { status: 'succeeded' },
  pm_card_mastercard: { status: 'succeeded' },
  pm_card_amex: { status: 'succeeded' },
  pm_card_visa_debit: { status: 'succeeded' },
  pm_card_chargeDeclined: { status: 'requires_payment_method', declineCode: 'generic_decline' },
  pm_card_chargeDeclinedInsufficientFunds: {
    status: 'requires_payment_method',
    declineCode: 'insufficient_funds',
  },
  pm_card_chargeDeclinedExpiredCard: { status: 'requires_payment_method', declineCode: 'expired_card' },
  pm_card_chargeDeclinedFraudulent: { status: 'requires_payment_method', declineCode: 'fraudulent' },
  // Stripe's refund test cards: the charge succeeds; a refund of it starts `pending` and settles later by webhook.
  pm_card_pendingRefund: { status: 'succeeded' },
  pm_card_refundFail: { status: 'succeeded' },
  pm_card_threeDSecure2Required: { status: 'requires_action' },
  pm_card_authenticationRequired: { status: 'requires_action' },
};

/** Test cards whose refunds start `pending` and settle later, and how. */
const SETTLING_REFUNDS: Record<string, 'succeeded' | 'failed'> = {
  pm_card_pendingRefund: 'succeeded',
  pm_card_refundFail: 'failed',
};
/** How long a pending sandbox refund takes to settle. */
const REFUND_SETTLE_MS = 1_000;

/** The outcomes a buyer can choose on the sandbox 3-D Secure page. */
export type ThreeDSecureOutcome = 'succeeded' | 'failed';
/** The outcomes a buyer can choose on the sandbox crypto page. */
export type CryptoOutcome = 'confirmed' | 'failed' | 'delayed' | 'pending';

/** Settings shared by the sandbox providers. */
export interface SandboxDeps {
  db: Db;
  publicBaseUrl: string;
  webhooks: WebhookDelivery;
  stripeWebhookSecret: string;
  coinbaseWebhookSecret: string;
}

const token = (bytes: number) => randomBytes(bytes).toString('hex');

/** No sandbox payment or charge has that id; the hosted pages answer 404 for it. */
export class SandboxNotFoundError extends Error {
  override readonly name = 'SandboxNotFoundError';
}

/** A local stand-in for Stripe PaymentIntents that follows Stripe's test cards and sends signed webhooks. */
export function createSandboxCardPayments(deps: SandboxDeps) {
  const { db } = deps;

  const toIntent = (row: Record<string, unknown>): CardIntent => ({
    id: row.id as string,
    status: row.status as CardIntentStatus,
    amountMinor: Number(row.amount_minor),
    currency: (row.currency as string).trim(),
    clientSecret: row.client_secret as string,
    actionUrl:
      row.status === 'requires_action' ? `${deps.publicBaseUrl}/sandbox/stripe/3ds/${row.id as string}` : null,
    declineCode: (row.decline_code as string | null) ?? null,
    orderId: (row.order_id as string | null) ?? null,
  });

  /** Sends the Stripe event for an intent's current state, shaped and signed as Stripe sends it. */
  const emit = (type: string, intent: CardIntent) => {
    const body = JSON.stringify({
      id: `evt_sbx_${token(12)}`,
      object: 'event',
      api_version: '2025-08-27.basil',
      created: Math.floor(Date.now() / 1000),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: {
        object: {
          id: intent.id,
          object: 'payment_intent',
          amount: intent.amountMinor,
          currency: intent.currency.toLowerCase(),
          status: intent.status,
          client_secret: intent.clientSecret,
          metadata: intent.orderId ? { orderId: intent.orderId } : {},
          last_payment_error: intent.declineCode
            ? { code: 'card_declined', decline_code: intent.declineCode }
            : null,
        },
      },
    });
    deps.webhooks.deliver('/webhooks/stripe', body, {
      'stripe-signature': signStripePayload(body, deps.stripeWebhookSecret),
    });
  };

  /** Sends a refund event (`refund.updated`, `refund.failed`), shaped and signed as Stripe sends it. */
  const emitRefund = (type: string, refund: CardRefund) => {
    const body = JSON.stringify({
      id: `evt_sbx_${token(12)}`,
      object: 'event',
      api_version: '2025-08-27.basil',
      created: Math.floor(Date.now() / 1000),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: {
        object: {
          id: refund.id,
          object: 'refund',
          amount: refund.amountMinor,
          currency: refund.currency.toLowerCase(),
          payment_intent: refund.intentId,
          status: refund.status,
          failure_reason: refund.failureReason,
        },
      },
    });
    deps.webhooks.deliver('/webhooks/stripe', body, {
      'stripe-signature': signStripePayload(body, deps.stripeWebhookSecret),
    });
  };

  const toRefund = (row: Record<string, unknown>, currency: string): CardRefund => ({
    id: row.id as string,
    status: row.status as CardRefund['status'],
    amountMinor: Number(row.amount_minor),
    currency,
    intentId: row.intent_id as string,
    failureReason: (row.failure_reason as string | null) ?? null,
  });

  /**
   * Settles a pending refund as Stripe's refund test cards do, some time later: `pm_card_pendingRefund` succeeds,
   * `pm_card_refundFail` fails (its amount becomes refundable again), each announced by its webhook.
   */
  const settleLater = (refundId: string, outcome: 'succeeded' | 'failed') => {
    setTimeout(() => {
      void db
        .transaction(async (trx) => {
          const [row] = await trx('sandbox_card_refunds')
            .where({ id: refundId, status: 'pending' })
            .update(
              outcome === 'succeeded'
                ? { status: 'succeeded' }
                : { status: 'failed', failure_reason: 'expired_or_canceled_card' },
            )
            .returning('*');
          if (!row) return null;
          const intent = await trx('sandbox_card_intents').where({ id: row.intent_id }).first();
          if (outcome === 'failed')
            await trx('sandbox_card_intents')
              .where({ id: row.intent_id })
              .decrement('refunded_minor', row.amount_minor);
          return toRefund(row, (intent.currency as string).trim());
        })
        .then((refund) => {
          if (refund) emitRefund(outcome === 'succeeded' ? 'refund.updated' : 'refund.failed', refund);
        })
        .catch(() => undefined);
    }, REFUND_SETTLE_MS);
  };

  const eventFor: Partial<Record<CardIntentStatus, string>> = {
    succeeded: 'payment_intent.succeeded',
    requires_action: 'payment_intent.requires_action',
    requires_payment_method: 'payment_intent.payment_failed',
    canceled: 'payment_intent.canceled',
    processing: 'payment_intent.processing',
  };

  async function retrieve(intentId: string): Promise<CardIntent> {
    const row = await db('sandbox_card_intents').where({ id: intentId }).first();
    if (!row) throw new SandboxNotFoundError(`No such payment_intent: '${intentId}'`);
    return toIntent(row);
  }

  const adapter: CardPayments & {
    completeThreeDSecure(intentId: string, outcome: ThreeDSecureOutcome): Promise<CardIntent>;
  } = {
    provider: 'stripe',
    sandboxed: true,
    async charge(input) {
      const behaviour = TEST_CARDS[input.paymentMethodId] ?? {
        status: 'requires_payment_method' as const,
        declineCode: 'invalid_payment_method',
      };
      const id = `pi_sbx_${token(12)}`;
      const inserted = await db('sandbox_card_intents')
        .insert({
          id,
          idempotency_key: input.idempotencyKey,
          order_id: input.orderId,
          amount_minor: input.amountMinor,
          currency: input.currency,
          payment_method: input.paymentMethodId,
          status: behaviour.status,
          decline_code: behaviour.declineCode ?? null,
          client_secret: `${id}_secret_${token(12)}`,
        })
        .onConflict('idempotency_key')
        .ignore()
        .returning('*');
      // Like Stripe, the same idempotency key answers with the first request's result.
      if (inserted.length === 0) {
        return toIntent(await db('sandbox_card_intents').where({ idempotency_key: input.idempotencyKey }).first());
      }
      const intent = toIntent(inserted[0]);
      const type = eventFor[intent.status];
      if (type) emit(type, intent);
      return intent;
    },
    retrieve,
    async cancel(intentId) {
      const intent = await retrieve(intentId);
      // As the real adapter does with Stripe's refusal: an intent that was paid meanwhile comes back as it is.
      if (intent.status === 'canceled' || intent.status === 'succeeded' || intent.status === 'processing')
        return intent;
      await db('sandbox_card_intents').where({ id: intentId }).update({ status: 'canceled' });
      const canceled = { ...intent, status: 'canceled' as const, actionUrl: null };
      emit('payment_intent.canceled', canceled);
      return canceled;
    },
    async refund(input): Promise<CardRefund> {
      return db.transaction(async (trx) => {
        const existing = await trx('sandbox_card_refunds')
          .where({ idempotency_key: input.idempotencyKey })
          .first();
        const row = await trx('sandbox_card_intents').where({ id: input.intentId }).forUpdate().first();
        if (!row) throw new Error(`No such payment_intent: '${input.intentId}'`);
        const currency = (row.currency as string).trim();
        if (existing) return toRefund(existing, currency);
        if (row.status !== 'succeeded')
          throw new Error(`PaymentIntent ${input.intentId} has not succeeded; nothing to refund`);
        const remaining = Number(row.amount_minor) - Number(row.refunded_minor);
        const amountMinor = input.amountMinor ?? remaining;
        if (amountMinor <= 0 || amountMinor > remaining) {
          throw new Error(`Refund amount ${amountMinor} exceeds the ${remaining} left on ${input.intentId}`);
        }
        const settles = SETTLING_REFUNDS[row.payment_method as string];
        const [inserted] = await trx('sandbox_card_refunds')
          .insert({
            id: `re_sbx_${token(12)}`,
            intent_id: input.intentId,
            idempotency_key: input.idempotencyKey,
            amount_minor: amountMinor,
            status: settles ? 'pending' : 'succeeded',
          })
          .returning('*');
        await trx('sandbox_card_intents').where({ id: input.intentId }).increment('refunded_minor', amountMinor);
        if (settles) settleLater(inserted.id as string, settles);
        return toRefund(inserted, currency);
      });
    },
    async listCharges({ from, to }) {
      const rows = await db('sandbox_card_intents')
        .where({ status: 'succeeded' })
        .andWhere('created_at', '>=', from)
        .andWhere('created_at', '<', to)
        .orderBy('created_at');
      return rows.map((r) => ({
        kind: 'charge' as const,
        provider: 'stripe' as const,
        ref: r.id as string,
        orderId: (r.order_id as string | null) ?? null,
        chargeRef: null,
        payoutId: null,
        amountMinor: Number(r.amount_minor),
        currency: (r.currency as string).trim(),
        at: new Date(r.created_at as string).toISOString(),
      }));
    },
    async listRefunds({ from, to }) {
      const rows = await db('sandbox_card_refunds as r')
        .join('sandbox_card_intents as i', 'i.id', 'r.intent_id')
        .where('r.status', 'succeeded')
        .andWhere('r.created_at', '>=', from)
        .andWhere('r.created_at', '<', to)
        .orderBy('r.created_at')
        .select('r.id', 'r.intent_id', 'r.amount_minor', 'r.created_at', 'i.order_id', 'i.currency');
      return rows.map((r) => ({
        kind: 'refund' as const,
        provider: 'stripe' as const,
        ref: r.id as string,
        orderId: (r.order_id as string | null) ?? null,
        chargeRef: r.intent_id as string,
        payoutId: null,
        amountMinor: Number(r.amount_minor),
        currency: (r.currency as string).trim(),
        at: new Date(r.created_at as string).toISOString(),
      }));
    },
    async retrieveRefund(refundId) {
      const row = await db('sandbox_card_refunds as r')
        .join('sandbox_card_intents as i', 'i.id', 'r.intent_id')
        .where('r.id', refundId)
        .first('r.*', 'i.currency');
      if (!row) throw new SandboxNotFoundError(`No such refund: '${refundId}'`);
      return toRefund(row, (row.currency as string).trim());
    },
    /** The buyer's answer on the sandbox 3-D Secure page; only an intent awaiting action changes. */
    async completeThreeDSecure(intentId, outcome) {
      const updated = await db('sandbox_card_intents')
        .where({ id: intentId, status: 'requires_action' })
        .update(
          outcome === 'succeeded'
            ? { status: 'succeeded' }
            : { status: 'requires_payment_method', decline_code: 'authentication_failed' },
        )
        .returning('*');
      const intent = updated[0] ? toIntent(updated[0]) : await retrieve(intentId);
      if (updated[0]) emit(eventFor[intent.status]!, intent);
      return intent;
    },
  };
  return adapter;
}

/** A local stand-in for Coinbase Commerce charges, with hosted pages and signed webhooks. */
export function createSandboxCryptoPayments(deps: SandboxDeps) {
  const { db } = deps;
  const CHARGE_TTL_MS = 60 * 60 * 1000;

  const lastStatus = (timeline: Array<{ status: CryptoChargeStatus }>) => timeline[timeline.length - 1]!.status;
  const toCharge = (row: Record<string, unknown>): CryptoCharge => ({
    id: row.id as string,
    code: row.code as string,
    status: lastStatus(row.timeline as Array<{ status: CryptoChargeStatus }>),
    hostedUrl: `${deps.publicBaseUrl}/sandbox/coinbase/charges/${row.code as string}`,
    amountMinor: Number(row.amount_minor),
    currency: (row.currency as string).trim(),
    expiresAt: new Date(row.expires_at as string).toISOString(),
    orderId: (row.order_id as string | null) ?? null,
  });

  /** Sends a Coinbase event for a charge, shaped and signed as Coinbase Commerce sends it. */
  const emit = (type: string, row: Record<string, unknown>) => {
    const charge = toCharge(row);
    const body = JSON.stringify({
      id: randomUUID(),
      scheduled_for: new Date().toISOString(),
      attempt_number: 1,
      event: {
        id: randomUUID(),
        resource: 'event',
        type,
        api_version: '2018-03-22',
        created_at: new Date().toISOString(),
        data: {
          id: charge.id,
          code: charge.code,
          resource: 'charge',
          hosted_url: charge.hostedUrl,
          expires_at: charge.expiresAt,
          metadata: charge.orderId ? { orderId: charge.orderId } : {},
          timeline: row.timeline,
          pricing: {
            local: {
              amount: minorToDecimalString(charge.amountMinor, charge.currency),
              currency: charge.currency,
            },
          },
        },
      },
    });
    deps.webhooks.deliver('/webhooks/coinbase', body, {
      'x-cc-webhook-signature': signCoinbasePayload(body, deps.coinbaseWebhookSecret),
    });
  };

  async function find(chargeIdOrCode: string) {
    const row = await db('sandbox_crypto_charges')
      .where({ id: chargeIdOrCode })
      .orWhere({ code: chargeIdOrCode })
      .first();
    if (!row) throw new SandboxNotFoundError(`charge ${chargeIdOrCode} not found`);
    return row as Record<string, unknown>;
  }

  async function appendStatuses(row: Record<string, unknown>, statuses: CryptoChargeStatus[]) {
    const timeline = [
      ...(row.timeline as Array<{ status: CryptoChargeStatus; time: string }>),
      ...statuses.map((status) => ({ status, time: new Date().toISOString() })),
    ];
    const [updated] = await db('sandbox_crypto_charges')
      .where({ id: row.id as string })
      .update({ timeline: JSON.stringify(timeline) })
      .returning('*');
    return updated as Record<string, unknown>;
  }

  const adapter: CryptoPayments & { completeCharge(code: string, outcome: CryptoOutcome): Promise<CryptoCharge> } =
    {
      provider: 'coinbase',
      sandboxed: true,
      async createCharge(input) {
        const [row] = await db('sandbox_crypto_charges')
          .insert({
            id: randomUUID(),
            code: randomBytes(4).toString('hex').toUpperCase(),
            order_id: input.orderId,
            amount_minor: input.amountMinor,
            currency: input.currency,
            timeline: JSON.stringify([{ status: 'NEW', time: new Date().toISOString() }]),
            expires_at: new Date(Date.now() + CHARGE_TTL_MS),
          })
          .returning('*');
        emit('charge:created', row);
        return toCharge(row);
      },
      async retrieveCharge(chargeId) {
        return toCharge(await find(chargeId));
      },
      async listCharges({ from, to }) {
        const rows = await db('sandbox_crypto_charges')
          .where('created_at', '>=', from)
          .andWhere('created_at', '<', to)
          .orderBy('created_at');
        return rows
          .filter((r) => isPaidTimeline(r.timeline as Array<{ status: CryptoChargeStatus }>))
          .map((r) => ({
            kind: 'charge' as const,
            provider: 'coinbase' as const,
            ref: r.id as string,
            orderId: (r.order_id as string | null) ?? null,
            chargeRef: null,
            payoutId: null,
            amountMinor: Number(r.amount_minor),
            currency: (r.currency as string).trim(),
            at: new Date(r.created_at as string).toISOString(),
          }));
      },
      async cancelCharge(chargeId) {
        const row = await find(chargeId);
        const status = toCharge(row).status;
        if (status !== 'NEW' && status !== 'SIGNED') return toCharge(row);
        return toCharge(await appendStatuses(row, ['CANCELED']));
      },
      /**
       * The buyer's choice on the sandbox page: `confirmed` pays (pending, then confirmed), `failed` lets the
       * charge expire unpaid, `delayed` expires it and then pays it late, as a slow wallet would. A charge that
       * already expired or was cancelled unpaid can still be paid late (`delayed`), as a wallet can still send.
       */
      async completeCharge(code, outcome) {
        let row = await find(code);
        const status = toCharge(row).status;
        if (outcome === 'delayed' && (status === 'EXPIRED' || status === 'CANCELED')) {
          row = await appendStatuses(row, ['DELAYED']);
          emit('charge:delayed', row);
          return toCharge(row);
        }
        if (status !== 'NEW' && status !== 'SIGNED' && !(status === 'PENDING' && outcome === 'confirmed'))
          return toCharge(row);
        if (outcome === 'delayed') {
          // Both steps are stored before either event goes out, as they would be long apart at Coinbase.
          const expired = await appendStatuses(row, ['EXPIRED']);
          row = await appendStatuses(expired, ['DELAYED']);
          emit('charge:failed', expired);
          emit('charge:delayed', row);
          return toCharge(row);
        }
        if (outcome === 'pending' || outcome === 'confirmed') {
          if (status !== 'PENDING') {
            row = await appendStatuses(row, ['PENDING']);
            emit('charge:pending', row);
          }
          if (outcome === 'confirmed') {
            row = await appendStatuses(row, ['COMPLETED']);
            emit('charge:confirmed', row);
          }
        } else {
          row = await appendStatuses(row, ['EXPIRED']);
          emit('charge:failed', row);
        }
        return toCharge(row);
      },
    };
  return adapter;
}

/** The sandbox card provider, with its page-completion hook. */
export type SandboxCardPayments = ReturnType<typeof createSandboxCardPayments>;
/** The sandbox crypto provider, with its page-completion hook. */
export type SandboxCryptoPayments = ReturnType<typeof createSandboxCryptoPayments>;

/** A crypto charge was paid when its timeline reached COMPLETED (on time) or DELAYED (after it expired). */
export function isPaidTimeline(timeline: Array<{ status: CryptoChargeStatus }>): boolean {
  return timeline.some((t) => t.status === 'COMPLETED' || t.status === 'DELAYED' || t.status === 'RESOLVED');
}
