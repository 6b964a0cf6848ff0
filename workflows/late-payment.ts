import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import {
  FailureType,
  SearchAttributes,
  statusQuery,
  type LatePaymentInput,
  type LatePaymentResult,
  type TicketView,
} from '../domain';
import type { createCheckoutActivities } from '../activities/checkout';
import type { createRefundActivities } from '../activities/refunds';
import { compensation, issuance } from './activity-options';
import { startOrderFulfilment } from './fulfilment';

const fulfilment = proxyActivities<ReturnType<typeof createCheckoutActivities>>(issuance);
const refunds = proxyActivities<ReturnType<typeof createRefundActivities>>(compensation);

/**
 * Patch id: tickets issued for a late payment go through the same fulfilment as a normal PAID order (NFT mints and
 * the confirmation). Before it, late payments issued tickets and nothing else.
 */
export const LATE_PAYMENT_FULFILMENT = 'late-payment-fulfilment-v1';

/**
 * A payment that arrived after its checkout ended unpaid: a crypto `charge:delayed` or a confirmation after the
 * hold expired, or a card that was paid as its hold expired (3-D Secure at the last moment, a late
 * `payment_intent.succeeded`). Issues the tickets when the seats can still be had, and otherwise gives the money
 * back (a card refund; crypto is owed for support to send), so every paid order ends in exactly one of the two.
 */
export async function latePaymentWorkflow(input: LatePaymentInput): Promise<LatePaymentResult> {
  let status: 'ISSUING_TICKETS' | 'REFUNDING' | LatePaymentResult['outcome'] = 'ISSUING_TICKETS';
  setHandler(statusQuery, () => ({
    status: status.toUpperCase(),
    orderId: input.orderId,
    provider: input.provider,
  }));
  let tickets: TicketView[];
  try {
    tickets = (await fulfilment.issueTickets({ orderId: input.orderId })).tickets;
  } catch (err) {
    if (!isSeatsLost(err)) throw err;
    status = 'REFUNDING';
    const settle = input.provider === 'stripe' ? refunds.refundLatePayment : refunds.recordRefundOwed;
    await settle({
      orderId: input.orderId,
      paymentRef: input.paymentRef,
      reason: 'paid after the hold expired and the seats were sold',
    });
    status = 'refund_owed';
    return { outcome: status, tickets: [] };
  }
  status = 'tickets_issued';
  upsertSearchAttributes([{ key: SearchAttributes.OrderStatus, value: 'PAID' }]);
  if (input.order && patched(LATE_PAYMENT_FULFILMENT)) {
    await startOrderFulfilment({ orderId: input.orderId, ...input.order }, tickets);
  }
  return { outcome: 'tickets_issued', tickets };
}

function isSeatsLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.SeatsLost
  );
}
