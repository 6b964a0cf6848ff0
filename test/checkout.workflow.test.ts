import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { createCheckoutActivities } from '../activities/checkout';
import type { createPaymentActivities } from '../activities/payments';
import type { createRefundActivities } from '../activities/refunds';
import type { createNotificationActivities } from '../activities/notifications';
import type { createRewardActivities } from '../activities/rewards';
import {
  awaitPlacementUpdate,
  cancelCheckoutUpdate,
  checkoutStatusQuery,
  CHECKOUT_WORKFLOW_TYPES,
  checkoutWorkflowId,
  FailureType,
  latePaymentWorkflowId,
  MessageKind,
  messageWorkflowId,
  NFT_TASK_QUEUE,
  nftMintWorkflowId,
  NOTIFICATIONS_TASK_QUEUE,
  paymentOutcomeSignal,
  SearchAttributes,
  type CheckoutInput,
  type CheckoutView,
  type PaymentOutcome,
} from '../domain';
import { temporal } from '@temporalio/proto';
import type { checkoutWorkflowV3 } from '../workflows/checkout';
import type { latePaymentWorkflow } from '../workflows/late-payment';
import { createTemporalEnv, uid, Worker, workerOptions } from './support/env';
import { recordHistory } from './support/histories';
import { checkoutInput } from './support/orders';

type Activities = ReturnType<typeof createCheckoutActivities> &
  ReturnType<typeof createPaymentActivities> &
  Pick<
    ReturnType<typeof createRefundActivities>,
    'voidOrRefundPayment' | 'recordRefundOwed' | 'refundLatePayment'
  > &
  Pick<ReturnType<typeof createRewardActivities>, 'accrueOrderPoints'> &
  Pick<ReturnType<typeof createNotificationActivities>, 'sendMessage'>;

type CheckoutWorkflowType = (typeof CHECKOUT_WORKFLOW_TYPES)[number];

let env: TestWorkflowEnvironment;
let bundle: Awaited<ReturnType<typeof import('@temporalio/worker').bundleWorkflowCode>>;
const catalogue = { organizerId: 'org_t', eventId: 'evt_t', ticketTypeId: 'tt_t' };

beforeAll(async () => {
  env = await createTemporalEnv();
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
}, 120_000);
afterAll(() => env?.teardown());

const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

/** A fake for any activity: may answer synchronously, with the activity's own input and result types. */
type Overrides = {
  [K in keyof Activities]?: (
    input: Parameters<Activities[K]>[0],
  ) => Awaited<ReturnType<Activities[K]>> | ReturnType<Activities[K]>;
};

/** Fake activities that record their calls; each test overrides what it needs. */
function fakeActivities(overrides: Overrides = {}) {
  const calls: Array<{ name: string; input: unknown }> = [];
  const record =
    <I, R>(name: string, result: (input: I) => R | Promise<R>) =>
    async (input: I): Promise<R> => {
      calls.push({ name, input });
      return result(input);
    };
  const base: Activities = {
    reserveSeats: record('reserveSeats', ({ expiresAt }) => ({ expiresAt })),
    issueTickets: record('issueTickets', () => ({
      tickets: [{ ticketId: 'tkt_1', ticketTypeId: 'tt_t', code: 'CODE-1', status: 'VALID' }],
    })),
    releaseHold: record('releaseHold', () => undefined),
    recordOrderProgress: record('recordOrderProgress', () => undefined),
    chargeCard: record('chargeCard', () => ({
      intentId: 'pi_1',
      status: 'succeeded' as const,
      clientSecret: 'pi_1_secret',
      actionUrl: null,
    })),
    createCryptoCharge: record('createCryptoCharge', () => ({
      chargeId: 'ch_1',
      hostedUrl: 'http://localhost/sandbox/coinbase/charges/ABC',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    })),
    voidOrRefundPayment: record('voidOrRefundPayment', () => ({ outcome: 'canceled' as const })),
    recordRefundOwed: record('recordRefundOwed', ({ orderId }) => ({ refundId: `ref_${orderId}` })),
    refundLatePayment: record('refundLatePayment', ({ orderId }) => ({ refundId: `ref_${orderId}` })),
    accrueOrderPoints: record('accrueOrderPoints', () => ({ points: 0, vestsAt: new Date().toISOString() })),
    sendMessage: record('sendMessage', () => ({ EMAIL: 'SENT' as const })),
  };
  const wrapped = Object.fromEntries(
    Object.entries(overrides).map(([name, fn]) => [name, record(name, fn as (i: unknown) => unknown)]),
  );
  return { activities: { ...base, ...wrapped } as Activities, calls, names: () => calls.map((c) => c.name) };
}

