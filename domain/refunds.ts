// Refunds and event cancellation: the policy (who may refund what, when, and how much of the fee goes back), the
// refund state machine, the ledger posting, and the messages the workflows and the API share. Pure: workflows import it.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { LedgerAccount, platformFee, type LedgerLine } from './fees';
import type { Money } from './money';
import type { OrderStatus } from './order-status';

/** Every status a refund can have, as published in the API contract (OWED: a crypto refund from before 0004). */
export const REFUND_STATUSES = [
  'REQUESTED',
  'AWAITING_APPROVAL',
  'PROCESSING',
  'AWAITING_MANUAL_REFUND',
  'SUCCEEDED',
  'REJECTED',
  'FAILED',
] as const;
export type RefundStatus = (typeof REFUND_STATUSES)[number];

/** Which status may follow which: the one state machine every layer asks. */
const REFUND_TRANSITIONS: Record<RefundStatus, readonly RefundStatus[]> = {
  REQUESTED: ['AWAITING_APPROVAL', 'PROCESSING', 'REJECTED'],
  AWAITING_APPROVAL: ['PROCESSING', 'REJECTED'],
  PROCESSING: ['SUCCEEDED', 'FAILED', 'AWAITING_MANUAL_REFUND'],
  AWAITING_MANUAL_REFUND: ['SUCCEEDED'],
  SUCCEEDED: [],
  REJECTED: [],
  FAILED: [],
};

/** True when a refund in status `from` may move to `to`. */
export function canTransitionRefund(from: RefundStatus, to: RefundStatus): boolean {
  return REFUND_TRANSITIONS[from].includes(to);
}

/** Statuses after which a refund changes no more. */
export function isRefundFinal(status: RefundStatus): boolean {
  return REFUND_TRANSITIONS[status].length === 0;
}

/** Refund statuses whose money counts against the order's capture (pending or done). */
export const LIVE_REFUND_STATUSES: readonly string[] = [
  'REQUESTED',
  'AWAITING_APPROVAL',
  'PROCESSING',
  'AWAITING_MANUAL_REFUND',
  'SUCCEEDED',
  'OWED',
];

/** A refund request refused by the policy: the API answers with `status` and a problem type ending in `slug`. */
export class RefundPolicyError extends Error {
  override readonly name = 'RefundPolicyError';
  constructor(
    readonly status: 409 | 422 | 404,
    readonly slug: string,
    message: string,
  ) {
    super(message);
  }
}

/** The refund policy's settings, from the configuration. */
export interface RefundPolicyConfig {
  /** Refunds above this many minor units wait for a support or admin decision. */
  approvalThresholdMinor: number;
  /** Kept by the platform per ticket a buyer refunds themselves; 0 refunds everything. */
  cancellationFeePerTicketMinor: number;
}

/** Who asks for a refund. A cancellation is the organizer's (or admin's) decision for every order at once. */
export type RefundRequester =
  | { role: 'buyer'; sub: string }
  | { role: 'support' | 'admin'; sub: string }
  | { role: 'cancellation'; sub: string };

/** A ticket of the order as the policy sees it. */
export interface RefundableTicket {
  ticketId: string;
  status: 'VALID' | 'USED' | 'VOID' | string;
  unitPriceMinor: number;
  /** True when the ticket is already on a live refund. */
  onLiveRefund: boolean;
}

/** The order as the policy sees it. */
export interface RefundableOrder {
  orderId: string;
  buyerId: string;
  status: OrderStatus;
  /** What the provider captured for the order. */
  captured: Money;
  /** Sum of the order's pending and succeeded refunds. */
  refundingMinor: number;
  /** Sum of the platform fee those refunds give back. */
  feeRefundingMinor: number;
  tickets: RefundableTicket[];
  event: { startsAt: string; refundWindowHours: number };
}

/** What the caller asked for: tickets, an amount, or (neither) everything that is left. */
export interface RefundAsk {
  ticketIds?: string[];
  amountMinor?: number;
  reason: string;
}

