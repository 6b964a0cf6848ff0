/**
 * Workflow interceptors bundled with every workflow (workers/main.ts, bundleWorkflowCode). Runs in the workflow
 * sandbox: imports only @temporalio/workflow and the domain module.
 */
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { SearchAttributes } from '../domain/checkout';

/**
 * Puts the order's id on every line a workflow logs (`log.info(...)`), read from the `OrderId` search attribute
 * that every workflow of an order carries, so a log search for one orderId finds its checkout, mint and messages.
 * Logging only: it adds no command, so recorded histories replay unchanged.
 */
export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      getLogAttributes(input, next) {
        const orderId = workflowInfo().typedSearchAttributes.get(SearchAttributes.OrderId);
        return next(orderId ? { orderId, ...input } : input);
      },
    },
  ],
});