/** Starts a checkout as the API does (update-with-start) and returns the placement answer and a handle. */
let taskQueue = 'checkout-test';
async function place(input: CheckoutInput, type: CheckoutWorkflowType = 'checkoutWorkflowV3') {
  const placement = await env.client.workflow.executeUpdateWithStart(awaitPlacementUpdate, {
    startWorkflowOperation: new WithStartWorkflowOperation<typeof checkoutWorkflowV3>(type, {
      workflowId: checkoutWorkflowId(input.orderId),
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
    }),
  });
  return {
    placement,
    handle: env.client.workflow.getHandle<typeof checkoutWorkflowV3>(checkoutWorkflowId(input.orderId)),
  };
}

/** Runs `body` with a worker on the test queue using the given fake activities. */
async function withWorker<T>(activities: Activities, body: () => Promise<T>): Promise<T> {
  taskQueue = uid('checkout-test');
  const worker = await Worker.create({
    ...workerOptions(env, taskQueue),
    workflowsPath: undefined,
    workflowBundle: bundle,
    activities,
  });
  return worker.runUntil(body);
}

/** The activities of a checkout paid by card, in order: seats, charge, tickets, confirmation, the buyer's points. */
const PAID_BY_CARD = ['reserveSeats', 'chargeCard', 'issueTickets', 'sendMessage', 'accrueOrderPoints'];

/** An outcome for the payment the fakes create: PaymentIntent `pi_3ds` or crypto charge `ch_1`. */
const outcome = (
  status: PaymentOutcome['status'],
  provider: PaymentOutcome['provider'] = 'stripe',
  paymentRef = provider === 'stripe' ? 'pi_3ds' : 'ch_1',
): PaymentOutcome => ({
  provider,
  paymentRef,
  eventId: uid('evt'),
  status,
});

