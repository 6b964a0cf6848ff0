import { spawn, type ChildProcess } from 'node:child_process';
import { issueToken } from '../api/auth';
import { loadConfig, sandboxedProviders, type Config } from '../config';
import { createDb } from '../db';
import { DEMO, seedDemo } from '../db/seed';
import { startInfrastructure } from './infrastructure';

const log = (line: string) => console.log(`[start] ${line}`);

/** A child process the launcher keeps alive: restarted with backoff whenever it dies unasked. */
function supervise(name: string, script: string, env: NodeJS.ProcessEnv) {
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;
  const launch = () => {
    child = spawn(process.execPath, [require.resolve('tsx/cli'), script], { env, stdio: 'inherit' });
    const startedAt = Date.now();
    child.on('exit', (code, signal) => {
      if (stopping) return;
      // A process that ran a while is restarted at once; one that keeps crashing backs off.
      restarts = Date.now() - startedAt > 30_000 ? 0 : restarts + 1;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts, 6));
      log(`${name} exited (${signal ?? code}); restarting in ${delay} ms`);
      setTimeout(launch, delay);
    });
  };
  launch();
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        stopping = true;
        if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child?.kill('SIGKILL'), 15_000).unref();
      }),
  };
}

async function waitUntilReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`${url} did not become ready within ${timeoutMs / 1000}s`);
}

function banner(config: Config, temporalUiUrl: string | null, startedAt: number): string {
  const token = issueToken(config.AUTH_JWT_SECRET, { sub: DEMO.buyerId, role: 'buyer' }, 7 * 24 * 3600);
  const api = config.PUBLIC_BASE_URL;
  const body = JSON.stringify({
    eventId: DEMO.eventId,
    items: [{ ticketTypeId: DEMO.ticketTypes.general, quantity: 2 }],
    payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    buyer: { email: 'demo@example.com', phone: '+15555550100' },
  });
  const sandboxed = sandboxedProviders(config);
  return [
    '',
    `Bilten is ready (${((Date.now() - startedAt) / 1000).toFixed(1)}s)`,
    `  API           ${api}`,
    `  Temporal UI   ${temporalUiUrl ?? '(external cluster: see its own UI)'}`,
    `  Sandboxed     ${sandboxed.length ? sandboxed.join(', ') : 'none: real providers'}`,
    `  Organizer     ${DEMO.organizerId}`,
    `  Event         ${DEMO.eventId}`,
    `  Ticket types  ${DEMO.ticketTypes.general} (General, 25.00 USD), ${DEMO.ticketTypes.vip} (VIP, 120.00 USD)`,
    `  Buyer token   ${token}`,
    '',
    'Buy two tickets:',
    `  curl -sS -X POST ${api}/v1/checkouts \\`,
    `    -H "Authorization: Bearer ${token}" \\`,
    `    -H "Content-Type: application/json" -H "Idempotency-Key: demo-$(date +%s)" \\`,
    `    -d '${body}'`,
    '',
    `Then find the order in the Temporal UI with the query OrderId="<orderId>". Ctrl-C stops everything.`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const config = loadConfig();
  const infra = await startInfrastructure(config, log);
  const db = createDb(infra.databaseUrl, 2);
  await seedDemo(db);
  await db.destroy();

  const env = { ...process.env, DATABASE_URL: infra.databaseUrl, TEMPORAL_ADDRESS: infra.temporalAddress };
  const worker = supervise('worker', 'workers/main.ts', env);
  const api = supervise('api', 'api/main.ts', env);

  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log('stopping...');
    await Promise.all([api.stop(), worker.stop()]);
    await infra.stop();
    log('stopped; data kept under ' + config.DATA_DIR);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());

  await waitUntilReady(`http://127.0.0.1:${config.PORT}/readyz`, 120_000);
  console.log(banner(config, infra.temporalUiUrl, startedAt));
}

main().catch((err) => {
  console.error('[start] failed:', err instanceof Error ? err.message : err);
  process.exit(1);
});
