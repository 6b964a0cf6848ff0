import Stripe from 'stripe';
import type { CardIntent, CardIntentStatus, CardPayments, CardRefund } from './ports';
import { verifyStripeEvent } from './webhook-signatures';

/** Settings for the Stripe adapter; `apiBase` points it at stripe-mock or a local peer in tests. */
export interface StripeCardPaymentsOptions {
  secretKey: string;
  /** e.g. `http://127.0.0.1:12111`; defaults to Stripe's own API. Only scheme, host and port are used. */
  apiBase?: string;
  /** Signing secret of the webhook endpoint (`whsec_...`), needed only for `verifyWebhook`. */
  webhookSecret?: string;
}

/** The Stripe CardPayments, plus webhook verification with the endpoint secret it was built with. */
export interface StripeCardPayments extends CardPayments {
  /** Returns the event when the `Stripe-Signature` header proves Stripe sent this raw body; throws otherwise. */
  verifyWebhook(rawBody: Buffer | string, signatureHeader: string | undefined): Stripe.Event;
}

/** What the caller was charging, used to describe a decline when Stripe sent no PaymentIntent back. */
export interface CardChargeAttempt {
  orderId: string;
  amountMinor: number;
  currency: string;
}

/** Stripe's own refund reasons; any other reason text travels in the refund's metadata instead. */
const STRIPE_REFUND_REASONS = new Set<string>(['duplicate', 'fraudulent', 'requested_by_customer']);
const REFUND_STATUSES = new Set<string>(['pending', 'succeeded', 'failed', 'canceled', 'requires_action']);
/** Stripe refuses metadata values longer than this. */
const METADATA_VALUE_MAX = 500;

/** Builds the real CardPayments over Stripe PaymentIntents. */
export function createStripeCardPayments(options: StripeCardPaymentsOptions): StripeCardPayments {
  const stripe = createStripeClient(options);

  return {
    provider: 'stripe',
    sandboxed: false,

    async charge(input) {
      try {
        const intent = await stripe.paymentIntents.create(
          {
            amount: input.amountMinor,
            currency: input.currency.toLowerCase(),
            payment_method: input.paymentMethodId,
            // Cards only: with automatic payment methods Stripe could pick redirect-based methods the
            // checkout does not offer. Listing the type also switches automatic payment methods off.
            payment_method_types: ['card'],
            confirm: true,
            // Where Stripe sends the buyer back after a 3-D Secure redirect (next_action.redirect_to_url).
            return_url: input.returnUrl,
            metadata: { orderId: input.orderId },
          },
          { idempotencyKey: input.idempotencyKey },
        );
        return toCardIntent(intent);
      } catch (err) {
        // A decline is a normal business outcome, not a failure of the call: Stripe answers 402 with the
        // intent attached, and the same idempotency key replays that same answer.
        if (err instanceof Stripe.errors.StripeCardError) return cardIntentFromDecline(err, input);
        throw err;
      }
    },

    async retrieve(intentId) {
      return toCardIntent(await stripe.paymentIntents.retrieve(intentId));
    },

    async cancel(intentId, idempotencyKey) {
      try {
        return toCardIntent(await stripe.paymentIntents.cancel(intentId, {}, { idempotencyKey }));
      } catch (err) {
        // Stripe refuses to cancel an intent that is already canceled (or paid, or processing) with a 400.
        // Either way the caller needs the intent as it now is: canceled comes back unchanged, and any
        // other status tells the caller the money moved and the cancel did not happen.
        if (isUnexpectedStateError(err)) return toCardIntent(await stripe.paymentIntents.retrieve(intentId));
        throw err;
      }
    },

    async refund(input) {
      const reasonText = input.reason?.trim() ?? '';
      const refund = await stripe.refunds.create(
        {
          payment_intent: input.intentId,
          ...(input.amountMinor === undefined ? {} : { amount: input.amountMinor }),
          ...(STRIPE_REFUND_REASONS.has(reasonText)
            ? { reason: reasonText as Stripe.RefundCreateParams.Reason }
            : {}),
          ...(reasonText === '' ? {} : { metadata: { reason: reasonText.slice(0, METADATA_VALUE_MAX) } }),
        },
        { idempotencyKey: input.idempotencyKey },
      );
      return toCardRefund(refund);
    },

    async listCharges({ from, to }) {
      const created = { gte: toUnix(from), lt: toUnix(to) };
      const intents = await stripe.paymentIntents
        .list({ created, limit: 100 })
        .autoPagingToArray({ limit: 10_000 });
      return intents
        .filter((i) => i.status === 'succeeded')
        .map((i) => ({
          kind: 'charge' as const,
          provider: 'stripe' as const,
          ref: i.id,
          orderId:
            typeof i.metadata?.orderId === 'string' && i.metadata.orderId !== '' ? i.metadata.orderId : null,
          chargeRef: null,
          payoutId: null,
          amountMinor: i.amount_received || i.amount,
          currency: i.currency.toUpperCase(),
          at: new Date(i.created * 1000).toISOString(),
        }));
    },

    async listRefunds({ from, to }) {
      const created = { gte: toUnix(from), lt: toUnix(to) };
      const refunds = await stripe.refunds.list({ created, limit: 100 }).autoPagingToArray({ limit: 10_000 });
      return refunds
        .filter((r) => r.status === 'succeeded')
        .map((r) => ({
          kind: 'refund' as const,
          provider: 'stripe' as const,
          ref: r.id,
          orderId: null,
          chargeRef: typeof r.payment_intent === 'string' ? r.payment_intent : (r.payment_intent?.id ?? null),
          payoutId: null,
          amountMinor: r.amount,
          currency: r.currency.toUpperCase(),
          at: new Date(r.created * 1000).toISOString(),
        }));
    },

    async retrieveRefund(refundId) {
      return toCardRefund(await stripe.refunds.retrieve(refundId));
    },

    verifyWebhook(rawBody, signatureHeader) {
      if (options.webhookSecret === undefined) {
        throw new Error('the Stripe adapter was built without a webhookSecret');
      }
      return verifyStripeEvent(rawBody, signatureHeader, options.webhookSecret);
    },
  };
}

