/** Every workflow the worker runs; the worker bundles this file. */
export { checkoutWorkflow, checkoutWorkflowV2, checkoutWorkflowV3 } from './checkout';
export { latePaymentWorkflow } from './late-payment';
export { mintTicketNftsWorkflow } from './nft';
export { sendMessageWorkflow } from './notifications';
export { payoutWorkflow } from './payouts';
export { reconciliationWorkflow } from './reconciliation';
export { refundWorkflow } from './refunds';
export { eventCancellationWorkflow } from './event-cancellation';
export { orderRewardsWorkflow } from './rewards';
export {
  holdSweeperWorkflow,
  weeklyPayoutsWorkflow,
  dailyRewardsWorkflow,
  dailyReconciliationWorkflow,
} from './schedules';