describe('checkoutWorkflow', () => {
  test('when the card is charged at once, then the order is PAID with tickets in one round trip', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { quantity: 1 });
    const result = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      const final: CheckoutView = await handle.result();
      await recordHistory('checkout-v1-card-succeeded', handle);
      await recordHistory('checkout-v6-card-succeeded', handle);
      return { placement, final };
    });
    expect(result.placement.status).toBe('PAID');
    expect(result.placement.tickets).toHaveLength(1);
    expect(result.final.history.map((h) => h.status)).toEqual(['AWAITING_PAYMENT', 'PAID']);
    expect(fake.names()).toEqual(PAID_BY_CARD);
  });

  test('when the card is declined, then the hold is released and the order ends FAILED', async () => {
    const fake = fakeActivities({
      chargeCard: () => {
        throw ApplicationFailure.nonRetryable('card declined (generic_decline)', FailureType.PaymentDeclined);
      },
    });
    const input = checkoutInput(catalogue);
    const { placement, final } = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      const final = await handle.result();
      await recordHistory('checkout-v1-card-declined', handle);
      await recordHistory('checkout-v3-card-declined-local-db-steps', handle);
      await recordHistory('checkout-v6-card-declined', handle);
      return { placement, final };
    });
    expect(placement).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_DECLINED' });
    expect(final.payment.status).toBe('failed');
    expect(fake.names()).toEqual(['reserveSeats', 'chargeCard', 'releaseHold']);
    expect(fake.calls.at(-1)?.input).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_DECLINED' });
  });

  test('when the event is sold out, then nothing is charged and the order ends FAILED', async () => {
    const fake = fakeActivities({
      reserveSeats: () => {
        throw ApplicationFailure.nonRetryable('sold out', FailureType.SoldOut);
      },
    });
    const placement = await withWorker(
      fake.activities,
      async () => (await place(checkoutInput(catalogue))).placement,
    );
    expect(placement).toMatchObject({ status: 'FAILED', reason: 'SOLD_OUT' });
    expect(fake.names()).toEqual(['reserveSeats']);
  });

  test('when 3-D Secure is required and passed, then the buyer gets a hostedUrl and the order becomes PAID', async () => {
    const fake = fakeActivities({
      chargeCard: () => ({
        intentId: 'pi_3ds',
        status: 'requires_action',
        clientSecret: 's',
        actionUrl: 'http://3ds/pi_3ds',
      }),
    });
    const input = checkoutInput(catalogue);
    const { placement, final } = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('succeeded'));
      const final = await handle.result();
      await recordHistory('checkout-v1-card-3ds-succeeded', handle);
      await recordHistory('checkout-v6-card-3ds-succeeded', handle);
      return { placement, final };
    });
    expect(placement).toMatchObject({
      status: 'AWAITING_PAYMENT',
      payment: { status: 'requires_action', hostedUrl: 'http://3ds/pi_3ds' },
    });
    expect(final.status).toBe('PAID');
    expect(fake.names()).toEqual(PAID_BY_CARD);
  });

  test('when 3-D Secure is abandoned, then the hold expires: payment voided, seats released, EXPIRED', async () => {
    const fake = fakeActivities({
      chargeCard: () => ({
        intentId: 'pi_3ds',
        status: 'requires_action',
        clientSecret: 's',
        actionUrl: 'http://3ds',
      }),
    });
    const input = checkoutInput(catalogue, { holdTtlMs: 1_500 });
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      const final = await handle.result();
      await recordHistory('checkout-v1-card-3ds-expired', handle);
      await recordHistory('checkout-v6-card-3ds-expired', handle);
      return final;
    });
    expect(final).toMatchObject({ status: 'EXPIRED', reason: 'HOLD_EXPIRED', payment: { status: 'canceled' } });
    expect(fake.names()).toEqual(['reserveSeats', 'chargeCard', 'voidOrRefundPayment', 'releaseHold']);
    expect(fake.calls.at(-1)?.input).toMatchObject({ status: 'EXPIRED' });
  });

  test('when a crypto charge is confirmed, then the order is PAID', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const { placement, final } = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('succeeded', 'coinbase'));
      const final = await handle.result();
      await recordHistory('checkout-v1-crypto-confirmed', handle);
      await recordHistory('checkout-v6-crypto-confirmed', handle);
      return { placement, final };
    });
    expect(placement).toMatchObject({
      status: 'AWAITING_PAYMENT',
      payment: { method: 'crypto', hostedUrl: expect.any(String) },
    });
    expect(final.status).toBe('PAID');
  });

  test('when a crypto payment is pending and then confirmed, then the order shows PAYMENT_PROCESSING, then PAID', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const { during, final } = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('processing', 'coinbase'));
      let during = await handle.query(checkoutStatusQuery);
      for (let i = 0; i < 50 && during.status !== 'PAYMENT_PROCESSING'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        during = await handle.query(checkoutStatusQuery);
      }
      await handle.signal(paymentOutcomeSignal, outcome('succeeded', 'coinbase'));
      const final = await handle.result();
      await recordHistory('checkout-v1-crypto-pending-confirmed', handle);
      return { during, final };
    });
    expect(during.status).toBe('PAYMENT_PROCESSING');
    expect(final.history.map((h) => h.status)).toEqual(['AWAITING_PAYMENT', 'PAYMENT_PROCESSING', 'PAID']);
    expect(fake.names()).toContain('recordOrderProgress');
  });

  test('when a crypto charge fails, then the hold is released and the order ends FAILED', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('failed', 'coinbase'));
      const final = await handle.result();
      await recordHistory('checkout-v1-crypto-failed', handle);
      return final;
    });
    expect(final).toMatchObject({ status: 'FAILED', reason: 'PAYMENT_FAILED' });
    expect(fake.names()).toEqual(['reserveSeats', 'createCryptoCharge', 'voidOrRefundPayment', 'releaseHold']);
  });

  test('when a crypto payment arrives delayed while seats are still held, then the tickets are issued', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('delayed', 'coinbase'));
      const final = await handle.result();
      await recordHistory('checkout-v1-crypto-delayed', handle);
      return final;
    });
    expect(final.status).toBe('PAID');
  });

  test('when the buyer cancels before paying, then the payment is voided, seats released, CANCELLED', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const cancelled = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      const view = await handle.executeUpdate(cancelCheckoutUpdate, { args: [{ requestedBy: 'buyer:b1' }] });
      await handle.result();
      await recordHistory('checkout-v1-buyer-cancelled', handle);
      await recordHistory('checkout-v6-buyer-cancelled', handle);
      return view;
    });
    expect(cancelled).toMatchObject({ status: 'CANCELLED', reason: 'CANCELLED_BY_BUYER' });
    expect(fake.names()).toEqual(['reserveSeats', 'createCryptoCharge', 'voidOrRefundPayment', 'releaseHold']);
  });

  test('when the order is already PAID and its workflow has closed, then a cancel is refused and changes nothing', async () => {
    const fake = fakeActivities();
    const input = checkoutInput(catalogue);
    const { paid, refusal, after, callsBefore } = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      const paid: CheckoutView = await handle.result();
      const callsBefore = fake.names();
      const refusal = await handle
        .executeUpdate(cancelCheckoutUpdate, { args: [{ requestedBy: 'buyer:b1' }] })
        .then(
          () => null,
          (e: unknown) => e,
        );
      return { paid, refusal, after: await handle.query(checkoutStatusQuery), callsBefore };
    });
    expect(paid.status).toBe('PAID');
    expect(refusal).toBeInstanceOf(Error);
    // Nothing changed: the order still reads PAID with its tickets, and no activity ran after the cancel.
    expect(after).toEqual(paid);
    expect(fake.names()).toEqual(callsBefore);
    expect(fake.names()).not.toContain('releaseHold');
    expect(fake.names()).not.toContain('voidOrRefundPayment');
  });

  test('when a cancel arrives for a PAID order that is still running, then the update is rejected', async () => {
    let releaseIssuance!: () => void;
    const issuanceGate = new Promise<void>((r) => (releaseIssuance = r));
    const fake = fakeActivities({
      issueTickets: async () => {
        await issuanceGate;
        return { tickets: [] };
      },
    });
    const input = checkoutInput(catalogue);
    const rejection = await withWorker(fake.activities, async () => {
      const handle = env.client.workflow.getHandle(checkoutWorkflowId(input.orderId));
      const placing = place(input);
      for (let i = 0; i < 100; i++) {
        const names = fake.names();
        if (names.includes('issueTickets')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const error = await handle
        .executeUpdate(cancelCheckoutUpdate, { args: [{ requestedBy: 'buyer:b1' }] })
        .catch((e) => e);
      releaseIssuance();
      await placing;
      return error;
    });
    expect(rejection).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(fake.names()).not.toContain('releaseHold');
  });

  test('when tickets cannot be issued after the charge, then the payment is refunded and seats released', async () => {
    const fake = fakeActivities({
      issueTickets: () => {
        throw ApplicationFailure.nonRetryable('ticket store unavailable', FailureType.TicketIssuanceFailed);
      },
      voidOrRefundPayment: () => ({ outcome: 'refunded' as const }),
    });
    const input = checkoutInput(catalogue);
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      const final = await handle.result();
      await recordHistory('checkout-v1-issuance-failed-refunded', handle);
      await recordHistory('checkout-v3-issuance-failed-refunded-local-db-steps', handle);
      await recordHistory('checkout-v6-issuance-failed-refunded', handle);
      return final;
    });
    expect(final).toMatchObject({
      status: 'FAILED',
      reason: 'TICKET_ISSUANCE_FAILED',
      payment: { status: 'refunded' },
    });
    expect(fake.names()).toEqual([
      'reserveSeats',
      'chargeCard',
      'issueTickets',
      'voidOrRefundPayment',
      'releaseHold',
    ]);
  });

  test('when a compensation fails at first, then it is retried until it is done', async () => {
    let attempts = 0;
    const fake = fakeActivities({
      chargeCard: () => {
        throw ApplicationFailure.nonRetryable('declined', FailureType.PaymentDeclined);
      },
      releaseHold: () => {
        attempts += 1;
        if (attempts < 3) throw new Error('database unavailable');
      },
    });
    const final = await withWorker(fake.activities, async () =>
      (await place(checkoutInput(catalogue))).handle.result(),
    );
    expect(final.status).toBe('FAILED');
    expect(attempts).toBe(3);
  });

  test.each(CHECKOUT_WORKFLOW_TYPES)(
    'when a new checkout of type %s charges a card, then the charge runs in the first workflow task, as a local activity',
    async (type) => {
      const fake = fakeActivities();
      const input = checkoutInput(catalogue, { quantity: 1 });
      const { placement, history } = await withWorker(fake.activities, async () => {
        const { placement, handle } = await place(input, type);
        await handle.result();
        // A run of an older type takes the patched path; V3 was born with it.
        if (type !== 'checkoutWorkflowV3') await recordHistory(`checkout-v6-${type}-card-succeeded`, handle);
        return { placement, history: await handle.fetchHistory() };
      });
      expect(placement.status).toBe('PAID');
      const { EventType } = temporal.api.enums.v1;
      const events = history.events ?? [];
      expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).toEqual([]);
      // Seats, charge and tickets are decided in the first task: the placement is answered before a second completes.
      const tasksCompleted = events.flatMap((e, i) =>
        e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED ? [i] : [],
      );
      const updateCompleted = events.findIndex(
        (e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
      );
      expect(updateCompleted).toBeLessThan(tasksCompleted[1] ?? events.length);
      expect(fake.names()).toEqual(PAID_BY_CARD);
    },
  );

  test('when the card provider fails for a moment, then the charge is retried with the same order and the order is PAID', async () => {
    let attempts = 0;
    const fake = fakeActivities({
      chargeCard: () => {
        attempts += 1;
        if (attempts < 2) throw new Error('connection reset by the provider');
        return { intentId: 'pi_1', status: 'succeeded' as const, actionUrl: null };
      },
    });
    const input = checkoutInput(catalogue, { quantity: 1 });
    const placement = await withWorker(fake.activities, async () => (await place(input)).placement);
    expect(placement.status).toBe('PAID');
    const charges = fake.calls.filter((c) => c.name === 'chargeCard').map((c) => c.input);
    expect(charges).toEqual([
      expect.objectContaining({ orderId: input.orderId }),
      expect.objectContaining({ orderId: input.orderId }),
    ]);
  });
});

