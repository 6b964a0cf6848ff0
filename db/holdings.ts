import type { Knex } from 'knex';
import type { BuyerHoldings, BuyerTicketCaps } from '../domain';

/** Order statuses whose seats a buyer still holds. */
const HOLDING = ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'];

/**
 * What one buyer holds or owns of an event, by ticket type: seats of their unpaid orders plus their valid or used
 * tickets (refunded and cancelled ones no longer count). The API asks it for a quick answer, the hold for the
 * authoritative one under the buyer's lock.
 */
export async function buyerHoldings(db: Knex, buyerId: string, eventId: string): Promise<BuyerHoldings> {
  const { rows } = await db.raw(
    `SELECT ticket_type_id, SUM(n)::int AS n FROM (
       SELECT i.ticket_type_id, i.quantity AS n FROM order_items i JOIN orders o ON o.id = i.order_id
        WHERE o.buyer_id = ? AND o.event_id = ? AND o.status = ANY(?)
       UNION ALL
       SELECT t.ticket_type_id, 1 AS n FROM tickets t JOIN orders o ON o.id = t.order_id
        WHERE o.buyer_id = ? AND o.event_id = ? AND t.status IN ('VALID', 'USED')
     ) held GROUP BY ticket_type_id`,
    [buyerId, eventId, HOLDING, buyerId, eventId],
  );
  return Object.fromEntries(
    (rows as Array<{ ticket_type_id: string; n: number }>).map((r) => [r.ticket_type_id, r.n]),
  );
}

/** The per-buyer caps of an event: the configured one, and each ticket type's own `max_per_buyer`. */
export async function buyerTicketCaps(db: Knex, eventId: string, perEvent: number): Promise<BuyerTicketCaps> {
  const types = await db('ticket_types').where({ event_id: eventId }).select('id', 'max_per_buyer');
  return ticketCapsOf(types, perEvent);
}

/** The per-buyer caps from ticket type rows already read (`id`, `max_per_buyer`), as buyerTicketCaps gives them. */
export function ticketCapsOf(
  types: ReadonlyArray<{ id: string; max_per_buyer: number | null }>,
  perEvent: number,
): BuyerTicketCaps {
  return { perEvent, perTicketType: Object.fromEntries(types.map((t) => [t.id, t.max_per_buyer])) };
}
