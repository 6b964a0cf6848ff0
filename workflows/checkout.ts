import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  awaitPlacementUpdate,
  cancelCheckoutUpdate,
  cancellationReason,
  checkoutStatusQuery,
  statusQuery,
  FailureType,
  isCheckoutFinal,
  latePaymentWorkflowId,
  OrderReason,
  paymentOutcomeSignal,
  SearchAttributes,
  type CheckoutInput,
  type CheckoutView,
  type OrderStatus,
  type PaymentOutcome,
  type PaymentStatus,
} from '../domain';
import type { createCheckoutActivities } from '../activities/checkout';
import type { createPaymentActivities } from '../activities/payments';
import type { createRefundActivities } from '../activities/refunds';
import { compensation, dbWrite, issuance, providerCall } from './activity-options';
import { INLINE_CONFIRMATION, startOrderFulfilment, type ChangeGate } from './fulfilment';
import type { latePaymentWorkflow } from './late-payment';
import { accrueOrderRewards, startOrderRewards } from './rewards';

const inventory = proxyActivities<ReturnType<typeof createCheckoutActivities>>(dbWrite);
const fulfilment = proxyActivities<ReturnType<typeof createCheckoutActivities>>(issuance);
const payments = proxyActivities<ReturnType<typeof createPaymentActivities>>(providerCall);
/**
 * The hold and the issuance are single Postgres transactions of a few milliseconds. As local activities they run
 * inside the workflow task that decides them, which saves two task round trips through the server per checkout.
 * Payments and compensations stay ordinary activities: they may take long or retry for hours.
 */
const inventoryLocal = proxyLocalActivities<ReturnType<typeof createCheckoutActivities>>({
  ...dbWrite,
  localRetryThreshold: '10s',
});
const fulfilmentLocal = proxyLocalActivities<ReturnType<typeof createCheckoutActivities>>({
  ...issuance,
  localRetryThreshold: '10s',
});
/**
 * The instant card charge as a local activity: a provider that answers within a second or two is charged inside the
 * workflow task that holds the seats, so a paid order takes one task instead of three and records one marker instead
 * of three activity events. A retry is the same request (the provider idempotency key is derived from the order), so
 * an attempt re-run after its worker died, or after its task failed, finds the PaymentIntent the first one made
 * instead of charging again. Backoffs past the threshold wait on a durable timer, as a slow provider should.
 */
const paymentsLocal = proxyLocalActivities<ReturnType<typeof createPaymentActivities>>({
  ...providerCall,
  localRetryThreshold: '2s',
});
const inventoryCompensations = proxyActivities<ReturnType<typeof createCheckoutActivities>>(compensation);
const paymentCompensations = proxyActivities<ReturnType<typeof createRefundActivities>>(compensation);

/** Patch id: the hold and the issuance run as local activities (histories before it used ordinary ones). */
const LOCAL_DB_STEPS = 'checkout-local-db-steps-v1';
/**
 * Patch id: a card found paid when its hold expired (3-D Secure passed at the last moment, or its webhook lost) is
 * kept and handed to the late-payment workflow, which issues the tickets if the seats remain and refunds otherwise.
 * Before it, such a payment was refunded (or, when the cancel raced the payment, recorded canceled: charged, no ticket).
 */
export const CARD_PAID_AT_EXPIRY = 'checkout-card-paid-at-expiry-v1';
/**
 * Patch id: the order the workflow keeps (its query, update and result payloads) holds ids only: no ticket codes
 * and no client secret, which the API reads from Postgres. Histories before it copied both from activity results.
 */
export const IDS_ONLY_ORDER_VIEW = 'checkout-ids-only-order-view-v1';
/** Patch id: a cancel by support or an admin ends CANCELLED_BY_SUPPORT (before it, every cancel said BUYER). */
export const CANCEL_REASON_BY_ROLE = 'checkout-cancel-reason-by-role-v1';
/**
 * Patch id: a paid order starts its rewards workflow (points pending until the event is over), and a hold refused
 * for too few reward points ends FAILED with INSUFFICIENT_POINTS. Histories before it earned no points.
 */
