import type { ActivityOptions } from '@temporalio/workflow';

/** Database writes: quick, and retried until Postgres answers. */
export const dbWrite: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
};

/** Calls to a payment provider: bounded in time, retried with backoff; business failures are non-retryable. */
export const providerCall: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
};

/** Ticket issuance gives up after a while, so money that cannot become tickets is refunded or owed, not stuck. */
export const issuance: ActivityOptions = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 12 },
};

/** Compensations never give up: a hold that never releases or a refund nobody makes is money lost. */
export const compensation: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '2m' },
};
