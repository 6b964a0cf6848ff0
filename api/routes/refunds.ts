import { createHash } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { Router, type Request } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import type { Db } from '../../db';
import {
  approveRefundUpdate,
  CHECKOUT_TASK_QUEUE,
  manualRefundCompletedUpdate,
  REFUND_STATUSES,
  RefundPolicyError,
  refundWorkflowId,
  rejectRefundUpdate,
  SearchAttributes,
  type RefundInput,
  type RefundRequester,
} from '../../domain';
import { RefundConflictError, recordRefundRequest, refundRequestHash } from '../../activities/refunds';
import type { refundWorkflow } from '../../workflows/refunds';
import { principalOf, requireRole, type Principal } from '../auth';
import { Problem, problems } from '../problems';
import { ID_PATTERN, parseOr422 } from '../validation';
import { documentRoute } from '../openapi';

const refundRequestSchema = z
  .object({
    ticketIds: z.array(z.string().regex(ID_PATTERN, 'must be a ticket id')).min(1).max(100).optional(),
    amountMinor: z.number().int().min(1).max(1_000_000_000).optional(),
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters'),
  })
  .strict()
  .refine((b) => b.ticketIds === undefined || b.amountMinor === undefined, {
    message: 'give ticketIds or amountMinor, not both',
    path: ['amountMinor'],
  });

const decisionSchema = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();
const manualSchema = z
  .object({
    reference: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII'),
  })
  .strict();

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/);

/** What a refund request is answered with (202): the refund and the amount it gives back. */
const refundAcceptedSchema = z.object({
  refundId: z.string(),
  status: z.enum(REFUND_STATUSES),
  amountMinor: z.number().int(),
  currency: z.string(),
});

/** A refund as `GET /v1/refunds/:refundId` shows it. */
const refundViewSchema = z.object({
  refundId: z.string(),
  orderId: z.string(),
  status: z.enum(REFUND_STATUSES),
  amountMinor: z.number().int(),
  currency: z.string(),
  feeRefundMinor: z.number().int(),
  ticketIds: z.array(z.string()),
  reason: z.string(),
  failureReason: z.string().optional(),
  decidedBy: z.string().optional(),
  manualReference: z.string().optional(),
  history: z.array(z.object({}).passthrough()),
});

/** The dependencies of the refund routes. */
export interface RefundRouteDeps {
  config: Config;
  db: Db;
  temporal: Client;
}

/**
 * `POST /v1/orders/:orderId/refunds`, `GET /v1/refunds/:refundId`, and support's `/approve`, `/reject` and
 * `/manual-complete` on a refund. The refund is decided and recorded under the database's guards before its
 * workflow starts, so a refused refund (409/422) changes nothing and two racing ones give one refund.
 */