export const ORDER_REWARDS = 'checkout-order-rewards-v1';
/**
 * Patch id: a paid order's points are accrued by a local activity of the checkout and vested by the rewards
 * schedule, instead of a `rewards-order-<orderId>` workflow per order sleeping on its own timer (issue 12: measured on one
 * instant card order, 81 history events over 3 workflows became 55 over 2). Histories before it start that workflow.
 */
export const INLINE_REWARDS = 'checkout-inline-rewards-v1';

/**
 * Patch id: the card charge runs as a local activity (see `paymentsLocal`). Histories before it schedule `chargeCard`
 * as an ordinary activity. The crypto charge stays one: Coinbase takes no idempotency key (only look-before-act
 * guards it, and a local attempt is re-run whenever its workflow task is lost), and a task round trip saved matters
 * little on a path that then waits minutes for the buyer.
 */
export const LOCAL_CARD_CHARGE = 'checkout-local-charge-v1';
/**
 * Patch id: a status change upserts the OrderStatus search attribute only when the status itself changed, and no memo:
 * nobody reads the checkout's memo (the API, support's queries and the README use the search attributes), and each
 * upsert is a history event and a visibility write. Histories before it upsert both on every change.
 */
export const STATUS_SEARCH_ATTRIBUTE_ONLY = 'checkout-status-search-attribute-only-v1';

/** How a checkout ended, before compensation runs. */
interface Ending {
  status: OrderStatus;
  reason: OrderReason;
  detail?: string;
}

/**
 * One buyer's purchase, as the first checkout type: every change since it shipped is a `patched()` call, because
 * checkouts of this type may still be running and its recorded histories must replay. The API starts
 * {@link checkoutWorkflowV2} instead; this one stays registered until no run of it is left.
 */
export async function checkoutWorkflow(input: CheckoutInput): Promise<CheckoutView> {
  return runCheckout(input, patched);
}

/**
 * One buyer's purchase, as the second checkout type: every change patched into {@link checkoutWorkflow} applies
 * from the start. Each `patched()` call costs a new run two history events (its marker and the
 * TemporalChangeVersion upsert): 8 of the 36 events of a paid card checkout before this type (bench 20261202T082938).
 * A new type rather than a flag in the input, because a worker that does not know the type leaves its tasks to
 * one that does, whereas an older worker reading a flag it does not know would record the markers anyway.
 * Changes made after it shipped go behind `patched()` again: they are left out of {@link BUILT_INTO_V2}.
 */
export async function checkoutWorkflowV2(input: CheckoutInput): Promise<CheckoutView> {
  return runCheckout(input, (patchId) => BUILT_INTO_V2.has(patchId) || patched(patchId));
}

/** The changes {@link checkoutWorkflowV2} was born with; a patch added after it shipped is not in this list. */
const BUILT_INTO_V2: ReadonlySet<string> = new Set([
  LOCAL_DB_STEPS,
  CARD_PAID_AT_EXPIRY,
  IDS_ONLY_ORDER_VIEW,
  CANCEL_REASON_BY_ROLE,
  ORDER_REWARDS,
  INLINE_REWARDS,
  'fulfilment-children-v1',
  'checkout-ignores-outcomes-of-other-payments',
  'checkout-hands-late-crypto-payments-over',
]);

/**
 * One buyer's purchase, as the third checkout type: the changes of {@link BUILT_INTO_V2} and those patched in since
 * apply from the start, so a new run records none of their markers (2 history events each). The API starts this
 * type; {@link checkoutWorkflowV2} stays registered until no run of it is left.
 */
export async function checkoutWorkflowV3(input: CheckoutInput): Promise<CheckoutView> {
  return runCheckout(input, (patchId) => BUILT_INTO_V3.has(patchId) || patched(patchId));
}

/** The changes {@link checkoutWorkflowV3} was born with; a patch added after it shipped is not in this list. */
const BUILT_INTO_V3: ReadonlySet<string> = new Set([
  ...BUILT_INTO_V2,
  LOCAL_CARD_CHARGE,
  STATUS_SEARCH_ATTRIBUTE_ONLY,
  INLINE_CONFIRMATION,
]);

