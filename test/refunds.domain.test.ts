import {
  canTransitionRefund,
  feeRefund,
  isBalanced,
  orderStatusAfterRefunds,
  planRefund,
  platformFee,
  refundLedgerLines,
  REFUND_STATUSES,
  RefundPolicyError,
  saleLedgerLines,
  type RefundableOrder,
} from '../domain';

const policy = { approvalThresholdMinor: 50_000, cancellationFeePerTicketMinor: 0 };
const now = new Date('2027-01-01T00:00:00Z');

function order(overrides: Partial<RefundableOrder> = {}): RefundableOrder {
  return {
    orderId: 'ord_1',
    buyerId: 'buyer_1',
    status: 'PAID',
    captured: { amountMinor: 5000, currency: 'USD' },
    refundingMinor: 0,
    feeRefundingMinor: 0,
    tickets: [
      { ticketId: 't1', status: 'VALID', unitPriceMinor: 2500, onLiveRefund: false },
      { ticketId: 't2', status: 'VALID', unitPriceMinor: 2500, onLiveRefund: false },
    ],
    event: { startsAt: '2027-01-10T20:00:00Z', refundWindowHours: 48 },
    ...overrides,
  };
}
const buyer = { role: 'buyer' as const, sub: 'buyer_1' };
const support = { role: 'support' as const, sub: 'sup_1' };

function refusal(fn: () => unknown): RefundPolicyError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RefundPolicyError) return err;
    throw err;
  }
  throw new Error('expected a RefundPolicyError');
}

describe('refund state machine', () => {
  test('when a refund moves along REQUESTED → AWAITING_APPROVAL → PROCESSING → SUCCEEDED, then every step is allowed', () => {
    expect(canTransitionRefund('REQUESTED', 'AWAITING_APPROVAL')).toBe(true);
    expect(canTransitionRefund('AWAITING_APPROVAL', 'PROCESSING')).toBe(true);
    expect(canTransitionRefund('PROCESSING', 'SUCCEEDED')).toBe(true);
    expect(canTransitionRefund('PROCESSING', 'AWAITING_MANUAL_REFUND')).toBe(true);
    expect(canTransitionRefund('AWAITING_MANUAL_REFUND', 'SUCCEEDED')).toBe(true);
  });

  test('when a final refund (SUCCEEDED, REJECTED, FAILED) is moved anywhere, then the move is refused', () => {
    for (const final of ['SUCCEEDED', 'REJECTED', 'FAILED'] as const)
      for (const to of REFUND_STATUSES) expect(canTransitionRefund(final, to)).toBe(false);
    expect(canTransitionRefund('AWAITING_APPROVAL', 'SUCCEEDED')).toBe(false);
    expect(canTransitionRefund('REJECTED', 'PROCESSING')).toBe(false);
  });
});