describe('checkoutWorkflow with webhook-driven outcomes', () => {
  test('when outcomes arrive for another payment, twice, or a failure after success, then only the first real outcome counts', async () => {
    const fake = fakeActivities({
      chargeCard: () => ({
        intentId: 'pi_3ds',
        status: 'requires_action',
        clientSecret: 's',
        actionUrl: 'http://3ds/pi_3ds',
      }),
    });
    const input = checkoutInput(catalogue);
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      await handle.signal(paymentOutcomeSignal, outcome('failed', 'stripe', 'pi_someone_else'));
      await handle.signal(paymentOutcomeSignal, outcome('succeeded'));
      await handle.signal(paymentOutcomeSignal, outcome('succeeded'));
      await handle.signal(paymentOutcomeSignal, outcome('failed'));
      const final = await handle.result();
      await recordHistory('checkout-v2-card-3ds-outcomes-out-of-order', handle);
      return final;
    });
    expect(final).toMatchObject({ status: 'PAID', payment: { status: 'succeeded' } });
    expect(fake.names()).toEqual(PAID_BY_CARD);
  });

  test('when a crypto payment is reported while an unpaid order is being wound up, then the late-payment workflow takes it over', async () => {
    let releaseVoid!: () => void;
    const voidGate = new Promise<void>((r) => (releaseVoid = r));
    const fake = fakeActivities({
      voidOrRefundPayment: async () => {
        await voidGate;
        return { outcome: 'canceled' as const };
      },
    });
    const input = checkoutInput(catalogue, { payment: { method: 'crypto' } });
    const { cancelled, late } = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      const cancelling = handle.executeUpdate(cancelCheckoutUpdate, { args: [{ requestedBy: 'buyer:b1' }] });
      for (let i = 0; i < 100 && !fake.names().includes('voidOrRefundPayment'); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await handle.signal(paymentOutcomeSignal, outcome('delayed', 'coinbase'));
      releaseVoid();
      const cancelled = await cancelling;
      await handle.result();
      const lateHandle = env.client.workflow.getHandle<typeof latePaymentWorkflow>(
        latePaymentWorkflowId(input.orderId),
      );
      const late = await lateHandle.result();
      await recordHistory('checkout-v2-crypto-paid-while-cancelling', handle);
      await recordHistory('late-payment-v1-handed-over-tickets-issued', lateHandle);
      return { cancelled, late };
    });
    expect(cancelled.status).toBe('CANCELLED');
    expect(late).toMatchObject({
      outcome: 'tickets_issued',
      tickets: [expect.objectContaining({ code: 'CODE-1' })],
    });
    // The late payment's rewards workflow accrues the points on its own time: not part of this sequence.
    const steps = fake.calls.filter((c) => c.name !== 'accrueOrderPoints');
    expect(steps.map((c) => c.name)).toEqual([
      'reserveSeats',
      'createCryptoCharge',
      'voidOrRefundPayment',
      'releaseHold',
      'issueTickets',
    ]);
    expect(steps.at(-1)?.input).toEqual({ orderId: input.orderId });
  });
});

