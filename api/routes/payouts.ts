import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Db } from '../../db';
import { derivePayoutId, organizerLedgerSums, toPayoutView } from '../../db/ledger';
import {
  approvePayoutUpdate,
  awaitPayoutPlacementUpdate,
  balanceIn,
  financeFromLedger,
  PayoutRefusal,
  PAYOUT_STATUSES,
  PAYOUTS_TASK_QUEUE,
  payoutWorkflowId,
  rejectPayoutUpdate,
  SearchAttributes,
  type PayoutInput,
  type PayoutPlacement,
  type PayoutResult,
  type PayoutView,
} from '../../domain';
import type { payoutWorkflow } from '../../workflows/payouts';
import { principalOf, requireRole, type Principal } from '../auth';
import { Problem, problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';

/** The dependencies of the payout routes. */
export interface PayoutRouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
}

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII');
const rejectSchema = z.object({ reason: z.string().trim().min(1).max(500) }).strict();

/** A payout as the API shows it (domain PayoutView). */
const payoutViewSchema = z
  .object({
    payoutId: z.string(),
    organizerId: z.string(),
    status: z.enum(PAYOUT_STATUSES),
    amountMinor: z.number().int(),
    currency: z.string(),
    debtSettledMinor: z.number().int(),
    requiresApproval: z.boolean(),
    approvedBy: z.string().nullable(),
    transferId: z.string().nullable(),
    failureReason: z.string().nullable(),
    createdAt: z.string(),
    paidAt: z.string().nullable(),
  })
  .openapi('Payout');

/** What an organizer may be paid out now, and what is still pending, in its currency. */
const balanceSchema = z.object({
  availableMinor: z.number().int(),
  pendingMinor: z.number().int(),
  currency: z.string(),
  debtMinor: z.number().int(),
  inTransitMinor: z.number().int(),
});

/**
 * The organizer named in the path, when the caller may see it: that organizer itself, or an admin. Anyone else
 * gets 404 (reads never reveal whether another organizer exists) or 403 for actions, as the contract says.
 */
export async function organizerFor(
  db: Db,
  req: Request,
  action: 'read' | 'act',
): Promise<{ id: string; currency: string }> {
  const organizerId = String(req.params.organizerId ?? '');
  const caller = principalOf(req);
  const allowed = caller.role === 'admin' || (caller.role === 'organizer' && caller.org === organizerId);
  if (!allowed && action === 'act' && ID_PATTERN.test(organizerId))
    throw new Problem(403, 'not-your-organizer', 'Forbidden', 'only that organizer or an admin may do this');
  const organizer =
    allowed && ID_PATTERN.test(organizerId)
      ? await db('organizers').where({ id: organizerId }).first('id', 'currency')
      : undefined;
  if (!organizer) throw problems.notFound(`organizer ${organizerId.slice(0, 64)}`);
  return { id: organizer.id as string, currency: (organizer.currency as string).trim() };
}

