import type { Db } from '../../db';

/** One broken book-keeping rule, as `ledger_invariant_violations()` reports it. */
export interface InvariantViolation {
  invariant: string;
  detail: string;
}

/** Every rule the books break right now (migration 0004's SQL function; later migrations extend it). */
export async function ledgerInvariantViolations(db: Db): Promise<InvariantViolation[]> {
  const result = await db.raw('SELECT invariant, detail FROM ledger_invariant_violations()');
  return result.rows as InvariantViolation[];
}

/**
 * Fails the test when any ledger invariant is broken: every ledger transaction balances, no refund exceeds its
 * capture, and every ticket type's sold count matches its valid and used tickets. Test files of other areas share
 * the run's database, and a refund of theirs may be between two of its steps (tickets void, seats not yet back),
 * so this looks again for a few seconds before it fails, naming every violation.
 */
export async function expectLedgerInvariants(db: Db, settleMs = 15_000): Promise<void> {
  const deadline = Date.now() + settleMs;
  let violations = await ledgerInvariantViolations(db);
  while (violations.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    violations = await ledgerInvariantViolations(db);
  }
  expect(violations).toEqual([]);
}
