/**
 * Business failure types. Activities throw them as non-retryable ApplicationFailures; the API maps them
 * to problem+json types. One enum so both sides agree on the spelling.
 */
export const FailureType = {
  SoldOut: 'SoldOut',
  LimitExceeded: 'LimitExceeded',
  PaymentDeclined: 'PaymentDeclined',
  InvalidOrder: 'InvalidOrder',
  HoldExpired: 'HoldExpired',
  TicketIssuanceFailed: 'TicketIssuanceFailed',
  SeatsLost: 'SeatsLost',
  OpenHoldLimit: 'OpenHoldLimit',
  /** The buyer would hold or own more tickets of an event than the per-buyer cap allows. */
  BuyerTicketLimit: 'BuyerTicketLimit',
  /** A provider refused a message for good (bad address, unknown template): retrying cannot help. */
  MessageRejected: 'MessageRejected',
  /** The payouts provider refused a transfer for good (no such account, insufficient balance). */
  PayoutRefused: 'PayoutRefused',
  /** The buyer has fewer available reward points than the checkout redeems. */
  InsufficientPoints: 'InsufficientPoints',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Base URI of every problem+json `type` this platform emits. */
export const PROBLEM_BASE = 'https://bilten.dev/problems';

/** Problem type URI for a business failure, e.g. `.../sold-out`. */
export function problemType(slug: string): string {
  return `${PROBLEM_BASE}/${slug}`;
}

/** Why an order ended where it did; stable codes that clients and support can match on. */
export const OrderReason = {
  SoldOut: 'SOLD_OUT',
  OpenHoldLimit: 'OPEN_HOLD_LIMIT',
  PaymentDeclined: 'PAYMENT_DECLINED',
  PaymentFailed: 'PAYMENT_FAILED',
  HoldExpired: 'HOLD_EXPIRED',
  CancelledByBuyer: 'CANCELLED_BY_BUYER',
  CancelledBySupport: 'CANCELLED_BY_SUPPORT',
  BuyerTicketLimit: 'BUYER_TICKET_LIMIT',
  TicketIssuanceFailed: 'TICKET_ISSUANCE_FAILED',
  SeatsLost: 'SEATS_LOST',
  PaidLate: 'PAID_AFTER_EXPIRY',
  InsufficientPoints: 'INSUFFICIENT_POINTS',
  /** The sweeper released a hold whose checkout workflow was gone or closed. */
  HoldOrphaned: 'HOLD_ORPHANED',
} as const;
export type OrderReason = (typeof OrderReason)[keyof typeof OrderReason];
