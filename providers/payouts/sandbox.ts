import { randomBytes } from 'node:crypto';
import type { Db } from '../../db';
import { TransferRefusedError, type PayoutTransfer, type Payouts } from './ports';

/**
 * Connected accounts the sandbox refuses to pay, as Stripe refuses them: a test sets an organizer's account to
 * one of these to see a transfer fail.
 */
export const SANDBOX_REFUSING_ACCOUNTS: Record<string, { code: string; message: string }> = {
  acct_sbx_invalid: { code: 'account_invalid', message: 'No such destination: acct_sbx_invalid' },
  acct_sbx_insufficient_funds: {
    code: 'balance_insufficient',
    message: 'You have insufficient available funds in your Stripe account.',
  },
};

/** Settings of the sandbox payouts provider. */
export interface SandboxPayoutsDeps {
  db: Db;
  /** Injected failure for tests: return an error code to refuse a transfer, null to let it through. */
  refuse?: (input: { payoutId: string; destination: string; amountMinor: number }) => string | null;
}

/** A local stand-in for Stripe Connect transfers, kept in Postgres so every process sees the same transfers. */
export function createSandboxPayouts(deps: SandboxPayoutsDeps): Payouts {
  const { db } = deps;
  const toTransfer = (row: Record<string, unknown>): PayoutTransfer => ({
    id: row.id as string,
    amountMinor: Number(row.amount_minor),
    currency: (row.currency as string).trim(),
    destination: row.destination as string,
    transferGroup: (row.transfer_group as string | null) ?? null,
    createdAt: new Date(row.created_at as string).toISOString(),
  });
  return {
    provider: 'stripe',
    sandboxed: true,
    async transfer(input) {
      const existing = await db('sandbox_transfers').where({ idempotency_key: input.idempotencyKey }).first();
      // Like Stripe, the same idempotency key answers with the first request's result.
      if (existing) return toTransfer(existing);
      const injected = deps.refuse?.(input) ?? null;
      const refusal = injected
        ? { code: injected, message: `transfer refused (${injected})` }
        : SANDBOX_REFUSING_ACCOUNTS[input.destination];
      if (refusal) throw new TransferRefusedError(refusal.message, refusal.code);
      if (!/^acct_[A-Za-z0-9_]+$/.test(input.destination))
        throw new TransferRefusedError(`No such destination: '${input.destination}'`, 'account_invalid');
      const inserted = await db('sandbox_transfers')
        .insert({
          id: `tr_sbx_${randomBytes(12).toString('hex')}`,
          idempotency_key: input.idempotencyKey,
          destination: input.destination,
          amount_minor: input.amountMinor,
          currency: input.currency,
          transfer_group: input.payoutId,
          metadata: JSON.stringify({ payoutId: input.payoutId }),
        })
        .onConflict('idempotency_key')
        .ignore()
        .returning('*');
      return toTransfer(
        inserted[0] ?? (await db('sandbox_transfers').where({ idempotency_key: input.idempotencyKey }).first()),
      );
    },
    async listTransfers({ from, to }) {
      const rows = await db('sandbox_transfers')
        .where('created_at', '>=', from)
        .andWhere('created_at', '<', to)
        .orderBy('created_at');
      return rows.map(toTransfer);
    },
  };
}