/** The Stripe SDK client every Stripe adapter uses (cards, Connect payouts); `apiBase` points it at stripe-mock. */
export function createStripeClient(options: { secretKey: string; apiBase?: string }): Stripe {
  return new Stripe(options.secretKey, {
    ...(options.apiBase === undefined ? {} : stripeHostOptions(options.apiBase)),
    // Pinned by the SDK version; the adapters' typed shapes are written against it.
    apiVersion: Stripe.API_VERSION as Stripe.LatestApiVersion,
  });
}

/** Turns `http://127.0.0.1:12111` into the SDK's separate protocol/host/port settings. */
export function stripeHostOptions(apiBase: string): Pick<Stripe.StripeConfig, 'protocol' | 'host' | 'port'> {
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new RangeError(`Stripe apiBase must be http or https, got ${url.protocol}`);
  }
  // The SDK always requests /v1/...; a base with a path would silently be ignored, so refuse it.
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new RangeError('Stripe apiBase must not have a path: the SDK always calls /v1/...');
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return {
    protocol,
    // URL keeps IPv6 brackets, Node's http.request wants the bare address.
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port),
  };
}

/** Maps a Stripe PaymentIntent onto the platform's CardIntent. */
export function toCardIntent(intent: Stripe.PaymentIntent): CardIntent {
  const lastError = intent.last_payment_error;
  // Only an intent that is back to requires_payment_method had its attempt refused; an old error on an
  // intent that later succeeded is history, not a decline.
  const declineCode =
    intent.status === 'requires_payment_method' && lastError
      ? (lastError.decline_code ?? lastError.code ?? (lastError.type === 'card_error' ? 'generic_decline' : null))
      : null;
  const orderId = intent.metadata?.orderId;
  return {
    id: intent.id,
    status: intent.status satisfies CardIntentStatus,
    amountMinor: intent.amount,
    currency: intent.currency.toUpperCase(),
    clientSecret: intent.client_secret ?? null,
    actionUrl: intent.next_action?.redirect_to_url?.url ?? null,
    declineCode,
    orderId: typeof orderId === 'string' && orderId !== '' ? orderId : null,
  };
}

/**
 * Describes a declined charge. Stripe normally attaches the intent it left in requires_payment_method; when it
 * does not, the intent is described from the attempt itself and its `id` is empty, as there is none to fetch.
 */
export function cardIntentFromDecline(
  error: Stripe.errors.StripeCardError,
  attempt: CardChargeAttempt,
): CardIntent {
  const declineCode = error.decline_code ?? error.code ?? 'generic_decline';
  // The SDK copies raw.payment_intent onto the error; read both in case a future version stops copying.
  const attached = error.payment_intent ?? (error.raw as Stripe.StripeRawError | undefined)?.payment_intent;
  if (attached) {
    const intent = toCardIntent(attached);
    return { ...intent, declineCode: intent.declineCode ?? declineCode };
  }
  return {
    id: '',
    status: 'requires_payment_method',
    amountMinor: attempt.amountMinor,
    currency: attempt.currency.toUpperCase(),
    clientSecret: null,
    actionUrl: null,
    declineCode,
    orderId: attempt.orderId,
  };
}

/** Maps a Stripe Refund onto the platform's CardRefund. */
export function toCardRefund(refund: Stripe.Refund): CardRefund {
  // Stripe types the status as a plain string; a new value must not pass as one of ours unnoticed.
  const status = refund.status ?? 'pending';
  if (!REFUND_STATUSES.has(status)) throw new Error(`unexpected Stripe refund status ${status} on ${refund.id}`);
  return {
    id: refund.id,
    status: status as CardRefund['status'],
    amountMinor: refund.amount,
    currency: refund.currency.toUpperCase(),
    intentId:
      typeof refund.payment_intent === 'string' ? refund.payment_intent : (refund.payment_intent?.id ?? null),
    failureReason: refund.failure_reason ?? null,
  };
}

/** Stripe's answer when an intent is not in a state the operation allows, e.g. cancelling a canceled one. */
function isUnexpectedStateError(err: unknown): boolean {
  return (
    err instanceof Stripe.errors.StripeInvalidRequestError &&
    err.statusCode === 400 &&
    err.code === 'payment_intent_unexpected_state'
  );
}

const toUnix = (iso: string) => Math.floor(new Date(iso).getTime() / 1000);
