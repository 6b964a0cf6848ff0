import { ApplicationFailure, proxyActivities, setHandler, upsertMemo } from '@temporalio/workflow';
import {
  isReconciliationDate,
  reconcile,
  reconciliationWindow,
  statusQuery,
  type ReconciliationInput,
  type ReconciliationResult,
} from '../domain';
import type { createReconciliationActivities } from '../activities/reconciliation';
import { dbWrite, providerCall } from './activity-options';

const ledger = proxyActivities<ReturnType<typeof createReconciliationActivities>>(dbWrite);
const providers = proxyActivities<ReturnType<typeof createReconciliationActivities>>({
  ...providerCall,
  startToCloseTimeout: '5m',
});

// How many mismatches the memo lists; the result has them all.
const MEMO_MISMATCHES = 20;

/**
 * Compares one UTC day of provider records (charges, refunds, transfers, read through the ports) with the
 * ledger, and reports every difference in its result and memo. Id: `reconciliation-<YYYY-MM-DD>`.
 */
export async function reconciliationWorkflow(input: ReconciliationInput): Promise<ReconciliationResult> {
  let outcome: { matched: number; mismatchCount: number } | undefined = undefined;
  setHandler(statusQuery, () => ({
    status: !outcome ? 'READING' : outcome.mismatchCount > 0 ? 'MISMATCHED' : 'MATCHED',
    date: input.date,
    ...outcome,
  }));
  if (!isReconciliationDate(input.date))
    throw ApplicationFailure.nonRetryable(`not a day: ${input.date}`, 'InvalidReconciliationDate');
  const window = reconciliationWindow(input.date);
  const read = { from: window.readFrom, to: window.readTo };
  const [provider, posted] = await Promise.all([
    providers.loadProviderRecords(read),
    ledger.loadLedgerRecords(read),
  ]);
  const result = reconcile({ date: input.date, provider, ledger: posted });
  outcome = { matched: result.matched, mismatchCount: result.mismatches.length };
  upsertMemo({
    date: input.date,
    matched: result.matched,
    mismatchCount: result.mismatches.length,
    mismatches: result.mismatches.slice(0, MEMO_MISMATCHES),
  });
  return result;
}
