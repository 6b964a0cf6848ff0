import { FailureType } from './failures';
import { multiplyMinor, sumMoney, type Money } from './money';

/** A ticket type as the pricing rules need to see it. */
export interface PricedTicketType {
  id: string;
  eventId: string;
  name: string;
  priceMinor: number;
  currency: string;
  maxPerOrder: number;
}

/** What a buyer asks for: a quantity of one ticket type. */
export interface RequestedItem {
  ticketTypeId: string;
  quantity: number;
}

/** One priced line of an order; the price is fixed when the order is placed. */
export interface OrderLine {
  ticketTypeId: string;
  name: string;
  quantity: number;
  unitPriceMinor: number;
  currency: string;
}

/** The server-side price of an order. */
export interface OrderQuote {
  lines: OrderLine[];
  total: Money;
}

/** Why a request cannot be priced; `type` says which problem the API answers with. */
export class PricingError extends Error {
  constructor(
    readonly type: typeof FailureType.InvalidOrder | typeof FailureType.LimitExceeded,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Absolute ceiling on tickets in one order, whatever a ticket type allows. */
export const MAX_TICKETS_PER_ORDER = 50;

/**
 * Prices a request against the catalogue. Merges repeated ticket types, enforces `maxPerOrder`, and
 * requires one currency per order. Pure: the API calls it before starting a workflow.
 */
export function quoteOrder(eventId: string, items: RequestedItem[], catalogue: PricedTicketType[]): OrderQuote {
  const byId = new Map(catalogue.map((t) => [t.id, t]));
  const quantities = new Map<string, number>();
  items.forEach((item, index) => {
    const type = byId.get(item.ticketTypeId);
    if (!type || type.eventId !== eventId) {
      throw new PricingError(
        FailureType.InvalidOrder,
        `ticket type ${item.ticketTypeId} is not on sale for this event`,
        `items[${index}].ticketTypeId`,
      );
    }
    quantities.set(item.ticketTypeId, (quantities.get(item.ticketTypeId) ?? 0) + item.quantity);
  });
  const lines: OrderLine[] = [];
  let totalTickets = 0;
  for (const [ticketTypeId, quantity] of quantities) {
    const type = byId.get(ticketTypeId)!;
    if (quantity > type.maxPerOrder) {
      throw new PricingError(
        FailureType.LimitExceeded,
        `at most ${type.maxPerOrder} of "${type.name}" per order`,
        'items',
      );
    }
    totalTickets += quantity;
    lines.push({
      ticketTypeId,
      name: type.name,
      quantity,
      unitPriceMinor: type.priceMinor,
      currency: type.currency,
    });
  }
  if (totalTickets > MAX_TICKETS_PER_ORDER) {
    throw new PricingError(
      FailureType.LimitExceeded,
      `at most ${MAX_TICKETS_PER_ORDER} tickets per order`,
      'items',
    );
  }
  const currency = lines[0]!.currency;
  if (lines.some((line) => line.currency !== currency)) {
    throw new PricingError(FailureType.InvalidOrder, 'all tickets in one order must share a currency', 'items');
  }
  const total = sumMoney(
    lines.map((line) => ({ amountMinor: multiplyMinor(line.unitPriceMinor, line.quantity), currency })),
    currency,
  );
  return { lines, total };
}
