import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { rewardDeltas, type RewardEntryKind, type RewardTier } from '../domain';

/** A member's balances: sums over the append-only journal. `available` may be negative after a clawback. */
export interface RewardBalances {
  available: number;
  pending: number;
  reserved: number;
}

/** One row of the points journal, as `GET /v1/me/rewards` lists it. */
export interface RewardEntryView {
  entryId: string;
  kind: string;
  /** How the entry changes the member's points (pending + available + reserved). */
  points: number;
  pendingDelta: number;
  availableDelta: number;
  reservedDelta: number;
  orderId: string | null;
  refundId: string | null;
  vestsAt: string | null;
  expiresAt: string | null;
  at: string;
}

/**
 * A buyer's referral code: derived from the buyer id (stable, no lookup table to race on), upper-case base32 so it
 * reads aloud. It only names the referrer; knowing it grants nothing.
 */
export function referralCodeFor(buyerId: string): string {
  const digest = createHash('sha256').update(`bilten-referral:${buyerId}`).digest();
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let code = '';
  for (let i = 0; i < 10; i++) code += alphabet[digest[i]! % alphabet.length];
  return `B${code}`;
}

/** Makes sure the buyer has a row (and so a referral code); returns the row. */
export async function ensureMember(
  db: Knex,
  buyerId: string,
): Promise<{ id: string; referral_code: string; tier: RewardTier; tier_since: Date | null }> {
  await db.raw(`INSERT INTO buyers (id, referral_code) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, [
    buyerId,
    referralCodeFor(buyerId),
  ]);
  const row = await db('buyers').where({ id: buyerId }).first('id', 'referral_code', 'tier', 'tier_since');
  if (!row.referral_code) {
    // Rows the checkout created before rewards existed have no code yet.
    await db('buyers')
      .where({ id: buyerId })
      .whereNull('referral_code')
      .update({ referral_code: referralCodeFor(buyerId) });
    row.referral_code = referralCodeFor(buyerId);
  }
  return row;
}

/** The member's current balances. */
export async function rewardBalances(db: Knex, buyerId: string): Promise<RewardBalances> {
  const row = await db('reward_entries')
    .where({ buyer_id: buyerId })
    .first(
      db.raw('COALESCE(SUM(available_delta), 0)::int AS available'),
      db.raw('COALESCE(SUM(pending_delta), 0)::int AS pending'),
      db.raw('COALESCE(SUM(reserved_delta), 0)::int AS reserved'),
    );
  return { available: row.available, pending: row.pending, reserved: row.reserved };
}

/** One point movement to append. */
export interface NewRewardEntry {
  operationId: string;
  buyerId: string;
  kind: RewardEntryKind;
  /** A positive count; the kind decides which balances it moves and which way. */
  points: number;
  orderId?: string | null;
  refundId?: string | null;
  vestsAt?: Date | null;
  expiresAt?: Date | null;
}

/**
 * Appends one entry under its operation id. Returns false when that operation was already recorded (a retry or a
 * duplicate): nothing is written twice. A zero-point movement is not recorded.
 */
export async function appendRewardEntry(trx: Knex, entry: NewRewardEntry): Promise<boolean> {
  if (!Number.isSafeInteger(entry.points) || entry.points < 0)
    throw new RangeError(`reward entry ${entry.operationId}: ${entry.points} is not a point count`);
  if (entry.points === 0) return false;
  const d = rewardDeltas(entry.kind, entry.points);
  const inserted = await trx('reward_entries')
    .insert({
      operation_id: entry.operationId,
      buyer_id: entry.buyerId,
      order_id: entry.orderId ?? null,
      refund_id: entry.refundId ?? null,
      kind: entry.kind,
      points: d.pending + d.available + d.reserved,
      pending_delta: d.pending,
      available_delta: d.available,
      reserved_delta: d.reserved,
      vests_at: entry.vestsAt ?? null,
      expires_at: entry.expiresAt ?? null,
    })
    .onConflict('operation_id')
    .ignore()
    .returning('id');
  return inserted.length > 0;
}

/** The points of `kind` recorded for one order (positive counts), by kind. */
export async function orderRewardSums(
  trx: Knex,
  orderId: string,
): Promise<Partial<Record<RewardEntryKind, number>>> {
  const rows = await trx('reward_entries')
    .where({ order_id: orderId })
    .groupBy('kind')
    .select('kind', trx.raw('SUM(ABS(pending_delta) + ABS(available_delta) + ABS(reserved_delta))::int AS moved'));
  // A VEST or a RELEASE moves its points twice (out of one balance, into another): count them once.
  return Object.fromEntries(
    rows.map((r: { kind: RewardEntryKind; moved: number }) => [
      r.kind,
      r.kind === 'VEST' || r.kind === 'REDEMPTION_RELEASED' || r.kind === 'REDEMPTION_RESERVED'
        ? r.moved / 2
        : r.moved,
    ]),
  );
}

/** Locks the buyer's row: every change to one member's points is serialised behind it. */
export async function lockMember(trx: Knex, buyerId: string): Promise<void> {
  await trx.raw(`INSERT INTO buyers (id, referral_code) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, [
    buyerId,
    referralCodeFor(buyerId),
  ]);
  await trx.raw('SELECT 1 FROM buyers WHERE id = ? FOR UPDATE', [buyerId]);
}

/** The member's entries, newest first, after the cursor (an entry id) when one is given. */
export async function rewardEntries(
  db: Knex,
  buyerId: string,
  options: { before?: string; limit: number },
): Promise<RewardEntryView[]> {
  const query = db('reward_entries').where({ buyer_id: buyerId }).orderBy('id', 'desc').limit(options.limit);
  if (options.before) query.where('id', '<', options.before);
  const rows = await query.select('*');
  return rows.map((r) => ({
    entryId: String(r.id),
    kind: r.kind,
    points: r.points,
    pendingDelta: r.pending_delta,
    availableDelta: r.available_delta,
    reservedDelta: r.reserved_delta,
    orderId: r.order_id,
    refundId: r.refund_id,
    vestsAt: r.vests_at ? new Date(r.vests_at).toISOString() : null,
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    at: new Date(r.created_at).toISOString(),
  }));
}
