import {
  accrualPoints,
  DEFAULT_REWARD_RULES,
  expiryPlan,
  nextTier,
  proportionOf,
  redemptionDiscount,
  redemptionGiveBack,
  rewardDeltas,
  rewardReversal,
  RewardEntryKind,
  scheduledTimeInWorkflowId,
  scheduledTimeOf,
  reconciliationDateFor,
  tierFor,
  vestingAt,
} from '../domain';

const rules = DEFAULT_REWARD_RULES;
const DAY = 86_400_000;

describe('reward rules', () => {
  test('when an order is paid, then it earns whole major units x the rate x the tier multiplier, rounded down', () => {
    expect(accrualPoints({ amountMinor: 5000, currency: 'USD' }, 'bronze', rules)).toBe(50);
    expect(accrualPoints({ amountMinor: 5099, currency: 'USD' }, 'bronze', rules)).toBe(50);
    expect(accrualPoints({ amountMinor: 5000, currency: 'USD' }, 'silver', rules)).toBe(62);
    expect(accrualPoints({ amountMinor: 5000, currency: 'USD' }, 'gold', rules)).toBe(75);
    // JPY has no minor unit: 5000 yen is 5000 major units.
    expect(accrualPoints({ amountMinor: 5000, currency: 'JPY' }, 'bronze', rules)).toBe(5000);
    expect(
      accrualPoints({ amountMinor: 5000, currency: 'USD' }, 'bronze', { ...rules, pointsPerMajorUnit: 3 }),
    ).toBe(150);
  });

  test('when an event ends, then its points vest after the end (or the refund window close, if later) plus the delay', () => {
    const event = { startsAt: '2027-01-01T20:00:00Z', endsAt: '2027-01-02T00:00:00Z', refundWindowHours: 48 };
    expect(vestingAt(event, rules).toISOString()).toBe('2027-01-02T00:00:00.000Z');
    expect(vestingAt(event, { ...rules, vestingDelayMs: DAY }).toISOString()).toBe('2027-01-03T00:00:00.000Z');
    // A negative window (refunds allowed after the start) can close after the end.
    const late = { ...event, refundWindowHours: -10 };
    expect(vestingAt(late, rules).toISOString()).toBe('2027-01-02T06:00:00.000Z');
  });

  test('when refunds come in parts, then their running total takes back exactly what one refund would', () => {
    expect(proportionOf(50, 2500, 5000)).toBe(25);
    expect(proportionOf(51, 2500, 5000)).toBe(26); // 25.5 rounds half up
    expect(proportionOf(50, 9999, 5000)).toBe(50); // never more than the whole
    const first = proportionOf(33, 1000, 3000);
    const both = proportionOf(33, 2000, 3000);
    expect(first + (both - first)).toBe(22);
  });

  test('when a refund comes before vesting, then pending points are voided; after vesting, they are clawed back', () => {
    expect(
      rewardReversal({ accrued: 50, alreadyReversed: 0, pending: 50, refundedMinor: 2500, paidMinor: 5000 }),
    ).toEqual({
      voidPoints: 25,
      clawbackPoints: 0,
    });
    expect(
      rewardReversal({ accrued: 50, alreadyReversed: 0, pending: 0, refundedMinor: 2500, paidMinor: 5000 }),
    ).toEqual({
      voidPoints: 0,
      clawbackPoints: 25,
    });
    // A second refund of the rest after the first voided half: the other half, once.
    expect(
      rewardReversal({ accrued: 50, alreadyReversed: 25, pending: 0, refundedMinor: 5000, paidMinor: 5000 }),
    ).toEqual({
      voidPoints: 0,
      clawbackPoints: 25,
    });
    // A retry that already took its share takes nothing.
    expect(
      rewardReversal({ accrued: 50, alreadyReversed: 25, pending: 25, refundedMinor: 2500, paidMinor: 5000 }),
    ).toEqual({
      voidPoints: 0,
      clawbackPoints: 0,
    });
  });

  test('when a redeemed order is refunded, then the same share of the points spent comes back', () => {
    expect(redemptionGiveBack({ spent: 20, alreadyGivenBack: 0, refundedMinor: 4980, paidMinor: 4980 })).toBe(20);
    expect(redemptionGiveBack({ spent: 20, alreadyGivenBack: 0, refundedMinor: 2490, paidMinor: 4980 })).toBe(10);
    expect(redemptionGiveBack({ spent: 20, alreadyGivenBack: 10, refundedMinor: 2490, paidMinor: 4980 })).toBe(0);
  });

  test('when points are redeemed, then the server prices the discount and refuses too many or too much', () => {
    const total = { amountMinor: 5000, currency: 'USD' };
    expect(redemptionDiscount(20, total, 50, rules)).toEqual({ discount: { amountMinor: 20, currency: 'USD' } });
    expect(redemptionDiscount(20, total, 50, { ...rules, pointValueMinor: 5 })).toEqual({
      discount: { amountMinor: 100, currency: 'USD' },
    });
    expect(redemptionDiscount(60, total, 50, rules)).toMatchObject({ refused: { rule: 'insufficient-points' } });
    expect(redemptionDiscount(4960, total, 10_000, rules)).toMatchObject({
      refused: { rule: 'discount-exceeds-total' },
    });
    expect(redemptionDiscount(4950, total, 10_000, rules)).toEqual({
      discount: { amountMinor: 4950, currency: 'USD' },
    });
  });

  test('when points cross a threshold, then the tier follows; a lower tier waits out its keep unless clawed back', () => {
    expect(tierFor(499, rules)).toBe('bronze');
    expect(tierFor(500, rules)).toBe('silver');
    expect(tierFor(2000, rules)).toBe('gold');
    const now = new Date('2027-06-01T00:00:00Z');
    expect(nextTier({ tier: 'bronze', tierSince: null, qualifyingPoints: 500 }, now, 'vesting', rules)).toEqual({
      tier: 'silver',
      tierSince: now,
    });
    const since = new Date(now.getTime() - 100 * DAY);
    expect(nextTier({ tier: 'gold', tierSince: since, qualifyingPoints: 10 }, now, 'sweep', rules)).toEqual({
      tier: 'gold',
      tierSince: since,
    });
    expect(nextTier({ tier: 'gold', tierSince: since, qualifyingPoints: 600 }, now, 'clawback', rules)).toEqual({
      tier: 'silver',
      tierSince: now,
    });
    const lapsed = new Date(now.getTime() - 366 * DAY);
    expect(nextTier({ tier: 'gold', tierSince: lapsed, qualifyingPoints: 10 }, now, 'sweep', rules)).toEqual({
      tier: 'bronze',
      tierSince: null,
    });
  });

  test('when lots expire, then only what was never used expires, oldest lot first', () => {
    const lot = (operationId: string, points: number, vested: string, expired = 0) => ({
      operationId,
      points,
      vestedAt: new Date(vested),
      expiresAt: new Date(Date.parse(vested) + rules.expiryMs),
      expired,
    });
    const lots = [lot('b', 50, '2026-02-01T00:00:00Z'), lot('a', 50, '2026-01-01T00:00:00Z')];
    // 30 spent: they came out of the oldest lot, so 20 of it expire and nothing of the younger one yet.
    expect(expiryPlan(lots, 30, new Date('2027-01-15T00:00:00Z'))).toEqual([{ operationId: 'a', points: 20 }]);
    expect(expiryPlan(lots, 30, new Date('2027-03-01T00:00:00Z'))).toEqual([
      { operationId: 'a', points: 20 },
      { operationId: 'b', points: 50 },
    ]);
    // A lot that already expired expires no more; debits beyond it come out of the next.
    const after = [lot('a', 50, '2026-01-01T00:00:00Z', 50), lot('b', 50, '2026-02-01T00:00:00Z')];
    expect(expiryPlan(after, 30, new Date('2027-03-01T00:00:00Z'))).toEqual([{ operationId: 'b', points: 20 }]);
  });

  test('when entries are written, then each kind moves the balances it names and the total says so', () => {
    expect(rewardDeltas(RewardEntryKind.Vest, 10)).toEqual({ pending: -10, available: 10, reserved: 0 });
    expect(rewardDeltas(RewardEntryKind.RedemptionReserved, 10)).toEqual({
      pending: 0,
      available: -10,
      reserved: 10,
    });
    expect(rewardDeltas(RewardEntryKind.RedemptionSpent, 10)).toEqual({ pending: 0, available: 0, reserved: -10 });
    expect(rewardDeltas(RewardEntryKind.Clawback, 10)).toEqual({ pending: 0, available: -10, reserved: 0 });
  });

  test('when a schedule starts a run, then its work is keyed on the scheduled time, not the start', () => {
    const scheduled = new Date('2026-11-30T06:00:00Z');
    const started = new Date('2026-12-02T10:00:00Z');
    expect(scheduledTimeOf({}, scheduled, started)).toEqual(scheduled);
    expect(scheduledTimeOf({ asOf: '2026-11-01T00:00:00Z' }, undefined, started)).toEqual(
      new Date('2026-11-01T00:00:00Z'),
    );
    expect(scheduledTimeOf(undefined, undefined, started)).toEqual(started);
    expect(reconciliationDateFor(new Date('2026-12-02T04:00:00Z'))).toBe('2026-12-01');
    expect(scheduledTimeInWorkflowId('weekly-payouts-2026-11-30T06:00:00Z')).toEqual(scheduled);
    expect(scheduledTimeInWorkflowId('reconciliation-2026-11-30')).toBeUndefined();
  });
});
