// Runs a local Ethereum chain (anvil, from the @foundry-rs/anvil npm package) for `npm start` and tests,
// so NFT tickets are minted on a real EVM without any network access.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Anvil's first default dev account key: public knowledge, funded with test ether, never valid anywhere real. */
export const ANVIL_DEV_PRIVATE_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

/** How to start anvil; every field is optional. */
export interface AnvilOptions {
  /** TCP port; omitted means a free port chosen by the OS (read back from anvil's banner). */
  port?: number;
  /** Chain state file: loaded at start if it exists and written on stop, so the chain survives restarts. */
  stateFile?: string;
  /** Also write the state file every this many seconds, so a crash loses at most that much. Default 10. */
  stateIntervalSeconds?: number;
  /** How long to wait for the JSON-RPC endpoint to answer. Default 30 s. */
  startTimeoutMs?: number;
}

/** A running anvil child process. */
export interface RunningAnvil {
  rpcUrl: string;
  /** Funded key that deploys the ticket contract and mints (anvil's first dev account). */
  privateKey: string;
  /** Stops anvil gracefully (it writes the state file on SIGTERM); safe to call twice. */
  stop(): Promise<void>;
}

const host = '127.0.0.1';
const outputTailLines = 40;

// The npm wrapper (@foundry-rs/anvil) only ships a JS launcher; the binary is in an optional per-platform package.
const platformPackages: Record<string, string | undefined> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

/** Path of the anvil binary: $ANVIL_BIN if set, else the platform package installed beside @foundry-rs/anvil. */
export function anvilBinaryPath(): string {
  if (process.env.ANVIL_BIN) return process.env.ANVIL_BIN;
  const pkg = platformPackages[`${process.platform}-${process.arch}`];
  if (!pkg) throw new Error(`anvil has no npm binary for ${process.platform}-${process.arch}; set ANVIL_BIN`);
  const binary = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  // npm hoists the optional dependency next to the wrapper, but may nest it under the wrapper instead.
  const searchFrom = [__dirname];
  try {
    searchFrom.push(path.dirname(require.resolve('@foundry-rs/anvil/package.json')));
  } catch {
    // The wrapper is not required: the platform package alone is enough.
  }
  for (const from of searchFrom) {
    try {
      const candidate = path.join(
        path.dirname(require.resolve(`${pkg}/package.json`, { paths: [from] })),
        'bin',
        binary,
      );
      if (fs.existsSync(candidate)) return candidate;
    } catch {
      // Not resolvable from here; try the next place.
    }
  }
  throw new Error(`anvil binary not found: is ${pkg} installed (npm ci without --omit=optional)?`);
}

/** Starts anvil and resolves once its JSON-RPC endpoint answers. */
export async function startAnvil(options: AnvilOptions = {}): Promise<RunningAnvil> {
  const args = ['--host', host, '--port', String(options.port ?? 0)];
  if (options.stateFile) {
    fs.mkdirSync(path.dirname(path.resolve(options.stateFile)), { recursive: true });
    args.push('--state', options.stateFile, '--state-interval', String(options.stateIntervalSeconds ?? 10));
  }
  const child = spawn(anvilBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });

  // A stray anvil would hold the port and, with a state file, fight over it; SIGTERM still lets it write state.
  const killOnExit = (): void => {
    child.kill('SIGTERM');
  };
  process.on('exit', killOnExit);

  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // A binary that cannot be spawned reports 'error' and never 'exit'.
    child.once('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
    process.off('exit', killOnExit);
  });

  const stop = async (): Promise<void> => {
    if (hasExited) return;
    child.kill('SIGTERM');
    const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(forced);
  };

  try {
    const port = await readListeningPort(child, exited, options.startTimeoutMs ?? 30_000);
    const rpcUrl = `http://${host}:${port}`;
    await waitForRpc(rpcUrl, exited, options.startTimeoutMs ?? 30_000);
    return { rpcUrl, privateKey: ANVIL_DEV_PRIVATE_KEY, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// Anvil prints "Listening on <host>:<port>" once bound; reading it is how port 0 becomes a real port without
// the race of probing for a free port first. Output is drained for the child's whole life: anvil logs every
// RPC call and would block on a full pipe.
function readListeningPort(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<number> {
  const tail: string[] = [];
  return new Promise<number>((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > outputTailLines) tail.shift();
        const match = /Listening on .*:(\d+)\s*$/.exec(line);
        if (match?.[1]) settle(() => resolve(Number(match[1])));
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const timer = setTimeout(
      () => settle(() => reject(new Error(`anvil did not start in ${timeoutMs} ms:\n${tail.join('\n')}`))),
      timeoutMs,
    );
    void exited.then(() =>
      settle(() => reject(new Error(`anvil exited during start (code ${child.exitCode}):\n${tail.join('\n')}`))),
    );
    child.once('error', (err) => settle(() => reject(err)));
  });
}

// Listening is not the same as serving (state loading happens around bind), so ask for the chain id until it answers.
async function waitForRpc(rpcUrl: string, exited: Promise<void>, timeoutMs: number): Promise<void> {
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited) throw new Error('anvil exited before its JSON-RPC endpoint answered');
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(1_000),
      });
      if (response.ok) return;
    } catch {
      // Not serving yet.
    }
    if (Date.now() > deadline) throw new Error(`anvil at ${rpcUrl} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

if (require.main === module) {
  // `tsx scripts/anvil.ts [stateFile]`: a standalone chain for poking at by hand.
  void startAnvil({ port: 8545, stateFile: process.argv[2] }).then((anvil) => {
    console.log(`anvil at ${anvil.rpcUrl}`);
    const shutdown = (): void => void anvil.stop().then(() => process.exit(0));
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
}
