import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import type { Db } from '../db';
import { accountBalance, organizerLedgerSums, toPayoutView } from '../db/ledger';
import {
  balanceIn,
  canTransitionPayout,
  FailureType,
  financeFromLedger,
  LedgerAccount,
  payoutNeedsApproval,
  payoutPaidLines,
  payoutReserveLines,
  payoutReversalLines,
  PayoutRefusal,
  PayoutTransaction,
  payoutTransferKey,
  PayoutAccount,
  refundDebtLines,
  type LedgerLine,
  type PayoutInput,
  type PayoutPlacement,
  type PayoutStatus,
  type PayoutView,
} from '../domain';
import { TransferRefusedError, type Payouts } from '../providers/payouts/ports';
import { businessMetrics } from '../observability/metrics';

/** Counts a payout reaching a status, once the transaction that moved it has committed. */
function countPayout<T>(status: PayoutStatus, moved: boolean, result: T): T {
  if (moved) businessMetrics.payouts.inc({ status });
  return result;
}

/** What the payout activities need: the database, the payouts port and the payout rules' settings. */
export interface PayoutActivityDeps {
  db: Db;
  payouts: Payouts;
  /** Days after an event's end before its money may be paid out. */
  payoutDelayDays: number;
  /** Payouts above this many minor units wait for an admin's approval. */
  approvalThresholdMinor: number;
  now?: () => Date;
}

/** Inserts one posting's lines under a transaction id, tagged with the payout (and refund) it belongs to. */
async function post(
  trx: Knex.Transaction,
  transactionId: string,
  lines: LedgerLine[],
  tags: { payoutId?: string; refundId?: string; memo: string },
): Promise<void> {
  if (lines.length === 0) return;
  await trx('ledger_entries').insert(
    lines.map((l) => ({
      transaction_id: transactionId,
      account: l.account,
      amount_minor: l.amountMinor,
      currency: l.currency,
      payout_id: tags.payoutId ?? null,
      refund_id: tags.refundId ?? null,
      memo: tags.memo,
    })),
  );
}

/** True when a posting with this transaction id is already in the ledger (a retry after it committed). */
async function posted(trx: Knex.Transaction, transactionId: string): Promise<boolean> {
  return (await trx('ledger_entries').where({ transaction_id: transactionId }).first('id')) !== undefined;
}

/**
 * Activities of payoutWorkflow. Each is safe to retry: a posting is looked for by its transaction id before it
 * is made, and every status change is conditional on the status it moves from.
 */
