// Finds (or installs) stripe-mock and runs it on free ports, for tests that talk to the real Stripe SDK.
import { execFile, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The stripe-mock release the tests are written against; its fixtures differ between releases. */
export const STRIPE_MOCK_VERSION = 'v0.197.0';
const STRIPE_MOCK_MODULE = 'github.com/stripe/stripe-mock';
const BINARY = process.platform === 'win32' ? 'stripe-mock.exe' : 'stripe-mock';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** A running stripe-mock; `url` is its plain-HTTP base, e.g. `http://127.0.0.1:40123`. */
export interface StripeMockServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Path of a stripe-mock binary: STRIPE_MOCK_PATH, then PATH, then Go's bin folders; installs it with
 * `go install` when none is found.
 */
export async function ensureStripeMock(): Promise<string> {
  const configured = process.env.STRIPE_MOCK_PATH?.trim();
  if (configured) {
    // An explicit setting that points nowhere is a mistake to report, not something to paper over.
    if (!(await isExecutable(configured))) throw new Error(`STRIPE_MOCK_PATH=${configured} is not an executable`);
    return configured;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && (await isExecutable(join(dir, BINARY)))) return join(dir, BINARY);
  }
  const goBin = await goInstallDir();
  const candidates = [goBin, join(homedir(), 'go', 'bin')].filter((d): d is string => d !== null);
  for (const dir of candidates) {
    if (await isExecutable(join(dir, BINARY))) return join(dir, BINARY);
  }
  if (goBin === null) {
    throw new Error(
      `stripe-mock not found and Go is not installed; install Go, or set STRIPE_MOCK_PATH, ` +
        `or run: go install ${STRIPE_MOCK_MODULE}@${STRIPE_MOCK_VERSION}`,
    );
  }
  await run('go', ['install', `${STRIPE_MOCK_MODULE}@${STRIPE_MOCK_VERSION}`], { timeout: 300_000 });
  const installed = join(goBin, BINARY);
  if (!(await isExecutable(installed))) throw new Error(`go install finished but ${installed} is missing`);
  return installed;
}

/** Starts stripe-mock on ports the OS picks, so parallel test files never collide. */
export async function startStripeMock(): Promise<StripeMockServer> {
  const binary = await ensureStripeMock();
  // An empty port in -http-addr/-https-addr lets the OS choose; stripe-mock prints what it got. Choosing the
  // ports here instead would leave a window in which another process could take them. HTTPS cannot be
  // switched off, so it gets a free loopback port too rather than the shared default 12112.
  const child = spawn(binary, ['-http-addr', '127.0.0.1:', '-https-addr', '127.0.0.1:'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`stripe-mock did not start within ${START_TIMEOUT_MS} ms:\n${output}`)),
        START_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const match = /Listening for HTTP at address: (\S+)/.exec(output);
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(`http://${match[1]}`);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`stripe-mock exited early (${signal ?? code}):\n${output}`));
      });
    });
    // Keep draining its output so a chatty stripe-mock never blocks on a full pipe.
    child.stdout.resume();
    child.stderr.resume();
    return {
      url,
      async stop() {
        process.removeListener('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      },
    };
  } catch (err) {
    process.removeListener('exit', killOnExit);
    child.kill('SIGKILL');
    throw err;
  }
}

/** Where `go install` puts binaries (GOBIN, else GOPATH/bin), or null when Go is not installed. */
async function goInstallDir(): Promise<string | null> {
  try {
    const { stdout } = await run('go', ['env', 'GOBIN', 'GOPATH']);
    const [gobin = '', gopath = ''] = stdout.split('\n').map((line) => line.trim());
    if (gobin) return gobin;
    // GOPATH may list several folders; go install uses the first.
    const first = gopath.split(delimiter)[0];
    return first ? join(first, 'bin') : null;
  } catch {
    return null;
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
