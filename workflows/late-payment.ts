import {
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  FailureType,
  SearchAttributes,
  type LatePaymentInput,
  type LatePaymentResult,
  type TicketView,
} from '../domain';
import type { createCheckoutActivities } from '../activities/checkout';
import type { createPaymentActivities } from '../activities/payments';
import { compensation, issuance } from './activity-options';

const fulfilment = proxyActivities<ReturnType<typeof createCheckoutActivities>>(issuance);
const refunds = proxyActivities<ReturnType<typeof createPaymentActivities>>(compensation);

/**
 * A crypto payment that arrived after its checkout ended unpaid (a `charge:delayed`, or a confirmation after the
 * hold expired). Issues the tickets when the seats can still be had, and otherwise records the money as owed
 * back, so every paid charge ends in exactly one of the two.
 */
export async function latePaymentWorkflow(input: LatePaymentInput): Promise<LatePaymentResult> {
  let tickets: TicketView[];
  try {
    tickets = (await fulfilment.issueTickets({ orderId: input.orderId })).tickets;
  } catch (err) {
    if (!isSeatsLost(err)) throw err;
    await refunds.recordRefundOwed({
      orderId: input.orderId,
      paymentRef: input.paymentRef,
      reason: 'paid after the hold expired and the seats were sold',
    });
    return { outcome: 'refund_owed', tickets: [] };
  }
  upsertSearchAttributes([{ key: SearchAttributes.OrderStatus, value: 'PAID' }]);
  return { outcome: 'tickets_issued', tickets };
}

function isSeatsLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.SeatsLost
  );
}
