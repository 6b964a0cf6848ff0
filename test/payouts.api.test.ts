import { payoutWorkflowId, type PayoutResult } from '../domain';
import { uid } from './support/env';
import { recordHistory } from './support/histories';
import { expectLedgerInvariants } from './support/invariants';
import { call, startTestPlatform, type TestPlatform } from './support/platform';
import { organizerWithSales, type PayoutCatalogue } from './support/payouts';

const DAY = 24 * 3600_000;
let platform: TestPlatform;

beforeAll(async () => {
  // One day's delay, so a test can hold money that is past it and money that is not; approvals above 200.00.
  platform = await startTestPlatform({ PAYOUT_DELAY_DAYS: '1', PAYOUT_APPROVAL_THRESHOLD_MINOR: '20000' });
}, 120_000);
afterAll(() => platform?.stop());
// Every test leaves the books right: the SQL invariant function finds nothing.
afterEach(() => expectLedgerInvariants(platform.db), 30_000);

const organizer = (c: PayoutCatalogue) =>
  platform.token({ sub: uid('user'), role: 'organizer', org: c.organizerId });
const admin = () => platform.token({ sub: uid('admin'), role: 'admin' });
const askPayout = (c: PayoutCatalogue, key = uid('key'), token = organizer(c)) =>
  call(platform, 'POST', `/v1/organizers/${c.organizerId}/payouts`, {
    token,
    headers: { 'Idempotency-Key': key },
  });
const result = (c: PayoutCatalogue, payoutId: string): Promise<PayoutResult> =>
  platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, payoutId)).result();
const transfers = (payoutId: string) => platform.db('sandbox_transfers').where({ transfer_group: payoutId });

// 2 tickets at 25.00: gross 5000, fee 5% + 30 = 280, net 4720.
const NET_OF_ONE_ORDER = 4720;

