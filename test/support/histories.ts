import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

export const HISTORIES_DIR = join(__dirname, '..', 'histories');

/**
 * With RECORD_HISTORIES=1, saves a finished workflow's history so every later test run replays it. A history
 * already on disk is kept: it stands for workflows recorded by older code (before a `patched()` change), which
 * must go on replaying; RECORD_HISTORIES=overwrite replaces it anyway.
 */
export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  const mode = process.env.RECORD_HISTORIES;
  if (mode !== '1' && mode !== 'overwrite') return;
  const file = join(HISTORIES_DIR, `${name}.json`);
  if (mode === '1' && existsSync(file)) return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
}
