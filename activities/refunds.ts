import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../db';
import {
  cancellationRefundId,
  RefundPolicyError,
  type CancellationProgress,
  canTransitionRefund,
  FailureType,
  LIVE_REFUND_STATUSES,
  orderStatusAfterRefunds,
  planRefund,
  refundIdempotencyKey,
  refundLedgerLines,
  refundTransactionId,
  type RefundAsk,
  type RefundableOrder,
  type RefundInput,
  type RefundPlan,
  type RefundPolicyConfig,
  type RefundRequester,
  type RefundStatus,
  type OrderStatus,
} from '../domain';
import type { CardIntent, CardPayments, CardRefund, CryptoPayments } from '../providers/payments/ports';
import { paymentKeys } from './payments';
import { recordRefundDebt } from './payouts';
import { businessMetrics } from '../observability/metrics';

/** What the refund activities need: the database and the two payment ports. */
export interface RefundActivityDeps {
  db: Db;
  card: CardPayments;
  crypto: CryptoPayments;
}

/** What the compensation did about the order's payment (`paid`: the card turned out paid, and was kept). */
export interface VoidOrRefundResult {
  outcome: 'nothing_to_do' | 'canceled' | 'refunded' | 'refund_owed' | 'paid';
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

/** Result of refundPayment: how far the provider got with the refund in this attempt. */
export interface RefundPaymentResult {
  /** `manual`: crypto, which support refunds by hand. */
  status: CardRefund['status'] | 'manual';
  providerRef: string | null;
  failureReason: string | null;
}

/** Result of voidRefundTickets: how many tickets are void now, or why they could not be voided. */
export interface VoidRefundTicketsResult {
  voided: number;
  /** A ticket already admitted at the door: the refund is refused and nothing was voided. */
  usedTicketId: string | null;
}

/** The effect on the order once a refund succeeded. */
export interface CompleteRefundResult {
  orderStatus: OrderStatus;
}

const CRYPTO_PAID = new Set(['PENDING', 'COMPLETED', 'CONFIRMED', 'RESOLVED', 'DELAYED']);
const CRYPTO_UNPAID_OPEN = new Set(['NEW', 'SIGNED']);
const CRYPTO_ENDED_UNPAID = new Set(['EXPIRED', 'FAILED', 'CANCELED']);

/** A refund request as the API or the cancellation makes it. */
export interface RefundRequest {
  refundId: string;
  orderId: string;
  ask: RefundAsk;
  requester: RefundRequester;
  idempotencyKey: string;
}

/** A refund recorded in Postgres, with what its workflow needs to start. */
export interface RecordedRefund {
  input: Omit<RefundInput, 'reminderAfterMs'>;
  /** False when the idempotency key had already made this refund. */
  created: boolean;
  requestHash: string;
  status: RefundStatus;
}

/** The order, its tickets and its live refunds, as the refund policy sees them. */
export async function loadRefundableOrder(db: Db | Knex.Transaction, orderId: string) {
  const order = await db('orders as o')
    .join('events as e', 'e.id', 'o.event_id')
    .where('o.id', orderId)
    .first('o.*', 'e.starts_at', 'e.refund_window_hours');
  if (!order) return null;
  const [payments, tickets, refunds, onRefund] = await Promise.all([
    db('payments').where({ order_id: orderId }).whereNotIn('status', ['failed', 'canceled']),
    db('tickets as t')
      .join('order_items as i', function () {
        this.on('i.order_id', 't.order_id').andOn('i.ticket_type_id', 't.ticket_type_id');
      })
      .where('t.order_id', orderId)
      .orderBy('t.id')
      .select('t.id', 't.status', 'i.unit_price_minor'),
    db('refunds').where({ order_id: orderId }).whereIn('status', LIVE_REFUND_STATUSES),
    db('refund_tickets').where({ order_id: orderId, live: true }).pluck('ticket_id'),
  ]);
  const live = new Set<string>(onRefund);
  const view: RefundableOrder = {
    orderId,
    buyerId: order.buyer_id,
    status: order.status,
    captured: {
      amountMinor: payments.reduce((sum, p) => sum + Number(p.amount_minor), 0),
      currency: String(order.currency).trim(),
    },
    refundingMinor: refunds.reduce((sum, r) => sum + Number(r.amount_minor), 0),
    feeRefundingMinor: refunds.reduce((sum, r) => sum + Number(r.fee_refund_minor), 0),
    tickets: tickets.map((t) => ({
      ticketId: t.id,
      status: t.status,
      unitPriceMinor: Number(t.unit_price_minor),
      onLiveRefund: live.has(t.id),
    })),
    event: {
      startsAt: new Date(order.starts_at).toISOString(),
      refundWindowHours: Number(order.refund_window_hours),
    },
  };
  return {
    view,
    eventId: order.event_id as string,
    organizerId: order.organizer_id as string,
    paymentMethod: order.payment_method as 'card' | 'crypto',
    paymentId: (payments[0]?.id as string | undefined) ?? null,
  };
}

/** Thrown when the database guards refuse a refund a concurrent request got in first with. */
export class RefundConflictError extends Error {
  override readonly name = 'RefundConflictError';
}

/** A stable fingerprint of what was asked, so a reused Idempotency-Key with another body is refused. */
export function refundRequestHash(ask: RefundAsk): string {
  return createHash('sha256')
    .update(
      JSON.stringify([ask.ticketIds ? [...ask.ticketIds].sort() : null, ask.amountMinor ?? null, ask.reason]),
    )
    .digest('hex');
}

/**
 * Records a refund request: decides it with the policy and writes the refund and its tickets in one transaction,
 * under the database's guards (never more than captured, a ticket on one live refund). The same id again returns
 * the refund it made. Throws RefundPolicyError for what the policy refuses, RefundConflictError when a concurrent
 * request took the tickets or the money first.
 */
export async function recordRefundRequest(
  db: Db,
  request: RefundRequest,
  policy: RefundPolicyConfig,
  now: Date,
): Promise<RecordedRefund> {
  const requestHash = refundRequestHash(request.ask);
  try {
    const made = await db.transaction(async (trx) => {
      // One refund decision per order at a time: the policy reads what the others left.
      await trx.raw('SELECT 1 FROM orders WHERE id = ? FOR UPDATE', [request.orderId]);
      const existing = await trx('refunds').where({ id: request.refundId }).first();
      if (existing) return recorded(trx, existing, false, requestHash);
      const order = await loadRefundableOrder(trx, request.orderId);
      if (!order) throw new RefundConflictError(`no order ${request.orderId}`);
      const plan: RefundPlan = planRefund(order.view, request.ask, request.requester, now, policy);
      const [row] = await trx('refunds')
        .insert({
          id: request.refundId,
          order_id: request.orderId,
          payment_id: order.paymentId,
          amount_minor: plan.amount.amountMinor,
          currency: plan.amount.currency,
          fee_refund_minor: plan.feeRefundMinor,
          status: 'REQUESTED',
          reason: request.ask.reason,
          requested_by: `${request.requester.role}:${request.requester.sub}`,
          idempotency_key: request.idempotencyKey,
          request_hash: requestHash,
          ticket_ids: plan.ticketIds,
          history: JSON.stringify([{ at: now.toISOString(), status: 'REQUESTED' }]),
        })
        .returning('*');
      if (plan.ticketIds.length > 0) {
        await trx('refund_tickets').insert(
          plan.ticketIds.map((ticketId) => ({
            refund_id: request.refundId,
            ticket_id: ticketId,
            order_id: request.orderId,
            amount_minor: plan.ticketAmounts[ticketId] ?? 0,
          })),
        );
      }
      const made = await recorded(trx, row, true, requestHash);
      return { ...made, input: { ...made.input, needsApproval: plan.needsApproval } };
    });
    if (made.created) businessMetrics.refunds.inc({ status: 'REQUESTED' });
    return made;
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 23505: the ticket is on another live refund; 23514: the money is already being refunded.
    if (code === '23505' || code === '23514')
      throw new RefundConflictError('another refund of this order took these tickets or this money first');
    throw err;
  }
}

async function recorded(
  trx: Knex.Transaction,
  row: Record<string, unknown>,
  created: boolean,
  requestHash: string,
): Promise<RecordedRefund> {
  const order = await trx('orders')
    .where({ id: row.order_id as string })
    .first();
  return {
    created,
    requestHash: created ? requestHash : refundHashOfRow(row),
    status: row.status as RefundStatus,
    input: {
      refundId: row.id as string,
      orderId: row.order_id as string,
      eventId: order.event_id,
      buyerId: order.buyer_id,
      organizerId: order.organizer_id,
      paymentMethod: order.payment_method,
      amount: { amountMinor: Number(row.amount_minor), currency: String(row.currency).trim() },
      ticketIds: (row.ticket_ids as string[] | null) ?? [],
      needsApproval: row.status === 'AWAITING_APPROVAL',
    },
  };
}

/** The fingerprint stored with a refund: its reason, tickets and amount as asked. */
function refundHashOfRow(row: Record<string, unknown>): string {
  return String(row.request_hash ?? '');
}

/** Activities of the refund workflow, the event cancellation and the checkout's compensation. */
export function createRefundActivities(deps: RefundActivityDeps) {
  const { db, card, crypto } = deps;

  /** Moves a refund along the state machine and records the step in its history; the same step twice is a no-op. */
  async function setRefundStatus(input: {
    refundId: string;
    status: RefundStatus;
    by?: string;
    reason?: string;
    reference?: string;
    failureReason?: string;
  }): Promise<void> {
    let moved = false;
    await db.transaction(async (trx) => {
      moved = false;
      const row = await trx('refunds').where({ id: input.refundId }).forUpdate().first('status');
      if (!row) throw ApplicationFailure.nonRetryable(`no refund ${input.refundId}`, FailureType.InvalidOrder);
      if (row.status === input.status) return;
      if (!canTransitionRefund(row.status as RefundStatus, input.status)) {
        throw ApplicationFailure.nonRetryable(
          `refund ${input.refundId} cannot go from ${row.status} to ${input.status}`,
          'InvalidRefundTransition',
        );
      }
      const entry = {
        at: new Date().toISOString(),
        status: input.status,
        ...(input.by ? { by: input.by } : {}),
        ...(input.reason ? { reason: input.reason } : {}),
      };
      await trx('refunds')
        .where({ id: input.refundId })
        .update({
          status: input.status,
          ...(input.by ? { decided_by: input.by } : {}),
          ...(input.reason ? { decision_reason: input.reason } : {}),
          ...(input.reference ? { manual_reference: input.reference } : {}),
          ...(input.failureReason ? { failure_reason: input.failureReason } : {}),
          history: trx.raw('history || ?::jsonb', [JSON.stringify([entry])]),
          updated_at: trx.fn.now(),
        });
      // A refund that ends without money moving gives its tickets and its amount back to the order.
      if (input.status === 'FAILED' || input.status === 'REJECTED')
        await trx('refund_tickets').where({ refund_id: input.refundId }).update({ live: false });
      moved = true;
    });
    // Counted once the step committed: a retry finds the status already set and counts nothing.
    if (moved) businessMetrics.refunds.inc({ status: input.status });
  }

  /** Notes in the refund's history that support was reminded of it. */
  async function recordRefundReminder(input: { refundId: string; waitingFor: string }): Promise<void> {
    const entry = { at: new Date().toISOString(), reminder: input.waitingFor };
    await db('refunds')
      .where({ id: input.refundId })
      .update({ history: db.raw('history || ?::jsonb', [JSON.stringify([entry])]) });
  }

  /**
   * Voids the refund's tickets at once, so they scan VOID from this moment. One transaction over the locked
   * tickets: a ticket a door scanner admitted first refuses the whole refund (unless the event was cancelled).
   */
  async function voidRefundTickets(input: {
    refundId: string;
    allowUsed: boolean;
  }): Promise<VoidRefundTicketsResult> {
    return db.transaction(async (trx) => {
      const refund = await trx('refunds').where({ id: input.refundId }).forUpdate().first('tickets_voided_at');
      const ids = await trx('refund_tickets').where({ refund_id: input.refundId }).pluck('ticket_id');
      if (ids.length === 0) return { voided: 0, usedTicketId: null };
      const tickets = await trx('tickets').whereIn('id', ids).orderBy('id').forUpdate().select('id', 'status');
      if (refund?.tickets_voided_at) return { voided: tickets.length, usedTicketId: null };
      const used = tickets.find((t) => t.status === 'USED');
      if (used && !input.allowUsed) return { voided: 0, usedTicketId: used.id as string };
      await trx('tickets').whereIn('id', ids).update({ status: 'VOID' });
      await trx('refunds').where({ id: input.refundId }).update({ tickets_voided_at: trx.fn.now() });
      return { voided: ids.length, usedTicketId: null };
    });
  }

  /** Compensation: a refund that failed gives its tickets back to the buyer (their seats were never released). */
  async function restoreRefundTickets(input: { refundId: string }): Promise<void> {
    await db.transaction(async (trx) => {
      const refund = await trx('refunds')
        .where({ id: input.refundId })
        .forUpdate()
        .first('tickets_voided_at', 'seats_released_at');
      if (!refund?.tickets_voided_at || refund.seats_released_at) return;
      const ids = await trx('refund_tickets').where({ refund_id: input.refundId }).pluck('ticket_id');
      await trx('tickets').whereIn('id', ids).where({ status: 'VOID' }).update({ status: 'VALID' });
      await trx('refunds').where({ id: input.refundId }).update({ tickets_voided_at: null });
    });
  }

  /**
   * Refunds the money through the provider. Card: a Stripe refund with the idempotency key `refund:<refundId>`,
   * so a retry (or a lost answer) is the same refund. A `pending` refund is returned as such: it is not done.
   * Crypto has no refund API: `manual`, for support to send by hand.
   */
  async function refundPayment(input: { refundId: string }): Promise<RefundPaymentResult> {
    const refund = await db('refunds as r')
      .join('payments as p', 'p.id', 'r.payment_id')
      .where('r.id', input.refundId)
      .first('r.amount_minor', 'r.reason', 'p.method', 'p.provider_ref');
    if (!refund?.provider_ref)
      throw ApplicationFailure.nonRetryable(`refund ${input.refundId} has no payment`, FailureType.InvalidOrder);
    if (refund.method !== 'card') return { status: 'manual', providerRef: null, failureReason: null };
    const result = await card.refund({
      intentId: refund.provider_ref,
      amountMinor: Number(refund.amount_minor),
      idempotencyKey: refundIdempotencyKey(input.refundId),
      reason: refund.reason,
    });
    await db('refunds').where({ id: input.refundId }).update({ provider_ref: result.id, updated_at: db.fn.now() });
    return { status: result.status, providerRef: result.id, failureReason: result.failureReason };
  }

  /** The card refund as the provider now has it, for when a webhook is late or lost. */
  async function checkCardRefund(input: { providerRef: string }): Promise<RefundPaymentResult> {
    const result = await card.retrieveRefund(input.providerRef);
    return { status: result.status, providerRef: result.id, failureReason: result.failureReason };
  }

  /** Posts the refund to the ledger (transaction `refund:<refundId>`), once however often it runs. */
  async function postRefund(input: { refundId: string }): Promise<void> {
    await db.transaction(async (trx) => {
      const transactionId = refundTransactionId(input.refundId);
      if (await trx('ledger_entries').where({ transaction_id: transactionId }).first('id')) return;
      const refund = await trx('refunds as r')
        .join('orders as o', 'o.id', 'r.order_id')
        .leftJoin('payments as p', 'p.id', 'r.payment_id')
        .where('r.id', input.refundId)
        .first('r.*', 'o.organizer_id', 'p.provider');
      const lines = refundLedgerLines({
        amount: { amountMinor: Number(refund.amount_minor), currency: String(refund.currency).trim() },
        feeRefundMinor: Number(refund.fee_refund_minor),
        organizerId: refund.organizer_id,
        provider: refund.provider ?? 'unknown',
      });
      await trx('ledger_entries').insert(
        lines.map((line) => ({
          transaction_id: transactionId,
          account: line.account,
          amount_minor: line.amountMinor,
          currency: line.currency,
          order_id: refund.order_id,
          refund_id: input.refundId,
          memo: 'refund',
        })),
      );
      // A refund after its money was paid out: the platform pays it, and the organizer's debt is recorded.
      await recordRefundDebt(trx, {
        refundId: input.refundId,
        organizerId: refund.organizer_id,
        currency: String(refund.currency).trim(),
      });
    });
  }

  /** Puts the refunded tickets' seats back on sale, once. */
  async function releaseRefundSeats(input: { refundId: string }): Promise<void> {
    await db.transaction(async (trx) => {
      const refund = await trx('refunds').where({ id: input.refundId }).forUpdate().first('seats_released_at');
      if (!refund || refund.seats_released_at) return;
      const perType = await trx('refund_tickets as rt')
        .join('tickets as t', 't.id', 'rt.ticket_id')
        .where('rt.refund_id', input.refundId)
        .where('t.status', 'VOID')
        .groupBy('t.ticket_type_id')
        .orderBy('t.ticket_type_id')
        .select('t.ticket_type_id', trx.raw('count(*)::int as n'));
      for (const row of perType)
        await trx.raw('UPDATE ticket_types SET sold = sold - ? WHERE id = ?', [row.n, row.ticket_type_id]);
      await trx('refunds').where({ id: input.refundId }).update({ seats_released_at: trx.fn.now() });
    });
  }

  /** Marks the refund SUCCEEDED and the order PARTIALLY_REFUNDED or REFUNDED, with a line in its history. */
  async function completeRefund(input: { refundId: string; reference?: string }): Promise<CompleteRefundResult> {
    let succeeded: { amountMinor: number; currency: string } | null = null;
    const result = await db.transaction(async (trx) => {
      succeeded = null;
      const refund = await trx('refunds').where({ id: input.refundId }).forUpdate().first();
      const orderId = refund.order_id as string;
      await trx('orders').where({ id: orderId }).forUpdate().first('id');
      if (refund.status !== 'SUCCEEDED') {
        if (!canTransitionRefund(refund.status, 'SUCCEEDED'))
          throw ApplicationFailure.nonRetryable(
            `refund ${input.refundId} is ${refund.status}`,
            'InvalidRefundTransition',
          );
        await trx('refunds')
          .where({ id: input.refundId })
          .update({
            status: 'SUCCEEDED',
            ...(input.reference ? { manual_reference: input.reference } : {}),
            history: trx.raw('history || ?::jsonb', [
              JSON.stringify([{ at: new Date().toISOString(), status: 'SUCCEEDED' }]),
            ]),
            updated_at: trx.fn.now(),
          });
        succeeded = { amountMinor: Number(refund.amount_minor), currency: String(refund.currency).trim() };
      }
      const captured = await trx('payments')
        .where({ order_id: orderId })
        .whereNotIn('status', ['failed', 'canceled'])
        .sum({ n: 'amount_minor' })
        .first();
      const refunded = await trx('refunds')
        .where({ order_id: orderId, status: 'SUCCEEDED' })
        .sum({ n: 'amount_minor' })
        .first();
      const orderStatus = orderStatusAfterRefunds(Number(captured?.n ?? 0), Number(refunded?.n ?? 0));
      const order = await trx('orders').where({ id: orderId }).first('status');
      if (order.status !== orderStatus) {
        await trx('orders').where({ id: orderId }).update({ status: orderStatus, updated_at: trx.fn.now() });
        await trx('order_status_history')
          .insert({ order_id: orderId, status: orderStatus, reason: `refund ${input.refundId}` })
          .onConflict(['order_id', 'status'])
          .ignore();
      }
      if (orderStatus === 'REFUNDED')
        await trx('payments')
          .where({ order_id: orderId, status: 'succeeded' })
          .update({ status: 'refunded', updated_at: trx.fn.now() });
      return { orderStatus };
    });
    const done = succeeded as { amountMinor: number; currency: string } | null;
    if (done) {
      businessMetrics.refunds.inc({ status: 'SUCCEEDED' });
      businessMetrics.refundedMinor.inc({ currency: done.currency }, done.amountMinor);
    }
    return result;
  }

  /**
   * Compensation for a checkout that will not complete: re-reads the payment at the provider, then cancels it if
   * unpaid or refunds it if paid. With `keepIfPaid` (the hold expired) a card found paid, before or while it is
   * cancelled (a 3-D Secure passed at the last moment), is kept: the caller issues the tickets if the seats are
   * still there, as for a late payment. Crypto charges cannot be refunded by API, so a paid one is recorded as a
   * refund owed for support to settle. Safe to run any number of times.
   */
  async function voidOrRefundPayment(input: {
    orderId: string;
    reason?: string;
    keepIfPaid?: boolean;
  }): Promise<VoidOrRefundResult> {
    const payment = await db('payments').where({ order_id: input.orderId }).orderBy('created_at', 'desc').first();
    if (!payment?.provider_ref) return { outcome: 'nothing_to_do' };
    const reason = input.reason ?? 'checkout did not complete';

    if (payment.method === 'card') {
      let intent: CardIntent = await card.retrieve(payment.provider_ref);
      if (intent.status === 'canceled' || (intent.status === 'requires_payment_method' && intent.declineCode)) {
        await db('payments')
          .where({ id: payment.id })
          .update({ status: intent.status === 'canceled' ? 'canceled' : 'failed', updated_at: db.fn.now() });
        return { outcome: 'nothing_to_do' };
      }
      if (intent.status === 'processing') {
        // Stripe cannot cancel a processing payment; wait for it to settle, then refund or let it fail.
        throw ApplicationFailure.retryable(
          'card payment still processing; retrying compensation',
          'PaymentStillProcessing',
        );
      }
      if (intent.status !== 'succeeded') {
        // Stripe answers a cancel with the intent as it now is: it may have been paid a moment ago.
        intent = await card.cancel(intent.id, paymentKeys.cancel(input.orderId));
        if (intent.status === 'canceled') {
          await db('payments').where({ id: payment.id }).update({ status: 'canceled', updated_at: db.fn.now() });
          return { outcome: 'canceled' };
        }
        if (intent.status === 'processing')
          throw ApplicationFailure.retryable(
            'card payment started processing while cancelled',
            'PaymentStillProcessing',
          );
      }
      if (intent.status !== 'succeeded') {
        throw ApplicationFailure.retryable(
          `card payment is ${intent.status}; retrying compensation`,
          'PaymentUnsettled',
        );
      }
      if (input.keepIfPaid) {
        await db('payments').where({ id: payment.id }).update({ status: 'succeeded', updated_at: db.fn.now() });
        return { outcome: 'paid' };
      }
      const refund = await card.refund({
        intentId: intent.id,
        idempotencyKey: paymentKeys.compensatingRefund(input.orderId),
        reason,
      });
      await recordCompensatingRefund(
        input.orderId,
        payment,
        refund.status === 'succeeded' ? 'SUCCEEDED' : 'PROCESSING',
        refund.id,
        reason,
      );
      await db('payments').where({ id: payment.id }).update({ status: 'refunded', updated_at: db.fn.now() });
      return { outcome: 'refunded' };
    }

    const charge = await crypto.retrieveCharge(payment.provider_ref);
    if (CRYPTO_PAID.has(charge.status)) {
      await recordCompensatingRefund(
        input.orderId,
        payment,
        'OWED',
        null,
        `${reason}; crypto refunds are settled by support`,
      );
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

  /** Records the checkout compensation's refund of the whole payment, once per order. */
  async function recordCompensatingRefund(
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
      // The payment counts as captured from here on (it was: late), so the refund owed stays within what was
      // captured, as the refunds_within_capture trigger checks at the insert below.
      await trx('payments').where({ id: payment.id }).update({ status: 'refund_owed', updated_at: trx.fn.now() });
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
      return { refundId };
    });
  }

  /** A late card payment whose seats are gone: refunds it in full through the provider, once. */
  async function refundLatePayment(
    input: LatePaymentActivityInput & { reason: string },
  ): Promise<RecordRefundOwedResult> {
    const payment = await db('payments')
      .where({ order_id: input.orderId, provider_ref: input.paymentRef })
      .first();
    if (!payment)
      throw ApplicationFailure.nonRetryable(
        `order ${input.orderId} has no payment ${input.paymentRef}`,
        FailureType.InvalidOrder,
      );
    const refund = await card.refund({
      intentId: input.paymentRef,
      idempotencyKey: paymentKeys.latePaymentRefund(input.orderId),
      reason: input.reason,
    });
    const refundId = `ref_${input.orderId}_late_payment`;
    // One transaction, the payment first: the late capture must be on record before the refund row, which the
    // refunds_within_capture trigger holds to what was captured.
    await db.transaction(async (trx) => {
      await trx('payments').where({ id: payment.id }).update({ status: 'refunded', updated_at: trx.fn.now() });
      await trx('refunds')
        .insert({
          id: refundId,
          order_id: input.orderId,
          payment_id: payment.id,
          amount_minor: payment.amount_minor,
          currency: payment.currency,
          status: refund.status === 'succeeded' ? 'SUCCEEDED' : 'PROCESSING',
          reason: input.reason,
          requested_by: 'system:late-payment',
          idempotency_key: paymentKeys.latePaymentRefund(input.orderId),
          provider_ref: refund.id,
        })
        .onConflict('idempotency_key')
        .merge(['status', 'provider_ref', 'updated_at']);
    });
    return { refundId };
  }

  /** Stops the event's sales at once: new checkouts are refused with 409 from now on. */
  async function stopEventSales(input: { eventId: string }): Promise<void> {
    await db('events')
      .where({ id: input.eventId })
      .whereIn('status', ['ON_SALE', 'DRAFT', 'ENDED'])
      .update({ status: 'CANCELLING' });
  }

  /** How many checkouts of the event are still open (holding seats, waiting for a payment). */
  async function countOpenCheckouts(input: { eventId: string }): Promise<number> {
    const row = await db('orders')
      .where({ event_id: input.eventId })
      .whereIn('status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
      .count({ n: '*' })
      .first();
    return Number(row?.n ?? 0);
  }

  /** How many of the event's orders are paid and so to be refunded. */
  async function countOrdersToRefund(input: { eventId: string }): Promise<number> {
    const row = await db('orders')
      .where({ event_id: input.eventId })
      .whereIn('status', ['PAID', 'PARTIALLY_REFUNDED'])
      .count({ n: '*' })
      .first();
    return Number(row?.n ?? 0);
  }

  /** The next page of the event's paid orders, in id order after the cursor. */
  async function listOrdersToRefund(input: {
    eventId: string;
    after: string | null;
    limit: number;
  }): Promise<string[]> {
    const query = db('orders')
      .where({ event_id: input.eventId })
      .whereIn('status', ['PAID', 'PARTIALLY_REFUNDED'])
      .orderBy('id')
      .limit(input.limit);
    if (input.after) query.where('id', '>', input.after);
    return query.pluck('id');
  }

  /**
   * Records the cancellation refund of one order: everything that is left, every ticket (even one already used).
   * The same order and attempt again return the same refund; null when nothing is left to refund.
   */
  async function requestCancellationRefund(input: {
    eventId: string;
    orderId: string;
    attempt: number;
    requestedBy: string;
  }): Promise<Omit<RefundInput, 'reminderAfterMs'> | null> {
    const refundId = cancellationRefundId(input.orderId, input.attempt);
    try {
      const made = await recordRefundRequest(
        db,
        {
          refundId,
          orderId: input.orderId,
          ask: { reason: `event ${input.eventId} was cancelled` },
          requester: { role: 'cancellation', sub: input.requestedBy },
          idempotencyKey: `cancellation:${input.eventId}:${input.orderId}:${input.attempt}`,
        },
        { approvalThresholdMinor: Number.MAX_SAFE_INTEGER, cancellationFeePerTicketMinor: 0 },
        new Date(),
      );
      return made.input;
    } catch (err) {
      // Already refunded in full (by the buyer or support) or no longer paid: nothing for the cancellation to do.
      if (err instanceof RefundPolicyError && err.status === 409) return null;
      throw err;
    }
  }

  /** Records how the event's cancellation stands, for GET /v1/events/:eventId once its workflow has closed. */
  async function recordCancellationProgress(input: {
    eventId: string;
    progress: CancellationProgress;
    done: boolean;
  }) {
    await db('events')
      .where({ id: input.eventId })
      .update({
        cancellation: JSON.stringify(input.progress),
        ...(input.done ? { status: 'CANCELLED', cancelled_at: db.fn.now() } : {}),
      });
  }

  return {
    stopEventSales,
    countOpenCheckouts,
    countOrdersToRefund,
    listOrdersToRefund,
    requestCancellationRefund,
    recordCancellationProgress,
    setRefundStatus,
    recordRefundReminder,
    voidRefundTickets,
    restoreRefundTickets,
    refundPayment,
    checkCardRefund,
    postRefund,
    releaseRefundSeats,
    completeRefund,
    voidOrRefundPayment,
    recordRefundOwed,
    refundLatePayment,
  };
}
