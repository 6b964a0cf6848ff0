import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Money } from './money';
import type { OrderHistoryEntry, OrderStatus } from './order-status';
import type { OrderLine } from './pricing';

/** How the buyer pays: a card PaymentMethod id (Stripe test ids in the sandbox) or a crypto charge. */
export type PaymentChoice = { method: 'card'; paymentMethodId: string } | { method: 'crypto' };
export type PaymentMethodName = PaymentChoice['method'];

/**
 * How the buyer pays, as the checkout workflow's input carries it. The API keeps the card's PaymentMethod id in
 * Postgres (`checkout_requests`) and leaves it out here, so no history holds it; inputs recorded before that
 * still carry it.
 */
export type CheckoutPayment = { method: 'card'; paymentMethodId?: string } | { method: 'crypto' };

/** Where the buyer wants to hear about the order. Never put these into search attributes. */
export interface BuyerContact {
  email?: string;
  phone?: string;
}

/** Everything the checkout workflow needs, priced by the server before the workflow starts. */
export interface CheckoutInput {
  orderId: string;
  buyerId: string;
  eventId: string;
  organizerId: string;
  idempotencyKey: string;
  /** Fingerprint of the request body, so a reused Idempotency-Key with a different body is refused. */
  requestHash: string;
  lines: OrderLine[];
  total: Money;
  payment: CheckoutPayment;
  /**
   * Absent: the buyer's contact is in Postgres (`checkout_requests`) and activities read it there, so no history
   * holds it. `{}`: the buyer gave none. Inputs recorded before that carry the contact itself.
   */
  contact?: BuyerContact;
  walletAddress?: string;
  /** How long seats stay held while payment is outstanding. */
  holdTtlMs: number;
  /** Reward points the buyer redeems: held with the seats, spent when paid (absent: none). */
  redeemPoints?: number;
  /** The discount those points bought, already taken off `total` by the server. */
  discount?: Money;
  /** The buyer who referred this (new) buyer, by id, when the checkout came with a referral code. */
  referrerId?: string;
}

/** Payment as the buyer sees it on the order. */
export interface PaymentView {
  method: PaymentMethodName;
  status: PaymentStatus;
  clientSecret?: string;
  hostedUrl?: string;
}

/** Where a payment stands, across card and crypto providers. */
export type PaymentStatus =
  | 'pending'
  | 'requires_action'
  | 'processing'
  | 'succeeded'
  | 'failed'
  | 'canceled'
  | 'refunded'
  | 'refund_owed';

/** A ticket on an order as the buyer sees it. */
export interface TicketView {
  ticketId: string;
  ticketTypeId: string;
  /** The entry code: read from Postgres by the API, never carried in a workflow (older histories have it). */
  code?: string;
  status: string;
}

/** The order as `GET /v1/checkouts/:orderId` returns it. */
export interface CheckoutView {
  orderId: string;
  status: OrderStatus;
  /** Why the order is in its status, when that needs saying (a code from OrderReason). */
  reason?: string;
  reasonDetail?: string;
  expiresAt: string | null;
  amount: { totalMinor: number; currency: string };
  payment: PaymentView;
  tickets: TicketView[];
  history: OrderHistoryEntry[];
}

/** A provider's verdict on a payment, as re-fetched from the provider after a webhook. */
export interface PaymentOutcome {
  provider: 'stripe' | 'coinbase';
  /** The provider's object id (PaymentIntent or charge). */
  paymentRef: string;
  /** Provider event id, for the order history. */
  eventId: string;
  status: 'succeeded' | 'processing' | 'failed' | 'canceled' | 'delayed';
}

/** Signal: a payment provider reported an outcome for this order's payment. */
export const paymentOutcomeSignal = defineSignal<[PaymentOutcome]>('paymentOutcome');
/** Query: the order as it stands now. */
export const checkoutStatusQuery = defineQuery<CheckoutView>('checkoutStatus');
/**
 * Update: returns once seats are held and payment is initiated (or the order already ended). The API
 * sends it with the start, so one round trip answers the buyer.
 */