export function createPayoutActivities(deps: PayoutActivityDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());

  /**
   * Creates the payout from what the ledger says is available, in one transaction that holds the organizer's
   * row: the amount moves from payable to in transit (and any debt is paid off first). Refuses, changing nothing,
   * when nothing is available, another payout runs, or the organizer has no connected account.
   */
  async function createPayout(input: PayoutInput): Promise<PayoutPlacement> {
    let createdStatus: PayoutStatus | null = null;
    const placement = await db.transaction(async (trx): Promise<PayoutPlacement> => {
      createdStatus = null;
      const organizer = await trx('organizers').where({ id: input.organizerId }).forUpdate().first();
      if (!organizer)
        return refused(PayoutRefusal.NothingToPayOut, `organizer ${input.organizerId} is not registered`);
      const existing = await trx('payouts').where({ id: input.payoutId }).first();
      if (existing) return { outcome: 'created', payout: toPayoutView(existing) };
      const running = await trx('payouts')
        .where({ organizer_id: input.organizerId })
        .whereIn('status', ['PENDING', 'AWAITING_APPROVAL', 'IN_TRANSIT'])
        .first('id');
      if (running) return refused(PayoutRefusal.PayoutInProgress, `payout ${running.id} is still running`);
      if (!organizer.stripe_account_id)
        return refused(PayoutRefusal.NoPayoutAccount, 'the organizer has no connected payout account');

      const currency = (organizer.currency as string).trim();
      const finance = financeFromLedger(
        await organizerLedgerSums(trx, input.organizerId),
        now(),
        deps.payoutDelayDays,
      );
      const balance = balanceIn(finance, currency);
      if (balance.availableMinor <= 0) {
        return refused(
          PayoutRefusal.NothingToPayOut,
          `nothing is available to pay out (pending ${balance.pendingMinor} ${currency}: events pay out ` +
            `${deps.payoutDelayDays} days after they end)`,
        );
      }
      const amountMinor = balance.availableMinor;
      // Debt from refunds after an earlier payout is paid off from the payable before the transfer; the payable
      // always covers it (the debt was recorded when the payable could not), but never take it below zero.
      const payable = -(await accountBalance(trx, LedgerAccount.organizerPayable(input.organizerId), currency));
      const debt = await accountBalance(trx, PayoutAccount.organizerDebt(input.organizerId), currency);
      const debtSettledMinor = Math.max(0, Math.min(debt, payable - amountMinor));
      const requiresApproval = payoutNeedsApproval(amountMinor, deps.approvalThresholdMinor);
      const [row] = await trx('payouts')
        .insert({
          id: input.payoutId,
          organizer_id: input.organizerId,
          amount_minor: amountMinor,
          currency,
          status: requiresApproval ? 'AWAITING_APPROVAL' : 'PENDING',
          idempotency_key: input.idempotencyKey,
          destination_account: organizer.stripe_account_id,
          debt_settled_minor: debtSettledMinor,
          requires_approval: requiresApproval,
        })
        .returning('*');
      await post(
        trx,
        PayoutTransaction.reserve(input.payoutId),
        payoutReserveLines({ organizerId: input.organizerId, currency, amountMinor, debtSettledMinor }),
        { payoutId: input.payoutId, memo: `payout requested by ${input.requestedBy}` },
      );
      console.log(
        `[payouts] payout ${input.payoutId} created for ${input.organizerId}: ${amountMinor} ${currency}` +
          (debtSettledMinor > 0 ? `, debt settled ${debtSettledMinor}` : '') +
          (requiresApproval ? ', awaiting approval' : ''),
      );
      createdStatus = row.status as PayoutStatus;
      return { outcome: 'created', payout: toPayoutView(row) };
    });
    if (createdStatus) businessMetrics.payouts.inc({ status: createdStatus });
    return placement;
  }

  /** Moves a payout on, when the state machine allows it from where it stands; otherwise returns it as it is. */
  async function transition(
    trx: Knex.Transaction,
    payoutId: string,
    to: PayoutStatus,
    changes: Record<string, unknown> = {},
  ): Promise<{ row: Record<string, unknown>; moved: boolean }> {
    const row = await trx('payouts').where({ id: payoutId }).forUpdate().first();
    if (!row) throw ApplicationFailure.nonRetryable(`no payout ${payoutId}`, FailureType.PayoutRefused);
    if (!canTransitionPayout(row.status as PayoutStatus, to)) return { row, moved: false };
    const [updated] = await trx('payouts')
      .where({ id: payoutId })
      .update({ status: to, ...changes, updated_at: trx.fn.now() })
      .returning('*');
    return { row: updated, moved: true };
  }

  /** The payout is approved (or needed no approval) and its transfer is about to be sent. */
  async function markPayoutInTransit(input: { payoutId: string; approvedBy?: string }): Promise<PayoutView> {
    const { row, moved } = await db.transaction(async (trx) => {
      const changes = input.approvedBy ? { approved_by: input.approvedBy, approved_at: trx.fn.now() } : {};
      return transition(trx, input.payoutId, 'IN_TRANSIT', changes);
    });
    return countPayout('IN_TRANSIT', moved, toPayoutView(row));
  }

  /**
   * Sends the Connect transfer, idempotent on `payout:<payoutId>`, so a retry never pays twice. A refusal is a
   * business failure (the workflow reverses the payout); anything else is retried.
   */
  async function transferPayout(input: { payoutId: string }): Promise<{ transferId: string }> {
    const row = await db('payouts').where({ id: input.payoutId }).first();
    if (!row) throw ApplicationFailure.nonRetryable(`no payout ${input.payoutId}`, FailureType.PayoutRefused);
    try {
      const transfer = await deps.payouts.transfer({
        payoutId: input.payoutId,
        amountMinor: Number(row.amount_minor),
        currency: (row.currency as string).trim(),
        destination: row.destination_account as string,
        idempotencyKey: payoutTransferKey(input.payoutId),
      });
      return { transferId: transfer.id };
    } catch (err) {
      if (err instanceof TransferRefusedError)
        throw ApplicationFailure.nonRetryable(`${err.code}: ${err.message}`, FailureType.PayoutRefused);
      throw err;
    }
  }

  /** The transfer left: in transit is settled from the provider balance, and the payout is PAID. */
  async function recordPayoutPaid(input: { payoutId: string; transferId: string }): Promise<PayoutView> {
    let paid = false;
    const view = await db.transaction(async (trx) => {
      const { row, moved } = await transition(trx, input.payoutId, 'PAID', {
        provider_ref: input.transferId,
        paid_at: trx.fn.now(),
      });
      if (moved && !(await posted(trx, PayoutTransaction.paid(input.payoutId)))) {
        await post(
          trx,
          PayoutTransaction.paid(input.payoutId),
          payoutPaidLines({
            organizerId: row.organizer_id as string,
            currency: (row.currency as string).trim(),
            amountMinor: Number(row.amount_minor),
          }),
          { payoutId: input.payoutId, memo: `transfer ${input.transferId}` },
        );
        console.log(`[payouts] payout ${input.payoutId} paid: ${Number(row.amount_minor)} by ${input.transferId}`);
      }
      paid = moved;
      return toPayoutView(row);
    });
    return countPayout('PAID', paid, view);
  }

  /**
   * A payout that will not be paid (the transfer was refused, or the approval rejected): its reservation is
   * reversed in the ledger, so the money is the organizer's balance again, and the payout is FAILED.
   */
  async function reversePayout(input: { payoutId: string; reason: string }): Promise<PayoutView> {
    let failed = false;
    const view = await db.transaction(async (trx) => {
      const { row, moved } = await transition(trx, input.payoutId, 'FAILED', { failure_reason: input.reason });
      if (moved && !(await posted(trx, PayoutTransaction.reversed(input.payoutId)))) {
        const reserve = await trx('ledger_entries')
          .where({ transaction_id: PayoutTransaction.reserve(input.payoutId) })
          .select('account', 'amount_minor', 'currency');
        await post(
          trx,
          PayoutTransaction.reversed(input.payoutId),
          payoutReversalLines(
            reserve.map((l) => ({
              account: l.account,
              amountMinor: Number(l.amount_minor),
              currency: l.currency.trim(),
            })),
          ),
          { payoutId: input.payoutId, memo: `payout failed: ${input.reason.slice(0, 200)}` },
        );
        console.warn(`[payouts] payout ${input.payoutId} failed and reversed: ${input.reason}`);
      }
      failed = moved;
      return toPayoutView(row);
    });
    return countPayout('FAILED', failed, view);
  }

  return { createPayout, markPayoutInTransit, transferPayout, recordPayoutPaid, reversePayout };
}

