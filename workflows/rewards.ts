import {
  log,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  startChild,
} from '@temporalio/workflow';
import {
  orderRewardsQuery,
  orderRewardsWorkflowId,
  SearchAttributes,
  statusQuery,
  type OrderRewardsInput,
  type OrderRewardsResult,
  type OrderRewardsView,
} from '../domain';
import type { createRewardActivities } from '../activities/rewards';
import { dbWrite } from './activity-options';

/** What the checkout tells the rewards about a paid order: its ids only. */
type RewardedOrder = { orderId: string; buyerId: string; eventId: string };

const rewards = proxyActivities<ReturnType<typeof createRewardActivities>>(dbWrite);
/**
 * The accrual as a local activity of the checkout: one Postgres transaction of a few milliseconds, recorded as one
 * marker in the checkout's history. It gives up after a minute (Postgres down), and the checkout then falls back to
 * the rewards workflow, which retries it durably: points are never lost, and never a reason to hold up a sale.
 */
const rewardsLocal = proxyLocalActivities<ReturnType<typeof createRewardActivities>>({
  ...dbWrite,
  scheduleToCloseTimeout: '1m',
  localRetryThreshold: '10s',
});

/**
 * One paid order's points, `rewards-order-<orderId>`: records them as pending, sleeps on a durable timer until the
 * event has ended and its refund window passed, then vests what refunds left of them (paying a referrer's bonus
 * when this was the referred buyer's first order). Refunds change the points in Postgres, not through this
 * workflow, so a refund after vesting (when this workflow is long closed) works the same way as one before.
 */
export async function orderRewardsWorkflow(input: OrderRewardsInput): Promise<OrderRewardsResult> {
  const view: OrderRewardsView = {
    orderId: input.orderId,
    status: 'ACCRUING',
    accrued: 0,
    vestsAt: null,
    vested: 0,
  };
  setHandler(orderRewardsQuery, () => view);
  setHandler(statusQuery, () => ({ ...view }));

  const accrued = await rewards.accrueOrderPoints({ orderId: input.orderId });
  view.status = 'PENDING';
  view.accrued = accrued.points;
  view.vestsAt = accrued.vestsAt;
  const wait = Date.parse(accrued.vestsAt) - Date.now();
  if (wait > 0) await sleep(wait);

  const vested = await rewards.vestOrderPoints({ orderId: input.orderId });
  view.status = 'VESTED';
  view.vested = vested.vested;
  return {
    accrued: accrued.points,
    vested: vested.vested,
    vestsAt: accrued.vestsAt,
    referralBonus: vested.referralBonus,
  };
}

/**
 * Records a paid order's points as pending, inside the checkout (no workflow of its own): the rewards schedule
 * (`dailyRewardsWorkflow`, `vestDueOrders`) vests them once the event has ended and its refund window passed, as
 * it always did for orders whose timer was lost. The accrual is idempotent by order id. When it cannot be recorded
 * within its minute, the order's rewards workflow is started instead, so the points still come. Never throws.
 */
export async function accrueOrderRewards(order: RewardedOrder): Promise<void> {
  try {
    await rewardsLocal.accrueOrderPoints({ orderId: order.orderId });
  } catch (err) {
    log.warn('points not accrued inline; starting the rewards workflow', {
      orderId: order.orderId,
      error: String(err),
    });
    await startOrderRewards(order);
  }
}

/**
 * Starts a paid order's rewards workflow as an abandoned child, tagged with the order's ids. Waits only for the
 * start and never throws: points are a bonus, never a reason for a sale to fail (the daily sweep vests orders
 * whose points were recorded, whatever became of their timer).
 */
export async function startOrderRewards(order: RewardedOrder): Promise<void> {
  try {
    await startChild(orderRewardsWorkflow, {
      workflowId: orderRewardsWorkflowId(order.orderId),
      args: [{ orderId: order.orderId, buyerId: order.buyerId }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: SearchAttributes.OrderId, value: order.orderId },
        { key: SearchAttributes.EventId, value: order.eventId },
        { key: SearchAttributes.BuyerId, value: order.buyerId },
      ],
    });
  } catch (err) {
    log.warn('rewards workflow not started', { orderId: order.orderId, error: String(err) });
  }
}
