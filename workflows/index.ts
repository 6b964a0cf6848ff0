/** Every workflow the worker runs; the worker bundles this file. */
export { checkoutWorkflow } from './checkout';
export { latePaymentWorkflow } from './late-payment';
export { mintTicketNftsWorkflow } from './nft';
export { sendMessageWorkflow } from './notifications';
export { refundWorkflow } from './refunds';
export { eventCancellationWorkflow } from './event-cancellation';
