import { WithStartWorkflowOperation } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { activitySteps, countActions, eventTypeCounts, type JsonHistoryEvent } from '../bench/actions';
import { CHECKOUT_SHAPE, expectedActivitySteps } from '../bench/checkout-shape';
import { awaitPlacementUpdate, checkoutWorkflowId } from '../domain';
import type { checkoutWorkflowV3 } from '../workflows/checkout';
import { createTemporalEnv, uid, Worker, workerOptions } from './support/env';
import { recordHistory } from './support/histories';
import { checkoutInput } from './support/orders';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createTemporalEnv();
}, 120_000);
afterAll(() => env?.teardown());

/** An instant card checkout's activities, answering as the sandbox does for pm_card_visa. */
const instantCard = {
  reserveSeats: async ({ expiresAt }: { expiresAt: string }) => ({ expiresAt }),
  chargeCard: async () => ({
    intentId: 'pi_1',
    status: 'succeeded',
    clientSecret: 'pi_1_secret',
    actionUrl: null,
  }),
  issueTickets: async () => ({
    tickets: [{ ticketId: 'tkt_1', ticketTypeId: 'tt_t', code: 'CODE-1', status: 'VALID' }],
  }),
  sendMessage: async () => ({ email: 'SENT' }),
  accrueOrderPoints: async () => ({ points: 0, vestsAt: new Date().toISOString() }),
};

describe('the bench baseline shape', () => {
  test('when the checkout pays with an instant card, then its steps, upserts and timer are what CHECKOUT_SHAPE says', async () => {
    const taskQueue = uid('shape-test');
    const input = checkoutInput({ organizerId: 'org_t', eventId: 'evt_t', ticketTypeId: 'tt_t' });
    const worker = await Worker.create({ ...workerOptions(env, taskQueue), activities: instantCard });
    const events = await worker.runUntil(async () => {
      // Started as the API starts it: update-with-start.
      await env.client.workflow.executeUpdateWithStart(awaitPlacementUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof checkoutWorkflowV3>(
          CHECKOUT_SHAPE.workflowType,
          {
            workflowId: checkoutWorkflowId(input.orderId),
            taskQueue,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
          },
        ),
      });
      const handle = env.client.workflow.getHandle(checkoutWorkflowId(input.orderId));
      await handle.result();
      await recordHistory('checkout-type3-card-paid', handle);
      const history = JSON.parse(historyToJSON(await handle.fetchHistory())) as { events: JsonHistoryEvent[] };
      return history.events;
    });

    // When this fails, the checkout changed: make bench/checkout-shape.ts say what it does now, so the bench's
    // like-for-like baseline follows.
    expect(activitySteps(events)).toEqual(expectedActivitySteps(CHECKOUT_SHAPE));
    // Upserts of TemporalChangeVersion alone are `patched()` bookkeeping, not the checkout's own.
    const upserts = {
      searchAttributeUpserts: countActions(events).byKind['search attributes upserted'] ?? 0,
      memoUpserts: eventTypeCounts(events).WORKFLOW_PROPERTIES_MODIFIED ?? 0,
      timerAfterPaid: (eventTypeCounts(events).TIMER_STARTED ?? 0) > 0,
    };
    expect(upserts).toEqual({
      searchAttributeUpserts: CHECKOUT_SHAPE.searchAttributeUpserts,
      memoUpserts: CHECKOUT_SHAPE.memoUpserts,
      timerAfterPaid: CHECKOUT_SHAPE.timerAfterPaid,
    });
  });
});
