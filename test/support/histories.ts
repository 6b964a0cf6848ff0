import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'histories');

/** With RECORD_HISTORIES=1, saves a finished workflow's history so every later test run replays it. */
export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n',
  );
}
