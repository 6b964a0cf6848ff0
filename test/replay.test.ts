import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './support/histories';
import { loadConfig } from '../config';
import { platformDataConverter } from '../temporal/payload-codec';

/** Every history recorded from a real run must replay against today's workflow code without non-determinism. */
const testConfig = loadConfig({ NODE_ENV: 'test' });
const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('recorded workflow histories', () => {
  test('when histories are recorded, then there is at least the v1 checkout from a real run', () => {
    expect(files).toContain('checkout-v1-api-card-paid.json');
  });

  test.each(files)('when %s is replayed, then the current code makes the same decisions', async (file) => {
    // The same JSON `temporal workflow show --output json` writes; the worker parses it.
    const history: unknown = JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'));
    const workflowId = file.replace(/\.json$/, '');
    // Histories recorded since payloads are encrypted need the key the tests encrypted them with; older ones are
    // plain JSON payloads, which the codec passes through, as a worker does with a workflow started before it.
    await Worker.runReplayHistory(
      { workflowsPath: require.resolve('../workflows'), dataConverter: platformDataConverter(testConfig) },
      history,
      workflowId,
    );
  });
});
