// The crash suite's verdict (scripts/chaos.ts): after the faults, the books are checked with SQL against the
// platform's tables and the sandbox providers' own records, and what each buyer was told is checked against them.
// Every check returns findings; any finding fails the run.
import type { Client } from '@temporalio/client';
import type { Db } from '../db';
import { CHECKOUT_WORKFLOW_TYPES, CHECKOUT_WORKFLOW_TYPE_FILTER } from '../domain';
import type { ChaosCatalogue, Outcome } from './chaos-buyers';

/** Order statuses that may still move on their own: the settle phase waits for them to end. */
export const OPEN_ORDER_STATUSES = ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'];
/** Refund statuses that may still move on their own. */
export const OPEN_REFUND_STATUSES = ['REQUESTED', 'PROCESSING'];

type Rows = Array<Record<string, unknown>>;

/** Every broken rule, as one line each; empty when the books balance. */
export async function checkBooks(
  db: Db,
  client: Client,
  catalogue: ChaosCatalogue,
  outcomes: Outcome[],
  chargesCaughtInFlight: string[],
): Promise<string[]> {
  const problems: string[] = [];
  const rows = async (sql: string, bindings: unknown[] = []) =>
    (await db.raw(sql, bindings as never)).rows as Rows;
  const report = (what: string, found: Rows) => {
    if (found.length > 0) problems.push(`${what}: ${found.length} (e.g. ${JSON.stringify(found.slice(0, 3))})`);
  };
  const { eventId } = catalogue;
  const typeIds = [catalogue.largeTypeId, catalogue.smallTypeId];

  report(
    'ledger_invariant_violations()',
    await rows('SELECT invariant, detail FROM ledger_invariant_violations()'),
  );
  report(
    'oversold ticket types (sold plus held above capacity, or more valid tickets than seats)',
    await rows(
      `SELECT t.id, t.capacity, t.sold, t.held,
              (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID') AS tickets
         FROM ticket_types t WHERE t.id = ANY(?)
          AND (t.sold + t.held > t.capacity
           OR (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID') > t.capacity)`,
      [typeIds],
    ),
  );
  report(
    'seat counters that differ from tickets plus holds',
    await rows(
      `SELECT t.id, t.sold, t.held,
              (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID') AS tickets,
              (SELECT coalesce(sum(quantity), 0) FROM reservations r WHERE r.ticket_type_id = t.id AND r.status = 'HELD')
                AS holds
         FROM ticket_types t WHERE t.id = ANY(?)
          AND (t.sold <> (SELECT count(*) FROM tickets k WHERE k.ticket_type_id = t.id AND k.status <> 'VOID')
           OR t.held <> (SELECT coalesce(sum(quantity), 0) FROM reservations r
                          WHERE r.ticket_type_id = t.id AND r.status = 'HELD'))`,
      [typeIds],
    ),
  );
  report(
    'orders neither settled nor legitimately waiting',
    await rows(
      `SELECT id, status, expires_at FROM orders WHERE event_id = ?
          AND status = ANY(?) AND (expires_at IS NULL OR expires_at < now() - interval '30 seconds')`,
      [eventId, OPEN_ORDER_STATUSES],
    ),
  );
  report(
    'holds on orders that are no longer open',
    await rows(
      `SELECT r.order_id, o.status FROM reservations r JOIN orders o ON o.id = r.order_id
        WHERE o.event_id = ? AND r.status = 'HELD' AND NOT (o.status = ANY(?))`,
      [eventId, OPEN_ORDER_STATUSES],
    ),
  );
  report(
    'orders whose tickets do not match their payment (paid: one per seat bought; otherwise none)',
    await rows(
      `SELECT o.id, o.status, (SELECT sum(quantity) FROM order_items WHERE order_id = o.id) AS bought,
              (SELECT count(*) FROM tickets WHERE order_id = o.id AND status <> 'VOID') AS tickets
         FROM orders o WHERE o.event_id = ?
          AND (SELECT count(*) FROM tickets WHERE order_id = o.id AND status <> 'VOID')
              <> CASE WHEN o.status = 'PAID' THEN (SELECT sum(quantity) FROM order_items WHERE order_id = o.id) ELSE 0 END`,
      [eventId],
    ),
  );

  // Cards, at the sandbox provider.
  report(
    'paid card orders without exactly one successful, unrefunded charge at the provider',
    await rows(
      `SELECT o.id, count(i.id) AS charges FROM orders o
         LEFT JOIN sandbox_card_intents i ON i.order_id = o.id AND i.status = 'succeeded'
        WHERE o.event_id = ? AND o.status = 'PAID' AND o.payment_method = 'card'
        GROUP BY o.id HAVING count(i.id) <> 1 OR sum(i.refunded_minor) <> 0`,
      [eventId],
    ),
  );
  report(
    'orders with more than one PaymentIntent',
    await rows(
      `SELECT o.id, count(*) AS intents FROM orders o JOIN sandbox_card_intents i ON i.order_id = o.id
        WHERE o.event_id = ? GROUP BY o.id HAVING count(*) > 1`,
      [eventId],
    ),
  );
  report(
    'unpaid or refunded card orders whose charge was not refunded in full',
    await rows(
      `SELECT o.id, o.status, i.amount_minor, i.refunded_minor FROM orders o
         JOIN sandbox_card_intents i ON i.order_id = o.id AND i.status = 'succeeded'
        WHERE o.event_id = ? AND o.status NOT IN ('PAID', 'PARTIALLY_REFUNDED') AND i.refunded_minor <> i.amount_minor`,
      [eventId],
    ),
  );

  // Crypto, at the sandbox provider: money that arrived bought tickets, or is owed back.
  report(
    'crypto payments received (confirmed or late) that neither bought tickets nor are refunded or owed',
    await rows(
      `SELECT o.id, o.status, c.code FROM orders o JOIN sandbox_crypto_charges c ON c.order_id = o.id
        WHERE o.event_id = ?
          AND (c.timeline @> '[{"status":"COMPLETED"}]' OR c.timeline @> '[{"status":"DELAYED"}]')
          AND o.status NOT IN ('PAID', 'PARTIALLY_REFUNDED', 'REFUNDED')
          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = o.id
                           AND r.status IN ('OWED', 'SUCCEEDED') AND r.amount_minor = o.total_minor)`,
      [eventId],
    ),
  );

  // Refunds and the ledger.
  report(
    'refunds that did not reach an end',
    await rows(
      `SELECT r.id, r.status FROM refunds r JOIN orders o ON o.id = r.order_id
        WHERE o.event_id = ? AND r.status = ANY(?)`,
      [eventId, OPEN_REFUND_STATUSES],
    ),
  );
  report(
    'paid or refunded orders whose sale is not in the ledger exactly once, at the order total',
    await rows(
      `SELECT o.id, o.status, o.total_minor,
              (SELECT sum(amount_minor) FROM ledger_entries l
                WHERE l.order_id = o.id AND l.account LIKE 'provider_clearing:%' AND l.transaction_id = 'sale:' || o.id)
                AS cleared
         FROM orders o WHERE o.event_id = ? AND o.status IN ('PAID', 'REFUNDED')
          AND (SELECT coalesce(sum(amount_minor), 0) FROM ledger_entries l
                WHERE l.order_id = o.id AND l.account LIKE 'provider_clearing:%' AND l.transaction_id = 'sale:' || o.id)
              <> o.total_minor`,
      [eventId],
    ),
  );

  problems.push(...(await checkWhatBuyersWereTold(db, outcomes)));
  for (const orderId of chargesCaughtInFlight) {
    const intents = await db('sandbox_card_intents').where({ order_id: orderId }).count({ n: '*' }).first();
    if (Number(intents?.n) !== 1) problems.push(`order ${orderId}, killed mid-charge, has ${intents?.n} intents`);
  }
  problems.push(...(await checkTemporal(db, client, eventId)));
  return problems;
}

