import type { Db } from '../db';
import { derivePayoutId, organizerLedgerSums } from '../db/ledger';
import {
  balanceIn,
  checkoutWorkflowId,
  financeFromLedger,
  OrderReason,
  RUNNING_PAYOUT_STATUSES,
  scheduledPayoutKey,
} from '../domain';
import type { ReleaseHoldInput } from './checkout';

/** Whether a workflow is running, closed, or unknown to Temporal (its history gone past retention). */
export type WorkflowPresence = 'RUNNING' | 'CLOSED' | 'NOT_FOUND';

/** The port the hold sweeper asks Temporal through (workers/activities.ts wires a Temporal client). */
export interface WorkflowDirectory {
  presence(workflowId: string): Promise<WorkflowPresence>;
}

/** What the hold sweeper's activities need. */
export interface HoldSweeperActivityDeps {
  db: Db;
  workflows: WorkflowDirectory;
  /** The checkout's own compensation, so a swept hold is released exactly as an expired one is. */
  releaseHold: (input: ReleaseHoldInput) => Promise<void>;
  /** How long after a hold lapsed the sweeper may take it: the checkout workflow releases it itself first. */
  graceMs: number;
}

const OPEN = ['AWAITING_PAYMENT', 'PAYMENT_PROCESSING'];
/** Holds one sweep looks at; the next minute's run takes the rest. */
const SWEEP_BATCH = 500;

/** The hold sweeper's activities: a safety net under the checkout workflow's own expiry. */
export function createHoldSweeperActivities(deps: HoldSweeperActivityDeps) {
  const { db } = deps;

  /** Orders still holding seats `graceMs` after their hold lapsed, oldest first. */
  async function listLapsedHolds(input: { asOf: string }): Promise<string[]> {
    const before = new Date(Date.parse(input.asOf) - deps.graceMs);
    return db('orders as o')
      .whereIn('o.status', OPEN)
      .where('o.expires_at', '<', before)
      .whereExists(db('reservations as r').whereRaw('r.order_id = o.id').where('r.status', 'HELD'))
      .orderBy('o.expires_at')
      .limit(SWEEP_BATCH)
      .pluck('o.id');
  }

  /**
   * Releases the order's hold when its checkout workflow is closed or gone (nothing else ever will); leaves it to
   * a running workflow otherwise. Returns whether it released.
   */
  async function releaseIfOrphaned(input: { orderId: string }): Promise<boolean> {
    const presence = await deps.workflows.presence(checkoutWorkflowId(input.orderId));
    if (presence === 'RUNNING') return false;
    const order = await db('orders').where({ id: input.orderId }).first('status');
    if (!order || !OPEN.includes(order.status)) return false;
    await deps.releaseHold({
      orderId: input.orderId,
      status: 'EXPIRED',
      reason: OrderReason.HoldOrphaned,
      detail: `checkout workflow ${presence === 'CLOSED' ? 'closed' : 'not found'}; released by the hold sweeper`,
    });
    return true;
  }

  return { listLapsedHolds, releaseIfOrphaned };
}

/** What the weekly payouts' activity needs. */
export interface ScheduledPayoutActivityDeps {
  db: Db;
  payoutDelayDays: number;
}

/** The organizer to pay and the payout id the scheduled time gives it. */
export interface ScheduledPayout {
  organizerId: string;
  payoutId: string;
  idempotencyKey: string;
}

/** The weekly payouts' activity: who has money available. */
export function createScheduledPayoutActivities(deps: ScheduledPayoutActivityDeps) {
  const { db } = deps;

  /**
   * Every organizer with a connected account, no payout running, and money available at `asOf`, with the payout
   * id its scheduled time names (the same time always names the same payout).
   */
  async function listOrganizersToPayOut(input: { asOf: string }): Promise<ScheduledPayout[]> {
    const asOf = new Date(input.asOf);
    const organizers = await db('organizers as g')
      .whereNotNull('g.stripe_account_id')
      .whereNotExists(
        db('payouts as p').whereRaw('p.organizer_id = g.id').whereIn('p.status', RUNNING_PAYOUT_STATUSES),
      )
      .select('g.id', 'g.currency');
    const due: ScheduledPayout[] = [];
    for (const g of organizers) {
      const finance = financeFromLedger(await organizerLedgerSums(db, g.id), asOf, deps.payoutDelayDays);
      if (balanceIn(finance, String(g.currency).trim()).availableMinor <= 0) continue;
      const idempotencyKey = scheduledPayoutKey(asOf);
      due.push({ organizerId: g.id, payoutId: derivePayoutId(g.id, idempotencyKey), idempotencyKey });
    }
    return due;
  }

  return { listOrganizersToPayOut };
}