export function refundRoutes({ config, db, temporal }: RefundRouteDeps): Router {
  const router = Router();
  const policy = {
    approvalThresholdMinor: config.REFUND_APPROVAL_THRESHOLD_MINOR,
    cancellationFeePerTicketMinor: config.CANCELLATION_FEE_PER_TICKET_MINOR,
  };

  documentRoute('post', '/v1/orders/:orderId/refunds', {
    summary: 'Request a refund of an order, whole or in part (its buyer, support, admin)',
    description:
      'Give ticketIds or amountMinor (neither: the whole order). Above REFUND_APPROVAL_THRESHOLD_MINOR the refund waits for a decision.',
    roles: ['buyer', 'support', 'admin'],
    idempotencyKey: true,
    body: refundRequestSchema,
    responses: { 202: refundAcceptedSchema },
    problems: [400, 409, 415, 422],
  });
  router.post('/v1/orders/:orderId/refunds', requireRole('buyer', 'support', 'admin'), async (req, res) => {
    const caller = principalOf(req);
    const orderId = idParam(req, 'orderId', 'order');
    const key = req.header('Idempotency-Key');
    if (key === undefined)
      throw problems.badRequest('idempotency-key-required', 'the Idempotency-Key header is required');
    if (!idempotencyKeySchema.safeParse(key).success)
      throw problems.badRequest(
        'idempotency-key-invalid',
        'Idempotency-Key must be 1-255 printable ASCII characters',
      );
    const body = parseOr422(refundRequestSchema, req.body);
    const order = await db('orders').where({ id: orderId }).first('buyer_id');
    if (!order || !canRead(caller, order.buyer_id)) throw problems.notFound(`order ${orderId}`);

    const refundId = deriveRefundId(orderId, caller.sub, key);
    const ask = { reason: body.reason, ticketIds: body.ticketIds, amountMinor: body.amountMinor };
    const requester: RefundRequester =
      caller.role === 'buyer'
        ? { role: 'buyer', sub: caller.sub }
        : { role: caller.role as 'support', sub: caller.sub };
    let made;
    try {
      made = await recordRefundRequest(
        db,
        { refundId, orderId, ask, requester, idempotencyKey: `${caller.role}:${caller.sub}:${key}` },
        policy,
        new Date(),
      );
    } catch (err) {
      if (err instanceof RefundPolicyError) {
        if (err.status === 404) throw problems.notFound(`order ${orderId}`);
        throw new Problem(
          err.status,
          err.slug,
          err.status === 409 ? 'Conflict' : 'Unprocessable Content',
          err.message,
        );
      }
      if (err instanceof RefundConflictError) throw problems.conflict('refund-conflict', err.message);
      throw err;
    }
    if (!made.created && made.requestHash !== refundRequestHash(ask)) {
      throw new Problem(
        422,
        'idempotency-key-reused',
        'Unprocessable Content',
        'this Idempotency-Key was used with a different request',
      );
    }
    await startRefund({ ...made.input, reminderAfterMs: config.REFUND_REMINDER_SECONDS * 1000 });
    const now = await db('refunds').where({ id: refundId }).first('status');
    if (!made.created) res.setHeader('Idempotent-Replayed', 'true');
    res.status(202).location(`/v1/refunds/${refundId}`).json({
      refundId,
      status: now.status,
      amountMinor: made.input.amount.amountMinor,
      currency: made.input.amount.currency,
    });
  });

  documentRoute('get', '/v1/refunds/:refundId', {
    summary: 'A refund with its history (its buyer, support, admin)',
    roles: ['buyer', 'support', 'admin'],
    responses: { 200: refundViewSchema },
  });
  router.get('/v1/refunds/:refundId', requireRole('buyer', 'support', 'admin'), async (req, res) => {
    const refund = await readableRefund(req);
    res.json(refundView(refund));
  });

  const decide = (update: typeof approveRefundUpdate) => async (req: Request, res: import('express').Response) => {
    const caller = principalOf(req);
    const refund = await readableRefund(req);
    const body = parseOr422(decisionSchema, req.body ?? {});
    // A closed refund's workflow cannot run the update's validator: its recorded status says why it is refused.
    if (refund.status !== 'AWAITING_APPROVAL' && refund.status !== 'REQUESTED')
      throw problems.conflict('refund-already-decided', `the refund is ${refund.status as string}`);
    const view = await runUpdate(refund.id, () =>
      temporal.workflow.getHandle(refundWorkflowId(refund.id)).executeUpdate(update, {
        args: [{ by: `${caller.role}:${caller.sub}`, ...(body.reason ? { reason: body.reason } : {}) }],
      }),
    );
    res.json({ ...refundView(await db('refunds').where({ id: refund.id }).first()), status: view.status });
  };
  documentRoute('post', '/v1/refunds/:refundId/approve', {
    summary: 'Approve a refund awaiting approval (support, admin)',
    roles: ['support', 'admin'],
    body: decisionSchema,
    responses: { 200: refundViewSchema },
    problems: [409, 415, 422],
  });
  router.post('/v1/refunds/:refundId/approve', requireRole('support', 'admin'), decide(approveRefundUpdate));
  documentRoute('post', '/v1/refunds/:refundId/reject', {
    summary: 'Reject a refund awaiting approval (support, admin)',
    roles: ['support', 'admin'],
    body: decisionSchema,
    responses: { 200: refundViewSchema },
    problems: [409, 415, 422],
  });
  router.post('/v1/refunds/:refundId/reject', requireRole('support', 'admin'), decide(rejectRefundUpdate));

  documentRoute('post', '/v1/refunds/:refundId/manual-complete', {
    summary: 'Record a refund support sent by hand (crypto), with its reference (support, admin)',
    roles: ['support', 'admin'],
    body: manualSchema,
    responses: { 200: refundViewSchema },
    problems: [409, 415, 422],
  });
  router.post('/v1/refunds/:refundId/manual-complete', requireRole('support', 'admin'), async (req, res) => {
    const caller = principalOf(req);
    const refund = await readableRefund(req);
    const body = parseOr422(manualSchema, req.body);
    if (refund.status !== 'AWAITING_MANUAL_REFUND' && refund.status !== 'PROCESSING')
      throw problems.conflict('refund-already-decided', `the refund is ${refund.status as string}`);
    const view = await runUpdate(refund.id, () =>
      temporal.workflow.getHandle(refundWorkflowId(refund.id)).executeUpdate(manualRefundCompletedUpdate, {
        args: [{ by: `${caller.role}:${caller.sub}`, reference: body.reference }],
      }),
    );
    res.json({ ...refundView(await db('refunds').where({ id: refund.id }).first()), status: view.status });
  });

  /** Starts the refund's workflow; a second start for the same refund joins (or finds) the first. */
  async function startRefund(input: RefundInput): Promise<void> {
    try {
      await temporal.workflow.start<typeof refundWorkflow>('refundWorkflow', {
        workflowId: refundWorkflowId(input.refundId),
        taskQueue: CHECKOUT_TASK_QUEUE,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SearchAttributes.OrderId, value: input.orderId },
          { key: SearchAttributes.EventId, value: input.eventId },
          { key: SearchAttributes.BuyerId, value: input.buyerId },
          { key: SearchAttributes.OrganizerId, value: input.organizerId },
          { key: SearchAttributes.PaymentMethod, value: input.paymentMethod },
          { key: SearchAttributes.AmountMinor, value: input.amount.amountMinor },
        ],
        memo: { refundId: input.refundId, amountMinor: input.amount.amountMinor, currency: input.amount.currency },
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /** The refund named in the path, when the caller may see it (404 otherwise). */
  async function readableRefund(req: Request) {
    const refundId = idParam(req, 'refundId', 'refund');
    const refund = await db('refunds as r')
      .join('orders as o', 'o.id', 'r.order_id')
      .where('r.id', refundId)
      .first('r.*', 'o.buyer_id');
    if (!refund || !canRead(principalOf(req), refund.buyer_id)) throw problems.notFound(`refund ${refundId}`);
    return refund;
  }

  /** Runs an update; a refused one (decided already, not waiting) is a 409 naming why. */
  async function runUpdate<T>(refundId: string, update: () => Promise<T>): Promise<T> {
    try {
      return await update();
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        const detail = err.cause instanceof Error ? err.cause.message : 'the refund is not waiting for that';
        throw problems.conflict('refund-already-decided', detail);
      }
      if (err instanceof WorkflowNotFoundError) {
        const now = await db('refunds').where({ id: refundId }).first('status');
        throw problems.conflict('refund-already-decided', `the refund is ${now?.status ?? 'closed'}`);
      }
      throw err;
    }
  }

  return router;
}

/** A refund as `GET /v1/refunds/:refundId` shows it. */
function refundView(row: Record<string, unknown>) {
  return {
    refundId: row.id,
    orderId: row.order_id,
    status: row.status,
    amountMinor: Number(row.amount_minor),
    currency: String(row.currency).trim(),
    feeRefundMinor: Number(row.fee_refund_minor),
    ticketIds: (row.ticket_ids as string[] | null) ?? [],
    reason: row.reason,
    ...(row.failure_reason ? { failureReason: row.failure_reason } : {}),
    ...(row.decided_by ? { decidedBy: row.decided_by } : {}),
    ...(row.manual_reference ? { manualReference: row.manual_reference } : {}),
    history: row.history ?? [],
  };
}

/** The same order, caller and Idempotency-Key always name the same refund. */
export function deriveRefundId(orderId: string, caller: string, key: string): string {
  const digest = createHash('sha256').update(`${orderId}\u0000${caller}\u0000${key}`).digest('base64url');
  return `ref_${digest.slice(0, 24).replace(/-/g, '_')}`;
}

function canRead(caller: Principal, buyerId: string): boolean {
  return caller.role === 'support' || caller.role === 'admin' || caller.sub === buyerId;
}

function idParam(req: Request, name: string, what: string): string {
  const value = String(req.params[name] ?? '');
  if (!ID_PATTERN.test(value)) throw problems.notFound(`${what} ${value.slice(0, 64)}`);
  return value;
}
