import { ApplicationFailure } from '@temporalio/common';
import { createCheckoutActivities } from '../activities/checkout';
import type { Db } from '../db';
import { FailureType } from '../domain';
import { generateTicketCode, loadTicketSigner, verifyTicketToken } from '../tickets/signing';
import { createCatalogue, testDb, uid } from './support/env';
import { checkoutInput } from './support/orders';

let db: Db;
let activities: ReturnType<typeof createCheckoutActivities>;
const signer = loadTicketSigner('5e'.repeat(32));
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

beforeAll(() => {
  db = testDb();
  activities = createCheckoutActivities({
    db,
    maxOpenHoldsPerBuyer: 3,
    newTicketCode: generateTicketCode,
    newTicketId: () => uid('tkt'),
    signTicket: (t) => signer.sign({ v: 1, tid: t.ticketId, eid: t.eventId, ttid: t.ticketTypeId, code: t.code }),
  });
});
afterAll(() => db.destroy());

const seats = async (ticketTypeId: string) =>
  db('ticket_types').where({ id: ticketTypeId }).first('capacity', 'sold', 'held');

describe('reserveSeats', () => {
  test('when 200 buyers race for 50 seats, then exactly 50 are held and the rest are told sold out', async () => {
    const catalogue = await createCatalogue(db, { capacity: 50 });
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () =>
        activities.reserveSeats({ order: checkoutInput(catalogue), expiresAt: inAnHour() }),
      ),
    );
    const held = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter(
      (r) =>
        r.status === 'rejected' && r.reason instanceof ApplicationFailure && r.reason.type === FailureType.SoldOut,
    );
    expect(held).toHaveLength(50);
    expect(refused).toHaveLength(150);
    expect(await seats(catalogue.ticketTypeId)).toEqual({ capacity: 50, sold: 0, held: 50 });
    const reservations = await db('reservations')
      .where({ ticket_type_id: catalogue.ticketTypeId, status: 'HELD' })
      .count({ n: '*' })
      .first();
    expect(Number(reservations?.n)).toBe(50);
  });

  test('when the same order is reserved twice, then seats are held once', async () => {
    const catalogue = await createCatalogue(db, { capacity: 10 });
    const order = checkoutInput(catalogue, { quantity: 3 });
    await activities.reserveSeats({ order, expiresAt: inAnHour() });
    await activities.reserveSeats({ order, expiresAt: inAnHour() });
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ held: 3 });
  });

  test('when a sold-out order is retried, then it is still sold out and recorded as FAILED once', async () => {
    const catalogue = await createCatalogue(db, { capacity: 1 });
    const order = checkoutInput(catalogue, { quantity: 2 });
    for (let i = 0; i < 2; i++) {
      await expect(activities.reserveSeats({ order, expiresAt: inAnHour() })).rejects.toMatchObject({
        type: FailureType.SoldOut,
      });
    }
    expect(await db('orders').where({ id: order.orderId }).first('status', 'status_reason')).toEqual({
      status: 'FAILED',
      status_reason: 'SOLD_OUT',
    });
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ held: 0, sold: 0 });
  });

  test('when a buyer already holds seats for 3 unpaid orders, then a 4th is refused', async () => {
    const catalogue = await createCatalogue(db, { capacity: 100 });
    const buyerId = uid('buyer');
    await Promise.all(
      [1, 2, 3].map(() =>
        activities.reserveSeats({ order: checkoutInput(catalogue, { buyerId }), expiresAt: inAnHour() }),
      ),
    );
    await expect(
      activities.reserveSeats({ order: checkoutInput(catalogue, { buyerId }), expiresAt: inAnHour() }),
    ).rejects.toMatchObject({ type: FailureType.OpenHoldLimit });
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ held: 3 });
  });
});

describe('issueTickets', () => {
  test('when issuance is retried, then the same tickets come back and the sale is posted once, balanced', async () => {
    const catalogue = await createCatalogue(db, { capacity: 10 });
    const order = checkoutInput(catalogue, { quantity: 2 });
    await activities.reserveSeats({ order, expiresAt: inAnHour() });
    const first = await activities.issueTickets({ orderId: order.orderId });
    const again = await activities.issueTickets({ orderId: order.orderId });
    expect(first.tickets).toHaveLength(2);
    expect(again.tickets.map((t) => t.code).sort()).toEqual(first.tickets.map((t) => t.code).sort());
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ sold: 2, held: 0 });
    expect(await db('orders').where({ id: order.orderId }).first('status')).toEqual({ status: 'PAID' });
    const ledger = await db('ledger_entries').where({ order_id: order.orderId });
    expect(ledger.length).toBeGreaterThan(0);
    expect(ledger.reduce((sum, e) => sum + Number(e.amount_minor), 0)).toBe(0);
    expect(ledger.find((e) => e.account.startsWith('organizer_payable'))?.amount_minor).toBe(-(5000 - 280));
  });

  test('when issuance is retried, then each ticket keeps one signed QR naming the ticket, event and ticket type', async () => {
    const catalogue = await createCatalogue(db, { capacity: 10 });
    const order = checkoutInput(catalogue, { quantity: 3 });
    await activities.reserveSeats({ order, expiresAt: inAnHour() });
    await activities.issueTickets({ orderId: order.orderId });
    const first = await db('tickets').where({ order_id: order.orderId }).orderBy('id');
    await activities.issueTickets({ orderId: order.orderId });
    const again = await db('tickets').where({ order_id: order.orderId }).orderBy('id');

    expect(again).toHaveLength(3);
    expect(again.map((t) => t.qr_payload)).toEqual(first.map((t) => t.qr_payload));
    expect(new Set(again.map((t) => t.code)).size).toBe(3);
    for (const ticket of again) {
      expect(verifyTicketToken(ticket.qr_payload, signer.publicKeyJwk)).toEqual({
        v: 1,
        tid: ticket.id,
        eid: catalogue.eventId,
        ttid: catalogue.ticketTypeId,
        code: ticket.code,
      });
    }
  });

  test('when the hold was released and the seats were sold to others, then issuance fails as seats lost', async () => {
    const catalogue = await createCatalogue(db, { capacity: 1 });
    const late = checkoutInput(catalogue);
    await activities.reserveSeats({ order: late, expiresAt: inAnHour() });
    await activities.releaseHold({ orderId: late.orderId, status: 'EXPIRED', reason: 'HOLD_EXPIRED' });
    const other = checkoutInput(catalogue);
    await activities.reserveSeats({ order: other, expiresAt: inAnHour() });
    await expect(activities.issueTickets({ orderId: late.orderId })).rejects.toMatchObject({
      type: FailureType.SeatsLost,
    });
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ sold: 0, held: 1 });
  });
});

describe('releaseHold', () => {
  test('when a hold is released twice, then the seats come back once and the order ends as told', async () => {
    const catalogue = await createCatalogue(db, { capacity: 5 });
    const order = checkoutInput(catalogue, { quantity: 2 });
    await activities.reserveSeats({ order, expiresAt: inAnHour() });
    await activities.releaseHold({ orderId: order.orderId, status: 'FAILED', reason: 'PAYMENT_DECLINED' });
    await activities.releaseHold({ orderId: order.orderId, status: 'FAILED', reason: 'PAYMENT_DECLINED' });
    expect(await seats(catalogue.ticketTypeId)).toMatchObject({ held: 0, sold: 0 });
    expect(await db('orders').where({ id: order.orderId }).first('status', 'status_reason')).toEqual({
      status: 'FAILED',
      status_reason: 'PAYMENT_DECLINED',
    });
  });
});
