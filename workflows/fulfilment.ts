import { log, ParentClosePolicy, proxyLocalActivities, sleep, startChild, upsertMemo } from '@temporalio/workflow';
import type { SearchAttributePair } from '@temporalio/common';
import {
  MessageKind,
  messageWorkflowId,
  NFT_TASK_QUEUE,
  nftMintWorkflowId,
  NOTIFICATIONS_TASK_QUEUE,
  SearchAttributes,
  type CheckoutInput,
  type SendMessageInput,
  type TicketView,
} from '../domain';
import type { createNotificationActivities } from '../activities/notifications';
import { mintTicketNftsWorkflow } from './nft';
import { sendMessageWorkflow } from './notifications';

/**
 * Patch id: the checkout sends a paid order's confirmation itself, as one local activity after the buyer's answer,
 * instead of starting `notify-order-confirmed-<orderId>` for every order (that workflow is started only when the
 * local attempt fails), and records no `fulfilment` memo. Histories before it start the confirmation workflow.
 */
export const INLINE_CONFIRMATION = 'checkout-inline-confirmation-v1';

/**
 * Whether a change to the checkout applies to this run: `patched` for the first type, and for the later ones their
 * list of changes built in, then `patched`. Fulfilment asks the checkout's gate, so each type keeps its semantics.
 */
export type ChangeGate = (patchId: string) => boolean;

/**
 * The confirmation as a local activity of the checkout. One attempt is a database write and one provider call per
 * channel (the adapters time out after 10 s). A provider that keeps failing gets a few quick tries within a
 * minute, and then the message workflow, which retries for a day: a dead mail provider never holds up a sale.
 */
const messagesLocal = proxyLocalActivities<ReturnType<typeof createNotificationActivities>>({
  startToCloseTimeout: '15s',
  scheduleToCloseTimeout: '1m',
  localRetryThreshold: '10s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumAttempts: 3 },
});

/**
 * What fulfilment needs to know about a paid order. Without `contact` the confirmation is started anyway and its
 * activity finds the recipients (or none) on the order, for callers such as a late payment that do not have them.
 */
export type PaidOrder = Pick<
  CheckoutInput,
  'orderId' | 'eventId' | 'buyerId' | 'organizerId' | 'walletAddress'
> & {
  contact?: CheckoutInput['contact'];
};

/** The order's ids every child it starts carries, so `OrderId="..."` lists them beside the checkout. */
type Tags = SearchAttributePair[];

/**
 * Starts what follows a payment: the NFT mints when the buyer gave a wallet, and the order confirmation by email
 * and SMS. The mints are a child workflow on their own task queue with parent close policy ABANDON, tagged with
 * the order's ids so `OrderId="..."` in the Temporal UI lists it beside the checkout; this waits only until it has
 * started. The confirmation is a child workflow as well unless `patched` lets {@link INLINE_CONFIRMATION} apply
 * (the checkout's gate; a late payment passes none and keeps the child). Never throws: neither a dead chain nor a
 * dead mail provider can fail or delay the order.
 */
export async function startOrderFulfilment(
  order: PaidOrder,
  tickets: TicketView[],
  patched?: ChangeGate,
): Promise<void> {
  const tags: Tags = [
    { key: SearchAttributes.OrderId, value: order.orderId },
    { key: SearchAttributes.EventId, value: order.eventId },
    { key: SearchAttributes.BuyerId, value: order.buyerId },
    { key: SearchAttributes.OrganizerId, value: order.organizerId },
  ];
  const confirm = !order.contact || Boolean(order.contact.email || order.contact.phone);
  // Asked for every paid order, with or without contact, so that no new order writes the fulfilment memo.
  const inline = patched !== undefined && patched(INLINE_CONFIRMATION);
  const started: { nft?: string; confirmation?: string } = {};
  const starts: Array<Promise<void>> = [];

  const wallet = tickets.length > 0 ? order.walletAddress : undefined;
  if (wallet) {
    const workflowId = nftMintWorkflowId(order.orderId);
    starts.push(
      startChild(mintTicketNftsWorkflow, {
        workflowId,
        taskQueue: NFT_TASK_QUEUE,
        args: [
          {
            orderId: order.orderId,
            walletAddress: wallet,
            ticketIds: tickets.map((t) => t.ticketId),
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: tags,
      }).then(
        () => void (started.nft = workflowId),
        (err) => log.warn('NFT mint workflow not started', { orderId: order.orderId, error: String(err) }),
      ),
    );
  }
  if (inline) {
    await Promise.all(starts);
    if (!confirm) return;
    // A workflow task that runs a local activity completes only once it is done, and the buyer's answer (the
    // placement update) leaves with the task that made the order PAID. The mint's start already ends that task;
    // without it a 1 ms timer does, so the buyer never waits for the mail and SMS providers.
    if (!wallet) await sleep(1);
    await sendConfirmation(order, tags);
    return;
  }
  if (confirm) {
    starts.push(
      startConfirmationWorkflow(order, tags).then((workflowId) => {
        if (workflowId) started.confirmation = workflowId;
      }),
    );
  }
  await Promise.all(starts);
  upsertMemo({
    fulfilment: { nftWorkflowId: started.nft ?? null, confirmationWorkflowId: started.confirmation ?? null },
  });
}

/** The order confirmation; recipients are read from the order by the activity, so no contact travels in it. */
const orderConfirmation = (order: PaidOrder): SendMessageInput => ({
  kind: MessageKind.OrderConfirmed,
  key: order.orderId,
  orderId: order.orderId,
});

/**
 * Sends the confirmation by a local activity through the outbox (its result, each channel's status, is the
 * marker in the checkout's history; the outbox rows say the same). When that attempt fails or runs out of its
 * minute, the message workflow takes over: it finds the rows this attempt made, sends only what is still
 * PENDING, and retries for a day. Never throws.
 */
async function sendConfirmation(order: PaidOrder, tags: Tags): Promise<void> {
  try {
    await messagesLocal.sendMessage(orderConfirmation(order));
  } catch (err) {
    log.warn('confirmation not sent inline; starting the message workflow', {
      orderId: order.orderId,
      error: String(err),
    });
    await startConfirmationWorkflow(order, tags);
  }
}

/** Starts the order's message workflow as an abandoned child; its id once started, undefined if it could not be. */
async function startConfirmationWorkflow(order: PaidOrder, tags: Tags): Promise<string | undefined> {
  const workflowId = messageWorkflowId(MessageKind.OrderConfirmed, order.orderId);
  try {
    await startChild(sendMessageWorkflow, {
      workflowId,
      taskQueue: NOTIFICATIONS_TASK_QUEUE,
      args: [orderConfirmation(order)],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: tags,
    });
    return workflowId;
  } catch (err) {
    log.warn('confirmation workflow not started', { orderId: order.orderId, error: String(err) });
    return undefined;
  }
}