/**
 * The refund-after-payout rule, applied in the transaction that posts a refund: when the refund's organizer
 * share took the payable below zero (its money was already paid out), the shortfall becomes organizer debt and
 * the payable goes back to zero. Idempotent: the debt posting's transaction id is derived from the refund.
 */
export async function recordRefundDebt(
  trx: Knex.Transaction,
  input: { refundId: string; organizerId: string; currency: string },
): Promise<number> {
  const transactionId = PayoutTransaction.refundDebt(input.refundId);
  if (await posted(trx, transactionId)) return 0;
  // Serialises with createPayout, which holds the same row while it reads the balance and reserves from it.
  await trx('organizers').where({ id: input.organizerId }).forUpdate().first('id');
  const payableBalanceMinor = -(await accountBalance(
    trx,
    LedgerAccount.organizerPayable(input.organizerId),
    input.currency,
  ));
  const lines = refundDebtLines({ organizerId: input.organizerId, currency: input.currency, payableBalanceMinor });
  await post(trx, transactionId, lines, { refundId: input.refundId, memo: 'refund after payout: organizer debt' });
  if (lines.length > 0)
    console.log(
      `[payouts] refund ${input.refundId}: ${-payableBalanceMinor} ${input.currency} recorded as debt of ${input.organizerId}`,
    );
  return Math.max(0, -payableBalanceMinor);
}

function refused(rule: PayoutRefusal, detail: string): PayoutPlacement {
  return { outcome: 'refused', rule, detail };
}