describe('payouts', () => {
  test('when an organizer asks for two payouts at once, then it is paid its net exactly once and the other gets 409', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const balance = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, {
      token: organizer(c),
    });
    expect(balance.body).toMatchObject({ availableMinor: NET_OF_ONE_ORDER, pendingMinor: 0, currency: 'USD' });

    const answers = await Promise.all([askPayout(c), askPayout(c)]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([202, 409]);
    const created = answers.find((a) => a.status === 202)!;
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(refused.body.type).toMatch(/\/(payout-in-progress|nothing-to-pay-out)$/);
    expect(created.body).toMatchObject({ amountMinor: NET_OF_ONE_ORDER, currency: 'USD' });
    expect(['PENDING', 'IN_TRANSIT', 'PAID']).toContain(created.body.status);

    const payoutId: string = created.body.payoutId;
    expect((await result(c, payoutId)).status).toBe('PAID');
    const read = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/payouts/${payoutId}`, {
      token: organizer(c),
    });
    expect(read.body).toMatchObject({
      status: 'PAID',
      amountMinor: NET_OF_ONE_ORDER,
      transferId: expect.any(String),
    });
    const sent = await transfers(payoutId);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ amount_minor: NET_OF_ONE_ORDER, destination: `acct_${c.organizerId}` });
    expect(await platform.db('sandbox_transfers').where({ destination: `acct_${c.organizerId}` })).toHaveLength(1);
    const after = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, { token: organizer(c) });
    expect(after.body).toMatchObject({ availableMinor: 0, pendingMinor: 0 });

    // The organizer hears about it through the message workflow; its email comes from the database.
    await platform.client.workflow.getHandle(`notify-payout-paid-${payoutId}`).result();
    const notice = await platform
      .db('notifications')
      .where({ id: `payout-paid:${payoutId}:email` })
      .first();
    expect(notice).toMatchObject({ recipient: `${c.organizerId}@example.com`, status: 'SENT' });
    await recordHistory(
      'payout-v1-api-paid',
      platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, payoutId)),
    );
  });

  test('when the same Idempotency-Key is sent twice, at once and again later, then it is the same payout and one transfer', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const key = uid('key');
    const [a, b] = await Promise.all([askPayout(c, key), askPayout(c, key)]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(a.body.payoutId).toBe(b.body.payoutId);
    await result(c, a.body.payoutId);
    const again = await askPayout(c, key);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body).toMatchObject({ payoutId: a.body.payoutId, status: 'PAID', amountMinor: NET_OF_ONE_ORDER });
    expect(await transfers(a.body.payoutId)).toHaveLength(1);
  });

  test('when an event ended less than PAYOUT_DELAY_DAYS ago, then its money is pending and a payout is 409 nothing-to-pay-out, changing nothing', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 3600_000 });
    const balance = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, {
      token: organizer(c),
    });
    expect(balance.body).toMatchObject({ availableMinor: 0, pendingMinor: NET_OF_ONE_ORDER });
    const res = await askPayout(c);
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/nothing-to-pay-out$/);
    expect(res.body.detail).toMatch(/pending 4720/);
    expect(await platform.db('payouts').where({ organizer_id: c.organizerId })).toHaveLength(0);
    const inTransit = await platform
      .db('ledger_entries')
      .where({ account: `payouts_in_transit:${c.organizerId}` });
    expect(inTransit).toHaveLength(0);
  });

  test('when an event has not ended yet, then nothing can be paid out (409) until it has', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: -DAY });
    const res = await askPayout(c);
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/nothing-to-pay-out$/);
  });

  test('when the provider refuses the transfer (organizer account set by SQL to a refusing sandbox account), then the payout is FAILED and reversed in the ledger', async () => {
    const c = await organizerWithSales(platform, {
      endedAgoMs: 2 * DAY,
      stripeAccountId: 'acct_sbx_insufficient_funds',
    });
    const res = await askPayout(c);
    expect(res.status).toBe(202);
    const payoutId: string = res.body.payoutId;
    expect((await result(c, payoutId)).status).toBe('FAILED');
    const read = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/payouts/${payoutId}`, {
      token: organizer(c),
    });
    expect(read.body).toMatchObject({
      status: 'FAILED',
      failureReason: expect.stringMatching(/balance_insufficient/),
    });
    const lines = await platform.db('ledger_entries').where({ payout_id: payoutId }).orderBy('id');
    expect(lines.map((l) => [l.transaction_id, l.account, l.amount_minor])).toEqual([
      [`payout:${payoutId}`, `organizer_payable:${c.organizerId}`, NET_OF_ONE_ORDER],
      [`payout:${payoutId}`, `payouts_in_transit:${c.organizerId}`, -NET_OF_ONE_ORDER],
      [`payout:${payoutId}:reversed`, `organizer_payable:${c.organizerId}`, -NET_OF_ONE_ORDER],
      [`payout:${payoutId}:reversed`, `payouts_in_transit:${c.organizerId}`, NET_OF_ONE_ORDER],
    ]);
    expect(await transfers(payoutId)).toHaveLength(0);
    const balance = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, {
      token: organizer(c),
    });
    expect(balance.body).toMatchObject({ availableMinor: NET_OF_ONE_ORDER });
    await recordHistory(
      'payout-v1-api-transfer-refused-reversed',
      platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, payoutId)),
    );
  });

  test('when a payout is above the approval threshold, then it waits for an admin; the organizer cannot approve, and approving twice is 409', async () => {
    // 5 orders of 2 tickets: gross 25000, fees 5 x 280, net 23600 > 20000.
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY, orders: 5 });
    const res = await askPayout(c);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      status: 'AWAITING_APPROVAL',
      amountMinor: 5 * NET_OF_ONE_ORDER,
      requiresApproval: true,
    });
    const payoutId: string = res.body.payoutId;
    const approvePath = `/v1/organizers/${c.organizerId}/payouts/${payoutId}/approve`;

    const byOrganizer = await call(platform, 'POST', approvePath, { token: organizer(c) });
    expect(byOrganizer.status).toBe(403);
    const approved = await call(platform, 'POST', approvePath, { token: admin() });
    expect(approved.status).toBe(200);
    expect(approved.body.status).not.toBe('AWAITING_APPROVAL');
    expect((await result(c, payoutId)).status).toBe('PAID');
    const twice = await call(platform, 'POST', approvePath, { token: admin() });
    expect(twice.status).toBe(409);
    expect(twice.body.type).toMatch(/\/payout-not-awaiting-approval$/);
    const read = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/payouts/${payoutId}`, {
      token: admin(),
    });
    expect(read.body).toMatchObject({ status: 'PAID', approvedBy: expect.stringMatching(/^admin:/) });
    await recordHistory(
      'payout-v1-api-approved',
      platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, payoutId)),
    );
  });

  test('when an admin rejects a payout waiting for approval, then it is FAILED, reversed, and the money is available again', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY, orders: 5 });
    const res = await askPayout(c);
    const payoutId: string = res.body.payoutId;
    const rejectPath = `/v1/organizers/${c.organizerId}/payouts/${payoutId}/reject`;
    const noReason = await call(platform, 'POST', rejectPath, { token: admin(), body: {} });
    expect(noReason.status).toBe(422);
    const rejected = await call(platform, 'POST', rejectPath, {
      token: admin(),
      body: { reason: 'bank details under review' },
    });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({
      status: 'FAILED',
      failureReason: expect.stringMatching(/bank details/),
    });
    const balance = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, {
      token: organizer(c),
    });
    expect(balance.body.availableMinor).toBe(5 * NET_OF_ONE_ORDER);
  });

  test("when an organizer asks for another organizer's payout or balance, then it is 403 or 404 and nothing changes", async () => {
    const mine = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const theirs = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const res = await askPayout(theirs, uid('key'), organizer(mine));
    expect(res.status).toBe(403);
    expect(res.body.type).toMatch(/\/not-your-organizer$/);
    const read = await call(platform, 'GET', `/v1/organizers/${theirs.organizerId}/balance`, {
      token: organizer(mine),
    });
    expect(read.status).toBe(404);
    const finance = await call(platform, 'GET', `/v1/organizers/${theirs.organizerId}/finance`, {
      token: organizer(mine),
    });
    expect(finance.status).toBe(404);
    expect(await platform.db('payouts').where({ organizer_id: theirs.organizerId })).toHaveLength(0);
    const noKey = await call(platform, 'POST', `/v1/organizers/${mine.organizerId}/payouts`, {
      token: organizer(mine),
    });
    expect(noKey.status).toBe(400);
    expect(await platform.db('payouts').where({ organizer_id: mine.organizerId })).toHaveLength(0);
  });

  test('when an organizer has no connected account, then a payout is 409 no-payout-account and nothing changes', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY, stripeAccountId: null });
    const res = await askPayout(c);
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/\/no-payout-account$/);
    expect(await platform.db('payouts').where({ organizer_id: c.organizerId })).toHaveLength(0);
  });
});

describe('GET /v1/organizers/:organizerId/finance', () => {
  test('when an organizer has paid-out and pending money, then the report explains every minor unit, per event and as CSV', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const payout = await askPayout(c);
    await result(c, payout.body.payoutId);
    // A second event of the same organizer that has not ended yet: pending.
    const later = await platform
      .db('events')
      .insert({
        id: uid('evt'),
        organizer_id: c.organizerId,
        name: 'Later',
        starts_at: new Date(Date.now() + DAY),
        ends_at: new Date(Date.now() + DAY + 3600_000),
      })
      .returning('id');
    const laterEventId = later[0].id as string;
    const tt = uid('tt');
    await platform
      .db('ticket_types')
      .insert({ id: tt, event_id: laterEventId, name: 'GA', price_minor: 1000, currency: 'USD', capacity: 10 });
    const sale = await call(platform, 'POST', '/v1/checkouts', {
      token: platform.token({ sub: uid('buyer'), role: 'buyer' }),
      headers: { 'Idempotency-Key': uid('key') },
      body: {
        eventId: laterEventId,
        items: [{ ticketTypeId: tt, quantity: 1 }],
        payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
      },
    });
    expect(sale.body.status).toBe('PAID');

    const report = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/finance`, { token: organizer(c) });
    expect(report.status).toBe(200);
    // 10.00: fee 50 + 30 = 80, net 920.
    expect(report.body.currencies).toEqual([
      expect.objectContaining({
        currency: 'USD',
        grossMinor: 6000,
        feesMinor: 360,
        refundsMinor: 0,
        netMinor: 5640,
        paidOutMinor: NET_OF_ONE_ORDER,
        inTransitMinor: 0,
        debtMinor: 0,
        availableMinor: 0,
        pendingMinor: 920,
      }),
    ]);
    const usd = report.body.currencies[0];
    expect(usd.netMinor).toBe(
      usd.paidOutMinor + usd.inTransitMinor + usd.availableMinor + usd.pendingMinor - usd.debtMinor,
    );
    const expectedEvents = [
      { eventId: c.eventId, grossMinor: 5000, feesMinor: 280, refundsMinor: 0, netMinor: 4720 },
      { eventId: laterEventId, grossMinor: 1000, feesMinor: 80, refundsMinor: 0, netMinor: 920 },
    ].sort((x, y) => x.eventId.localeCompare(y.eventId));
    expect(usd.events).toEqual(expectedEvents.map((e) => expect.objectContaining(e)));

    const narrowed = await call(
      platform,
      'GET',
      `/v1/organizers/${c.organizerId}/finance?eventId=${laterEventId}`,
      {
        token: admin(),
      },
    );
    expect(narrowed.body.currencies[0]).toMatchObject({
      grossMinor: 1000,
      netMinor: 920,
      events: [expect.objectContaining({ eventId: laterEventId })],
    });

    const csv = await fetch(`${platform.baseUrl}/v1/organizers/${c.organizerId}/finance?format=csv`, {
      headers: { authorization: `Bearer ${organizer(c)}` },
    });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'currency,scope,eventId,grossMinor,feesMinor,refundsMinor,netMinor,paidOutMinor,inTransitMinor,debtMinor,availableMinor,pendingMinor',
    );
    expect(lines).toContain('USD,total,,6000,360,0,5640,4720,0,0,0,920');
    expect(lines).toContain(`USD,event,${c.eventId},5000,280,0,4720,,,,,`);

    const bad = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/finance?format=xml`, {
      token: organizer(c),
    });
    expect(bad.status).toBe(422);
  });
});

describe('refund after payout', () => {
  test('when a ticket is refunded after its money was paid out, then the platform pays it, the organizer owes it as debt, and the next payout deducts it', async () => {
    const c = await organizerWithSales(platform, { endedAgoMs: 2 * DAY });
    const first = await askPayout(c);
    expect((await result(c, first.body.payoutId)).status).toBe('PAID');

    // Support refunds one of the two tickets through the refunds API, after the payout.
    const [orderId] = c.orderIds;
    const tickets = await platform.db('tickets').where({ order_id: orderId }).orderBy('id');
    const refund = await call(platform, 'POST', `/v1/orders/${orderId}/refunds`, {
      token: platform.token({ sub: uid('support'), role: 'support' }),
      headers: { 'Idempotency-Key': uid('key') },
      body: { ticketIds: [tickets[0].id], reason: 'cannot attend' },
    });
    expect(refund.status).toBe(202);
    const refundId: string = refund.body.refundId;
    await platform.client.workflow.getHandle(`refund-${refundId}`).result();
    expect((await platform.db('refunds').where({ id: refundId }).first()).status).toBe('SUCCEEDED');

    // 2500 back to the buyer, 140 of it the platform's fee: the organizer's share of 2360 is debt, the payable 0.
    const payable = await platform
      .db('ledger_entries')
      .where({ account: `organizer_payable:${c.organizerId}` })
      .sum({ n: 'amount_minor' })
      .first();
    expect(Number(payable?.n)).toBe(0);
    const debtLines = await platform.db('ledger_entries').where({ transaction_id: `refund:${refundId}:debt` });
    expect(debtLines.map((l) => [l.account, l.amount_minor]).sort()).toEqual(
      [
        [`organizer_debt:${c.organizerId}`, 2360],
        [`organizer_payable:${c.organizerId}`, -2360],
      ].sort(),
    );
    const owing = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/balance`, { token: organizer(c) });
    expect(owing.body).toMatchObject({ availableMinor: 0, pendingMinor: 0, debtMinor: 2360 });
    const nothing = await askPayout(c);
    expect(nothing.status).toBe(409);
    expect(nothing.body.type).toMatch(/\/nothing-to-pay-out$/);

    // A later event sells 4 tickets (10000, fee 530, net 9470): the next payout is 9470 - 2360 = 7110.
    const later = await organizerWithSales(platform, {
      endedAgoMs: 2 * DAY,
      organizerId: c.organizerId,
      quantity: 4,
    });
    const second = await askPayout(c);
    expect(second.status).toBe(202);
    expect(second.body).toMatchObject({ amountMinor: 7110, debtSettledMinor: 2360 });
    expect((await result(c, second.body.payoutId)).status).toBe('PAID');
    expect(await transfers(second.body.payoutId)).toEqual([expect.objectContaining({ amount_minor: 7110 })]);

    const report = await call(platform, 'GET', `/v1/organizers/${c.organizerId}/finance`, { token: organizer(c) });
    expect(report.body.currencies).toEqual([
      expect.objectContaining({
        currency: 'USD',
        grossMinor: 15000,
        feesMinor: 280 - 140 + 530,
        refundsMinor: 2500,
        netMinor: 11830,
        paidOutMinor: 4720 + 7110,
        inTransitMinor: 0,
        debtMinor: 0,
        availableMinor: 0,
        pendingMinor: 0,
      }),
    ]);
    expect(report.body.currencies[0].events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          eventId: c.eventId,
          grossMinor: 5000,
          feesMinor: 140,
          refundsMinor: 2500,
          netMinor: 2360,
        }),
        expect.objectContaining({
          eventId: later.eventId,
          grossMinor: 10000,
          feesMinor: 530,
          refundsMinor: 0,
          netMinor: 9470,
        }),
      ]),
    );
    await recordHistory(
      'payout-v1-api-debt-settled',
      platform.client.workflow.getHandle(payoutWorkflowId(c.organizerId, second.body.payoutId)),
    );
  });
});
