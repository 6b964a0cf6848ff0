// Loyalty rewards: how many points a purchase earns, when they vest, what a refund takes back, what a point is
// worth at checkout, tiers and expiry. Pure: workflows, activities and the API import this, and it is unit-tested
// without Temporal or a database (test/rewards.domain.test.ts).
import { defineQuery } from '@temporalio/workflow';
import type { Money } from './money';
import { currencyExponent } from './money-format';

/** Tiers, lowest first. */
export const REWARD_TIERS = ['bronze', 'silver', 'gold'] as const;
export type RewardTier = (typeof REWARD_TIERS)[number];

/** The reward rules' settings, read once from the configuration (config/index.ts, REWARD_*). */
export interface RewardRules {
  /** Points per major currency unit paid (1.00 USD), before the tier multiplier. */
  pointsPerMajorUnit: number;
  /** Tier multipliers in basis points (10000 = x1). */
  tierMultiplierBps: Record<RewardTier, number>;
  /** Points vested within `tierWindowMs` that reach silver and gold. */
  silverThreshold: number;
  goldThreshold: number;
  /** How far back vested points count towards a tier, and how long a reached tier is kept. */
  tierWindowMs: number;
  /** How long after the event ended (and its refund window passed) points vest. */
  vestingDelayMs: number;
  /** How long vested points live before they expire. */
  expiryMs: number;
  /** The discount one point buys, in minor units of the order's currency. */
  pointValueMinor: number;
  /** Points the referrer earns when a referred buyer's first order vests. */
  referralBonusPoints: number;
}

/** What a new rules object defaults to; config overrides each value. */
export const DEFAULT_REWARD_RULES: RewardRules = {
  pointsPerMajorUnit: 1,
  tierMultiplierBps: { bronze: 10_000, silver: 12_500, gold: 15_000 },
  silverThreshold: 500,
  goldThreshold: 2_000,
  tierWindowMs: 365 * 86_400_000,
  vestingDelayMs: 0,
  expiryMs: 365 * 86_400_000,
  pointValueMinor: 1,
  referralBonusPoints: 100,
};

/** The smallest card or crypto charge left after a discount (Stripe's minimum is 0.50 in most currencies). */
export const MIN_CHARGE_MINOR = 50;

/**
 * Points a paid order earns: whole major units paid x the base rate x the tier multiplier, rounded down, so a
 * buyer never earns a fraction. The discounted total is what was paid, so redeemed points earn nothing.
 */
export function accrualPoints(paid: Money, tier: RewardTier, rules: RewardRules): number {
  const major = Math.floor(paid.amountMinor / 10 ** currencyExponent(paid.currency));
  return Math.floor((major * rules.pointsPerMajorUnit * rules.tierMultiplierBps[tier]) / 10_000);
}

/**
 * When an order's points vest: once the event has ended and the buyer's refund window has passed (it closes
 * `refundWindowHours` before the start, so normally the end decides), plus the configured delay.
 */
export function vestingAt(
  event: { startsAt: string; endsAt: string; refundWindowHours: number },
  rules: RewardRules,
): Date {
  const ended = Date.parse(event.endsAt);
  const windowClosed = Date.parse(event.startsAt) - event.refundWindowHours * 3_600_000;
  return new Date(Math.max(ended, windowClosed) + rules.vestingDelayMs);
}

/**
 * The part of `whole` that `refunded` of `paid` stands for, rounded half up. Computed on the running totals, so
 * two partial refunds take back exactly what one refund of their sum would: no point lost to rounding twice.
 */
export function proportionOf(whole: number, refundedMinor: number, paidMinor: number): number {
  if (paidMinor <= 0 || whole <= 0) return 0;
  const share = Math.min(refundedMinor, paidMinor);
  return Math.floor((whole * share * 2 + paidMinor) / (2 * paidMinor));
}

/** What a refund does to an order's earned points: void what is still pending, claw back what vested. */
export interface RewardReversal {
  voidPoints: number;
  clawbackPoints: number;
}

/**
 * A refund takes back points in proportion to the money refunded (all refunds of the order so far). Pending
 * points are voided first; once the order's points vested, the rest is clawed back from the available balance,
 * which may go negative.
 */
export function rewardReversal(order: {
  accrued: number;
  /** Points of this order already voided or clawed back by earlier refunds. */
  alreadyReversed: number;
  /** Points of this order still pending (accrued, not vested, not voided). */
  pending: number;
  refundedMinor: number;
  paidMinor: number;
}): RewardReversal {
  const due = Math.max(
    0,
    proportionOf(order.accrued, order.refundedMinor, order.paidMinor) - order.alreadyReversed,
  );
  const voidPoints = Math.min(due, Math.max(0, order.pending));
  return { voidPoints, clawbackPoints: due - voidPoints };
}