describe('latePaymentWorkflow', () => {
  const lateInput = () => ({ orderId: uid('ord'), provider: 'coinbase' as const, paymentRef: 'ch_1' });

  async function runLatePayment(fake: ReturnType<typeof fakeActivities>, history: string) {
    return withWorker(fake.activities, async () => {
      const handle = await env.client.workflow.start<typeof latePaymentWorkflow>('latePaymentWorkflow', {
        workflowId: latePaymentWorkflowId(uid('ord')),
        taskQueue,
        args: [lateInput()],
      });
      const result = await handle.result();
      await recordHistory(history, handle);
      return result;
    });
  }

  test('when seats are still free after a late payment, then the tickets are issued', async () => {
    const fake = fakeActivities();
    const result = await runLatePayment(fake, 'late-payment-v1-tickets-issued');
    expect(result.outcome).toBe('tickets_issued');
    expect(fake.names()).toEqual(['issueTickets']);
  });

  test('when the seats were sold meanwhile, then a refund is recorded as owed', async () => {
    const fake = fakeActivities({
      issueTickets: () => {
        throw ApplicationFailure.nonRetryable('the seats were sold', FailureType.SeatsLost);
      },
    });
    const result = await runLatePayment(fake, 'late-payment-v1-refund-owed');
    expect(result).toEqual({ outcome: 'refund_owed', tickets: [] });
    expect(fake.names()).toEqual(['issueTickets', 'recordRefundOwed']);
  });
});

