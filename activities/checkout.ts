import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../db';
import { businessMetrics } from '../observability/metrics';
import { buyerHoldings, buyerTicketCaps } from '../db/holdings';
import { releaseRedeemedPoints, reserveRedeemedPoints, spendRedeemedPoints } from './rewards';
import {
  FailureType,
  OrderReason,
  saleLedgerLines,
  buyerTicketLimitBreach,
  type BuyerContact,
  type CheckoutInput,
  type OrderStatus,
  type TicketView,
} from '../domain';

/** Counts a sale once its transaction committed: the order PAID, its tickets, and how long paying took. */
function recordSale(sale: { method: string; placedAt: Date; tickets: number }): void {
  businessMetrics.checkoutsFinished.inc({ status: 'PAID', method: sale.method });
  businessMetrics.ticketsSold.inc({ method: sale.method }, sale.tickets);
  businessMetrics.checkoutToPaidSeconds.observe(
    { method: sale.method },
    Math.max(0, (Date.now() - sale.placedAt.getTime()) / 1000),
  );
}

/** What the checkout activities need from the outside world. */
export interface CheckoutActivityDeps {
  db: Db;
  /** How many unpaid orders one buyer may hold seats for at once. */
  maxOpenHoldsPerBuyer: number;
  /** How many tickets of one event one buyer may hold or own across orders (a ticket type may set its own). */
  maxTicketsPerBuyerPerEvent?: number;
  /** Makes a new unguessable ticket code. */
  newTicketCode: () => string;
  /** Makes a new ticket id. */
  newTicketId: () => string;
  /** Signs a ticket's QR payload; null leaves the QR to be signed later. */
  signTicket?: (ticket: { ticketId: string; eventId: string; ticketTypeId: string; code: string }) => string;
}

/** Input of reserveSeats: the order, and when its hold lapses (decided by the workflow's clock). */
export interface ReserveSeatsInput {
  order: CheckoutInput;
  expiresAt: string;
}

/** Result of reserveSeats. */
export interface ReserveSeatsResult {
  expiresAt: string;
}

/** Input of releaseHold: the order and the final status it ends in. */
export interface ReleaseHoldInput {
  orderId: string;
  status: OrderStatus;
  reason?: string;
  detail?: string;
}

/** Result of issueTickets. */
export interface IssueTicketsResult {
  tickets: TicketView[];
}

const OPEN_STATUSES = ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'];

