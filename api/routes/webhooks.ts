import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import type { Knex } from 'knex';
import type { Config } from '../../config';
import type { Db } from '../../db';
import {
  CHECKOUT_TASK_QUEUE,
  checkoutWorkflowId,
  latePaymentWorkflowId,
  paymentOutcomeSignal,
  orderSearchAttributes,
  refundOutcomeSignal,
  refundWorkflowId,
  type PaymentOutcome,
  type RefundOutcome,
} from '../../domain';
import type { CardIntent, CryptoChargeStatus } from '../../providers/payments/ports';
import {
  verifyCoinbaseEvent,
  verifyStripeEvent,
  WebhookSignatureError,
} from '../../providers/payments/webhook-signatures';
import type { PaymentProviders } from '../../providers';
import type { latePaymentWorkflow } from '../../workflows/late-payment';
import { Problem } from '../problems';
import { z } from 'zod';
import { documentRoute } from '../openapi';
import { bindOrder } from '../../observability/http-logging';
import { businessMetrics } from '../../observability/metrics';

/** Provider events are bigger than API requests (a charge carries its whole timeline), but still bounded. */
export const WEBHOOK_BODY_LIMIT = '256kb';

/** What a provider hears back: the event was recorded (and whether it had been before). */
const webhookAckSchema = z.object({ received: z.literal(true), duplicate: z.boolean(), outcome: z.string() });

/** What the webhook endpoints need: secrets, the database, Temporal, and the providers to re-fetch from. */
export interface WebhookRouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
  payments: PaymentProviders;
}

type Provider = PaymentOutcome['provider'];

/** A verified provider event, reduced to what deciding on it needs. */
interface ReceivedEvent {
  provider: Provider;
  eventId: string;
  type: string;
  /** The PaymentIntent or charge the event is about, when it is about one. */
  objectRef: string | null;
  /** The order named in the payload's metadata: a hint for finding the order, never trusted on its own. */
  orderIdHint: string | null;
  /** The verified body, stored as received. */
  payload: string;
}

/** What handling an event came to; stored in `webhook_events.outcome` for support. */
interface Handled {
  orderId: string | null;
  outcome: string;
}

/** Orders whose checkout ended without taking the money; a payment arriving for one is a late payment. */
const ENDED_UNPAID = new Set(['EXPIRED', 'CANCELLED', 'FAILED']);
/** Payment states in which the money is already on its way back to the buyer. */
const MONEY_GOING_BACK = new Set(['refund_owed', 'refunded']);

/**
 * A PaymentIntent's state as a payment outcome; null when there is nothing to tell the checkout yet (such as
 * `requires_action`, when the buyer has still to pass 3-D Secure).
 */
export function cardOutcomeStatus(intent: CardIntent): PaymentOutcome['status'] | null {
  if (intent.status === 'succeeded') return 'succeeded';
  if (intent.status === 'processing') return 'processing';
  if (intent.status === 'canceled') return 'canceled';
  if (intent.status === 'requires_payment_method' && intent.declineCode) return 'failed';
  return null;
}

/** A Coinbase charge's latest timeline status as a payment outcome; null while nobody has paid (NEW, SIGNED). */
export function cryptoOutcomeStatus(status: CryptoChargeStatus): PaymentOutcome['status'] | null {
  switch (status) {
    case 'PENDING':
      return 'processing';
    case 'COMPLETED':
    case 'CONFIRMED':
    case 'RESOLVED':
      return 'succeeded';
    case 'DELAYED':
      return 'delayed';
    case 'EXPIRED':
    case 'CANCELED':
    case 'FAILED':
      return 'failed';
    default:
      // NEW and SIGNED: unpaid so far; UNRESOLVED and refunds: support's business, not the checkout's.
      return null;
  }
}

/**
 * `POST /webhooks/stripe` and `POST /webhooks/coinbase`. Each event is verified over its raw body, recorded
 * once under its provider event id, and acted on from the provider's current state of the object (re-fetched,
 * never taken from the payload): the order's checkout workflow is signalled, or, for a crypto payment that
 * arrived after its checkout ended unpaid, the late-payment workflow is started. The provider gets its 200 only
 * once the event and what became of it are committed; a duplicate gets a 200 and nothing else.
 */