/** A refund the policy allows: its amount, tickets, the fee it gives back and whether it needs approval. */
export interface RefundPlan {
  amount: Money;
  ticketIds: string[];
  ticketAmounts: Record<string, number>;
  feeRefundMinor: number;
  needsApproval: boolean;
}

const REFUNDABLE_ORDER_STATUSES: ReadonlySet<string> = new Set(['PAID', 'PARTIALLY_REFUNDED']);

/**
 * Decides a refund request. A buyer refunds only their own order (404 otherwise, not revealing it) until
 * `refundWindowHours` before the start; support and admin at any time; a cancellation refunds what is left. Never
 * more than was captured, never a ticket twice, never a ticket already admitted at the door (except when the
 * event is cancelled). Throws RefundPolicyError naming the rule.
 */
export function planRefund(
  order: RefundableOrder,
  ask: RefundAsk,
  requester: RefundRequester,
  now: Date,
  config: RefundPolicyConfig,
): RefundPlan {
  if (requester.role === 'buyer' && requester.sub !== order.buyerId)
    throw new RefundPolicyError(404, 'not-found', `order ${order.orderId} was not found`);
  if (!REFUNDABLE_ORDER_STATUSES.has(order.status))
    throw new RefundPolicyError(
      409,
      'not-refundable',
      `the order is ${order.status}; only paid orders are refunded`,
    );
  if (requester.role === 'buyer') {
    const deadline = Date.parse(order.event.startsAt) - order.event.refundWindowHours * 3_600_000;
    if (now.getTime() > deadline) {
      throw new RefundPolicyError(
        409,
        'refund-window-closed',
        `buyers may refund until ${order.event.refundWindowHours} h before the start (${new Date(deadline).toISOString()}); ask support`,
      );
    }
  }
  if (ask.ticketIds !== undefined && ask.amountMinor !== undefined)
    throw new RefundPolicyError(422, 'validation', 'give ticketIds or amountMinor, not both');

  const remaining = order.captured.amountMinor - order.refundingMinor;
  const open = order.tickets.filter(
    (t) => !t.onLiveRefund && t.status !== 'VOID' && (requester.role === 'cancellation' || t.status !== 'USED'),
  );
  let ticketIds: string[];
  let amountMinor: number;
  if (ask.ticketIds !== undefined) {
    const unique = [...new Set(ask.ticketIds)];
    for (const id of unique) {
      const ticket = order.tickets.find((t) => t.ticketId === id);
      if (!ticket)
        throw new RefundPolicyError(409, 'ticket-not-on-order', `ticket ${id} is not a ticket of this order`);
      if (ticket.onLiveRefund || ticket.status === 'VOID')
        throw new RefundPolicyError(409, 'ticket-already-refunded', `ticket ${id} is already refunded`);
      if (ticket.status === 'USED' && requester.role !== 'cancellation')
        throw new RefundPolicyError(409, 'ticket-used', `ticket ${id} was already admitted at the door`);
    }
    ticketIds = unique;
    amountMinor = order.tickets
      .filter((t) => unique.includes(t.ticketId))
      .reduce((sum, t) => sum + t.unitPriceMinor, 0);
  } else if (ask.amountMinor !== undefined) {
    ticketIds = [];
    amountMinor = ask.amountMinor;
  } else {
    // Everything that is left: every ticket still refundable, never money for a ticket already admitted.
    ticketIds = open.map((t) => t.ticketId);
    const admitted = order.tickets.some((t) => t.status === 'USED' && !t.onLiveRefund);
    amountMinor =
      admitted && requester.role !== 'cancellation'
        ? open.reduce((sum, t) => sum + t.unitPriceMinor, 0)
        : remaining;
  }
  const ticketAmounts = Object.fromEntries(
    order.tickets.filter((t) => ticketIds.includes(t.ticketId)).map((t) => [t.ticketId, t.unitPriceMinor]),
  );
  if (ask.amountMinor !== undefined && ask.amountMinor > remaining) {
    throw new RefundPolicyError(
      409,
      'refund-exceeds-payment',
      `${ask.amountMinor} is more than the ${Math.max(remaining, 0)} left to refund on this order`,
    );
  }
  const base = Math.min(amountMinor, remaining);
  // A buyer's own refund may keep a per-ticket cancellation fee; a cancelled event gives everything back.
  const kept =
    requester.role === 'buyer' ? Math.min(config.cancellationFeePerTicketMinor * ticketIds.length, base) : 0;
  amountMinor = base - kept;
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) {
    throw new RefundPolicyError(
      409,
      'refund-exceeds-payment',
      remaining <= 0 ? 'the order is already refunded in full' : 'nothing is left to refund',
    );
  }
  const feeRefundMinor = feeRefund({
    captured: order.captured,
    alreadyRefundedMinor: order.refundingMinor,
    alreadyFeeRefundedMinor: order.feeRefundingMinor,
    refundMinor: amountMinor,
    keptMinor: kept,
  });
  return {
    amount: { amountMinor, currency: order.captured.currency },
    ticketIds,
    ticketAmounts,
    feeRefundMinor,
    needsApproval: requester.role !== 'cancellation' && amountMinor > config.approvalThresholdMinor,
  };
}