/** Activities that keep orders, holds and tickets in Postgres. All of them are safe to retry. */
export function createCheckoutActivities(deps: CheckoutActivityDeps) {
  const { db } = deps;

  /**
   * Records the order and holds its seats in one transaction. The hold is one conditional UPDATE per
   * ticket type, so seats are never oversold however many buyers race. Sold out is a business failure.
   */
  async function reserveSeats({ order, expiresAt }: ReserveSeatsInput): Promise<ReserveSeatsResult> {
    const outcome = await db
      .transaction(async (trx) => {
        const existing = await trx('orders').where({ id: order.orderId }).first('status', 'status_reason');
        if (existing) return existing.status === 'FAILED' ? (existing.status_reason as string) : 'HELD';

        const contact = await contactOf(trx, order);
        await trx.raw(`INSERT INTO buyers (id, email, phone) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`, [
          order.buyerId,
          contact.email ?? null,
          contact.phone ?? null,
        ]);
        // Serialise one buyer's concurrent checkouts so the open-hold cap cannot be raced past.
        await trx.raw('SELECT 1 FROM buyers WHERE id = ? FOR UPDATE', [order.buyerId]);
        const open = await trx('orders')
          .where({ buyer_id: order.buyerId })
          .whereIn('status', OPEN_STATUSES)
          .count({ n: '*' })
          .first();
        if (Number(open?.n ?? 0) >= deps.maxOpenHoldsPerBuyer) return OrderReason.OpenHoldLimit;
        if (deps.maxTicketsPerBuyerPerEvent !== undefined) {
          const breach = buyerTicketLimitBreach(
            order.lines,
            await buyerHoldings(trx, order.buyerId, order.eventId),
            await buyerTicketCaps(trx, order.eventId, deps.maxTicketsPerBuyerPerEvent),
          );
          if (breach) return OrderReason.BuyerTicketLimit;
        }

        await insertOrder(trx, order, 'AWAITING_PAYMENT', expiresAt, undefined, contact);
        // Redeemed points are held with the seats, in the same transaction under the same buyer lock.
        const points = { orderId: order.orderId, buyerId: order.buyerId, points: order.redeemPoints ?? 0 };
        if (!(await reserveRedeemedPoints(trx, points))) throw new InsufficientPointsSignal();
        // Lock ticket types in a fixed order so two multi-type orders cannot deadlock.
        const lines = [...order.lines].sort((a, b) => a.ticketTypeId.localeCompare(b.ticketTypeId));
        for (const line of lines) {
          const held = await trx.raw(
            `UPDATE ticket_types SET held = held + ? WHERE id = ? AND sold + held + ? <= capacity RETURNING id`,
            [line.quantity, line.ticketTypeId, line.quantity],
          );
          if (held.rowCount !== 1) throw new SoldOutSignal();
        }
        await trx('reservations').insert(
          lines.map((line) => ({
            order_id: order.orderId,
            ticket_type_id: line.ticketTypeId,
            quantity: line.quantity,
            status: 'HELD',
            expires_at: expiresAt,
          })),
        );
        return 'HELD';
      })
      .catch(async (err) => {
        if (err instanceof InsufficientPointsSignal) {
          await db.transaction((trx) => insertOrder(trx, order, 'FAILED', null, OrderReason.InsufficientPoints));
          return OrderReason.InsufficientPoints;
        }
        if (!(err instanceof SoldOutSignal)) throw err;
        // The hold was rolled back; keep the order itself, failed, so the same Idempotency-Key answers the same.
        await db.transaction((trx) => insertOrder(trx, order, 'FAILED', null, OrderReason.SoldOut));
        return OrderReason.SoldOut;
      });

    if (outcome === OrderReason.SoldOut) throw ApplicationFailure.nonRetryable('sold out', FailureType.SoldOut);
    if (outcome === OrderReason.OpenHoldLimit) {
      await db.transaction((trx) => insertOrder(trx, order, 'FAILED', null, OrderReason.OpenHoldLimit));
      throw ApplicationFailure.nonRetryable('too many unpaid orders are holding seats', FailureType.OpenHoldLimit);
    }
    if (outcome === OrderReason.BuyerTicketLimit) {
      await db.transaction((trx) => insertOrder(trx, order, 'FAILED', null, OrderReason.BuyerTicketLimit));
      throw ApplicationFailure.nonRetryable(
        'the buyer would hold more tickets of this event than allowed',
        FailureType.BuyerTicketLimit,
      );
    }
    if (outcome === OrderReason.InsufficientPoints)
      throw ApplicationFailure.nonRetryable(
        'the buyer has fewer available points than redeemed',
        FailureType.InsufficientPoints,
      );
    if (outcome !== 'HELD')
      throw ApplicationFailure.nonRetryable(`order already failed: ${outcome}`, outcomeType(outcome));
    return { expiresAt };
  }

  /**
   * Turns the order's hold into tickets, marks it PAID and posts the sale to the ledger, all in one
   * transaction. A retry finds the tickets already there and returns them. If the hold was released
   * (a late payment), seats are taken again when they are still free; otherwise the seats are lost.
   */
  async function issueTickets({ orderId }: { orderId: string }): Promise<IssueTicketsResult> {
    /** Set when this call issued the tickets (a retry that found them issued counts nothing twice). */
    let sale: { method: string; placedAt: Date; tickets: number } | undefined;
    const result = await db.transaction(async (trx) => {
      sale = undefined;
      const order = await trx('orders').where({ id: orderId }).forUpdate().first();
      if (!order) throw ApplicationFailure.nonRetryable(`no order ${orderId}`, FailureType.TicketIssuanceFailed);
      const existing = await trx('tickets').where({ order_id: orderId }).orderBy('id');
      if (existing.length > 0) return { tickets: existing.map(toTicketView) };

      const reservations = await trx('reservations').where({ order_id: orderId }).orderBy('ticket_type_id');
      for (const r of reservations) {
        // A held seat moves from held to sold; a released one must still be free to be sold again.
        const result =
          r.status === 'HELD'
            ? await trx.raw('UPDATE ticket_types SET held = held - ?, sold = sold + ? WHERE id = ? RETURNING id', [
                r.quantity,
                r.quantity,
                r.ticket_type_id,
              ])
            : await trx.raw(
                'UPDATE ticket_types SET sold = sold + ? WHERE id = ? AND sold + held + ? <= capacity RETURNING id',
                [r.quantity, r.ticket_type_id, r.quantity],
              );
        if (result.rowCount !== 1) {
          throw ApplicationFailure.nonRetryable(
            'the seats were released and sold to someone else',
            FailureType.SeatsLost,
          );
        }
      }
      await trx('reservations')
        .where({ order_id: orderId })
        .update({ status: 'CONVERTED', settled_at: trx.fn.now() });

      const rows = reservations.flatMap((r) =>
        Array.from({ length: r.quantity as number }, () => {
          const ticket = {
            ticketId: deps.newTicketId(),
            eventId: order.event_id as string,
            ticketTypeId: r.ticket_type_id as string,
            code: deps.newTicketCode(),
          };
          return {
            id: ticket.ticketId,
            order_id: orderId,
            ticket_type_id: ticket.ticketTypeId,
            event_id: ticket.eventId,
            code: ticket.code,
            status: 'VALID',
            qr_payload: deps.signTicket ? deps.signTicket(ticket) : null,
            nft_status: order.wallet_address ? 'PENDING' : null,
          };
        }),
      );
      const inserted = await trx('tickets').insert(rows).returning('*');
      await spendRedeemedPoints(trx, orderId);
      const paidLate = !OPEN_STATUSES.includes(order.status);
      await setOrderStatus(trx, orderId, 'PAID', paidLate ? OrderReason.PaidLate : undefined);

      const payment = await trx('payments')
        .where({ order_id: orderId })
        .orderBy('created_at', 'desc')
        .first('provider');
      // The money is in (a webhook or a late payment said so): the order's payment shows it, unless it is
      // already being given back.
      await trx('payments')
        .where({ order_id: orderId })
        .whereNotIn('status', ['succeeded', 'refunded', 'refund_owed'])
        .update({ status: 'succeeded', updated_at: trx.fn.now() });
      const lines = saleLedgerLines({
        total: { amountMinor: order.total_minor, currency: order.currency.trim() },
        organizerId: order.organizer_id,
        provider: payment?.provider ?? 'unknown',
      });
      if (lines.length > 0) {
        await trx('ledger_entries').insert(
          lines.map((line) => ({
            transaction_id: `sale:${orderId}`,
            account: line.account,
            amount_minor: line.amountMinor,
            currency: line.currency,
            order_id: orderId,
            memo: 'ticket sale',
          })),
        );
      }
      sale = { method: order.payment_method, placedAt: new Date(order.created_at), tickets: inserted.length };
      return { tickets: inserted.map(toTicketView) };
    });
    if (sale) recordSale(sale);
    return result;
  }

  /** Gives held seats back and records how the order ended. Releasing twice changes nothing. */
  async function releaseHold(input: ReleaseHoldInput): Promise<void> {
    const ended = await db.transaction(async (trx) => {
      const order = await trx('orders').where({ id: input.orderId }).forUpdate().first('status', 'payment_method');
      if (!order) return null;
      const held = await trx('reservations')
        .where({ order_id: input.orderId, status: 'HELD' })
        .orderBy('ticket_type_id')
        .forUpdate();
      for (const r of held) {
        await trx.raw('UPDATE ticket_types SET held = held - ? WHERE id = ?', [r.quantity, r.ticket_type_id]);
      }
      if (held.length > 0) {
        await trx('reservations')
          .where({ order_id: input.orderId, status: 'HELD' })
          .update({ status: 'RELEASED', settled_at: trx.fn.now() });
      }
      // An order that ends unpaid gives its held points back (a paid one spent them at issuance).
      if (order.status !== 'PAID') await releaseRedeemedPoints(trx, input.orderId);
      if (order.status === input.status) return null;
      await setOrderStatus(trx, input.orderId, input.status, input.reason, input.detail);
      return order.payment_method as string;
    });
    if (ended) businessMetrics.checkoutsFinished.inc({ status: input.status, method: ended });
  }

  /** Records a status the order passes through while it waits, such as PAYMENT_PROCESSING. */
  async function recordOrderProgress(input: { orderId: string; status: OrderStatus }): Promise<void> {
    await db.transaction(async (trx) => {
      const order = await trx('orders').where({ id: input.orderId }).forUpdate().first('status');
      if (order && order.status !== input.status && OPEN_STATUSES.includes(order.status)) {
        await setOrderStatus(trx, input.orderId, input.status);
      }
    });
  }

  return { reserveSeats, issueTickets, releaseHold, recordOrderProgress };
}