/** Balance, payouts and their approval: `/v1/organizers/:organizerId/{balance,payouts}`. */
export function payoutRoutes({ config, db, temporal }: PayoutRouteDeps): Router {
  const router = Router();
  const delay = config.PAYOUT_DELAY_DAYS;

  documentRoute('get', '/v1/organizers/:organizerId/balance', {
    summary: "The organizer's balance: available for payout, pending, in transit, debt (the organizer, admin)",
    roles: ['organizer', 'admin'],
    responses: { 200: balanceSchema },
  });
  router.get('/v1/organizers/:organizerId/balance', requireRole('organizer', 'admin'), async (req, res) => {
    const organizer = await organizerFor(db, req, 'read');
    const finance = financeFromLedger(await organizerLedgerSums(db, organizer.id), new Date(), delay);
    res.json(balanceIn(finance, organizer.currency));
  });

  documentRoute('get', '/v1/organizers/:organizerId/payouts', {
    summary: "The organizer's latest 100 payouts, newest first (the organizer, admin)",
    roles: ['organizer', 'admin'],
    responses: { 200: z.object({ payouts: z.array(payoutViewSchema) }) },
  });
  router.get('/v1/organizers/:organizerId/payouts', requireRole('organizer', 'admin'), async (req, res) => {
    const organizer = await organizerFor(db, req, 'read');
    const rows = await db('payouts')
      .where({ organizer_id: organizer.id })
      .orderBy('created_at', 'desc')
      .limit(100);
    res.json({ payouts: rows.map(toPayoutView) });
  });

  documentRoute('post', '/v1/organizers/:organizerId/payouts', {
    summary: 'Pay out the available balance (the organizer, admin); large payouts wait for an admin',
    description: 'Refusals are 409 with `rule`: nothing-to-pay-out, payout-in-progress or no-payout-account.',
    roles: ['organizer', 'admin'],
    idempotencyKey: true,
    responses: { 202: payoutViewSchema },
    problems: [400, 409],
  });
  router.post('/v1/organizers/:organizerId/payouts', requireRole('organizer', 'admin'), async (req, res) => {
    const organizer = await organizerFor(db, req, 'act');
    const caller = principalOf(req);
    const key = req.header('Idempotency-Key');
    if (key === undefined)
      throw problems.badRequest('idempotency-key-required', 'the Idempotency-Key header is required');
    if (!idempotencyKeySchema.safeParse(key).success)
      throw problems.badRequest(
        'idempotency-key-invalid',
        'Idempotency-Key must be 1-255 printable ASCII characters',
      );
    const payoutId = derivePayoutId(organizer.id, key);

    // The same key again: the payout it made, never a second one.
    const existing = await db('payouts').where({ id: payoutId }).first();
    if (existing) return accepted(res, toPayoutView(existing), true);

    const input: PayoutInput = {
      organizerId: organizer.id,
      payoutId,
      idempotencyKey: key,
      requestedBy: `${caller.role}:${caller.sub}`,
    };
    let placement: PayoutPlacement;
    try {
      placement = await temporal.workflow.executeUpdateWithStart(awaitPayoutPlacementUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation<typeof payoutWorkflow>('payoutWorkflow', {
          workflowId: payoutWorkflowId(organizer.id, payoutId),
          taskQueue: PAYOUTS_TASK_QUEUE,
          args: [input],
          // A concurrent request with the same key joins the running payout; a finished one is never redone.
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: SearchAttributes.OrganizerId, value: organizer.id },
            { key: SearchAttributes.PayoutStatus, value: 'PENDING' },
          ],
          memo: { organizerId: organizer.id, status: 'PENDING' },
        }),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // This key's workflow already ran to its end: its payout, or the refusal it answered with.
      const row = await db('payouts').where({ id: payoutId }).first();
      if (row) return accepted(res, toPayoutView(row), true);
      const result: PayoutResult = await temporal.workflow
        .getHandle(payoutWorkflowId(organizer.id, payoutId))
        .result();
      placement = result.placement;
    }
    if (placement.outcome === 'refused') throw refusal(placement.rule, placement.detail);
    accepted(res, placement.payout, false);
  });

  documentRoute('get', '/v1/organizers/:organizerId/payouts/:payoutId', {
    summary: 'One payout (the organizer, admin)',
    roles: ['organizer', 'admin'],
    responses: { 200: payoutViewSchema },
  });
  router.get(
    '/v1/organizers/:organizerId/payouts/:payoutId',
    requireRole('organizer', 'admin'),
    async (req, res) => {
      const organizer = await organizerFor(db, req, 'read');
      const payoutId = String(req.params.payoutId ?? '');
      const row = ID_PATTERN.test(payoutId)
        ? await db('payouts').where({ id: payoutId, organizer_id: organizer.id }).first()
        : undefined;
      if (!row) throw problems.notFound(`payout ${payoutId.slice(0, 64)}`);
      res.json(toPayoutView(row));
    },
  );

  /** Approve or reject a payout waiting for approval: admins only; anything not waiting is 409. */
  const decide = (decision: 'approve' | 'reject') => {
    documentRoute('post', `/v1/organizers/:organizerId/payouts/:payoutId/${decision}`, {
      summary: `${decision === 'approve' ? 'Approve' : 'Reject'} a payout awaiting approval (admin)`,
      roles: ['admin'],
      ...(decision === 'reject' ? { body: rejectSchema } : {}),
      responses: { 200: payoutViewSchema },
      problems: decision === 'reject' ? [409, 415, 422] : [409],
    });
    router.post(
      `/v1/organizers/:organizerId/payouts/:payoutId/${decision}`,
      requireRole('admin'),
      async (req, res) => {
        const organizer = await organizerFor(db, req, 'act');
        const caller = principalOf(req);
        const body = decision === 'reject' ? parseOr422(rejectSchema, req.body ?? {}) : null;
        const payoutId = String(req.params.payoutId ?? '');
        const row = ID_PATTERN.test(payoutId)
          ? await db('payouts').where({ id: payoutId, organizer_id: organizer.id }).first('status')
          : undefined;
        if (!row) throw problems.notFound(`payout ${payoutId.slice(0, 64)}`);
        if (row.status !== 'AWAITING_APPROVAL') throw notAwaiting(payoutId, row.status);
        const handle = temporal.workflow.getHandle(payoutWorkflowId(organizer.id, payoutId));
        let view: PayoutView;
        try {
          view =
            decision === 'approve'
              ? await handle.executeUpdate(approvePayoutUpdate, { args: [{ approvedBy: who(caller) }] })
              : await handle.executeUpdate(rejectPayoutUpdate, {
                  args: [{ rejectedBy: who(caller), reason: body!.reason }],
                });
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
            const now = await db('payouts').where({ id: payoutId }).first('status');
            throw notAwaiting(payoutId, now?.status ?? row.status);
          }
          throw err;
        }
        res.json(view);
      },
    );
  };
  decide('approve');
  decide('reject');

  return router;
}

const who = (p: Principal) => `${p.role}:${p.sub}`;

function accepted(res: import('express').Response, payout: PayoutView, replayed: boolean): void {
  res
    .status(202)
    .location(`/v1/organizers/${payout.organizerId}/payouts/${payout.payoutId}`)
    .setHeader('Idempotent-Replayed', String(replayed));
  res.json(payout);
}

function refusal(rule: PayoutRefusal, detail: string): Problem {
  return problems.conflict(rule, detail, { rule });
}

const notAwaiting = (payoutId: string, status: string) =>
  problems.conflict('payout-not-awaiting-approval', `payout ${payoutId} is ${status}, not waiting for approval`, {
    rule: 'payout-not-awaiting-approval',
    status,
  });
