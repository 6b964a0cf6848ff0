/** Every status an order can have, as published in the API contract. */
export const ORDER_STATUSES = [
  'AWAITING_PAYMENT',
  'PAYMENT_PROCESSING',
  'PAID',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Statuses after which the checkout workflow has nothing left to do. */
export const CHECKOUT_FINAL_STATUSES: ReadonlySet<OrderStatus> = new Set([
  'PAID',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
  'PARTIALLY_REFUNDED',
  'REFUNDED',
]);

export function isCheckoutFinal(status: OrderStatus): boolean {
  return CHECKOUT_FINAL_STATUSES.has(status);
}

/** One step of an order's life as shown to buyers and support. */
export interface OrderHistoryEntry {
  at: string;
  status: OrderStatus;
  reason?: string;
}
