import { log, ParentClosePolicy, startChild, upsertMemo } from '@temporalio/workflow';
import {
  MessageKind,
  messageWorkflowId,
  NFT_TASK_QUEUE,
  nftMintWorkflowId,
  NOTIFICATIONS_TASK_QUEUE,
  SearchAttributes,
  type CheckoutInput,
  type TicketView,
} from '../domain';
import { mintTicketNftsWorkflow } from './nft';
import { sendMessageWorkflow } from './notifications';

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

/**
 * Starts what follows a payment: the NFT mints when the buyer gave a wallet, and the order confirmation by email
 * and SMS. Both are child workflows on their own task queues with parent close policy ABANDON, tagged with the
 * order's ids so `OrderId="..."` in the Temporal UI lists them beside the checkout. This waits only until they
 * have started (an abandoned child must have started before its parent closes), never for them to finish, and
 * never throws: neither a dead chain nor a dead mail provider can fail or delay the order.
 */
export async function startOrderFulfilment(order: PaidOrder, tickets: TicketView[]): Promise<void> {
  const tags = [
    { key: SearchAttributes.OrderId, value: order.orderId },
    { key: SearchAttributes.EventId, value: order.eventId },
    { key: SearchAttributes.BuyerId, value: order.buyerId },
    { key: SearchAttributes.OrganizerId, value: order.organizerId },
  ];
  const started: { nft?: string; confirmation?: string } = {};
  const starts: Array<Promise<void>> = [];

  if (order.walletAddress && tickets.length > 0) {
    const workflowId = nftMintWorkflowId(order.orderId);
    starts.push(
      startChild(mintTicketNftsWorkflow, {
        workflowId,
        taskQueue: NFT_TASK_QUEUE,
        args: [
          {
            orderId: order.orderId,
            walletAddress: order.walletAddress,
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
  if (!order.contact || order.contact.email || order.contact.phone) {
    const workflowId = messageWorkflowId(MessageKind.OrderConfirmed, order.orderId);
    starts.push(
      // Recipients are read from the order by the activity, so no contact details travel in this child's input.
      startChild(sendMessageWorkflow, {
        workflowId,
        taskQueue: NOTIFICATIONS_TASK_QUEUE,
        args: [{ kind: MessageKind.OrderConfirmed, key: order.orderId, orderId: order.orderId }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: tags,
      }).then(
        () => void (started.confirmation = workflowId),
        (err) => log.warn('confirmation workflow not started', { orderId: order.orderId, error: String(err) }),
      ),
    );
  }
  await Promise.all(starts);
  upsertMemo({
    fulfilment: { nftWorkflowId: started.nft ?? null, confirmationWorkflowId: started.confirmation ?? null },
  });
}