export const awaitPlacementUpdate = defineUpdate<CheckoutView>('awaitPlacement');
/** Update: the buyer (or support) cancels an unpaid order; answers with the order after the cancel. */
export const cancelCheckoutUpdate = defineUpdate<CheckoutView, [{ requestedBy: string }]>('cancelCheckout');

/** Task queue of the checkout workflow and its activities. */
export const CHECKOUT_TASK_QUEUE = 'checkout';

/** Every checkout workflow type that may run: the older ones, kept for runs in flight, and the one the API starts. */
export const CHECKOUT_WORKFLOW_TYPES = ['checkoutWorkflow', 'checkoutWorkflowV2', 'checkoutWorkflowV3'] as const;
/** A visibility filter matching workflows of any of `types`. */
export const workflowTypeIn = (...types: string[]): string =>
  `WorkflowType IN (${types.map((t) => `"${t}"`).join(', ')})`;
/** A visibility filter for checkouts of any type. */
export const CHECKOUT_WORKFLOW_TYPE_FILTER = workflowTypeIn(...CHECKOUT_WORKFLOW_TYPES);

/** The checkout workflow id is the order's business key. */
export function checkoutWorkflowId(orderId: string): string {
  return `checkout-${orderId}`;
}

/** A payment that arrived after its checkout ended unpaid: issue the tickets, or give the money back. */
export interface LatePaymentInput {
  orderId: string;
  provider: PaymentOutcome['provider'];
  /** The provider's object id (the charge or PaymentIntent) that was paid. */
  paymentRef: string;
  /** The order's ids, for the fulfilment that follows issued tickets (absent in workflows started before it). */
  order?: { eventId: string; buyerId: string; organizerId: string; walletAddress?: string };
}

/** How a late payment was settled. */
export interface LatePaymentResult {
  outcome: 'tickets_issued' | 'refund_owed';
  tickets: TicketView[];
}

/** One late-payment workflow per order, however many webhooks report the payment. */
export function latePaymentWorkflowId(orderId: string): string {
  return `late-payment-${orderId}`;
}

/** Custom search attributes that support staff filter orders by in the Temporal UI. */
export const SearchAttributes = {
  OrderId: defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD),
  EventId: defineSearchAttributeKey('EventId', SearchAttributeType.KEYWORD),
  BuyerId: defineSearchAttributeKey('BuyerId', SearchAttributeType.KEYWORD),
  OrganizerId: defineSearchAttributeKey('OrganizerId', SearchAttributeType.KEYWORD),
  OrderStatus: defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD),
  PaymentMethod: defineSearchAttributeKey('PaymentMethod', SearchAttributeType.KEYWORD),
  AmountMinor: defineSearchAttributeKey('AmountMinor', SearchAttributeType.INT),
  /** Where a payout stands, for finance staff: `PayoutStatus="AWAITING_APPROVAL"`. */
  PayoutStatus: defineSearchAttributeKey('PayoutStatus', SearchAttributeType.KEYWORD),
} as const;

/** The same keys as `name=Type` pairs, as the Temporal CLI's `--search-attribute` flag takes them. */
export const SEARCH_ATTRIBUTE_FLAGS = Object.values(SearchAttributes).map(
  (key) => `${key.name}=${key.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`,
);

/** The search attributes of every workflow of one order, so support finds them all with `OrderId="..."`. */
export function orderSearchAttributes(order: {
  orderId: string;
  eventId: string;
  buyerId: string;
  organizerId: string;
  status: string;
  paymentMethod: string;
  amountMinor: number;
}) {
  return [
    { key: SearchAttributes.OrderId, value: order.orderId },
    { key: SearchAttributes.EventId, value: order.eventId },
    { key: SearchAttributes.BuyerId, value: order.buyerId },
    { key: SearchAttributes.OrganizerId, value: order.organizerId },
    { key: SearchAttributes.OrderStatus, value: order.status },
    { key: SearchAttributes.PaymentMethod, value: order.paymentMethod },
    { key: SearchAttributes.AmountMinor, value: order.amountMinor },
  ];
}