/** Thrown inside the hold transaction to roll it back when a ticket type has too few seats left. */
class SoldOutSignal extends Error {}
/** Thrown inside the hold transaction to roll it back when the buyer has too few points for the redemption. */
class InsufficientPointsSignal extends Error {}

function outcomeType(reason: string): string {
  if (reason === OrderReason.SoldOut) return FailureType.SoldOut;
  if (reason === OrderReason.OpenHoldLimit) return FailureType.OpenHoldLimit;
  if (reason === OrderReason.BuyerTicketLimit) return FailureType.BuyerTicketLimit;
  if (reason === OrderReason.InsufficientPoints) return FailureType.InsufficientPoints;
  return FailureType.InvalidOrder;
}

/**
 * The buyer's contact: from the input when an older workflow carried it there, otherwise from the checkout
 * request the API recorded (so no workflow history holds it).
 */
async function contactOf(trx: Knex.Transaction, order: CheckoutInput): Promise<BuyerContact> {
  if (order.contact) return order.contact;
  const request = await trx('checkout_requests')
    .where({ order_id: order.orderId })
    .first('contact_email', 'contact_phone');
  return {
    ...(request?.contact_email ? { email: request.contact_email as string } : {}),
    ...(request?.contact_phone ? { phone: request.contact_phone as string } : {}),
  };
}

