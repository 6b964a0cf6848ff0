import { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../../db';
import { ensureMember, rewardBalances, rewardEntries } from '../../db/rewards';
import { REWARD_TIERS } from '../../domain';
import { principalOf, requireRole } from '../auth';
import { parseOr422 } from '../validation';
import { documentRoute } from '../openapi';

const entrySchema = z.object({
  entryId: z.string(),
  kind: z.string(),
  points: z.number().int().describe("how the entry changes the member's points (pending + available + reserved)"),
  pendingDelta: z.number().int(),
  availableDelta: z.number().int(),
  reservedDelta: z.number().int(),
  orderId: z.string().nullable(),
  refundId: z.string().nullable(),
  vestsAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  at: z.string(),
});

/** A member's points as `GET /v1/me/rewards` answers them (the contract's Rewards section). */
const rewardsSchema = z
  .object({
    availablePoints: z.number().int().describe('may be negative after a clawback'),
    pendingPoints: z.number().int(),
    reservedPoints: z.number().int().describe('held by checkouts not yet paid'),
    tier: z.enum(REWARD_TIERS),
    tierSince: z.string().nullable(),
    referralCode: z.string(),
    entries: z.array(entrySchema),
    nextCursor: z.string().nullable(),
  })
  .openapi('Rewards');

const querySchema = z
  .object({
    cursor: z
      .string()
      .regex(/^[1-9][0-9]{0,18}$/, 'must be a cursor from nextCursor')
      .optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();

/** `GET /v1/me/rewards`: the buyer's balances, tier, referral code and points journal, newest first. */
export function rewardRoutes({ db }: { db: Db }): Router {
  const router = Router();
  documentRoute('get', '/v1/me/rewards', {
    summary: "The buyer's reward points, tier, referral code and entries (newest first, paginated by ?cursor=)",
    roles: ['buyer'],
    responses: { 200: rewardsSchema },
    problems: [422],
  });
  router.get('/v1/me/rewards', requireRole('buyer'), async (req, res) => {
    const query = parseOr422(querySchema, req.query);
    const buyer = principalOf(req);
    const limit = query.limit ?? 50;
    const member = await ensureMember(db, buyer.sub);
    const [balances, entries] = await Promise.all([
      rewardBalances(db, buyer.sub),
      rewardEntries(db, buyer.sub, { before: query.cursor, limit: limit + 1 }),
    ]);
    const page = entries.slice(0, limit);
    res.json({
      availablePoints: balances.available,
      pendingPoints: balances.pending,
      reservedPoints: balances.reserved,
      tier: member.tier,
      tierSince: member.tier_since ? new Date(member.tier_since).toISOString() : null,
      referralCode: member.referral_code,
      entries: page,
      nextCursor: entries.length > limit ? page[page.length - 1]!.entryId : null,
    });
  });
  return router;
}
