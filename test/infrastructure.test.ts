import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SearchAttributes } from '../domain';
import { ensureSearchAttributes } from '../scripts/temporal-server';
import { requiredEnv } from './support/env';

describe('an external Temporal cluster (TEMPORAL_ADDRESS)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    // A bare dev server stands in for a cluster we did not start: none of our search attributes exist.
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: requiredEnv('TEMPORAL_CLI_PATH') } },
    });
  }, 60_000);
  afterAll(() => env?.teardown());

  test('when the platform connects to it, then the missing search attributes are registered, once', async () => {
    const address = env.connection.options.address;
    const lines: string[] = [];
    await ensureSearchAttributes(address, 'default', (line) => lines.push(line));
    await ensureSearchAttributes(address, 'default', (line) => lines.push(line));
    const listed = await env.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(listed.customAttributes ?? {})).toEqual(
      expect.arrayContaining(Object.values(SearchAttributes).map((key) => key.name)),
    );
    expect(lines.filter((line) => line.includes('registered'))).toHaveLength(1);
  });
});
