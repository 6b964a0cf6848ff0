// `npx tsx bench/devserver.ts [concurrency]`: how the Temporal dev server's persistence settings bound throughput.
// Runs the baseline workflow (three no-op activities, update-with-start) against a fresh dev server per setting:
// in memory, a SQLite file with SQLite's defaults, and a SQLite file in WAL mode (what scripts/temporal-server.ts
// now uses). Evidence for bench/README.md; not part of `npm run bench`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { findOrInstallTemporalCli } from '../scripts/temporal-cli';
import { createBaselineWorker } from './baseline-worker';
import { awaitBaselineUpdate, type baselineWorkflow } from './baseline-workflow';
import { latencySummary } from './report';

const PORT = 7398;
const WARM_UP_SECONDS = 3;
const MEASURE_SECONDS = 12;

async function measure(cliPath: string, name: string, persistence: string[], concurrency: number) {
  const child = spawn(
    cliPath,
    [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(PORT),
      '--headless',
      '--log-level',
      'error',
      '--dynamic-config-value',
      'frontend.enableExecuteMultiOperation=true',
      ...persistence,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    let connection: Connection | undefined;
    for (let attempt = 0; !connection; attempt++) {
      try {
        const c = await Connection.connect({ address: `127.0.0.1:${PORT}`, connectTimeout: 1_000 });
        await c.workflowService.describeNamespace({ namespace: 'default' });
        connection = c;
      } catch (err) {
        if (attempt > 120) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const native = await NativeConnection.connect({ address: `127.0.0.1:${PORT}` });
    const worker = await createBaselineWorker(native, 'default', 1000, 'devserver-bench');
    const running = worker.run();
    const client = new Client({ connection });
    const run = async (seconds: number) => {
      const latencies: number[] = [];
      const started = Date.now();
      const deadline = started + seconds * 1000;
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (Date.now() < deadline) {
            const t = Date.now();
            await client.workflow.executeUpdateWithStart(awaitBaselineUpdate, {
              startWorkflowOperation: new WithStartWorkflowOperation<typeof baselineWorkflow>('baselineWorkflow', {
                workflowId: `devserver-${name.replace(/\W+/g, '-')}-${seconds}-${next++}`,
                taskQueue: 'devserver-bench',
                args: [{ mode: 'activities' }],
                workflowIdConflictPolicy: 'USE_EXISTING',
              }),
            });
            latencies.push(Date.now() - t);
          }
        }),
      );
      return { perMinute: Math.round((latencies.length / ((Date.now() - started) / 1000)) * 60), latencies };
    };
    await run(WARM_UP_SECONDS);
    const { perMinute, latencies } = await run(MEASURE_SECONDS);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    return { name, perMinute, latencyMs: latencySummary(latencies) };
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

async function main(): Promise<void> {
  // In-process workers log at INFO by default; only warnings belong in a benchmark's output.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const concurrency = Number(process.argv[2] ?? 24);
  const cliPath = await findOrInstallTemporalCli((line) => console.log(`[devserver] ${line}`));
  const dir = mkdtempSync(join(tmpdir(), 'bilten-devserver-'));
  const file = (name: string) => ['--db-filename', join(dir, `${name}.sqlite`)];
  const settings: Array<[string, string[]]> = [
    ['in memory', []],
    ['SQLite file, SQLite defaults (rollback journal, synchronous=FULL)', file('default')],
    [
      'SQLite file, journal_mode=wal, synchronous=normal (scripts/temporal-server.ts)',
      [...file('wal'), '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'],
    ],
  ];
  const results = [];
  try {
    for (const [name, args] of settings) {
      const result = await measure(cliPath, name, args, concurrency);
      console.log(
        `${result.name}: ${result.perMinute} workflows/min, p50 ${result.latencyMs.p50} ms, p95 ${result.latencyMs.p95} ms`,
      );
      results.push(result);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ concurrency, results }));
  process.exit(0);
}

main().catch((err) => {
  console.error('[devserver] failed:', err);
  process.exit(1);
});
