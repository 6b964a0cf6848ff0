import type { Db } from './index';

/** The demo catalogue `npm start` prints: stable ids, so the printed curl works after every restart. */
export const DEMO = {
  organizerId: 'org_demo',
  eventId: 'evt_demo_launch',
  ticketTypes: {
    general: 'tt_demo_general',
    vip: 'tt_demo_vip',
  },
  buyerId: 'buyer_demo',
  /** The demo organizer's Stripe Connect account (a sandbox account without STRIPE_SECRET_KEY). */
  stripeAccountId: 'acct_demo_organizer',
} as const;

/** Inserts the demo organizer, event and ticket types unless they exist. */
export async function seedDemo(db: Db): Promise<void> {
  await db('organizers')
    .insert({
      id: DEMO.organizerId,
      name: 'Bilten Demo Promotions',
      currency: 'USD',
      email: 'payouts@demo.bilten.dev',
      stripe_account_id: DEMO.stripeAccountId,
    })
    .onConflict('id')
    .ignore();
  // Organizers seeded before payouts existed get their connected account and contact now.
  await db('organizers')
    .where({ id: DEMO.organizerId })
    .whereNull('stripe_account_id')
    .update({ stripe_account_id: DEMO.stripeAccountId, email: 'payouts@demo.bilten.dev' });
  await db('events')
    .insert({
      id: DEMO.eventId,
      organizer_id: DEMO.organizerId,
      name: 'Bilten Launch Night',
      venue: 'The Warehouse, Lisbon',
      starts_at: '2027-06-01T20:00:00Z',
    })
    .onConflict('id')
    .ignore();
  await db('ticket_types')
    .insert([
      {
        id: DEMO.ticketTypes.general,
        event_id: DEMO.eventId,
        name: 'General admission',
        price_minor: 2500,
        currency: 'USD',
        capacity: 5000,
        max_per_order: 10,
      },
      {
        id: DEMO.ticketTypes.vip,
        event_id: DEMO.eventId,
        name: 'VIP',
        price_minor: 12000,
        currency: 'USD',
        capacity: 100,
        max_per_order: 4,
      },
    ])
    .onConflict('id')
    .ignore();
}