/** Points a refund of a redeemed order gives back: the same share of the points spent as of the money. */
export function redemptionGiveBack(order: {
  spent: number;
  alreadyGivenBack: number;
  refundedMinor: number;
  paidMinor: number;
}): number {
  return Math.max(0, proportionOf(order.spent, order.refundedMinor, order.paidMinor) - order.alreadyGivenBack);
}

/** Why a redemption is refused; the API answers 409 (insufficient) or 422 (the rest). */
export type RedemptionRefusal =
  | { rule: 'insufficient-points'; detail: string }
  | { rule: 'discount-exceeds-total'; detail: string };

/**
 * The discount `points` buy on an order of `total`: points x the configured value. Refused when the buyer has
 * fewer available points, or when the discount would leave less than the smallest charge.
 */
export function redemptionDiscount(
  points: number,
  total: Money,
  availablePoints: number,
  rules: RewardRules,
): { discount: Money } | { refused: RedemptionRefusal } {
  if (points > availablePoints)
    return {
      refused: {
        rule: 'insufficient-points',
        detail: `${points} points asked, ${Math.max(availablePoints, 0)} available`,
      },
    };
  const discountMinor = points * rules.pointValueMinor;
  if (total.amountMinor - discountMinor < MIN_CHARGE_MINOR)
    return {
      refused: {
        rule: 'discount-exceeds-total',
        detail: `${points} points are worth ${discountMinor} minor units; at most ${Math.max(
          0,
          Math.floor((total.amountMinor - MIN_CHARGE_MINOR) / rules.pointValueMinor),
        )} points can be redeemed on this order`,
      },
    };
  return { discount: { amountMinor: discountMinor, currency: total.currency } };
}

/** The tier `qualifyingPoints` (points vested in the tier window, less clawbacks) reach. */
export function tierFor(qualifyingPoints: number, rules: RewardRules): RewardTier {
  if (qualifyingPoints >= rules.goldThreshold) return 'gold';
  if (qualifyingPoints >= rules.silverThreshold) return 'silver';
  return 'bronze';
}

/**
 * A member's tier after a recalculation. A higher tier is taken at once and kept for the tier window; a lower
 * one replaces the current tier only when that keep has lapsed, or at once after a clawback (the points that
 * earned the tier were taken back).
 */
export function nextTier(
  member: { tier: RewardTier; tierSince: Date | null; qualifyingPoints: number },
  now: Date,
  cause: 'vesting' | 'sweep' | 'clawback',
  rules: RewardRules,
): { tier: RewardTier; tierSince: Date | null } {
  const reached = tierFor(member.qualifyingPoints, rules);
  const rank = (t: RewardTier) => REWARD_TIERS.indexOf(t);
  if (rank(reached) > rank(member.tier)) return { tier: reached, tierSince: now };
  if (rank(reached) === rank(member.tier)) {
    // Reaching the same tier again renews its keep.
    return reached === 'bronze' ? { tier: 'bronze', tierSince: null } : { tier: reached, tierSince: now };
  }
  const keptUntil = (member.tierSince?.getTime() ?? 0) + rules.tierWindowMs;
  if (cause === 'clawback' || now.getTime() >= keptUntil)
    return { tier: reached, tierSince: reached === 'bronze' ? null : now };
  return { tier: member.tier, tierSince: member.tierSince };
}

/** A lot of vested points (an order's vesting, a referral bonus), as expiry sees it. */
export interface VestedLot {
  operationId: string;
  points: number;
  vestedAt: Date;
  /** When its unused points expire (set when it vested: `expiryMs` after). */
  expiresAt: Date;
  /** Points of this lot already expired. */
  expired: number;
}

/**
 * Which vested points expire at `now`, oldest first. Points spent, reserved or clawed back (`debits`) are taken
 * from the oldest lots first, so what expires is only what was never used; each lot expires once, at its
 * `expiresAt`.
 */
