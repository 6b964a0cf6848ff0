import { payoutWorkflowId, PAYOUTS_TASK_QUEUE, type ReconciliationResult } from '../domain';
import { uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';
import { organizerWithSales } from './support/payouts';

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform({ PAYOUT_DELAY_DAYS: '0' });
}, 120_000);
afterAll(() => platform?.stop());
// Every test leaves the books right: the SQL invariant function finds nothing.
afterEach(() => expectLedgerInvariants(platform.db), 30_000);

const today = () => new Date().toISOString().slice(0, 10);

/** Runs the day's reconciliation under a unique id (other tests reconcile the same day). */
async function reconcileToday(): Promise<{ result: ReconciliationResult; workflowId: string }> {
  const workflowId = `reconciliation-${today()}-${uid('run')}`;
  const result: ReconciliationResult = await platform.client.workflow.execute('reconciliationWorkflow', {
    workflowId,
    taskQueue: PAYOUTS_TASK_QUEUE,
    args: [{ date: today() }],
  });
  return { result, workflowId };
}

describe('reconciliationWorkflow', () => {
  test('when a day of sales and payouts went through the API, then provider records and the ledger match, and injected mismatches (by SQL) are each reported', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 60_000, orders: 3 });
    const token = platform.token({ sub: uid('user'), role: 'organizer', org: c.organizerId });
    const payout = await call(platform, 'POST', `/v1/organizers/${c.organizerId}/payouts`, {
      token,
      headers: { 'Idempotency-Key': uid('key') },
    });
    expect(payout.status).toBe(202);
    const payoutId: string = payout.body.payoutId;
    await platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, payoutId)).result();

    // Injected by SQL, as no real path can make them: a provider charge the ledger never heard of, a provider
    // amount that differs from the sale posted, and a posted sale the provider has no charge for.
    const ghostOrder = uid('ord');
    await platform.db('sandbox_card_intents').insert({
      id: `pi_sbx_${uid('ghost')}`,
      idempotency_key: uid('idem'),
      order_id: ghostOrder,
      amount_minor: 1234,
      currency: 'USD',
      payment_method: 'pm_card_visa',
      status: 'succeeded',
      client_secret: 'x',
    });
    const [tampered] = c.orderIds;
    await platform.db('sandbox_card_intents').where({ order_id: tampered }).increment('amount_minor', 1);
    const unbacked = uid('ord');
    const ghostOrg = uid('org_ghost');
    await platform.db('ledger_entries').insert([
      {
        transaction_id: `sale:${unbacked}`,
        account: 'provider_clearing:stripe',
        amount_minor: 777,
        currency: 'USD',
        order_id: unbacked,
      },
      {
        transaction_id: `sale:${unbacked}`,
        account: `organizer_payable:${ghostOrg}`,
        amount_minor: -777,
        currency: 'USD',
        order_id: unbacked,
      },
    ]);

    const { result, workflowId } = await reconcileToday();
    const ours = result.mismatches.filter(
      (m) => [ghostOrder, unbacked, ...c.orderIds].includes(m.orderId ?? '') || m.payoutId === payoutId,
    );
    expect(ours).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'charge',
          problem: 'missing-in-ledger',
          orderId: ghostOrder,
          providerMinor: 1234,
        }),
        expect.objectContaining({
          kind: 'charge',
          problem: 'amount-differs',
          orderId: tampered,
          providerMinor: 5001,
          ledgerMinor: 5000,
        }),
        expect.objectContaining({
          kind: 'charge',
          problem: 'missing-at-provider',
          orderId: unbacked,
          ledgerMinor: 777,
        }),
      ]),
    );
    expect(ours).toHaveLength(3);
    expect(result.checked.transfer.provider).toBeGreaterThanOrEqual(1);
    expect(result.matched).toBeGreaterThanOrEqual(3); // the two untouched sales and the transfer

    const described = await platform.client.workflow.getHandle(workflowId).describe();
    const memo = described.memo as { mismatchCount: number; mismatches: Array<{ orderId: string }> };
    expect(memo.mismatchCount).toBe(result.mismatches.length);
    await recordHistory('reconciliation-v1-injected-mismatches', platform.client.workflow.getHandle(workflowId));
  });

  test('when the date is not a day, then the workflow fails at once without reading anything', async () => {
    await expect(
      platform.client.workflow.execute('reconciliationWorkflow', {
        workflowId: `reconciliation-bad-${uid('run')}`,
        taskQueue: PAYOUTS_TASK_QUEUE,
        args: [{ date: '2026-13-45' }],
      }),
    ).rejects.toThrow();
  });
});
