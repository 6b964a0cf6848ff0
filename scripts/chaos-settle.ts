// The crash suite's settling (scripts/chaos.ts, phase 4): after the faults, everything is let reach its end before
// the books are checked, so that an order still on its way is not mistaken for a lost one.
import type { Client } from '@temporalio/client';
import { CHECKOUT_WORKFLOW_TYPES, workflowTypeIn } from '../domain';
import { OPEN_ORDER_STATUSES, OPEN_REFUND_STATUSES } from './chaos-books';
import { log, sleep, type Stack } from './chaos-stack';

/**
 * Waits up to `seconds` for orders paid, failed or (3-D Secure abandoned, crypto unpaid) expired after their
 * holds, every accepted refund done, and no checkout, late payment or refund workflow still running (a crypto
 * payment confirmed as its hold lapsed is settled by a late payment workflow after the order shows EXPIRED).
 */
export async function settle(stack: Stack, client: Client, eventId: string, seconds: number): Promise<void> {
  const running = async () =>
    (
      await client.workflow
        .count(
          `ExecutionStatus="Running" AND ${workflowTypeIn(...CHECKOUT_WORKFLOW_TYPES, 'latePaymentWorkflow', 'refundWorkflow')}`,
        )
        .catch(() => ({ count: -1 }))
    ).count;
  await stack.worker.ready();
  const settleBy = Date.now() + seconds * 1000;
  while (Date.now() < settleBy) {
    const open = await stack
      .db('orders')
      .where({ event_id: eventId })
      .whereIn('status', OPEN_ORDER_STATUSES)
      .count({ n: '*' })
      .first()
      .catch(() => undefined);
    const refunding = await stack
      .db('refunds')
      .join('orders', 'orders.id', 'refunds.order_id')
      .where('orders.event_id', eventId)
      .whereIn('refunds.status', OPEN_REFUND_STATUSES)
      .count({ n: '*' })
      .first()
      .catch(() => undefined);
    if (open && refunding && Number(open.n) === 0 && Number(refunding.n) === 0 && (await running()) === 0) return;
    await sleep(1_000);
  }
  log(`still not settled after ${seconds} s; checking the books as they are`);
}
