import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { logger } from '../observability/logger';

/** The newest CLI tag that `go install` accepts; later tags carry a replace directive it rejects. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

/** Where `go install` puts binaries: $GOBIN, else $(go env GOPATH)/bin, else ~/go/bin. */
export function goBinDirs(): string[] {
  const dirs = [process.env.GOBIN, join(homedir(), 'go', 'bin')];
  const gopath = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  if (gopath.status === 0 && gopath.stdout.trim())
    dirs.unshift(join(gopath.stdout.trim().split(delimiter)[0]!, 'bin'));
  return [...new Set(dirs.filter((d): d is string => Boolean(d)))];
}

/** Finds an executable on PATH or in the Go bin directories. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...goBinDirs()];
  return dirs.map((dir) => join(dir, name)).find(isExecutable);
}

/** A Temporal CLI that the SDK downloaded earlier into the temp dir, where the internet was reachable. */
function findSdkDownload(): string | undefined {
  try {
    return readdirSync(tmpdir())
      .filter((name) => /^temporal-(cli|sdk)/.test(name))
      .map((name) => join(tmpdir(), name))
      .find(isExecutable);
  } catch {
    return undefined;
  }
}

/**
 * Finds the Temporal CLI, installing it if needed, in this order: TEMPORAL_CLI_PATH, PATH, the Go bin
 * directories, `go install` of v1.5.1, then a CLI the SDK downloaded before.
 */
export async function findOrInstallTemporalCli(
  log: (line: string) => void = (line) => logger.child({ component: 'temporal-cli' }).info(line),
): Promise<string> {
  const configured = process.env.TEMPORAL_CLI_PATH;
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`TEMPORAL_CLI_PATH=${configured} is not an executable file`);
    return configured;
  }
  const found = findExecutable('temporal');
  if (found) return found;
  if (spawnSync('go', ['version']).status === 0) {
    log(`Temporal CLI not found; building it with go install ${TEMPORAL_CLI_MODULE} (a few minutes, once)...`);
    const started = Date.now();
    await promisify(execFile)('go', ['install', TEMPORAL_CLI_MODULE], { maxBuffer: 64 * 1024 * 1024 });
    const built = goBinDirs()
      .map((dir) => join(dir, 'temporal'))
      .find(isExecutable);
    if (built) {
      log(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s: ${built}`);
      return built;
    }
  }
  const downloaded = findSdkDownload();
  if (downloaded) return downloaded;
  throw new Error(
    'No Temporal CLI found. Install Go (https://go.dev) and run `go install ' +
      TEMPORAL_CLI_MODULE +
      '`, or set TEMPORAL_CLI_PATH to a temporal binary.',
  );
}

if (require.main === module) {
  // The path is the program's output (scripts read it); progress goes to the log on stderr.
  findOrInstallTemporalCli((line) => process.stderr.write(`${line}\n`)).then(
    (path) => process.stdout.write(`${path}\n`),
    (err: Error) => {
      logger.fatal({ err, component: 'temporal-cli' }, err.message);
      process.exit(1);
    },
  );
}