/**
 * The platform fee a refund gives back. By default the fee is refunded in proportion to the amount refunded
 * (cumulatively, so a series of partial refunds that ends in a full one gives back exactly the whole fee, with no
 * minor unit lost to rounding). A cancellation fee the platform keeps is taken off what the fee refund gives back
 * (and may exceed it: the platform then earns on the refund).
 */
export function feeRefund(input: {
  captured: Money;
  alreadyRefundedMinor: number;
  alreadyFeeRefundedMinor: number;
  refundMinor: number;
  keptMinor: number;
}): number {
  const fee = platformFee(input.captured).amountMinor;
  const total = input.captured.amountMinor;
  if (total === 0) return 0;
  // The kept fee came out of the buyer's money, so the refunded share is computed on what it covered.
  const covered = Math.min(total, input.alreadyRefundedMinor + input.refundMinor + input.keptMinor);
  const proportional = covered === total ? fee : Math.floor((fee * covered) / total);
  return proportional - input.alreadyFeeRefundedMinor - input.keptMinor;
}

/**
 * The posting of a refund: the money leaves the provider's clearing account; the organizer gives back the refund
 * minus the fee share, and the platform gives back its fee share (negative: it keeps a cancellation fee).
 */
export function refundLedgerLines(input: {
  amount: Money;
  feeRefundMinor: number;
  organizerId: string;
  provider: string;
}): LedgerLine[] {
  const currency = input.amount.currency;
  const lines: LedgerLine[] = [
    { account: LedgerAccount.providerClearing(input.provider), amountMinor: -input.amount.amountMinor, currency },
    {
      account: LedgerAccount.organizerPayable(input.organizerId),
      amountMinor: input.amount.amountMinor - input.feeRefundMinor,
      currency,
    },
    { account: LedgerAccount.platformRevenue, amountMinor: input.feeRefundMinor, currency },
  ];
  return lines.filter((line) => line.amountMinor !== 0);
}

/** The order's status once its succeeded refunds add up to `refundedMinor` of `capturedMinor`. */
export function orderStatusAfterRefunds(capturedMinor: number, refundedMinor: number): OrderStatus {
  if (refundedMinor <= 0) return 'PAID';
  return refundedMinor >= capturedMinor ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
}

/** The ledger transaction id of a refund's posting. */
export const refundTransactionId = (refundId: string) => `refund:${refundId}`;
/** The provider idempotency key of a refund: derived from the refund id, so a retry is the same refund. */
export const refundIdempotencyKey = (refundId: string) => `refund:${refundId}`;

/** The refund workflow id is the refund's business key. */
export function refundWorkflowId(refundId: string): string {
  return `refund-${refundId}`;
}

/** One cancellation workflow per event, however often the organizer presses cancel. */
export function eventCancellationWorkflowId(eventId: string): string {
  return `event-cancellation-${eventId}`;
}

/** The refund of one order when its event is cancelled; the attempt counts retries after a failed refund. */
export function cancellationRefundId(orderId: string, attempt: number): string {
  return `ref_c${attempt}_${orderId}`;
}

/** Message kinds a refund sends through the notification workflow. */
export const RefundMessageKind = {
  RefundSucceeded: 'refund-succeeded',
} as const;

