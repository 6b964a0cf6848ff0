import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { issueToken } from '../api/auth';
import { loadConfig, sandboxedProviders, type Config } from '../config';
import { createDb } from '../db';
import { DEMO, seedDemo } from '../db/seed';
import { startInfrastructure } from './infrastructure';
import { CHECKOUT_TASK_QUEUE } from '../domain';
import { startLocalChain, type LocalChain } from './local-chain';
import { logger } from '../observability/logger';
import { temporalConnectionOptions } from '../workers/temporal-connection';
import { apiAnswers, waitUntil, workerPolls } from './readiness';

const startLog = logger.child({ component: 'start' });
const log = (line: string) => startLog.info(line);

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
      startLog.warn(
        { process: name, exit: signal ?? code, delay },
        `${name} exited (${signal ?? code}); restarting in ${delay} ms`,
      );
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

// Anvil's second dev account: a wallet the demo buyer can "own" tickets in, with no real value anywhere.
const DEMO_WALLET = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

function banner(
  config: Config,
  temporalUiUrl: string | null,
  startedAt: number,
  chain: LocalChain | null,
): string {
  const token = issueToken(config, { sub: DEMO.buyerId, role: 'buyer' }, 7 * 24 * 3600);
  const staff = issueToken(config, { sub: 'door_1', role: 'staff', event: DEMO.eventId }, 7 * 24 * 3600);
  const api = config.PUBLIC_BASE_URL;
  const body = JSON.stringify({
    eventId: DEMO.eventId,
    items: [{ ticketTypeId: DEMO.ticketTypes.general, quantity: 2 }],
    payment: { method: 'card', paymentMethodId: 'pm_card_visa' },
    buyer: { email: 'demo@example.com', phone: '+15555550100' },
    walletAddress: DEMO_WALLET,
  });
  const sandboxed = sandboxedProviders(config);
  const chainLine = chain
    ? `${chain.rpcUrl} (local anvil), contract ${chain.contractAddress}`
    : config.CHAIN_RPC_URL
      ? `${new URL(config.CHAIN_RPC_URL).origin}, contract ${config.NFT_CONTRACT_ADDRESS ?? '(not set)'}`
      : 'none: NFT mints wait';
  return [
    '',
    `Bilten is ready (${((Date.now() - startedAt) / 1000).toFixed(1)}s)`,
    `  API           ${api}`,
    `  Temporal UI   ${temporalUiUrl ?? (config.TEMPORAL_ADDRESS ? '(external cluster: see its own UI)' : '(no UI server: see the log above)')}`,
    `  Temporal      ${config.TEMPORAL_ADDRESS ? config.TEMPORAL_ADDRESS : config.TEMPORAL_MODE === 'cluster' ? 'cluster on Postgres: frontend, history, matching, worker' : 'CLI dev server (SQLite)'}`,
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
    `Then find the order in the Temporal UI with the query OrderId="<orderId>" (checkout, NFT mint, confirmation),`,
    `read its tickets (code, QR, NFT) with GET ${api}/v1/checkouts/<orderId>, and:`,
    `  Outbox        ${config.NODE_ENV === 'production' ? '(not served in production)' : `${api}/dev/outbox`}`,
    `  NFT chain     ${chainLine}`,
    `  NFT owner     npm run nft:owner -- <ticketId>`,
    `  Scan key      ${api}/v1/tickets/signing-keys`,
    `  Door scan     curl -sS -X POST ${api}/v1/scans -H "Authorization: Bearer ${staff}" \\`,
    `                  -H "Content-Type: application/json" -d '{"code":"<ticket code>"}'`,
    `  Scan pack     curl -sS ${api}/v1/events/${DEMO.eventId}/scan-pack -H "Authorization: Bearer ${staff}"`,
    `  Attendance    curl -sS ${api}/v1/events/${DEMO.eventId}/attendance -H "Authorization: Bearer ${staff}"`,
    '',
    'Ctrl-C stops everything.',
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

  // NFT tickets need a chain: without CHAIN_RPC_URL, a local anvil with the ticket contract on it.
  let chain: LocalChain | null = null;
  if (!config.CHAIN_RPC_URL) {
    try {
      chain = await startLocalChain(resolve(config.DATA_DIR), log);
      log(`NFT: local anvil chain ${chain.rpcUrl}, contract ${chain.contractAddress}`);
    } catch (err) {
      // Minting waits for a chain; selling tickets does not.
      log(
        `NFT: local chain did not start (${err instanceof Error ? err.message : String(err)}); NFT mints will wait`,
      );
    }
  }
  const env = {
    ...process.env,
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    ...(chain
      ? {
          CHAIN_RPC_URL: chain.rpcUrl,
          CHAIN_PRIVATE_KEY: chain.privateKey,
          NFT_CONTRACT_ADDRESS: chain.contractAddress,
        }
      : {}),
  };
  const worker = supervise('worker', 'workers/main.ts', env);
  const api = supervise('api', 'api/main.ts', env);

  let shuttingDown = false;
  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log('stopping...');
    await Promise.all([api.stop(), worker.stop()]);
    await chain?.stop();
    await infra.stop();
    log('stopped; data kept under ' + config.DATA_DIR);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());

  const readyz = `http://127.0.0.1:${config.PORT}/readyz`;
  await waitUntil(apiAnswers(readyz), `${readyz} did not become ready`, 120_000);
  const polling = workerPolls(temporalConnectionOptions(config, infra.temporalAddress), config.TEMPORAL_NAMESPACE);
  try {
    await waitUntil(polling, `no worker polled "${CHECKOUT_TASK_QUEUE}"`, 120_000);
  } finally {
    await polling.close();
  }
  // The banner is for the person at the terminal (a token and a curl to copy), not a log line.
  process.stdout.write(banner(config, infra.temporalUiUrl, startedAt, chain) + '\n');
  startLog.info(
    { api: config.PUBLIC_BASE_URL, temporalUi: infra.temporalUiUrl, seconds: (Date.now() - startedAt) / 1000 },
    'Bilten is ready',
  );
}

main().catch((err) => {
  startLog.fatal({ err }, `start failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
