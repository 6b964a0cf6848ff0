import { createServer } from 'node:net';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../config';
import { connectionBackoffMs, connectWithBackoff } from '../workers/connect';
import { requiredEnv } from './support/env';

/** A TCP port nobody listens on right now. */
const unusedPort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

describe('a worker started while Temporal is down', () => {
  test('when Temporal is not up yet, then the worker retries with growing delays and connects once it is', async () => {
    const port = await unusedPort();
    const config = loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    const failures: Array<{ attempt: number; retryInMs: number }> = [];
    let twoFailed!: () => void;
    const afterTwoFailures = new Promise<void>((resolve) => (twoFailed = resolve));

    const connecting = connectWithBackoff(config, ({ attempt, retryInMs }) => {
      failures.push({ attempt, retryInMs });
      if (failures.length === 2) twoFailed();
    });
    await afterTwoFailures;
    // Temporal comes up on the address the worker keeps trying.
    const temporal = await TestWorkflowEnvironment.createLocal({
      server: {
        ip: '127.0.0.1',
        port,
        executable: { type: 'existing-path', path: requiredEnv('TEMPORAL_CLI_PATH') },
      },
    });
    try {
      const connection = await connecting;
      try {
        expect(failures.slice(0, 2)).toEqual([
          { attempt: 1, retryInMs: 500 },
          { attempt: 2, retryInMs: 1000 },
        ]);
        expect(failures.map((f) => f.retryInMs)).toEqual(failures.map((f) => connectionBackoffMs(f.attempt)));
        // The connection is live: it serves a call to the server that came up.
        await expect(connection.workflowService.getSystemInfo({})).resolves.toBeDefined();
      } finally {
        await connection.close();
      }
    } finally {
      await temporal.teardown();
    }
  });

  test('when it keeps failing, then the delay doubles from half a second and stays at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(connectionBackoffMs)).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });
});