/** Input of the refund workflow: ids only (the refund row holds the rest), plus what the workflow decides on. */
export interface RefundInput {
  refundId: string;
  orderId: string;
  eventId: string;
  buyerId: string;
  organizerId: string;
  paymentMethod: 'card' | 'crypto';
  amount: Money;
  ticketIds: string[];
  needsApproval: boolean;
  /** A cancelled event refunds tickets already admitted at the door too; a buyer's refund does not. */
  allowUsedTickets?: boolean;
  /** How long an approval or a manual refund may wait before support is reminded, and between reminders. */
  reminderAfterMs: number;
}

/** A refund as the workflow knows it. */
export interface RefundView {
  refundId: string;
  orderId: string;
  status: RefundStatus;
  amount: Money;
  ticketIds: string[];
  failureReason?: string;
  decidedBy?: string;
  reminders: number;
}

/** How a refund workflow ended. */
export type RefundResult = RefundView;

/** A decision on a refund waiting for approval; the approver comes from the caller's token. */
export interface RefundDecision {
  by: string;
  reason?: string;
}

/** A provider's verdict on a card refund, as re-fetched after a webhook. */
export interface RefundOutcome {
  providerRef: string;
  status: 'succeeded' | 'failed' | 'canceled' | 'pending' | 'requires_action';
  failureReason: string | null;
  eventId: string;
}

/** Query: the refund as it stands. */
export const refundStatusQuery = defineQuery<RefundView>('refundStatus');
/** Update: support or admin approves a refund waiting for approval. */
export const approveRefundUpdate = defineUpdate<RefundView, [RefundDecision]>('approveRefund');
/** Update: support or admin rejects a refund waiting for approval. */
export const rejectRefundUpdate = defineUpdate<RefundView, [RefundDecision]>('rejectRefund');
/** Update: support records the reference of a crypto refund sent by hand. */
export const manualRefundCompletedUpdate = defineUpdate<RefundView, [{ by: string; reference: string }]>(
  'manualRefundCompleted',
);
/** Signal: the card provider reported an outcome for this refund. */
export const refundOutcomeSignal = defineSignal<[RefundOutcome]>('refundOutcome');

/** The failure type an update validator throws when a refund is not waiting for that decision. */
export const REFUND_DECISION_CONFLICT = 'RefundDecisionConflict';

/** Input of the event-cancellation workflow; the cursor and counts carry over continue-as-new. */
export interface EventCancellationInput {
  eventId: string;
  organizerId: string;
  requestedBy: string;
  /** How many child refunds run at once. */
  parallelism: number;
  /** How long to wait between looks at the event's open checkouts. */
  pollMs: number;
  reminderAfterMs: number;
  /** Orders started per run before the workflow continues as new, keeping its history bounded. */
  ordersPerRun?: number;
  /** Carried over continue-as-new. */
  state?: CancellationState;
}

/** What the cancellation has done so far, carried over continue-as-new. */
export interface CancellationState {
  cursor: string | null;
  total: number;
  refunded: number;
  /**
   * Orders whose refund failed and waits for its next attempt (with that attempt's number). They are retried,
   * with backoff, until one succeeds or support refunds the order another way.
   */
  retry: Array<{ orderId: string; attempt: number }>;
  /** How many orders there were to refund, counted once sales stopped and open checkouts ended. */
  counted: boolean;
}

/** Progress of an event cancellation, as the API and the memo show it. */
export interface CancellationProgress {
  total: number;
  refunded: number;
  failed: number;
  inProgress: number;
}

/** Query: how far the cancellation got. */
export const cancellationProgressQuery = defineQuery<CancellationProgress>('progress');

/** Event statuses, as published in the API contract. */
export const EVENT_STATUSES = ['ON_SALE', 'CANCELLING', 'CANCELLED', 'ENDED'] as const;

/** Default event length when `endsAt` is not given. */
export const DEFAULT_EVENT_LENGTH_MS = 4 * 3_600_000;
/** Default refund window when `refundWindowHours` is not given. */
export const DEFAULT_REFUND_WINDOW_HOURS = 48;
