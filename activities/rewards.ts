import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../db';
import { appendRewardEntry, lockMember, orderRewardSums, rewardBalances } from '../db/rewards';
import {
  accrualPoints,
  expiryPlan,
  FailureType,
  nextTier,
  redemptionGiveBack,
  RewardEntryKind,
  RewardOperation,
  rewardReversal,
  vestingAt,
  type RewardRules,
  type RewardTier,
} from '../domain';

/** What the reward activities need: the database, the rules, and a clock. */
export interface RewardActivityDeps {
  db: Db;
  rules: RewardRules;
  now?: () => Date;
}

/** Result of accrueOrderPoints. */
export interface AccrueOrderPointsResult {
  points: number;
  vestsAt: string;
}

/** Result of vestOrderPoints. */
export interface VestOrderPointsResult {
  vested: number;
  referralBonus: number;
}

/** Result of the daily sweep's steps. */
export interface RewardSweepResult {
  orders: number;
  points: number;
}

/** Order statuses whose money was taken (fully refunded orders included: their points are voided, not skipped). */
const PAID = ['PAID', 'PARTIALLY_REFUNDED', 'REFUNDED'];
/** How many members or orders one sweep step handles; the sweep calls it again until it reports none. */
const SWEEP_BATCH = 200;

/** Activities of the order rewards workflow, the refund's reversal and the daily rewards sweep. All retry safely. */
export function createRewardActivities(deps: RewardActivityDeps) {
  const { db, rules } = deps;
  const now = deps.now ?? (() => new Date());

  /**
   * Records a paid order's points as pending: what was paid x the rate x the buyer's tier multiplier, vesting
   * when the event has ended and its refund window passed. A second call returns the first one's entry.
   */
  async function accrueOrderPoints(input: { orderId: string }): Promise<AccrueOrderPointsResult> {
    return db.transaction(async (trx) => {
      const order = await trx('orders as o')
        .join('events as e', 'e.id', 'o.event_id')
        .where('o.id', input.orderId)
        .first(
          'o.buyer_id',
          'o.status',
          'o.total_minor',
          'o.currency',
          'e.starts_at',
          'e.ends_at',
          'e.refund_window_hours',
        );
      if (!order || !PAID.includes(order.status))
        throw ApplicationFailure.nonRetryable(`order ${input.orderId} is not paid`, FailureType.InvalidOrder);
      await lockMember(trx, order.buyer_id);
      const existing = await trx('reward_entries')
        .where({ operation_id: RewardOperation.accrue(input.orderId) })
        .first('points', 'vests_at');
      if (existing) return { points: existing.points, vestsAt: new Date(existing.vests_at).toISOString() };
      const member = await trx('buyers').where({ id: order.buyer_id }).first('tier');
      const points = accrualPoints(
        { amountMinor: Number(order.total_minor), currency: String(order.currency).trim() },
        member.tier as RewardTier,
        rules,
      );
      const vestsAt = vestingAt(
        {
          startsAt: new Date(order.starts_at).toISOString(),
          endsAt: new Date(order.ends_at ?? order.starts_at).toISOString(),
          refundWindowHours: Number(order.refund_window_hours),
        },
        rules,
      );
      await appendRewardEntry(trx, {
        operationId: RewardOperation.accrue(input.orderId),
        buyerId: order.buyer_id,
        kind: RewardEntryKind.Accrual,
        points,
        orderId: input.orderId,
        vestsAt,
      });
      return { points, vestsAt: vestsAt.toISOString() };
    });
  }

  /**
   * Vests what is left of an order's pending points (refunds may have voided some), pays the referrer's bonus when
   * this was the referred buyer's first order and some of it vested, and promotes the buyer's tier. Once.
   */
  async function vestOrderPoints(input: { orderId: string }): Promise<VestOrderPointsResult> {
    return db.transaction(async (trx) => {
      const order = await trx('orders').where({ id: input.orderId }).first('buyer_id', 'referrer_id');
      if (!order) return { vested: 0, referralBonus: 0 };
      await lockMember(trx, order.buyer_id);
      const sums = await orderRewardSums(trx, input.orderId);
      const pending = (sums.ACCRUAL ?? 0) - (sums.VOID ?? 0) - (sums.VEST ?? 0);
      const at = now();
      await appendRewardEntry(trx, {
        operationId: RewardOperation.vest(input.orderId),
        buyerId: order.buyer_id,
        kind: RewardEntryKind.Vest,
        points: Math.max(0, pending),
        orderId: input.orderId,
        expiresAt: new Date(at.getTime() + rules.expiryMs),
      });
      const vested = (await orderRewardSums(trx, input.orderId)).VEST ?? 0;
      let referralBonus = 0;
      if (order.referrer_id && vested > 0) {
        await lockMember(trx, order.referrer_id);
        const paid = await appendRewardEntry(trx, {
          operationId: RewardOperation.referral(order.buyer_id),
          buyerId: order.referrer_id,
          kind: RewardEntryKind.ReferralBonus,
          points: rules.referralBonusPoints,
          orderId: input.orderId,
          expiresAt: new Date(at.getTime() + rules.expiryMs),
        });
        if (paid) referralBonus = rules.referralBonusPoints;
        await recalculateTier(trx, order.referrer_id, at, 'vesting');
      }
      await recalculateTier(trx, order.buyer_id, at, 'vesting');
      return { vested, referralBonus };
    });
  }

  /**
   * A refund's effect on points, once it succeeded: the order's earned points shrink in proportion to all money
   * refunded so far (pending voided first, then vested clawed back, which may demote the tier), and a redeemed
   * order gives back the same share of the points it spent.
   */
  async function reverseRefundRewards(input: {
    refundId: string;
  }): Promise<{ voided: number; clawedBack: number; givenBack: number }> {
    return db.transaction(async (trx) => {
      const refund = await trx('refunds as r')
        .join('orders as o', 'o.id', 'r.order_id')
        .where('r.id', input.refundId)
        .first('r.order_id', 'o.buyer_id', 'o.total_minor');
      if (!refund) return { voided: 0, clawedBack: 0, givenBack: 0 };
      await lockMember(trx, refund.buyer_id);
      const sums = await orderRewardSums(trx, refund.order_id);
      const refundedMinor = await refundedSoFar(trx, refund.order_id, input.refundId);
      const paidMinor = Number(refund.total_minor);
      const reversal = rewardReversal({
        accrued: sums.ACCRUAL ?? 0,
        alreadyReversed: (sums.VOID ?? 0) + (sums.CLAWBACK ?? 0),
        pending: (sums.ACCRUAL ?? 0) - (sums.VOID ?? 0) - (sums.VEST ?? 0),
        refundedMinor,
        paidMinor,
      });
      const common = { buyerId: refund.buyer_id, orderId: refund.order_id, refundId: input.refundId };
      // A retry finds its own entries and takes nothing twice: the proportions above already count them.
      const voided = await appendRewardEntry(trx, {
        ...common,
        operationId: RewardOperation.void(input.refundId),
        kind: RewardEntryKind.Void,
        points: reversal.voidPoints,
      });
      const clawed = await appendRewardEntry(trx, {
        ...common,
        operationId: RewardOperation.clawback(input.refundId),
        kind: RewardEntryKind.Clawback,
        points: reversal.clawbackPoints,
      });
      const givenBack = redemptionGiveBack({
        spent: sums.REDEMPTION_SPENT ?? 0,
        alreadyGivenBack: sums.REDEMPTION_REFUNDED ?? 0,
        refundedMinor,
        paidMinor,
      });
      const gave = await appendRewardEntry(trx, {
        ...common,
        operationId: RewardOperation.giveBack(input.refundId),
        kind: RewardEntryKind.RedemptionRefunded,
        points: givenBack,
      });
      if (clawed) await recalculateTier(trx, refund.buyer_id, now(), 'clawback');
      return {
        voided: voided ? reversal.voidPoints : 0,
        clawedBack: clawed ? reversal.clawbackPoints : 0,
        givenBack: gave ? givenBack : 0,
      };
    });
  }

  /** The daily sweep: vests every order whose vesting time passed by `asOf` (its own timer may be gone). */
  async function vestDueOrders(input: { asOf: string }): Promise<RewardSweepResult> {
    // Orders whose vesting time passed with points still pending (a fully refunded order has none left).
    const { rows } = await db.raw(
      `SELECT order_id FROM reward_entries
        WHERE order_id IN (SELECT order_id FROM reward_entries WHERE kind = 'ACCRUAL' AND vests_at <= ?)
        GROUP BY order_id HAVING SUM(pending_delta) > 0
        ORDER BY order_id LIMIT ?`,
      [input.asOf, SWEEP_BATCH],
    );
    const due = (rows as Array<{ order_id: string }>).map((r) => r.order_id);
    let points = 0;
    for (const orderId of due) points += (await vestOrderPoints({ orderId })).vested;
    return { orders: due.length, points };
  }

  /** The daily sweep: expires, oldest first, the unused points of every lot that vested an expiry ago. */
  async function expireDuePoints(input: { asOf: string }): Promise<RewardSweepResult> {
    const asOf = new Date(input.asOf);
    const members = await db('reward_entries as l')
      .whereIn('l.kind', [RewardEntryKind.Vest, RewardEntryKind.ReferralBonus])
      .where('l.expires_at', '<=', asOf)
      .whereNotExists(
        db('reward_entries as x')
          .where('x.kind', RewardEntryKind.Expiry)
          .whereRaw(`x.operation_id = 'expire:' || l.operation_id`),
      )
      .distinct('l.buyer_id')
      .limit(SWEEP_BATCH)
      .pluck('l.buyer_id');
    let points = 0;
    for (const buyerId of members) {
      points += await db.transaction(async (trx) => {
        await lockMember(trx, buyerId);
        const lots = await trx('reward_entries as l')
          .where('l.buyer_id', buyerId)
          .whereIn('l.kind', [RewardEntryKind.Vest, RewardEntryKind.ReferralBonus])
          .leftJoin('reward_entries as x', 'x.operation_id', trx.raw(`'expire:' || l.operation_id`))
          .select(
            'l.operation_id',
            'l.available_delta',
            'l.created_at',
            'l.expires_at',
            trx.raw('COALESCE(-x.available_delta, 0)::int AS expired'),
          );
        const { rows } = await trx.raw(
          `SELECT COALESCE(-SUM(available_delta), 0)::int AS debits FROM reward_entries
            WHERE buyer_id = ? AND kind IN ('CLAWBACK', 'REDEMPTION_RESERVED')`,
          [buyerId],
        );
        const given = await trx('reward_entries')
          .where({ buyer_id: buyerId })
          .whereIn('kind', [RewardEntryKind.RedemptionReleased, RewardEntryKind.RedemptionRefunded])
          .sum({ n: 'available_delta' })
          .first();
        // Points reserved, spent or clawed back came out of the oldest lots; released and refunded ones went back.
        const debits = Number(rows[0].debits) - Number(given?.n ?? 0);
        const plan = expiryPlan(
          lots.map((l) => ({
            operationId: l.operation_id,
            points: Number(l.available_delta),
            vestedAt: new Date(l.created_at),
            expiresAt: new Date(l.expires_at),
            expired: Number(l.expired),
          })),
          debits,
          asOf,
        );
        let expired = 0;
        for (const step of plan) {
          if (
            await appendRewardEntry(trx, {
              operationId: RewardOperation.expire(step.operationId),
              buyerId,
              kind: RewardEntryKind.Expiry,
              points: step.points,
            })
          )
            expired += step.points;
        }
        await recalculateTier(trx, buyerId, asOf, 'sweep');
        return expired;
      });
    }
    return { orders: members.length, points };
  }

  /** The daily sweep: members whose kept tier lapsed fall to what their last window of vested points reaches. */
  async function recalculateTiers(input: { asOf: string }): Promise<RewardSweepResult> {
    const asOf = new Date(input.asOf);
    const members = await db('buyers')
      .whereNot('tier', 'bronze')
      .where('tier_since', '<=', new Date(asOf.getTime() - rules.tierWindowMs))
      .limit(SWEEP_BATCH)
      .pluck('id');
    for (const buyerId of members)
      await db.transaction(async (trx) => {
        await lockMember(trx, buyerId);
        await recalculateTier(trx, buyerId, asOf, 'sweep');
      });
    return { orders: members.length, points: 0 };
  }

  /** Sets the member's tier from its points vested in the tier window (less clawbacks), as nextTier decides. */
  async function recalculateTier(
    trx: Knex.Transaction,
    buyerId: string,
    at: Date,
    cause: 'vesting' | 'sweep' | 'clawback',
  ): Promise<RewardTier> {
    const member = await trx('buyers').where({ id: buyerId }).first('tier', 'tier_since');
    const since = new Date(at.getTime() - rules.tierWindowMs);
    const { rows } = await trx.raw(
      `SELECT COALESCE(SUM(available_delta), 0)::int AS q
         FROM reward_entries
        WHERE buyer_id = ? AND kind IN ('VEST', 'REFERRAL_BONUS', 'CLAWBACK') AND created_at > ?`,
      [buyerId, since],
    );
    const next = nextTier(
      {
        tier: member.tier as RewardTier,
        tierSince: member.tier_since ? new Date(member.tier_since) : null,
        qualifyingPoints: Number(rows[0].q),
      },
      at,
      cause,
      rules,
    );
    await trx('buyers').where({ id: buyerId }).update({ tier: next.tier, tier_since: next.tierSince });
    return next.tier;
  }

  return {
    accrueOrderPoints,
    vestOrderPoints,
    reverseRefundRewards,
    vestDueOrders,
    expireDuePoints,
    recalculateTiers,
  };
}