describe('checkoutWorkflow fulfilment', () => {
  test('when a paid buyer gave a wallet and contact details, then the mint starts as an abandoned child, the confirmation is sent by the checkout itself, and the order does not wait for either', async () => {
    const fake = fakeActivities();
    const input: CheckoutInput = {
      ...checkoutInput(catalogue, { quantity: 1 }),
      contact: { email: 'a@example.com', phone: '+15555550100' },
      walletAddress: `0x${'ab'.repeat(20)}`,
    };
    const mintId = nftMintWorkflowId(input.orderId);
    const confirmationId = messageWorkflowId(MessageKind.OrderConfirmed, input.orderId);
    const seen = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      const final = await handle.result();
      await recordHistory('checkout-inline-confirmation-card-paid-wallet', handle);
      const described = {
        placement,
        final,
        parent: await handle.describe(),
        mint: await env.client.workflow.getHandle(mintId).describe(),
        mintHistory: await env.client.workflow.getHandle(mintId).fetchHistory(),
      };
      // Nobody polls the nft queue here: the mint is still waiting, the order is not.
      await env.client.workflow.getHandle(mintId).terminate('test over');
      return described;
    });

    expect(seen.placement.status).toBe('PAID');
    expect(seen.final.status).toBe('PAID');
    expect(seen.parent.status.name).toBe('COMPLETED');
    expect(seen.parent.memo ?? {}).not.toHaveProperty('fulfilment');
    expect(seen.mint.status.name).toBe('RUNNING');
    expect(seen.mint.parentExecution?.workflowId).toBe(checkoutWorkflowId(input.orderId));
    expect(seen.mint.typedSearchAttributes.get(SearchAttributes.OrderId)).toBe(input.orderId);
    expect(seen.mint.typedSearchAttributes.get(SearchAttributes.OrderStatus)).toBeUndefined();
    expect(seen.mint.taskQueue).toBe(NFT_TASK_QUEUE);
    const started = seen.mintHistory.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(started?.parentWorkflowExecution?.workflowId).toBe(checkoutWorkflowId(input.orderId));
    await expect(env.client.workflow.getHandle(confirmationId).describe()).rejects.toThrow();
    expect(fake.names()).toEqual(PAID_BY_CARD);
    // Ids only: the activity reads the recipients from the order, so no contact is in the checkout's history.
    expect(fake.calls.find((c) => c.name === 'sendMessage')?.input).toEqual({
      kind: MessageKind.OrderConfirmed,
      key: input.orderId,
      orderId: input.orderId,
    });
  });

  test('when the confirmation cannot be sent by the checkout, then the message workflow is started for it and the order is PAID', async () => {
    const fake = fakeActivities({
      sendMessage: () => {
        throw ApplicationFailure.retryable('SendGrid could not be reached (ECONNREFUSED)', 'MessageNotDelivered');
      },
    });
    const input: CheckoutInput = { ...checkoutInput(catalogue, { quantity: 1 }) };
    const confirmationId = messageWorkflowId(MessageKind.OrderConfirmed, input.orderId);
    const seen = await withWorker(fake.activities, async () => {
      const { placement, handle } = await place(input);
      const final = await handle.result();
      await recordHistory('checkout-inline-confirmation-fallback-child', handle);
      const confirmation = await env.client.workflow.getHandle(confirmationId).describe();
      // Nobody polls the notifications queue here: the message workflow is still waiting, the order is not.
      await env.client.workflow.getHandle(confirmationId).terminate('test over');
      return { placement, final, confirmation };
    });

    expect(seen.placement.status).toBe('PAID');
    expect(seen.final.status).toBe('PAID');
    expect(seen.confirmation.status.name).toBe('RUNNING');
    expect(seen.confirmation.taskQueue).toBe(NOTIFICATIONS_TASK_QUEUE);
    expect(seen.confirmation.parentExecution?.workflowId).toBe(checkoutWorkflowId(input.orderId));
    expect(seen.confirmation.typedSearchAttributes.get(SearchAttributes.OrderId)).toBe(input.orderId);
    expect(fake.names().filter((n) => n === 'sendMessage')).toHaveLength(3);
  });

  test('when a paid buyer gave neither a wallet nor contact details, then no child workflow starts', async () => {
    const fake = fakeActivities();
    const input: CheckoutInput = { ...checkoutInput(catalogue, { quantity: 1 }), contact: {} };
    const final = await withWorker(fake.activities, async () => {
      const { handle } = await place(input);
      return handle.result();
    });
    expect(final.status).toBe('PAID');
    await expect(env.client.workflow.getHandle(nftMintWorkflowId(input.orderId)).describe()).rejects.toThrow();
    await expect(
      env.client.workflow.getHandle(messageWorkflowId(MessageKind.OrderConfirmed, input.orderId)).describe(),
    ).rejects.toThrow();
  });
});
