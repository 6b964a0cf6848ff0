// `npm run reconcile -- --date YYYY-MM-DD`: runs reconciliationWorkflow for one UTC day on the platform's Temporal
// (TEMPORAL_ADDRESS, else the dev server `npm start` runs on TEMPORAL_PORT) and prints what it found. Exits 1 when
// the providers and the ledger disagree, so a scheduler can alert on it.
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { platformDataConverter } from '../temporal/payload-codec';
import { loadConfig } from '../config';
import {
  isReconciliationDate,
  PAYOUTS_TASK_QUEUE,
  reconciliationWorkflowId,
  type ReconciliationResult,
} from '../domain';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { date: { type: 'string' } } });
  const date = values.date ?? new Date(Date.now() - 24 * 3600_000).toISOString().slice(0, 10);
  if (!isReconciliationDate(date)) {
    console.error('usage: npm run reconcile -- --date YYYY-MM-DD');
    process.exit(2);
  }
  const config = loadConfig();
  const connection = await Connection.connect({
    address: config.TEMPORAL_ADDRESS ?? `127.0.0.1:${config.TEMPORAL_PORT}`,
  });
  try {
    const client = new Client({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      dataConverter: platformDataConverter(config),
    });
    const result: ReconciliationResult = await client.workflow.execute('reconciliationWorkflow', {
      workflowId: reconciliationWorkflowId(date),
      taskQueue: PAYOUTS_TASK_QUEUE,
      args: [{ date }],
      // On demand: a day may be reconciled again later; a run already going is joined, not doubled.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    console.log(JSON.stringify(result, null, 2));
    console.log(
      `[reconcile] ${date}: ${result.matched} matched, ${result.mismatches.length} mismatch(es) ` +
        `(charges ${result.checked.charge.provider}/${result.checked.charge.ledger}, refunds ` +
        `${result.checked.refund.provider}/${result.checked.refund.ledger}, transfers ` +
        `${result.checked.transfer.provider}/${result.checked.transfer.ledger}: provider/ledger)`,
    );
    if (result.mismatches.length > 0) process.exitCode = 1;
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error('[reconcile] failed:', err);
  process.exit(2);
});
