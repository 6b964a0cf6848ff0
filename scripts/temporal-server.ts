import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS } from '../domain';

/** A running Temporal dev server started by us. */
export interface TemporalDevServer {
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with a SQLite file (so workflows survive restarts), the Web UI, and
 * the search attributes support staff filter on. Resolves once the frontend answers.
 */
export async function startTemporalDevServer(options: {
  cliPath: string;
  dbFile: string;
  logFile: string;
  port: number;
  uiPort: number;
  namespace: string;
}): Promise<TemporalDevServer> {
  mkdirSync(dirname(options.dbFile), { recursive: true });
  const out = openSync(options.logFile, 'a');
  const args = [
    'server',
    'start-dev',
    '--db-filename',
    options.dbFile,
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--namespace',
    options.namespace,
    '--log-level',
    'warn',
    // Update-with-start and eager start are what make checkout one round trip.
    '--dynamic-config-value',
    'frontend.enableExecuteMultiOperation=true',
    '--dynamic-config-value',
    'system.enableEagerWorkflowStart=true',
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
  ];
  const child = spawn(options.cliPath, args, { stdio: ['ignore', out, out] });
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? -1));

  const address = `127.0.0.1:${options.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== null) throw new Error(`Temporal dev server exited with code ${exited}; see ${options.logFile}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      await connection.workflowService.describeNamespace({ namespace: options.namespace });
      await connection.close();
      break;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`Temporal dev server did not answer on ${address}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    address,
    uiUrl: `http://localhost:${options.uiPort}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