/**
 * One buyer's purchase: hold seats, take payment, issue tickets. Every failure after the hold releases it,
 * and every failure after money moved voids or refunds the payment. Ends in exactly one final status.
 * `patched` decides which changes apply (see the two workflow types above); it shadows the SDK's on purpose,
 * so every change below reads as the patch it is.
 */
async function runCheckout(input: CheckoutInput, patched: ChangeGate): Promise<CheckoutView> {
  const idsOnly = patched(IDS_ONLY_ORDER_VIEW);
  const startedAt = new Date(workflowInfo().startTime);
  const expiresAt = new Date(startedAt.getTime() + input.holdTtlMs).toISOString();
  const view: CheckoutView = {
    orderId: input.orderId,
    status: 'AWAITING_PAYMENT',
    expiresAt,
    amount: { totalMinor: input.total.amountMinor, currency: input.total.currency },
    payment: { method: input.payment.method, status: 'pending' },
    tickets: [],
    history: [{ at: startedAt.toISOString(), status: 'AWAITING_PAYMENT' }],
  };
  /** True once seats are held and the buyer has what they need to pay (or the order already ended). */
  let placed = false;
  let cancelRequestedBy: string | undefined;
  const outcomes: PaymentOutcome[] = [];
  /** The provider object (PaymentIntent or charge) this order pays with, once it exists. */
  let paymentRef: string | undefined;
  /** True when the compensation found the card paid as the hold expired: the late-payment workflow takes it. */
  let cardPaidAtExpiry = false;

  setHandler(checkoutStatusQuery, () => view);
  setHandler(statusQuery, () => view);
  setHandler(paymentOutcomeSignal, (outcome) => void outcomes.push(outcome));
  setHandler(awaitPlacementUpdate, async () => {
    await condition(() => placed);
    return view;
  });
  setHandler(
    cancelCheckoutUpdate,
    async ({ requestedBy }) => {
      cancelRequestedBy ??= requestedBy;
      await condition(() => isCheckoutFinal(view.status));
      return view;
    },
    {
      validator: (_request: { requestedBy: string }) => {
        if (isCheckoutFinal(view.status) || view.payment.status === 'succeeded') {
          throw ApplicationFailure.nonRetryable(`order is already ${view.status}`, 'OrderNotCancellable');
        }
      },
    },
  );

  const setStatus = (status: OrderStatus, reason?: OrderReason, detail?: string) => {
    if (view.status === status && view.reason === reason) return;
    const statusChanged = view.status !== status;
    view.status = status;
    view.reason = reason;
    view.reasonDetail = detail;
    view.history.push({ at: new Date().toISOString(), status, ...(reason ? { reason } : {}) });
    if (!patched(STATUS_SEARCH_ATTRIBUTE_ONLY)) {
      upsertSearchAttributes([{ key: SearchAttributes.OrderStatus, value: status }]);
      upsertMemo({ status, ...(reason ? { reason } : {}) });
    } else if (statusChanged) {
      upsertSearchAttributes([{ key: SearchAttributes.OrderStatus, value: status }]);
    }
  };
  const setPayment = (status: PaymentStatus) => {
    view.payment.status = status;
  };

  /** Compensations registered only after their step succeeded, run in reverse order. */
  const undo: Array<(ending: Ending) => Promise<void>> = [];
  const finish = async (ending: Ending): Promise<CheckoutView> => {
    for (const step of undo.reverse()) await step(ending);
    setStatus(ending.status, ending.reason, ending.detail);
    placed = true;
    await handOffLateCryptoPayment();
    return view;
  };

  // Seats first: nothing is charged for seats that are not there.
  try {
    const hold = patched(LOCAL_DB_STEPS) ? inventoryLocal : inventory;
    await hold.reserveSeats({ order: input, expiresAt });
  } catch (err) {
    const type = failureType(err);
    if (type === FailureType.SoldOut) return finish({ status: 'FAILED', reason: OrderReason.SoldOut });
    if (type === FailureType.OpenHoldLimit) return finish({ status: 'FAILED', reason: OrderReason.OpenHoldLimit });
    if (type === FailureType.BuyerTicketLimit)
      return finish({ status: 'FAILED', reason: OrderReason.BuyerTicketLimit });
    if (type === FailureType.InsufficientPoints && patched(ORDER_REWARDS))
      return finish({ status: 'FAILED', reason: OrderReason.InsufficientPoints });
    throw err;
  }
  undo.push((ending) =>
    inventoryCompensations.releaseHold({
      orderId: input.orderId,
      status: ending.status,
      reason: ending.reason,
      detail: ending.detail,
    }),
  );

  const voidOrRefund = async (ending: Ending) => {
    const keepIfPaid =
      input.payment.method === 'card' && ending.status === 'EXPIRED' && patched(CARD_PAID_AT_EXPIRY);
    const { outcome } = await paymentCompensations.voidOrRefundPayment({
      orderId: input.orderId,
      reason: ending.reason,
      ...(keepIfPaid ? { keepIfPaid } : {}),
    });
    if (outcome === 'paid') {
      setPayment('succeeded');
      cardPaidAtExpiry = true;
    } else if (outcome === 'refunded') setPayment('refunded');
    else if (outcome === 'refund_owed') setPayment('refund_owed');
    else if (outcome === 'canceled') setPayment('canceled');
  };

  // Payment: a card may succeed at once; 3-D Secure and crypto wait for the buyer and a provider webhook.
  let paid = false;
  try {
    if (input.payment.method === 'card') {
      const charger = patched(LOCAL_CARD_CHARGE) ? paymentsLocal : payments;
      const charge = await charger.chargeCard({
        orderId: input.orderId,
        amount: input.total,
        paymentMethodId: input.payment.paymentMethodId,
      });
      paymentRef = charge.intentId;
      undo.push(voidOrRefund);
      if (!idsOnly) view.payment.clientSecret = charge.clientSecret ?? undefined;
      if (charge.status === 'succeeded') paid = true;
      else if (charge.status === 'requires_action') {
        view.payment.hostedUrl = charge.actionUrl ?? undefined;
        setPayment('requires_action');
      } else {
        setPayment('processing');
        setStatus('PAYMENT_PROCESSING');
      }
    } else {
      const charge = await payments.createCryptoCharge({ orderId: input.orderId, amount: input.total });
      paymentRef = charge.chargeId;
      undo.push(voidOrRefund);
      view.payment.hostedUrl = charge.hostedUrl;
    }
  } catch (err) {
    if (failureType(err) === FailureType.PaymentDeclined) {
      setPayment('failed');
      return finish({ status: 'FAILED', reason: OrderReason.PaymentDeclined, detail: failureMessage(err) });
    }
    return finish({ status: 'FAILED', reason: OrderReason.PaymentFailed, detail: failureMessage(err) });
  }

  if (!paid) {
    placed = true;
    const ending = await awaitPayment();
    if (ending) return finish(ending);
  }

  setPayment('succeeded');
  try {
    const issue = patched(LOCAL_DB_STEPS) ? fulfilmentLocal : fulfilment;
    const issued = await issue.issueTickets({ orderId: input.orderId });
    view.tickets = idsOnly ? issued.tickets.map(({ code: _code, ...ticket }) => ticket) : issued.tickets;
  } catch (err) {
    const reason =
      failureType(err) === FailureType.SeatsLost ? OrderReason.SeatsLost : OrderReason.TicketIssuanceFailed;
    return finish({ status: 'FAILED', reason, detail: failureMessage(err) });
  }
  setStatus('PAID');
  placed = true;
  // Mints and the confirmation run as abandoned children: started here, never waited for.
  if (patched('fulfilment-children-v1')) await startOrderFulfilment(input, view.tickets, patched);
  // Asked first so that a new order records one patch marker here, not two.
  if (patched(INLINE_REWARDS)) await accrueOrderRewards(input);
  else if (patched(ORDER_REWARDS)) await startOrderRewards(input);
  return view;

  /** Waits for the provider's verdict, the buyer's cancel, or the hold's expiry; returns how a failed wait ends. */
  async function awaitPayment(): Promise<Ending | undefined> {
    const deadline = Date.parse(expiresAt);
    // Webhooks may report another object, or arrive twice or out of order: only this order's payment counts.
    const ownPaymentOnly = patched('checkout-ignores-outcomes-of-other-payments');
    for (;;) {
      const remaining = deadline - Date.now();
      const woke = await condition(
        () => outcomes.length > 0 || cancelRequestedBy !== undefined,
        Math.max(remaining, 1),
      );
      const outcome = outcomes.shift();
      if (outcome) {
        if (ownPaymentOnly && outcome.paymentRef !== paymentRef) continue;
        if (outcome.status === 'succeeded' || outcome.status === 'delayed') return undefined;
        if (outcome.status === 'processing') {
          setPayment('processing');
          setStatus('PAYMENT_PROCESSING');
          await inventory.recordOrderProgress({ orderId: input.orderId, status: 'PAYMENT_PROCESSING' });
          continue;
        }
        setPayment(outcome.status === 'canceled' ? 'canceled' : 'failed');
        return outcome.status === 'canceled' && Date.now() >= deadline
          ? { status: 'EXPIRED', reason: OrderReason.HoldExpired }
          : {
              status: 'FAILED',
              reason: OrderReason.PaymentFailed,
              detail: `${outcome.provider} ${outcome.eventId}`,
            };
      }
      if (cancelRequestedBy !== undefined) {
        const reason = patched(CANCEL_REASON_BY_ROLE)
          ? cancellationReason(cancelRequestedBy)
          : OrderReason.CancelledByBuyer;
        return { status: 'CANCELLED', reason, detail: `by ${cancelRequestedBy}` };
      }
      if (!woke) return { status: 'EXPIRED', reason: OrderReason.HoldExpired };
    }
  }

  /**
   * A crypto payment reported while the unpaid order was being wound up (after the wait, before the close)
   * would otherwise be dropped with the workflow: hand it to the late-payment workflow, which outlives this one.
   * A charge the compensation found paid is already a refund owed, and stays one.
   */
  async function handOffLateCryptoPayment(): Promise<void> {
    if (paymentRef === undefined) return;
    let provider: PaymentOutcome['provider'];
    if (cardPaidAtExpiry) {
      provider = 'stripe';
    } else {
      if (input.payment.method !== 'crypto') return;
      if (view.status === 'PAID' || view.payment.status === 'refund_owed') return;
      const late = outcomes.find(
        (o) => o.paymentRef === paymentRef && (o.status === 'delayed' || o.status === 'succeeded'),
      );
      if (!late || !patched('checkout-hands-late-crypto-payments-over')) return;
      provider = late.provider;
    }
    try {
      await startChild<typeof latePaymentWorkflow>('latePaymentWorkflow', {
        workflowId: latePaymentWorkflowId(input.orderId),
        args: [
          {
            orderId: input.orderId,
            provider,
            paymentRef,
            order: {
              eventId: input.eventId,
              buyerId: input.buyerId,
              organizerId: input.organizerId,
              ...(input.walletAddress ? { walletAddress: input.walletAddress } : {}),
            },
          },
        ],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchAttributes.OrderId, value: input.orderId },
          { key: SearchAttributes.EventId, value: input.eventId },
          { key: SearchAttributes.BuyerId, value: input.buyerId },
          { key: SearchAttributes.OrganizerId, value: input.organizerId },
          { key: SearchAttributes.OrderStatus, value: view.status },
          { key: SearchAttributes.PaymentMethod, value: input.payment.method },
          { key: SearchAttributes.AmountMinor, value: input.total.amountMinor },
        ],
      });
    } catch (err) {
      // A webhook already started it: one late-payment workflow per order is the point.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}

/** The business failure type carried by an activity failure, if any. */
function failureType(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure)
    return err.cause.type ?? undefined;
  if (err instanceof ApplicationFailure) return err.type ?? undefined;
  return undefined;
}

function failureMessage(err: unknown): string | undefined {
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : undefined;
}