describe('refund policy', () => {
  test('when a buyer refunds one of two tickets inside the window, then that ticket price is refunded with half the fee', () => {
    const plan = planRefund(order(), { ticketIds: ['t1'], reason: 'cannot come' }, buyer, now, policy);
    const fee = platformFee({ amountMinor: 5000, currency: 'USD' }).amountMinor; // 280
    expect(plan).toMatchObject({
      amount: { amountMinor: 2500, currency: 'USD' },
      ticketIds: ['t1'],
      needsApproval: false,
    });
    expect(plan.feeRefundMinor).toBe(fee / 2);
  });

  test('when another buyer asks to refund the order, then it is not found', () => {
    expect(
      refusal(() => planRefund(order(), { reason: 'x' }, { role: 'buyer', sub: 'other' }, now, policy)).status,
    ).toBe(404);
  });

  test('when a buyer refunds after the window closed, then 409 refund-window-closed, while support still may', () => {
    const late = new Date('2027-01-09T21:00:00Z');
    expect(refusal(() => planRefund(order(), { reason: 'x' }, buyer, late, policy)).slug).toBe(
      'refund-window-closed',
    );
    expect(planRefund(order(), { reason: 'x' }, support, late, policy).amount.amountMinor).toBe(5000);
  });

  test('when more than was paid is asked, a ticket of another order, or a refunded ticket, then 409 naming the rule', () => {
    expect(refusal(() => planRefund(order(), { amountMinor: 5001, reason: 'x' }, buyer, now, policy)).slug).toBe(
      'refund-exceeds-payment',
    );
    expect(refusal(() => planRefund(order(), { ticketIds: ['t9'], reason: 'x' }, buyer, now, policy)).slug).toBe(
      'ticket-not-on-order',
    );
    const refunded = order({
      refundingMinor: 2500,
      tickets: [
        { ticketId: 't1', status: 'VOID', unitPriceMinor: 2500, onLiveRefund: true },
        { ticketId: 't2', status: 'VALID', unitPriceMinor: 2500, onLiveRefund: false },
      ],
    });
    expect(refusal(() => planRefund(refunded, { ticketIds: ['t1'], reason: 'x' }, buyer, now, policy)).slug).toBe(
      'ticket-already-refunded',
    );
  });

  test('when the order is already refunded in full, then a further refund is 409', () => {
    expect(
      refusal(() => planRefund(order({ refundingMinor: 5000 }), { reason: 'x' }, support, now, policy)).status,
    ).toBe(409);
  });

  test('when a refund is above the threshold, then it needs approval; a cancellation never does', () => {
    const big = order({ captured: { amountMinor: 60_000, currency: 'USD' } });
    expect(planRefund(big, { reason: 'x' }, support, now, policy).needsApproval).toBe(true);
    expect(planRefund(big, { reason: 'x' }, { role: 'cancellation', sub: 'org' }, now, policy).needsApproval).toBe(
      false,
    );
  });

  test('when a cancellation fee per ticket is configured, then a buyer gets the price minus it and the platform keeps it', () => {
    const plan = planRefund(order(), { ticketIds: ['t1'], reason: 'x' }, buyer, now, {
      ...policy,
      cancellationFeePerTicketMinor: 200,
    });
    expect(plan.amount.amountMinor).toBe(2300);
    // Half the 280 fee is 140; the platform keeps the 200 on top, so it gives back 140 - 200.
    expect(plan.feeRefundMinor).toBe(-60);
    const lines = refundLedgerLines({
      amount: plan.amount,
      feeRefundMinor: plan.feeRefundMinor,
      organizerId: 'o',
      provider: 'stripe',
    });
    expect(isBalanced(lines)).toBe(true);
    expect(lines).toEqual([
      { account: 'provider_clearing:stripe', amountMinor: -2300, currency: 'USD' },
      { account: 'organizer_payable:o', amountMinor: 2360, currency: 'USD' },
      { account: 'platform_revenue', amountMinor: -60, currency: 'USD' },
    ]);
  });
});

describe('fee refunds and ledger postings', () => {
  test('when an order is refunded in three odd parts, then the fee given back adds up to exactly the whole fee', () => {
    const captured = { amountMinor: 3333, currency: 'USD' };
    let refunded = 0;
    let feeBack = 0;
    for (const part of [1000, 1111, 1222]) {
      const fee = feeRefund({
        captured,
        alreadyRefundedMinor: refunded,
        alreadyFeeRefundedMinor: feeBack,
        refundMinor: part,
        keptMinor: 0,
      });
      refunded += part;
      feeBack += fee;
    }
    expect(feeBack).toBe(platformFee(captured).amountMinor);
  });

  test('when a sale is refunded in full, then sale and refund postings cancel out on every account', () => {
    const total = { amountMinor: 5000, currency: 'USD' };
    const sale = saleLedgerLines({ total, organizerId: 'o', provider: 'stripe' });
    const refund = refundLedgerLines({
      amount: total,
      feeRefundMinor: platformFee(total).amountMinor,
      organizerId: 'o',
      provider: 'stripe',
    });
    expect(isBalanced(refund)).toBe(true);
    const net = new Map<string, number>();
    for (const l of [...sale, ...refund]) net.set(l.account, (net.get(l.account) ?? 0) + l.amountMinor);
    expect([...net.values()].every((v) => v === 0)).toBe(true);
  });

  test('when refunds add up to part or all of the capture, then the order is PARTIALLY_REFUNDED or REFUNDED', () => {
    expect(orderStatusAfterRefunds(5000, 2500)).toBe('PARTIALLY_REFUNDED');
    expect(orderStatusAfterRefunds(5000, 5000)).toBe('REFUNDED');
  });
});