/** Every buyer got an answer, and what each was told is what the books say. */
async function checkWhatBuyersWereTold(db: Db, outcomes: Outcome[]): Promise<string[]> {
  const problems: string[] = [];
  const unanswered = (what: string, list: Outcome[]) => {
    if (list.length > 0)
      problems.push(`${what}: ${list.length} (e.g. ${JSON.stringify(list.slice(0, 3).map(brief))})`);
  };
  const brief = (o: Outcome) => ({
    key: o.key,
    journey: o.journey,
    checkout: o.checkout.status,
    page: o.page?.status,
  });
  const answered = (a?: { status?: number }) => a?.status !== undefined && a.status < 500;
  unanswered(
    'checkouts that never got an answer below 500',
    outcomes.filter((o) => !answered(o.checkout)),
  );
  unanswered(
    'hosted-page presses that never got an answer below 500',
    outcomes.filter((o) => o.page && !answered(o.page)),
  );
  unanswered(
    'refund requests that never got an answer below 500',
    outcomes.filter((o) => o.refund && !answered(o.refund)),
  );
  const refused = outcomes.filter(
    (o) => answered(o.checkout) && o.checkout.status !== 201 && !isExpectedRefusal(o),
  );
  unanswered('checkouts refused with something other than sold-out', refused);

  for (const o of outcomes.filter((x) => x.checkout.status === 201)) {
    const order = o.orderId ? await db('orders').where({ id: o.orderId }).first('status') : undefined;
    const status = order?.status as string | undefined;
    const refunded = o.refund?.status === 202;
    if (!status) {
      problems.push(`lost order: buyer ${o.key} was told order ${o.orderId} exists; it does not`);
      continue;
    }
    const expect = (ok: boolean, what: string) => {
      if (!ok) problems.push(`${o.key} (${o.journey}, order ${o.orderId}): ${what}; it is ${status}`);
    };
    if (o.toldStatus === 'PAID')
      expect(status === (refunded ? 'REFUNDED' : 'PAID'), `told PAID${refunded ? ', then refunded' : ''}`);
    if (o.journey === 'card-refunded' && o.toldStatus === 'PAID' && o.refund?.status !== 202)
      problems.push(`${o.key}: the refund of a paid order was refused with ${o.refund?.status}`);
    if (o.page?.body?.status === 'succeeded') expect(status === 'PAID', '3-D Secure passed');
    if (o.page?.body?.status === 'COMPLETED') expect(status === 'PAID', 'crypto confirmed');
    if (o.journey === 'card-declined') expect(status === 'FAILED', 'card declined');
    if (o.journey === '3ds-abandoned') expect(status === 'EXPIRED', '3-D Secure abandoned');
    if (refunded) {
      const refund = await db('refunds').where({ id: o.refund?.body?.refundId }).first('status');
      if (refund?.status !== 'SUCCEEDED')
        problems.push(`${o.key}: refund ${o.refund?.body?.refundId} accepted, and it is ${refund?.status}`);
    }
  }
  return problems;
}

