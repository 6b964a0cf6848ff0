import {
  ApplicationFailure,
  condition,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  upsertMemo,
} from '@temporalio/workflow';
import {
  approveRefundUpdate,
  manualRefundCompletedUpdate,
  messageWorkflowId,
  minorToDecimalString,
  NOTIFICATIONS_TASK_QUEUE,
  REFUND_DECISION_CONFLICT,
  RefundMessageKind,
  refundOutcomeSignal,
  refundStatusQuery,
  statusQuery,
  rejectRefundUpdate,
  SearchAttributes,
  type RefundDecision,
  type RefundInput,
  type RefundOutcome,
  type RefundResult,
  type RefundStatus,
  type RefundView,
} from '../domain';
import type { createRefundActivities } from '../activities/refunds';
import type { createRewardActivities } from '../activities/rewards';
import { compensation, dbWrite } from './activity-options';
import { sendMessageWorkflow } from './notifications';

const book = proxyActivities<ReturnType<typeof createRefundActivities>>(dbWrite);
/** A refund, once decided, is retried until the provider takes it: money owed back is never given up on. */
const provider = proxyActivities<ReturnType<typeof createRefundActivities>>(compensation);

/** Taking back points is a compensation of the money refunded: retried until done. */
const rewards = proxyActivities<ReturnType<typeof createRewardActivities>>(compensation);

/**
 * Patch id: a succeeded refund takes back its share of the order's points (voids pending ones, claws back vested
 * ones) and gives back its share of the points the order redeemed. Histories before it left points alone.
 */
export const REFUND_REVERSES_REWARDS = 'refund-reverses-rewards-v1';

/** A pending card refund is looked up at the provider this often, in case its webhook is late or lost. */
const PENDING_RECHECK_MS = 60 * 60 * 1000;

/**
 * One refund of (part of) an order, `refund-<refundId>`: waits for approval above the threshold, voids the
 * tickets (they scan VOID from then on), refunds through the provider (a pending card refund is not done until
 * its webhook says so; crypto waits for support to send it by hand), posts the reversal to the ledger, puts the
 * seats back on sale, tells the buyer, and marks the order PARTIALLY_REFUNDED or REFUNDED. A refund that fails
 * gives the tickets back and ends FAILED with the provider's reason.
 */
