// After the sale: what Postgres says (nothing oversold, one charge per paid order, a balanced ledger) and what
// Temporal recorded (history events of the workflows the sale ran).
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Db } from '../db';
import { checkoutWorkflowId } from '../domain';
import {
  activitySteps,
  addCounts,
  countActions,
  eventTypeCounts,
  type ActivityStep,
  type JsonHistoryEvent,
} from './actions';
import { sleep } from './load';
import type { Catalogue, CheckoutPhase } from './sale';

/** The sale's books, and every way they disagree with each other or with what buyers were told. */
export interface Invariants {
  ok: boolean;
  oversold: number;
  sold: number;
  held: number;
  ticketRows: number;
  paidOrders: number;
  paidWithoutExactlyOneCharge: number;
  ledgerImbalanceMinor: number;
  openOrders: number;
  problems: string[];
}

/** What the database says after the sale: nothing oversold, one charge per paid order, a balanced ledger. */
export async function checkInvariants(db: Db, catalogue: Catalogue, sale: CheckoutPhase): Promise<Invariants> {
  // Checkouts the API gave up on (5xx) may still be finishing in their workflows; let them settle.
  let openOrders = 0;
  for (let i = 0; i < 60; i++) {
    const open = await db('orders')
      .join('order_items', 'order_items.order_id', 'orders.id')
      .where('order_items.ticket_type_id', catalogue.ticketTypeId)
      .whereIn('orders.status', ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'])
      .count({ n: '*' })
      .first();
    openOrders = Number(open?.n ?? 0);
    if (openOrders === 0) break;
    await sleep(500);
  }
  const type = await db('ticket_types').where({ id: catalogue.ticketTypeId }).first('capacity', 'sold', 'held');
  const tickets = await db('tickets').where({ ticket_type_id: catalogue.ticketTypeId }).count({ n: '*' }).first();
  const paid = await db('orders')
    .join('order_items', 'order_items.order_id', 'orders.id')
    .where('order_items.ticket_type_id', catalogue.ticketTypeId)
    .where('orders.status', 'PAID')
    .count({ n: '*' })
    .first();
  const badCharges = await db.raw(
    `SELECT count(*) AS n FROM orders o JOIN order_items i ON i.order_id = o.id
      WHERE i.ticket_type_id = ? AND o.status = 'PAID'
        AND CASE o.payment_method
              -- A mixed sale's crypto orders are paid by a charge that completed, not by a PaymentIntent.
              WHEN 'crypto' THEN (SELECT count(*) FROM sandbox_crypto_charges c
                                   WHERE c.order_id = o.id AND c.timeline @> '[{"status":"COMPLETED"}]')
              ELSE (SELECT count(*) FROM sandbox_card_intents c WHERE c.order_id = o.id AND c.status = 'succeeded')
            END <> 1`,
    [catalogue.ticketTypeId],
  );
  const ledger = await db.raw(
    `SELECT coalesce(sum(l.amount_minor), 0) AS total FROM ledger_entries l
      JOIN order_items i ON i.order_id = l.order_id WHERE i.ticket_type_id = ?`,
    [catalogue.ticketTypeId],
  );
  const sold = Number(type.sold);
  const held = Number(type.held);
  const ticketRows = Number(tickets?.n ?? 0);
  const paidOrders = Number(paid?.n ?? 0);
  const oversold = Math.max(0, ticketRows - catalogue.capacity, sold + held - catalogue.capacity);
  const result = {
    oversold,
    sold,
    held,
    ticketRows,
    paidOrders,
    paidWithoutExactlyOneCharge: Number(badCharges.rows[0].n),
    ledgerImbalanceMinor: Number(ledger.rows[0].total),
    openOrders,
    problems: [] as string[],
  };
  if (oversold > 0) result.problems.push(`oversold by ${oversold}`);
  if (ticketRows !== sold) result.problems.push(`ticket rows ${ticketRows} != sold counter ${sold}`);
  if (held !== 0 && openOrders === 0) result.problems.push(`${held} seats still held with no open order`);
  if (result.paidWithoutExactlyOneCharge > 0)
    result.problems.push(`${result.paidWithoutExactlyOneCharge} paid orders without exactly one charge`);
  if (result.ledgerImbalanceMinor !== 0) result.problems.push(`ledger off by ${result.ledgerImbalanceMinor}`);
  if (sale.tickets > ticketRows)
    result.problems.push(`buyers saw ${sale.tickets} tickets, database has ${ticketRows}`);
  return { ok: result.problems.length === 0, ...result };
}

/** Reserve-to-PAID inside the worker, from the order's own timestamps (created by reserveSeats, updated at PAID). */
export async function serverSideLatency(db: Db, ticketTypeId: string) {
  const result = await db.raw(
    `SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP
              (ORDER BY extract(epoch FROM o.updated_at - o.created_at) * 1000) AS p
       FROM orders o JOIN order_items i ON i.order_id = o.id
      WHERE i.ticket_type_id = ? AND o.status = 'PAID'`,
    [ticketTypeId],
  );
  const p = (result.rows[0]?.p ?? [0, 0, 0]) as number[];
  return { p50: Math.round(p[0] ?? 0), p95: Math.round(p[1] ?? 0), p99: Math.round(p[2] ?? 0) };
}

/** History length of sampled workflows of one kind, and the event types of the first one. */
export interface HistoryStats {
  mean: number;
  sampled: number;
  types: Record<string, number>;
}

/** Every `step`-th item, at most `max` of them: a sample spread over the whole phase. */
export const spreadSample = <T>(items: T[], max: number): T[] =>
  items.filter((_, i) => i % Math.max(1, Math.floor(items.length / max)) === 0).slice(0, max);

/** History events of up to 20 workflows spread over the list. */
export async function historyOf(client: Client, workflowIds: string[]): Promise<HistoryStats> {
  const lengths: number[] = [];
  const types = new Map<string, number>();
  for (const id of spreadSample(workflowIds, 20)) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    lengths.push(history.events?.length ?? 0);
    if (lengths.length === 1) {
      for (const e of history.events ?? []) {
        const type = String(e.eventType ?? '');
        types.set(type, (types.get(type) ?? 0) + 1);
      }
    }
  }
  const mean = lengths.length ? lengths.reduce((a, b) => a + b, 0) / lengths.length : 0;
  return { mean: Math.round(mean * 10) / 10, sampled: lengths.length, types: Object.fromEntries(types) };
}