export function webhookRoutes(deps: WebhookRouteDeps): Router {
  const { config, db, temporal, payments } = deps;
  const router = Router();
  const rawBody = express.raw({ type: '*/*', limit: WEBHOOK_BODY_LIMIT });

  documentRoute('post', '/webhooks/stripe', {
    summary: 'Stripe events, verified with Stripe-Signature; acknowledged once durably recorded',
    headers: z.object({ 'Stripe-Signature': z.string() }),
    rawBody: {
      mediaType: 'application/json',
      schema: z.object({ id: z.string(), type: z.string() }).passthrough(),
    },
    responses: { 200: webhookAckSchema },
    problems: [400, 413],
  });
  router.post('/webhooks/stripe', countWebhook('stripe'), rawBody, async (req, res) => {
    const event = verified(() =>
      verifyStripeEvent(bodyOf(req), req.header('stripe-signature'), config.STRIPE_WEBHOOK_SECRET),
    );
    const object = event.data.object as unknown as Record<string, unknown>;
    const ref =
      object.object === 'payment_intent' || object.object === 'refund'
        ? stringOr(object.id)
        : object.object === 'charge'
          ? stringOr(object.payment_intent)
          : null;
    res.json(
      await receive(res, {
        provider: 'stripe',
        eventId: event.id,
        type: event.type,
        objectRef: ref,
        orderIdHint: object.object === 'payment_intent' ? metadataOrderId(object.metadata) : null,
        payload: bodyOf(req).toString('utf8'),
      }),
    );
  });

  documentRoute('post', '/webhooks/coinbase', {
    summary: 'Coinbase Commerce events, verified with X-CC-Webhook-Signature',
    headers: z.object({ 'X-CC-Webhook-Signature': z.string() }),
    rawBody: {
      mediaType: 'application/json',
      schema: z.object({ event: z.object({}).passthrough() }).passthrough(),
    },
    responses: { 200: webhookAckSchema },
    problems: [400, 413],
  });
  router.post('/webhooks/coinbase', countWebhook('coinbase'), rawBody, async (req, res) => {
    const event = verified(() =>
      verifyCoinbaseEvent(bodyOf(req), req.header('x-cc-webhook-signature'), config.COINBASE_WEBHOOK_SECRET),
    );
    const charge = (event.data ?? {}) as unknown as Record<string, unknown>;
    const eventId = stringOr(event.id);
    if (!eventId) throw new Problem(400, 'invalid-event', 'Bad Request', 'the event has no id');
    res.json(
      await receive(res, {
        provider: 'coinbase',
        eventId,
        type: stringOr(event.type) ?? 'unknown',
        objectRef: charge.resource === 'charge' || charge.code !== undefined ? stringOr(charge.id) : null,
        orderIdHint: metadataOrderId(charge.metadata),
        payload: bodyOf(req).toString('utf8'),
      }),
    );
  });

  /**
   * Records the event (committed before anything else happens), then handles it under a lock on its row, so
   * a redelivery that races the first waits and then finds it done. If handling fails the row stays
   * unprocessed and the provider's retry handles it. Handling reads through the same transaction, so one
   * webhook never needs two pooled connections.
   */
  async function receive(
    res: Response,
    event: ReceivedEvent,
  ): Promise<{ received: true; duplicate: boolean; outcome: string }> {
    await db('webhook_events')
      .insert({
        provider: event.provider,
        event_id: event.eventId,
        type: event.type,
        object_ref: event.objectRef,
        order_id: event.orderIdHint,
        payload: event.payload,
      })
      .onConflict(['provider', 'event_id'])
      .ignore();
    return db.transaction(async (trx) => {
      const row = await trx('webhook_events')
        .where({ provider: event.provider, event_id: event.eventId })
        .forUpdate()
        .first('id', 'processed_at', 'outcome', 'order_id');
      if (row.processed_at) {
        if (row.order_id) bindOrder(res, row.order_id);
        res.locals.webhookOutcome = 'duplicate';
        return { received: true as const, duplicate: true, outcome: row.outcome as string };
      }
      const handled = await handle(trx, event);
      if (handled.orderId) bindOrder(res, handled.orderId);
      res.locals.webhookOutcome = handled.outcome;
      await trx('webhook_events')
        .where({ id: row.id })
        .update({
          processed_at: trx.fn.now(),
          outcome: handled.outcome,
          ...(handled.orderId ? { order_id: handled.orderId } : {}),
        });
      return { received: true as const, duplicate: false, outcome: handled.outcome };
    });
  }

  /**
   * A refund event (`refund.updated`, `refund.failed`, `charge.refunded`): each refund it concerns is re-fetched
   * from Stripe and its outcome signalled to that refund's workflow, which decides (a pending refund is not done).
   */
  async function handleRefundEvent(trx: Knex.Transaction, event: ReceivedEvent): Promise<Handled> {
    const ref = event.objectRef!;
    const refunds =
      event.type === 'charge.refunded'
        ? await trx('refunds as r')
            .join('payments as p', 'p.id', 'r.payment_id')
            .where({ 'p.provider': 'stripe', 'p.provider_ref': ref })
            .whereIn('r.status', ['PROCESSING'])
            .whereNotNull('r.provider_ref')
            .select('r.id', 'r.order_id', 'r.provider_ref')
        : await trx('refunds').where({ provider_ref: ref }).select('id', 'order_id', 'provider_ref');
    if (refunds.length === 0) return { orderId: null, outcome: 'unknown refund' };
    const told: string[] = [];
    for (const refund of refunds) {
      const current = await payments.card.retrieveRefund(refund.provider_ref);
      const outcome: RefundOutcome = {
        providerRef: current.id,
        status: current.status,
        failureReason: current.failureReason,
        eventId: event.eventId,
      };
      try {
        await temporal.workflow.getHandle(refundWorkflowId(refund.id)).signal(refundOutcomeSignal, outcome);
        told.push(`${refund.id}: ${current.status}`);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        told.push(`${refund.id}: ${current.status} (refund already closed)`);
      }
    }
    return { orderId: refunds[0].order_id, outcome: `refund signalled: ${told.join(', ')}` };
  }

  /** Decides what an event means for its order, from the provider's own current view of the payment. */
  async function handle(trx: Knex.Transaction, event: ReceivedEvent): Promise<Handled> {
    const ref = event.objectRef;
    if (!ref) return { orderId: null, outcome: 'ignored: not about a payment' };
    if (event.provider === 'stripe' && isRefundEvent(event.type)) return handleRefundEvent(trx, event);
    // Our own record of the payment is the surest link to the order; the payload's metadata is only a hint.
    const recorded = await trx('payments')
      .where({ provider: event.provider, provider_ref: ref })
      .first('order_id', 'status');
    const candidate: string | null = recorded?.order_id ?? event.orderIdHint;
    if (!candidate || !(await trx('orders').where({ id: candidate }).first('id'))) {
      return { orderId: null, outcome: 'unknown order' };
    }

    let status: PaymentOutcome['status'] | null;
    let providerStatus: string;
    let orderAtProvider: string | null;
    if (event.provider === 'stripe') {
      const intent = await payments.card.retrieve(ref);
      [status, providerStatus, orderAtProvider] = [cardOutcomeStatus(intent), intent.status, intent.orderId];
    } else {
      const charge = await payments.crypto.retrieveCharge(ref);
      [status, providerStatus, orderAtProvider] = [
        cryptoOutcomeStatus(charge.status),
        charge.status,
        charge.orderId,
      ];
    }
    if (!recorded && orderAtProvider !== candidate) {
      return { orderId: null, outcome: `unknown order: the ${event.provider} object belongs to no order of ours` };
    }
    const orderId = candidate;
    if (status === null) return { orderId, outcome: `no action: ${providerStatus}` };

    // Recorded succeeded means the workflow heard it from an activity it awaits (the charge itself, the issuance, the
    // compensation that kept a card paid at expiry): the signal would change nothing, and it would cost the checkout
    // a workflow task, or, arriving while an instant card checkout closes in its first task, make the server refuse
    // that task and abort the buyer's placement.
    if (status === 'succeeded' && recorded?.status === 'succeeded')
      return { orderId, outcome: 'no action: the checkout already has it succeeded' };
    const outcome: PaymentOutcome = { provider: event.provider, paymentRef: ref, eventId: event.eventId, status };
    try {
      await temporal.workflow.getHandle(checkoutWorkflowId(orderId)).signal(paymentOutcomeSignal, outcome);
      return { orderId, outcome: `signalled: ${status}` };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    // The checkout is over. Only a payment that arrived late still needs acting on: a crypto charge paid late, or
    // a card PaymentIntent that succeeded after its order ended unpaid (3-D Secure passed as the hold expired).
    const lateCard =
      event.provider === 'stripe' && status === 'succeeded' && event.type === 'payment_intent.succeeded';
    if (lateCard || (event.provider === 'coinbase' && (status === 'delayed' || status === 'succeeded'))) {
      if (await startLatePayment(trx, orderId, event.provider, ref))
        return { orderId, outcome: `late payment: ${status}` };
    }
    return { orderId, outcome: `recorded: ${status}; checkout already closed` };
  }

  /** Starts the late-payment workflow for an order that ended unpaid; false when there is nothing to settle. */
  async function startLatePayment(
    trx: Knex.Transaction,
    orderId: string,
    provider: Provider,
    paymentRef: string,
  ): Promise<boolean> {
    const order = await trx('orders').where({ id: orderId }).first();
    const payment = await trx('payments').where({ order_id: orderId, provider_ref: paymentRef }).first('status');
    if (!order || !payment || !ENDED_UNPAID.has(order.status) || MONEY_GOING_BACK.has(payment.status))
      return false;
    try {
      await temporal.workflow.start<typeof latePaymentWorkflow>('latePaymentWorkflow', {
        workflowId: latePaymentWorkflowId(orderId),
        taskQueue: CHECKOUT_TASK_QUEUE,
        args: [
          {
            orderId,
            provider,
            paymentRef,
            order: {
              eventId: order.event_id,
              buyerId: order.buyer_id,
              organizerId: order.organizer_id,
              ...(order.wallet_address ? { walletAddress: order.wallet_address } : {}),
            },
          },
        ],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: orderSearchAttributes({
          orderId,
          eventId: order.event_id,
          buyerId: order.buyer_id,
          organizerId: order.organizer_id,
          status: order.status,
          paymentMethod: order.payment_method,
          amountMinor: Number(order.total_minor),
        }),
      });
    } catch (err) {
      // It already ran for this order: the payment has been settled once, which is the point.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return true;
  }

  return router;
}

/**
 * Counts every delivery by provider and outcome: what handling it came to (`signalled`, `late payment`,
 * `unknown order`, ...; the words before the colon), `duplicate`, or the refusal (`invalid-signature`).
 */
function countWebhook(provider: Provider): RequestHandler {
  return (_req, res, next) => {
    res.on('finish', () => {
      const outcome = String(res.locals.webhookOutcome ?? res.locals.problem ?? `http-${res.statusCode}`);
      businessMetrics.webhooks.inc({ provider, outcome: outcome.split(':')[0]!.trim().replace(/ /g, '_') });
    });
    next();
  };
}

/** Stripe events about refunds rather than payments. */
function isRefundEvent(type: string): boolean {
  return (
    type === 'refund.updated' ||
    type === 'refund.failed' ||
    type === 'charge.refunded' ||
    type === 'refund.created'
  );
}

/** Runs a signature check; a failure is a 400 that records nothing. */
function verified<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof WebhookSignatureError)
      throw new Problem(400, 'invalid-signature', 'Bad Request', err.message);
    throw err;
  }
}

/** The raw body as received; an empty request has none. */
function bodyOf(req: Request): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

function stringOr(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function metadataOrderId(metadata: unknown): string | null {
  if (!metadata || typeof metadata !== 'object') return null;
  const orderId = (metadata as Record<string, unknown>).orderId;
  return typeof orderId === 'string' && /^[A-Za-z0-9_-]{1,100}$/.test(orderId) ? orderId : null;
}
