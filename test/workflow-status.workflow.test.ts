import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { bundleWorkflowCode } from '@temporalio/worker';
import {
  checkoutStatusQuery,
  CHECKOUT_WORKFLOW_TYPES,
  checkoutWorkflowId,
  eventCancellationWorkflowId,
  FailureType,
  latePaymentWorkflowId,
  PayoutRefusal,
  MessageKind,
  messageWorkflowId,
  nftMintWorkflowId,
  orderRewardsWorkflowId,
  payoutWorkflowId,
  reconciliationWorkflowId,
  refundStatusQuery,
  refundWorkflowId,
  statusQuery,
  type WorkflowStatus,
} from '../domain';
import * as workflows from '../workflows';
import { createTemporalEnv, uid, Worker, workerOptions } from './support/env';
import { checkoutInput } from './support/orders';

// Support asks any workflow `status` in the Temporal UI's Queries tab; every type in workflows/index.ts answers.
let env: TestWorkflowEnvironment;
let bundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

beforeAll(async () => {
  env = await createTemporalEnv();
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet });
}, 120_000);
afterAll(() => env?.teardown());

type WorkflowType = keyof typeof workflows;
/** The workflow types this file has asked `status`; the last test checks none was left out. */
const asked = new Set<WorkflowType>();

/** Runs one workflow to its end with fake activities on a queue of its own, then asks it `status`. */
async function statusAtEnd(
  type: WorkflowType,
  workflowId: string,
  input: unknown,
  activities: Record<string, (input: never) => unknown>,
): Promise<WorkflowStatus> {
  const taskQueue = uid('status-test');
  const worker = await Worker.create({
    ...workerOptions(env, taskQueue),
    workflowsPath: undefined,
    workflowBundle: bundle,
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(type, { workflowId, taskQueue, args: [input] });
    await handle.result();
    asked.add(type);
    // A closed workflow still answers: the worker replays its history to run the query.
    return handle.query(statusQuery);
  });
}

const catalogue = { organizerId: 'org_s', eventId: 'evt_s', ticketTypeId: 'tt_s' };