/** Money refunded on the order so far: succeeded refunds, and this one (its workflow has just refunded it). */
async function refundedSoFar(trx: Knex.Transaction, orderId: string, refundId: string): Promise<number> {
  const row = await trx('refunds')
    .where({ order_id: orderId })
    .where((q) => q.where({ status: 'SUCCEEDED' }).orWhere({ id: refundId }))
    .sum({ n: 'amount_minor' })
    .first();
  return Number(row?.n ?? 0);
}

/**
 * Holds `points` for a checkout, inside the seat hold's transaction (the buyer's row is already locked there).
 * Returns false when the buyer has fewer available points: the hold is refused with it.
 */
export async function reserveRedeemedPoints(
  trx: Knex.Transaction,
  order: { orderId: string; buyerId: string; points: number },
): Promise<boolean> {
  if (order.points <= 0) return true;
  const balances = await rewardBalances(trx, order.buyerId);
  if (balances.available < order.points) return false;
  await appendRewardEntry(trx, {
    operationId: RewardOperation.reserve(order.orderId),
    buyerId: order.buyerId,
    kind: RewardEntryKind.RedemptionReserved,
    points: order.points,
    orderId: order.orderId,
  });
  return true;
}

/**
 * The order was paid: its held points are spent, in the sale's transaction. A hold already given back (a payment
 * that arrived after the order expired and was honoured late) is spent from the available balance instead.
 */
