import { OrderReason } from './failures';
import type { OrderLine } from './pricing';
import type { PaymentMethodName } from './checkout';

/** What one buyer already holds or owns of an event, by ticket type (open holds plus valid or used tickets). */
export type BuyerHoldings = Record<string, number>;

/** The per-buyer caps of an event: one for its ticket types in general, and a ticket type's own where it sets one. */
export interface BuyerTicketCaps {
  perEvent: number;
  perTicketType: Record<string, number | null | undefined>;
}

/** A breach of a per-buyer cap, as the 409 `/limit-exceeded` answer names it. */
export interface BuyerTicketLimitBreach {
  limit: 'tickets-per-buyer-per-event' | 'tickets-per-buyer-per-ticket-type';
  ticketTypeId?: string;
  max: number;
  already: number;
  requested: number;
}

/**
 * Anti-scalping: would this order take the buyer past a cap? Counts across all the buyer's orders of the event,
 * held or paid, so splitting a large purchase into many small orders does not get around it.
 */
export function buyerTicketLimitBreach(
  lines: Pick<OrderLine, 'ticketTypeId' | 'quantity'>[],
  holdings: BuyerHoldings,
  caps: BuyerTicketCaps,
): BuyerTicketLimitBreach | null {
  for (const line of lines) {
    const max = caps.perTicketType[line.ticketTypeId];
    const already = holdings[line.ticketTypeId] ?? 0;
    const requested = lines
      .filter((l) => l.ticketTypeId === line.ticketTypeId)
      .reduce((n, l) => n + l.quantity, 0);
    if (max != null && already + requested > max)
      return {
        limit: 'tickets-per-buyer-per-ticket-type',
        ticketTypeId: line.ticketTypeId,
        max,
        already,
        requested,
      };
  }
  // A ticket type with its own cap is counted against that cap alone: it overrides the event-wide one.
  const uncapped = (ticketTypeId: string) => caps.perTicketType[ticketTypeId] == null;
  const already = Object.entries(holdings)
    .filter(([ticketTypeId]) => uncapped(ticketTypeId))
    .reduce((n, [, q]) => n + q, 0);
  const requested = lines.filter((l) => uncapped(l.ticketTypeId)).reduce((n, l) => n + l.quantity, 0);
  if (requested === 0) return null;
  if (already + requested > caps.perEvent)
    return { limit: 'tickets-per-buyer-per-event', max: caps.perEvent, already, requested };
  return null;
}

/** How long seats stay held: unpaid crypto lapses sooner, since its holds are the cheapest way to lock seats. */
export function holdTtlSeconds(
  method: PaymentMethodName,
  settings: { holdTtlSeconds: number; cryptoHoldTtlSeconds: number },
): number {
  return method === 'crypto'
    ? Math.min(settings.cryptoHoldTtlSeconds, settings.holdTtlSeconds)
    : settings.holdTtlSeconds;
}

const BUYER_FACING_REASONS = new Set<string>(Object.values(OrderReason));

/**
 * The reason a buyer may see: a business code only. Details (provider errors, webhook ids, staff ids) stay in the
 * workflow and the logs; rows written before they were split off read `CODE: detail` and show as `CODE`.
 */
export function buyerFacingReason(reason: string | null | undefined): string | undefined {
  if (!reason) return undefined;
  const code = reason.split(':', 1)[0]!.trim();
  return BUYER_FACING_REASONS.has(code) ? code : undefined;
}

/** Who cancelled decides the label: support and admins cancel for the buyer, which the buyer should be told. */
export function cancellationReason(requestedBy: string): OrderReason {
  const role = requestedBy.split(':', 1)[0];
  return role === 'support' || role === 'admin' ? OrderReason.CancelledBySupport : OrderReason.CancelledByBuyer;
}
