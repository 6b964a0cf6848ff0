import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR } from './support/histories';
import { loadConfig } from '../config';
import { platformDataConverter } from '../temporal/payload-codec';

/**
 * Histories recorded since payloads are encrypted carry them encrypted with the test runs' (development) key;
 * older ones are plain and pass through the codec unchanged.
 */
const dataConverter = platformDataConverter(loadConfig({ NODE_ENV: 'test' }));

/** Every history recorded from a real run must replay against today's workflow code without non-determinism. */
const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('recorded workflow histories', () => {
  test('when histories are recorded, then there is at least the v1 checkout from a real run', () => {
    expect(files).toContain('checkout-v1-api-card-paid.json');
  });

  test.each(files)('when %s is replayed, then the current code makes the same decisions', async (file) => {
    // The same JSON `temporal workflow show --output json` writes; the worker parses it.
    const history: unknown = JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'));
    const workflowId = file.replace(/\.json$/, '');
    await Worker.runReplayHistory(
      {
        workflowsPath: require.resolve('../workflows'),
        dataConverter,
      },
      history,
      workflowId,
    );
  });
});