export async function spendRedeemedPoints(trx: Knex.Transaction, orderId: string): Promise<void> {
  const order = await trx('orders').where({ id: orderId }).first('buyer_id', 'redeemed_points');
  if (!order || Number(order.redeemed_points) <= 0) return;
  const sums = await orderRewardSums(trx, orderId);
  if ((sums.REDEMPTION_SPENT ?? 0) > 0) return;
  await lockMember(trx, order.buyer_id);
  const held = (sums.REDEMPTION_RESERVED ?? 0) - (sums.REDEMPTION_RELEASED ?? 0);
  if (held <= 0) {
    // Re-take what the release gave back, so the late payment's discount is still paid for in points.
    await appendRewardEntry(trx, {
      operationId: `${RewardOperation.reserve(orderId)}:again`,
      buyerId: order.buyer_id,
      kind: RewardEntryKind.RedemptionReserved,
      points: Number(order.redeemed_points),
      orderId,
    });
  }
  await appendRewardEntry(trx, {
    operationId: RewardOperation.spend(orderId),
    buyerId: order.buyer_id,
    kind: RewardEntryKind.RedemptionSpent,
    points: Number(order.redeemed_points),
    orderId,
  });
}

/** The checkout ended unpaid: its held points go back to the available balance, in the release's transaction. */
export async function releaseRedeemedPoints(trx: Knex.Transaction, orderId: string): Promise<void> {
  const order = await trx('orders').where({ id: orderId }).first('buyer_id');
  if (!order) return;
  const sums = await orderRewardSums(trx, orderId);
  const held = (sums.REDEMPTION_RESERVED ?? 0) - (sums.REDEMPTION_RELEASED ?? 0) - (sums.REDEMPTION_SPENT ?? 0);
  if (held <= 0) return;
  await appendRewardEntry(trx, {
    operationId: RewardOperation.release(orderId),
    buyerId: order.buyer_id,
    kind: RewardEntryKind.RedemptionReleased,
    points: held,
    orderId,
  });
}