export async function refundWorkflow(input: RefundInput): Promise<RefundResult> {
  const view: RefundView = {
    refundId: input.refundId,
    orderId: input.orderId,
    status: 'REQUESTED',
    amount: input.amount,
    ticketIds: input.ticketIds,
    reminders: 0,
  };
  let decision: (RefundDecision & { approved: boolean }) | undefined;
  let manual: { by: string; reference: string } | undefined;
  const outcomes: RefundOutcome[] = [];

  setHandler(refundStatusQuery, () => view);
  setHandler(statusQuery, () => view);
  setHandler(refundOutcomeSignal, (outcome) => void outcomes.push(outcome));
  // A refund that needs approval is awaiting it from the start: the database says AWAITING_APPROVAL as soon as
  // the status activity commits, and the workflow learns it a workflow task later (a hop through matching and
  // history on a cluster), so a decision read off the API in between is taken too, not refused as REQUESTED.
  // No patch marker: validators are not replayed, and in every recorded history an accepted decision came in
  // AWAITING_APPROVAL, after which both versions of the handler's wait agree.
  const undecided = () =>
    view.status === 'AWAITING_APPROVAL' || (input.needsApproval && view.status === 'REQUESTED');
  const decide = (approved: boolean) => async (d: RefundDecision) => {
    decision ??= { ...d, approved };
    await condition(() => !undecided());
    return view;
  };
  const awaitingDecision = (_decision: RefundDecision) => {
    if (!undecided() || decision !== undefined) {
      throw ApplicationFailure.nonRetryable(
        `the refund is ${decision ? (decision.approved ? 'already approved' : 'already rejected') : view.status}`,
        REFUND_DECISION_CONFLICT,
      );
    }
  };
  setHandler(approveRefundUpdate, decide(true), { validator: awaitingDecision });
  setHandler(rejectRefundUpdate, decide(false), { validator: awaitingDecision });
  setHandler(
    manualRefundCompletedUpdate,
    async (m) => {
      manual ??= m;
      await condition(() => view.status !== 'AWAITING_MANUAL_REFUND');
      return view;
    },
    {
      validator: (_manual: { by: string; reference: string }) => {
        if (view.status !== 'AWAITING_MANUAL_REFUND' || manual !== undefined)
          throw ApplicationFailure.nonRetryable(
            `the refund is ${view.status}, not waiting for a manual refund`,
            REFUND_DECISION_CONFLICT,
          );
      },
    },
  );

  const setStatus = async (
    status: RefundStatus,
    extra: { by?: string; reason?: string; reference?: string; failureReason?: string } = {},
  ) => {
    await book.setRefundStatus({ refundId: input.refundId, status, ...extra });
    view.status = status;
    if (extra.failureReason) view.failureReason = extra.failureReason;
    if (extra.by) view.decidedBy = extra.by;
    upsertMemo({ refundStatus: status, waitingFor: waitingFor(status) });
  };
  /** Waits for `done`, reminding support each time `reminderAfterMs` passes without it. */
  const waitWithReminders = async (done: () => boolean, what: string) => {
    while (!(await condition(done, input.reminderAfterMs))) {
      view.reminders += 1;
      upsertMemo({ reminders: view.reminders, lastReminderFor: what });
      log.warn('refund is waiting for support', { refundId: input.refundId, waitingFor: what });
      await book.recordRefundReminder({ refundId: input.refundId, waitingFor: what });
    }
  };

  if (input.needsApproval) {
    await setStatus('AWAITING_APPROVAL');
    await waitWithReminders(() => decision !== undefined, 'approval');
    const d = decision!;
    if (!d.approved) {
      await setStatus('REJECTED', { by: d.by, reason: d.reason });
      return view;
    }
    await setStatus('PROCESSING', { by: d.by, reason: d.reason });
  } else {
    await setStatus('PROCESSING');
  }

  // The tickets first: from here on they scan VOID, so nobody walks in on a ticket being refunded.
  const voided = await book.voidRefundTickets({
    refundId: input.refundId,
    allowUsed: input.allowUsedTickets ?? false,
  });
  if (voided.usedTicketId) {
    await setStatus('FAILED', { failureReason: `ticket ${voided.usedTicketId} was already admitted at the door` });
    return view;
  }

  if (input.paymentMethod === 'card') {
    let result = await provider.refundPayment({ refundId: input.refundId });
    const providerRef = result.providerRef!;
    // Pending (or waiting on the bank) is not done: wait for the refund's webhook, or look again now and then.
    while (result.status === 'pending' || result.status === 'requires_action') {
      const heard = await condition(() => outcomes.some((o) => o.providerRef === providerRef), PENDING_RECHECK_MS);
      if (heard) outcomes.splice(0, outcomes.length);
      result = await provider.checkCardRefund({ providerRef });
    }
    if (result.status !== 'succeeded') {
      await provider.restoreRefundTickets({ refundId: input.refundId });
      await setStatus('FAILED', {
        failureReason: `stripe refund ${result.status}: ${result.failureReason ?? 'no reason given'}`,
      });
      return view;
    }
  } else {
    // Coinbase Commerce has no refund API: support sends it by hand and records its transaction reference.
    await setStatus('AWAITING_MANUAL_REFUND');
    await waitWithReminders(() => manual !== undefined, 'manual-refund');
    view.decidedBy = manual!.by;
  }

  await book.postRefund({ refundId: input.refundId });
  if (patched(REFUND_REVERSES_REWARDS)) await rewards.reverseRefundRewards({ refundId: input.refundId });
  await book.releaseRefundSeats({ refundId: input.refundId });
  await notifyBuyer(input);
  const { orderStatus } = await book.completeRefund({ refundId: input.refundId, reference: manual?.reference });
  view.status = 'SUCCEEDED';
  upsertMemo({ refundStatus: 'SUCCEEDED', waitingFor: null, orderStatus });
  return view;
}

/** What support is waiting on, for the memo the Temporal UI shows. */
function waitingFor(status: RefundStatus): string | null {
  if (status === 'AWAITING_APPROVAL') return 'approval by support or admin';
  if (status === 'AWAITING_MANUAL_REFUND') return 'support to send the crypto refund and record its reference';
  return null;
}

/** Tells the buyer through the message workflow; started and abandoned, so mail can never hold up the refund. */
async function notifyBuyer(input: RefundInput): Promise<void> {
  const amount = `${minorToDecimalString(input.amount.amountMinor, input.amount.currency)} ${input.amount.currency}`;
  try {
    await startChild(sendMessageWorkflow, {
      workflowId: messageWorkflowId(RefundMessageKind.RefundSucceeded, input.refundId),
      taskQueue: NOTIFICATIONS_TASK_QUEUE,
      args: [
        {
          kind: RefundMessageKind.RefundSucceeded,
          key: input.refundId,
          orderId: input.orderId,
          data: {
            refundId: input.refundId,
            orderId: input.orderId,
            amount,
            text: `Bilten: ${amount} of order ${input.orderId} is refunded (refund ${input.refundId}).`,
          },
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: SearchAttributes.OrderId, value: input.orderId },
        { key: SearchAttributes.EventId, value: input.eventId },
        { key: SearchAttributes.BuyerId, value: input.buyerId },
        { key: SearchAttributes.OrganizerId, value: input.organizerId },
      ],
    });
  } catch (err) {
    log.warn('refund message not started', { refundId: input.refundId, error: String(err) });
  }
}