/** A sold-out answer is a legitimate one for any journey when seats ran out; anything else is a finding. */
function isExpectedRefusal(o: Outcome): boolean {
  return o.checkout.status === 409 && /\/sold-out$/.test(String(o.checkout.body?.type ?? ''));
}

/** No workflow failed, timed out or was terminated, and none is still running for an order that has ended. */
async function checkTemporal(db: Db, client: Client, eventId: string): Promise<string[]> {
  const problems: string[] = [];
  for (const type of [...CHECKOUT_WORKFLOW_TYPES, 'refundWorkflow', 'latePaymentWorkflow']) {
    for (const status of ['Failed', 'Terminated', 'TimedOut']) {
      const { count } = await client.workflow.count(`WorkflowType="${type}" AND ExecutionStatus="${status}"`);
      if (count > 0) problems.push(`${count} ${type} executions ${status}`);
    }
  }
  const running = (await client.workflow.count(`${CHECKOUT_WORKFLOW_TYPE_FILTER} AND ExecutionStatus="Running"`))
    .count;
  const open = await db('orders')
    .where({ event_id: eventId })
    .whereIn('status', OPEN_ORDER_STATUSES)
    .count({ n: '*' })
    .first();
  if (running > Number(open?.n))
    problems.push(`${running} checkout workflows still running for ${open?.n} open orders`);
  return problems;
}