async function insertOrder(
  trx: Knex.Transaction,
  order: CheckoutInput,
  status: OrderStatus,
  expiresAt: string | null,
  reason?: string,
  knownContact?: BuyerContact,
): Promise<void> {
  const contact = knownContact ?? (await contactOf(trx, order));
  const inserted = await trx('orders')
    .insert({
      id: order.orderId,
      buyer_id: order.buyerId,
      event_id: order.eventId,
      organizer_id: order.organizerId,
      idempotency_key: order.idempotencyKey,
      request_hash: order.requestHash,
      status,
      status_reason: reason ?? null,
      total_minor: order.total.amountMinor,
      currency: order.total.currency,
      payment_method: order.payment.method,
      contact_email: contact.email ?? null,
      contact_phone: contact.phone ?? null,
      wallet_address: order.walletAddress ?? null,
      expires_at: expiresAt,
      redeemed_points: order.redeemPoints ?? 0,
      discount_minor: order.discount?.amountMinor ?? 0,
      referrer_id: order.referrerId ?? null,
    })
    .onConflict('id')
    .ignore()
    .returning('id');
  if (inserted.length === 0) return;
  await trx('order_items').insert(
    order.lines.map((line) => ({
      order_id: order.orderId,
      ticket_type_id: line.ticketTypeId,
      quantity: line.quantity,
      unit_price_minor: line.unitPriceMinor,
      currency: line.currency,
    })),
  );
  await trx('order_status_history').insert({ order_id: order.orderId, status, reason: reason ?? null });
}

async function setOrderStatus(
  trx: Knex.Transaction,
  orderId: string,
  status: OrderStatus,
  reason?: string,
  detail?: string,
): Promise<void> {
  await trx('orders')
    .where({ id: orderId })
    .update({ status, status_reason: reason ?? null, updated_at: trx.fn.now() });
  // The reason is the business code buyers see; the detail (provider errors, who cancelled) is for staff only.
  await trx('order_status_history')
    .insert({ order_id: orderId, status, reason: reason ?? null, detail: detail ?? null })
    .onConflict(['order_id', 'status'])
    .ignore();
}

/** A ticket as workflows see it: ids and status, never the entry code (the API reads that from Postgres). */
function toTicketView(row: Record<string, unknown>): TicketView {
  return {
    ticketId: row.id as string,
    ticketTypeId: row.ticket_type_id as string,
    status: row.status as string,
  };
}
