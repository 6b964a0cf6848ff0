import {
  condition,
  continueAsNew,
  executeChild,
  proxyActivities,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import {
  cancellationProgressQuery,
  statusQuery,
  CHECKOUT_TASK_QUEUE,
  refundWorkflowId,
  SearchAttributes,
  type CancellationProgress,
  type CancellationState,
  type EventCancellationInput,
} from '../domain';
import type { createRefundActivities } from '../activities/refunds';
import { dbWrite } from './activity-options';
import { refundWorkflow } from './refunds';

const book = proxyActivities<ReturnType<typeof createRefundActivities>>(dbWrite);

/** Orders read per page. */
const PAGE_SIZE = 100;
/** Orders started per run before continuing as new, so the history stays bounded for any number of orders. */
const DEFAULT_ORDERS_PER_RUN = 500;
/** Backoff before a failed refund is tried again: doubling from this, up to an hour. */
const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 60 * 60 * 1000;

/**
 * Cancels an event, `event-cancellation-<eventId>`: stops its sales at once, lets open checkouts finish or expire,
 * then refunds every paid order as a child `refundWorkflow`, at most `parallelism` at a time (a sliding window),
 * continuing as new every few hundred orders. A refund that fails is tried again (a new refund, with backoff)
 * until one succeeds or support refunds the order otherwise. Progress is a query (`progress`) and the memo.
 */
export async function eventCancellationWorkflow(input: EventCancellationInput): Promise<CancellationProgress> {
  const state: CancellationState = input.state ?? {
    cursor: null,
    total: 0,
    refunded: 0,
    retry: [],
    counted: false,
  };
  const ordersPerRun = input.ordersPerRun ?? DEFAULT_ORDERS_PER_RUN;
  let inProgress = 0;
  const progress = (): CancellationProgress => ({
    total: state.total,
    refunded: state.refunded,
    failed: state.retry.length,
    inProgress,
  });
  setHandler(cancellationProgressQuery, progress);
  let phase: 'STOPPING_SALES' | 'WAITING_FOR_OPEN_CHECKOUTS' | 'REFUNDING' | 'DONE' = state.counted
    ? 'REFUNDING'
    : 'STOPPING_SALES';
  setHandler(statusQuery, () => ({ status: phase, eventId: input.eventId, ...progress() }));
  const showProgress = () => upsertMemo({ eventId: input.eventId, progress: progress() });

  if (!state.counted) {
    await book.stopEventSales({ eventId: input.eventId });
    phase = 'WAITING_FOR_OPEN_CHECKOUTS';
    // Open checkouts finish (and are then refunded like any paid order) or expire; none is cut short.
    while ((await book.countOpenCheckouts({ eventId: input.eventId })) > 0) await sleep(input.pollMs);
    state.total = await book.countOrdersToRefund({ eventId: input.eventId });
    state.counted = true;
    phase = 'REFUNDING';
    showProgress();
  }

  const running = new Set<Promise<void>>();
  let startedThisRun = 0;
  const launch = (orderId: string, attempt: number) => {
    const one: Promise<void> = refundOne(orderId, attempt).finally(() => running.delete(one));
    running.add(one);
    startedThisRun += 1;
  };
  const historyIsLong = () => startedThisRun >= ordersPerRun || workflowInfo().continueAsNewSuggested;
  const carryOn = async (): Promise<never> => {
    await condition(() => running.size === 0);
    await book.recordCancellationProgress({ eventId: input.eventId, progress: progress(), done: false });
    return continueAsNew<typeof eventCancellationWorkflow>({ ...input, state });
  };

  async function refundOne(orderId: string, attempt: number): Promise<void> {
    const refund = await book.requestCancellationRefund({
      eventId: input.eventId,
      orderId,
      attempt,
      requestedBy: input.requestedBy,
    });
    if (!refund) {
      // Refunded in full meanwhile (by the buyer or support): the buyer has their money back once.
      state.refunded += 1;
      showProgress();
      return;
    }
    inProgress += 1;
    showProgress();
    let succeeded = false;
    try {
      const result = await executeChild(refundWorkflow, {
        workflowId: refundWorkflowId(refund.refundId),
        taskQueue: CHECKOUT_TASK_QUEUE,
        args: [
          { ...refund, needsApproval: false, allowUsedTickets: true, reminderAfterMs: input.reminderAfterMs },
        ],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchAttributes.OrderId, value: refund.orderId },
          { key: SearchAttributes.EventId, value: refund.eventId },
          { key: SearchAttributes.BuyerId, value: refund.buyerId },
          { key: SearchAttributes.OrganizerId, value: refund.organizerId },
        ],
        memo: {
          refundId: refund.refundId,
          amountMinor: refund.amount.amountMinor,
          currency: refund.amount.currency,
        },
      });
      succeeded = result.status === 'SUCCEEDED';
    } catch {
      succeeded = false;
    }
    inProgress -= 1;
    if (succeeded) state.refunded += 1;
    else state.retry.push({ orderId, attempt: attempt + 1 });
    showProgress();
  }

  // Every paid order, page by page, through a window of `parallelism` refunds at a time.
  for (;;) {
    const page = await book.listOrdersToRefund({ eventId: input.eventId, after: state.cursor, limit: PAGE_SIZE });
    for (const orderId of page) {
      await condition(() => running.size < input.parallelism);
      launch(orderId, 1);
      state.cursor = orderId;
    }
    if (page.length < PAGE_SIZE) break;
    if (historyIsLong()) return carryOn();
  }
  await condition(() => running.size === 0);

  // Failed refunds again, with backoff, until each succeeds or support refunds the order another way.
  while (state.retry.length > 0) {
    const attempt = Math.min(...state.retry.map((r) => r.attempt));
    await sleep(Math.min(RETRY_BASE_MS * 2 ** Math.max(attempt - 2, 0), RETRY_MAX_MS));
    const due = state.retry.splice(0, state.retry.length);
    for (const { orderId, attempt: n } of due) {
      await condition(() => running.size < input.parallelism);
      launch(orderId, n);
    }
    await condition(() => running.size === 0);
    if (historyIsLong()) return carryOn();
  }

  await book.recordCancellationProgress({ eventId: input.eventId, progress: progress(), done: true });
  phase = 'DONE';
  showProgress();
  return progress();
}
