import { defineQuery } from '@temporalio/workflow';

/**
 * What every workflow answers to the `status` query: where it stands in one upper-case word (`PAID`,
 * `AWAITING_APPROVAL`, `MINTING`, ...) and, beside it, what it has done so far (its view, counts, channels).
 */
export interface WorkflowStatus {
  status: string;
}

/**
 * Query: every workflow type answers `status`, so support can ask any workflow the same question in the Temporal
 * UI's Queries tab (or `temporal workflow query --type status`) without knowing its type. Workflows that had a
 * query of their own (`checkoutStatus`, `refundStatus`, `payoutStatus`, `progress`) keep it for the API.
 */
export const statusQuery = defineQuery<WorkflowStatus>('status');
