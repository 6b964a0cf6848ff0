import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  type ActivityOptions,
} from '@temporalio/workflow';
import {
  approvePayoutUpdate,
  awaitPayoutPlacementUpdate,
  FailureType,
  MessageKind,
  messageWorkflowId,
  NOTIFICATIONS_TASK_QUEUE,
  PAYOUT_NOT_AWAITING_APPROVAL,
  payoutStatusQuery,
  statusQuery,
  rejectPayoutUpdate,
  SearchAttributes,
  type PayoutInput,
  type PayoutPlacement,
  type PayoutResult,
  type PayoutView,
} from '../domain';
import type { createPayoutActivities } from '../activities/payouts';
import { compensation, dbWrite } from './activity-options';
import { sendMessageWorkflow } from './notifications';

/**
 * A transfer is retried until the provider answers: its idempotency key makes every retry the same transfer, and
 * giving up on an unanswered one would reverse money that may have left. Only a refusal ends it.
 */
const transferCall: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '10m',
    nonRetryableErrorTypes: [FailureType.PayoutRefused],
  },
};

const ledger = proxyActivities<ReturnType<typeof createPayoutActivities>>(dbWrite);
const provider = proxyActivities<ReturnType<typeof createPayoutActivities>>(transferCall);
const undo = proxyActivities<ReturnType<typeof createPayoutActivities>>(compensation);

type Decision = { approvedBy: string } | { rejectedBy: string; reason: string };

/**
 * Pays an organizer what the ledger says is available: creates the payout (reserving its amount), waits for an
 * admin's approval when it is above the threshold, sends the Connect transfer, and posts it as paid; a refused
 * transfer (or a rejection) reverses the reservation. Success notifies the organizer. Id:
 * `payout-<organizerId>-<payoutId>`.
 */
export async function payoutWorkflow(input: PayoutInput): Promise<PayoutResult> {
  // Set once the ledger has answered; the placement update waits for it.
  const created: { placement?: PayoutPlacement } = {};
  let view: PayoutView | null = null;
  let decision: Decision | undefined;

  setHandler(payoutStatusQuery, () => view);
  // Before the ledger has answered there is no payout yet; a refused one never becomes one.
  let refused = false;
  setHandler(statusQuery, () => view ?? { status: refused ? 'REFUSED' : 'CREATING', payoutId: input.payoutId });
  setHandler(awaitPayoutPlacementUpdate, async () => {
    await condition(() => created.placement !== undefined);
    return created.placement!;
  });
  const awaitingDecision = () => {
    if (view?.status !== 'AWAITING_APPROVAL' || decision !== undefined)
      throw ApplicationFailure.nonRetryable(
        `payout ${input.payoutId} is ${view?.status ?? 'not created'}, not waiting for approval`,
        PAYOUT_NOT_AWAITING_APPROVAL,
      );
  };
  const decided = async (d: Decision) => {
    decision = d;
    await condition(() => view?.status !== 'AWAITING_APPROVAL');
    return view!;
  };
  setHandler(approvePayoutUpdate, ({ approvedBy }) => decided({ approvedBy }), {
    validator: (_approval) => awaitingDecision(),
  });
  setHandler(rejectPayoutUpdate, ({ rejectedBy, reason }) => decided({ rejectedBy, reason }), {
    validator: (_rejection) => awaitingDecision(),
  });

  const show = (v: PayoutView) => {
    view = v;
    upsertMemo({ status: v.status, amountMinor: v.amountMinor, currency: v.currency });
    upsertSearchAttributes([{ key: SearchAttributes.PayoutStatus, value: v.status }]);
  };

  const placement = (created.placement = await ledger.createPayout(input));
  if (placement.outcome === 'refused') {
    refused = true;
    upsertMemo({ status: 'REFUSED', rule: placement.rule });
    await condition(allHandlersFinished);
    return { placement, status: 'REFUSED' };
  }
  show(placement.payout);

  let approvedBy: string | undefined;
  if (placement.payout.status === 'AWAITING_APPROVAL') {
    await condition(() => decision !== undefined);
    if ('rejectedBy' in decision!) {
      show(
        await undo.reversePayout({
          payoutId: input.payoutId,
          reason: `rejected by ${decision.rejectedBy}: ${decision.reason}`,
        }),
      );
      await condition(allHandlersFinished);
      return { placement, status: view!.status };
    }
    approvedBy = decision!.approvedBy;
  }
  show(await ledger.markPayoutInTransit({ payoutId: input.payoutId, ...(approvedBy ? { approvedBy } : {}) }));

  let transferId: string;
  try {
    ({ transferId } = await provider.transferPayout({ payoutId: input.payoutId }));
  } catch (err) {
    if (!isRefused(err)) throw err;
    show(await undo.reversePayout({ payoutId: input.payoutId, reason: err.cause.message }));
    await condition(allHandlersFinished);
    return { placement, status: 'FAILED' };
  }
  show(await ledger.recordPayoutPaid({ payoutId: input.payoutId, transferId }));

  // The notice runs on its own: a mail provider can neither fail nor delay a payout.
  await startChild(sendMessageWorkflow, {
    workflowId: messageWorkflowId(MessageKind.PayoutPaid, input.payoutId),
    taskQueue: NOTIFICATIONS_TASK_QUEUE,
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [{ kind: MessageKind.PayoutPaid, key: input.payoutId }],
    typedSearchAttributes: [{ key: SearchAttributes.OrganizerId, value: input.organizerId }],
  });
  await condition(allHandlersFinished);
  return { placement, status: 'PAID' };
}

function isRefused(err: unknown): err is ActivityFailure & { cause: ApplicationFailure } {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.PayoutRefused
  );
}
