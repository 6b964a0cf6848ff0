import { uid } from './env';
import { call, type TestPlatform } from './platform';

/** An organizer with a connected account, one event and one ticket type, inserted by SQL (say so in tests). */
export interface PayoutCatalogue {
  organizerId: string;
  eventId: string;
  ticketTypeId: string;
  orderIds: string[];
}

/**
 * Inserts an organizer and an event that ended `endedAgoMs` ago (negative: ends in the future) with one ticket
 * type, then sells `orders` card orders of `quantity` tickets each through the API, so the ledger holds real
 * sales.
 */
export async function organizerWithSales(
  platform: TestPlatform,
  options: {
    endedAgoMs: number;
    orders?: number;
    quantity?: number;
    priceMinor?: number;
    stripeAccountId?: string | null;
    /** Adds the event to this existing organizer instead of inserting a new one. */
    organizerId?: string;
  },
): Promise<PayoutCatalogue> {
  const { db } = platform;
  const organizerId = options.organizerId ?? uid('org');
  const eventId = uid('evt');
  const ticketTypeId = uid('tt');
  const endsAt = new Date(Date.now() - options.endedAgoMs);
  if (!options.organizerId)
    await db('organizers').insert({
      id: organizerId,
      name: 'Payout Test Org',
      currency: 'USD',
      email: `${organizerId}@example.com`,
      stripe_account_id: options.stripeAccountId === undefined ? `acct_${organizerId}` : options.stripeAccountId,
    });
  await db('events').insert({
    id: eventId,
    organizer_id: organizerId,
    name: 'Payout Test Event',
    starts_at: new Date(endsAt.getTime() - 3 * 3600_000),
    ends_at: endsAt,
  });
  await db('ticket_types').insert({
    id: ticketTypeId,
    event_id: eventId,
    name: 'General',
    price_minor: options.priceMinor ?? 2500,
    currency: 'USD',
    capacity: 1000,
    max_per_order: 10,
  });
  const orderIds: string[] = [];
  for (let i = 0; i < (options.orders ?? 1); i++) {
    const res = await call(platform, 'POST', '/v1/checkouts', {
      token: platform.token({ sub: uid('buyer'), role: 'buyer' }),
      headers: { 'Idempotency-Key': uid('key') },
      body: {
        eventId,
        items: [{ ticketTypeId, quantity: options.quantity ?? 2 }],
        payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
        buyer: { email: 'buyer@example.com' },
      },
    });
    if (res.status !== 201 || res.body.status !== 'PAID')
      throw new Error(`checkout failed: ${JSON.stringify(res.body)}`);
    orderIds.push(res.body.orderId);
  }
  return { organizerId, eventId, ticketTypeId, orderIds };
}