export function expiryPlan(
  lots: VestedLot[],
  debits: number,
  now: Date,
): Array<{ operationId: string; points: number }> {
  const ordered = [...lots].sort(
    (a, b) => a.vestedAt.getTime() - b.vestedAt.getTime() || a.operationId.localeCompare(b.operationId),
  );
  let pool = Math.max(0, debits);
  const plan: Array<{ operationId: string; points: number }> = [];
  for (const lot of ordered) {
    const used = Math.min(lot.points - lot.expired, pool);
    pool -= used;
    const left = lot.points - lot.expired - used;
    if (left > 0 && lot.expiresAt.getTime() <= now.getTime())
      plan.push({ operationId: lot.operationId, points: left });
  }
  return plan;
}

/** Kinds of reward entry; every point movement is one append-only row with one operation id. */
export const RewardEntryKind = {
  /** A paid order's points, pending until they vest. */
  Accrual: 'ACCRUAL',
  /** Pending points become available. */
  Vest: 'VEST',
  /** A refund before vesting: pending points voided. */
  Void: 'VOID',
  /** A refund after vesting: available points taken back (the balance may go negative). */
  Clawback: 'CLAWBACK',
  /** The referrer's bonus when a referred buyer's first order vests. */
  ReferralBonus: 'REFERRAL_BONUS',
  /** Points held for a checkout with the seat hold. */
  RedemptionReserved: 'REDEMPTION_RESERVED',
  /** The checkout was paid: the held points are spent. */
  RedemptionSpent: 'REDEMPTION_SPENT',
  /** The checkout failed, expired or was cancelled: the held points are given back. */
  RedemptionReleased: 'REDEMPTION_RELEASED',
  /** A refund of a redeemed order gives back its share of the points spent. */
  RedemptionRefunded: 'REDEMPTION_REFUNDED',
  /** Vested points unused 12 months (configured) after they vested. */
  Expiry: 'EXPIRY',
} as const;
export type RewardEntryKind = (typeof RewardEntryKind)[keyof typeof RewardEntryKind];

/** How one entry moves the member's three balances. */
export interface RewardDeltas {
  pending: number;
  available: number;
  reserved: number;
}

/** The balances an entry of `kind` for `points` (a positive count) moves. */
export function rewardDeltas(kind: RewardEntryKind, points: number): RewardDeltas {
  const d = (pending: number, available: number, reserved: number): RewardDeltas => ({
    pending,
    available,
    reserved,
  });
  switch (kind) {
    case RewardEntryKind.Accrual:
      return d(points, 0, 0);
    case RewardEntryKind.Vest:
      return d(-points, points, 0);
    case RewardEntryKind.Void:
      return d(-points, 0, 0);
    case RewardEntryKind.Clawback:
    case RewardEntryKind.Expiry:
      return d(0, -points, 0);
    case RewardEntryKind.ReferralBonus:
    case RewardEntryKind.RedemptionRefunded:
      return d(0, points, 0);
    case RewardEntryKind.RedemptionReserved:
      return d(0, -points, points);
    case RewardEntryKind.RedemptionSpent:
      return d(0, 0, -points);
    case RewardEntryKind.RedemptionReleased:
      return d(0, points, -points);
  }
}

/** Operation ids: the business key of every point movement, unique in `reward_entries`. */
export const RewardOperation = {
  accrue: (orderId: string) => `order:${orderId}:accrue`,
  vest: (orderId: string) => `order:${orderId}:vest`,
  reserve: (orderId: string) => `order:${orderId}:reserve`,
  spend: (orderId: string) => `order:${orderId}:spend`,
  release: (orderId: string) => `order:${orderId}:release`,
  void: (refundId: string) => `refund:${refundId}:void`,
  clawback: (refundId: string) => `refund:${refundId}:clawback`,
  giveBack: (refundId: string) => `refund:${refundId}:give-back`,
  referral: (refereeId: string) => `referral:${refereeId}`,
  expire: (lotOperationId: string) => `expire:${lotOperationId}`,
} as const;

/** What orderRewardsWorkflow starts with: the paid order, by id. */
export interface OrderRewardsInput {
  orderId: string;
  buyerId: string;
}

/** How an order's points ended up. */
export interface OrderRewardsResult {
  accrued: number;
  vested: number;
  vestsAt: string;
  referralBonus: number;
}

/** Where an order's points stand, for support in the Temporal UI. */
export interface OrderRewardsView {
  orderId: string;
  status: 'ACCRUING' | 'PENDING' | 'VESTED';
  accrued: number;
  vestsAt: string | null;
  vested: number;
}

/** Query: an order's points as they stand. */
export const orderRewardsQuery = defineQuery<OrderRewardsView>('orderRewards');

/** One rewards workflow per paid order: the order is the business key. */
export function orderRewardsWorkflowId(orderId: string): string {
  return `rewards-order-${orderId}`;
}