describe('the status query', () => {
  test.each(CHECKOUT_WORKFLOW_TYPES)(
    'when support asks a checkout of type %s, then it answers the order as checkoutStatus does',
    async (type) => {
      const input = checkoutInput(catalogue);
      const taskQueue = uid('status-test');
      const worker = await Worker.create({
        ...workerOptions(env, taskQueue),
        workflowsPath: undefined,
        workflowBundle: bundle,
        activities: {
          reserveSeats: () => {
            throw ApplicationFailure.nonRetryable('sold out', FailureType.SoldOut);
          },
          recordOrderProgress: () => undefined,
        },
      });
      const [status, own] = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(type, {
          workflowId: checkoutWorkflowId(input.orderId),
          taskQueue,
          args: [input],
        });
        await handle.result();
        asked.add(type);
        // One after the other: the workflow is closed and out of the cache, so each query is a legacy query task that
        // replays the history. Two in flight at once for one uncached run is where the worker's core has lost queries
        // before (temporalio/sdk-rust #438, #716), and a CI run here waited 30 s for an answer that never came.
        const status = await handle.query(statusQuery);
        return [status, await handle.query(checkoutStatusQuery)] as const;
      });
      expect(status).toMatchObject({ status: 'FAILED', orderId: input.orderId, reason: 'SOLD_OUT' });
      expect(status).toEqual(own);
    },
  );

  test('when support asks a late payment, then it says whether tickets were issued or a refund is owed', async () => {
    const orderId = uid('ord');
    const issued = await statusAtEnd(
      'latePaymentWorkflow',
      latePaymentWorkflowId(orderId),
      { orderId, provider: 'stripe', paymentRef: 'pi_late' },
      { issueTickets: () => ({ tickets: [] }) },
    );
    expect(issued).toEqual({ status: 'TICKETS_ISSUED', orderId, provider: 'stripe' });

    const lost = uid('ord');
    const owed = await statusAtEnd(
      'latePaymentWorkflow',
      latePaymentWorkflowId(lost),
      { orderId: lost, provider: 'coinbase', paymentRef: 'ch_late' },
      {
        issueTickets: () => {
          throw ApplicationFailure.nonRetryable('seats were sold', FailureType.SeatsLost);
        },
        recordRefundOwed: () => ({ refundId: uid('ref') }),
      },
    );
    expect(owed).toEqual({ status: 'REFUND_OWED', orderId: lost, provider: 'coinbase' });
  });

  test('when support asks an NFT mint, then it answers how many of the tickets were minted', async () => {
    const orderId = uid('ord');
    const status = await statusAtEnd(
      'mintTicketNftsWorkflow',
      nftMintWorkflowId(orderId),
      { orderId, walletAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', ticketIds: ['tkt_1', 'tkt_2'] },
      {
        mintTicketNft: ({ ticketId }: { ticketId: string }) => {
          if (ticketId === 'tkt_2') throw ApplicationFailure.nonRetryable('chain refused');
          return { ticketId, tokenId: '1', txHash: '0x1', owner: '0x7', alreadyMinted: false };
        },
        markNftFailed: () => undefined,
      },
    );
    expect(status).toEqual({ status: 'FAILED', orderId, total: 2, minted: 1, failed: 1 });
  });

  test('when support asks a message, then it answers how each channel ended', async () => {
    const orderId = uid('ord');
    const status = await statusAtEnd(
      'sendMessageWorkflow',
      messageWorkflowId(MessageKind.OrderConfirmed, orderId),
      { kind: MessageKind.OrderConfirmed, key: orderId, orderId },
      {
        prepareMessages: () => ({ messages: [{ messageId: 'm_1', channel: 'EMAIL' }] }),
        deliverMessage: () => ({ status: 'SENT' }),
      },
    );
    expect(status).toEqual({ status: 'DONE', kind: MessageKind.OrderConfirmed, channels: { EMAIL: 'SENT' } });
  });

  test('when support asks a reconciliation, then it answers whether the day matched', async () => {
    const status = await statusAtEnd(
      'reconciliationWorkflow',
      reconciliationWorkflowId('2026-12-01'),
      { date: '2026-12-01' },
      { loadProviderRecords: () => [], loadLedgerRecords: () => [] },
    );
    expect(status).toEqual({ status: 'MATCHED', date: '2026-12-01', matched: 0, mismatchCount: 0 });
  });

  test('when support asks a refused payout, then it answers REFUSED', async () => {
    const organizerId = uid('org');
    const payoutId = uid('po');
    const status = await statusAtEnd(
      'payoutWorkflow',
      payoutWorkflowId(organizerId, payoutId),
      { organizerId, payoutId, idempotencyKey: uid('key'), requestedBy: 'admin:a_1' },
      {
        createPayout: () => ({
          outcome: 'refused',
          rule: PayoutRefusal.NothingToPayOut,
          detail: 'nothing to pay',
        }),
      },
    );
    expect(status).toEqual({ status: 'REFUSED', payoutId });
  });

  test('when support asks an event cancellation, then it answers its phase and progress', async () => {
    const eventId = uid('evt');
    const status = await statusAtEnd(
      'eventCancellationWorkflow',
      eventCancellationWorkflowId(eventId),
      {
        eventId,
        organizerId: uid('org'),
        requestedBy: 'organizer:o_1',
        parallelism: 2,
        pollMs: 10,
        reminderAfterMs: 60_000,
      },
      {
        stopEventSales: () => undefined,
        countOpenCheckouts: () => 0,
        countOrdersToRefund: () => 0,
        listOrdersToRefund: () => [],
        recordCancellationProgress: () => undefined,
      },
    );
    expect(status).toEqual({ status: 'DONE', eventId, total: 0, refunded: 0, failed: 0, inProgress: 0 });
  });

  test('when support asks a refund waiting for approval, then it answers AWAITING_APPROVAL as refundStatus does', async () => {
    const refundId = uid('ref');
    const taskQueue = uid('status-test');
    const worker = await Worker.create({
      ...workerOptions(env, taskQueue),
      workflowsPath: undefined,
      workflowBundle: bundle,
      activities: { setRefundStatus: () => undefined, recordRefundReminder: () => undefined },
    });
    const [status, own] = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('refundWorkflow', {
        workflowId: refundWorkflowId(refundId),
        taskQueue,
        args: [
          {
            refundId,
            orderId: uid('ord'),
            eventId: uid('evt'),
            buyerId: uid('buyer'),
            organizerId: uid('org'),
            paymentMethod: 'card',
            amount: { amountMinor: 90_000, currency: 'USD' },
            ticketIds: ['tkt_1'],
            needsApproval: true,
            reminderAfterMs: 3_600_000,
          },
        ],
      });
      asked.add('refundWorkflow');
      // The refund waits for a decision from its first status on; ask until it has recorded that status.
      let answer = await handle.query(statusQuery);
      while (answer.status !== 'AWAITING_APPROVAL') {
        await new Promise((r) => setTimeout(r, 100));
        answer = await handle.query(statusQuery);
      }
      const both = await Promise.all([handle.query(statusQuery), handle.query(refundStatusQuery)]);
      await handle.terminate('test done');
      return both;
    });
    expect(status).toMatchObject({ status: 'AWAITING_APPROVAL', refundId, reminders: 0 });
    expect(status).toEqual(own);
  });

  test("when support asks about an order's rewards, then it answers the points as orderRewards does", async () => {
    const orderId = uid('ord');
    const status = await statusAtEnd(
      'orderRewardsWorkflow',
      orderRewardsWorkflowId(orderId),
      { orderId, buyerId: uid('buyer') },
      {
        accrueOrderPoints: () => ({ points: 50, vestsAt: '2026-01-01T00:00:00.000Z' }),
        vestOrderPoints: () => ({ vested: 50, referralBonus: null }),
      },
    );
    expect(status).toEqual({
      orderId,
      status: 'VESTED',
      accrued: 50,
      vestsAt: '2026-01-01T00:00:00.000Z',
      vested: 50,
    });
  });

  test('when support asks a scheduled run, then it answers what the run did', async () => {
    const asOf = '2026-12-01T00:00:00.000Z';
    const sweep = await statusAtEnd(
      'holdSweeperWorkflow',
      uid('hold-sweeper'),
      { asOf },
      {
        listLapsedHolds: () => ['ord_a', 'ord_b'],
        releaseIfOrphaned: ({ orderId }: { orderId: string }) => orderId === 'ord_a',
      },
    );
    expect(sweep).toEqual({ status: 'DONE', asOf, checked: 2, released: 1 });
    const payouts = await statusAtEnd(
      'weeklyPayoutsWorkflow',
      uid('weekly-payouts'),
      { asOf },
      {
        listOrganizersToPayOut: () => [],
      },
    );
    expect(payouts).toEqual({ status: 'DONE', asOf, started: 0, alreadyStarted: 0 });
    const rewards = await statusAtEnd(
      'dailyRewardsWorkflow',
      uid('daily-rewards'),
      { asOf },
      {
        vestDueOrders: () => ({ orders: 3, points: 120 }),
        expireDuePoints: () => ({ points: 10 }),
        recalculateTiers: () => ({ orders: 2 }),
      },
    );
    expect(rewards).toEqual({
      status: 'DONE',
      asOf,
      vestedOrders: 3,
      vestedPoints: 120,
      expiredPoints: 10,
      tiersRecalculated: 2,
    });
  });

  test('when support asks a daily reconciliation whose day is being reconciled, then it answers RECONCILING and the day', async () => {
    const taskQueue = uid('status-test');
    const worker = await Worker.create({
      ...workerOptions(env, taskQueue),
      workflowsPath: undefined,
      workflowBundle: bundle,
      activities: {},
    });
    const status = await worker.runUntil(async () => {
      // Its child runs on the payouts queue, which nobody polls here: the run stays at its first step.
      const handle = await env.client.workflow.start('dailyReconciliationWorkflow', {
        workflowId: uid('daily-reconciliation'),
        taskQueue,
        args: [{ asOf: '2026-12-02T03:00:00.000Z' }],
      });
      asked.add('dailyReconciliationWorkflow');
      const answer = await handle.query(statusQuery);
      await handle.terminate('test done');
      return answer;
    });
    expect(status).toEqual({ status: 'RECONCILING', date: '2026-12-01' });
  });

  test('when every test above has run, then every workflow type the worker runs was asked', () => {
    expect([...asked].sort()).toEqual(Object.keys(workflows).sort());
  });
});