/** What one order costs in Temporal: every workflow it started, averaged over the sampled paid orders. */
export interface OrderCost {
  sampled: number;
  workflowsPerOrder: number;
  eventsPerOrder: number;
  actionsPerOrder: number;
  /** History events per order, by event type. */
  eventsByType: Record<string, number>;
  /** Temporal Cloud actions per order, by what caused them (bench/actions.ts). */
  actionsByKind: Record<string, number>;
  /** The checkout of the first sampled order: its workflow type and activity steps, to check the baseline's shape. */
  checkout: { workflowType: string; steps: ActivityStep[] } | null;
  /** Per workflow type (checkout, confirmation, ...): events and actions per order. */
  byWorkflowType: Record<string, { eventsPerOrder: number; actionsPerOrder: number }>;
}

/**
 * Everything sampled orders set going: the checkout and every workflow tagged with its OrderId (the confirmation,
 * mints, a rewards or late-payment workflow), each history read in full and counted.
 */
export async function orderCost(client: Client, orderIds: string[], max = 10): Promise<OrderCost> {
  const sample = spreadSample(orderIds, max);
  let workflows = 0;
  const events: Record<string, number> = {};
  const actions: Record<string, number> = {};
  const byType: Record<string, { events: number; actions: number }> = {};
  let checkout: OrderCost['checkout'] = null;
  for (const orderId of sample) {
    for await (const wf of client.workflow.list({ query: `OrderId="${orderId}"` })) {
      workflows++;
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      const jsonEvents = (JSON.parse(historyToJSON(history)) as { events: JsonHistoryEvent[] }).events;
      const counted = countActions(jsonEvents);
      if (!checkout && wf.workflowId === checkoutWorkflowId(orderId))
        checkout = { workflowType: wf.type, steps: activitySteps(jsonEvents) };
      addCounts(events, eventTypeCounts(jsonEvents));
      addCounts(actions, counted.byKind);
      const type = (byType[wf.type] ??= { events: 0, actions: 0 });
      type.events += jsonEvents.length;
      type.actions += counted.total;
    }
  }
  const per = (n: number) => round1(n / Math.max(1, sample.length));
  const perEach = (counts: Record<string, number>) =>
    Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, per(v)]));
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  return {
    sampled: sample.length,
    workflowsPerOrder: per(workflows),
    eventsPerOrder: per(sum(events)),
    actionsPerOrder: per(sum(actions)),
    eventsByType: perEach(events),
    actionsByKind: perEach(actions),
    checkout,
    byWorkflowType: Object.fromEntries(
      Object.entries(byType).map(([type, c]) => [
        type,
        { eventsPerOrder: per(c.events), actionsPerOrder: per(c.actions) },
      ]),
    ),
  };
}

const round1 = (v: number) => Math.round(v * 10) / 10;
