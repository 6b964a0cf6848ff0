import { spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_FLAGS, SearchAttributes } from '../domain';
import { temporal } from '@temporalio/proto';
import type { TemporalConnectionOptions } from '../workers/temporal-connection';

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
  /** The server's Prometheus metrics port (`--metrics-port`); 0 or absent: none. */
  metricsPort?: number;
  /** Where the Web UI sends encrypted payloads to be shown decoded (the browser calls it). */
  codecEndpoint?: string;
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
    // SQLite's default rollback journal with a full sync per commit made the dev server the benchmark's
    // bottleneck (bench/README.md: ~5x fewer workflows/s). WAL with NORMAL sync still survives a crash of the
    // server process; only an OS crash can lose the last commits, acceptable for a development server.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // Update-with-start and eager start are what make checkout one round trip.
    '--dynamic-config-value',
    'frontend.enableExecuteMultiOperation=true',
    '--dynamic-config-value',
    'system.enableEagerWorkflowStart=true',
    ...SEARCH_ATTRIBUTE_FLAGS.flatMap((flag) => ['--search-attribute', flag]),
    // The server's own metrics (service latencies, persistence, task queues) for Prometheus and the dashboard.
    ...(options.metricsPort ? ['--metrics-port', String(options.metricsPort)] : []),
    ...(options.codecEndpoint ? ['--ui-codec-endpoint', options.codecEndpoint] : []),
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

/**
 * Registers the platform's search attributes on a cluster we did not start, adding only the missing ones.
 * Some hosted clusters refuse the operator API; then support staff must add them once by hand, as said.
 */
export async function ensureSearchAttributes(
  target: string | TemporalConnectionOptions,
  namespace: string,
  log: (line: string) => void,
): Promise<void> {
  const connection = await Connection.connect(typeof target === 'string' ? { address: target } : target);
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const known = new Set(Object.keys(existing.customAttributes ?? {}));
    const missing = Object.values(SearchAttributes).filter((key) => !known.has(key.name));
    if (missing.length === 0) return;
    const { INDEXED_VALUE_TYPE_INT, INDEXED_VALUE_TYPE_KEYWORD } = temporal.api.enums.v1.IndexedValueType;
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(
        missing.map((key) => [key.name, key.type === 'INT' ? INDEXED_VALUE_TYPE_INT : INDEXED_VALUE_TYPE_KEYWORD]),
      ),
    });
    log(`Temporal: registered search attributes ${missing.map((key) => key.name).join(', ')}`);
  } catch (err) {
    log(
      `Temporal: could not register search attributes (${String(err)}); add ${SEARCH_ATTRIBUTE_FLAGS.join(' ')} by hand`,
    );
  } finally {
    await connection.close();
  }
}
