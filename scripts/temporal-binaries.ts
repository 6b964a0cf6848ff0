import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findExecutable, goBinDirs } from './temporal-cli';

/** The server CLI v1.5.1 embeds: the version the dev server runs, so both modes run the same engine. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
/** The Web UI server CLI v1.5.1 embeds; it speaks to server 1.29. */
export const TEMPORAL_UI_VERSION = '2.42.1';

/** A Go program the cluster needs, found or built once per machine under the name the scripts use. */
export interface GoProgram {
  /** The name it is installed and found under. */
  name: 'temporal-server' | 'temporal-sql-tool' | 'temporal-ui-server';
  /** What `go install` builds. */
  module: string;
  /** The file name `go install` gives it (the last element of the package path). */
  builtAs: string;
  /** Tells this program from another one of the same built name (`server` is a common name). */
  versionPattern: RegExp;
  /** The setting that points at an existing binary instead. */
  pathSetting: 'TEMPORAL_SERVER_PATH' | 'TEMPORAL_SQL_TOOL_PATH' | 'TEMPORAL_UI_SERVER_PATH';
}

export const TEMPORAL_SERVER: GoProgram = {
  name: 'temporal-server',
  module: `go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION}`,
  builtAs: 'server',
  versionPattern: /^temporal version \d/m,
  pathSetting: 'TEMPORAL_SERVER_PATH',
};

export const TEMPORAL_SQL_TOOL: GoProgram = {
  name: 'temporal-sql-tool',
  module: `go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`,
  builtAs: 'sql',
  versionPattern: /^temporal-sql-tool version \d/m,
  pathSetting: 'TEMPORAL_SQL_TOOL_PATH',
};

export const TEMPORAL_UI_SERVER: GoProgram = {
  name: 'temporal-ui-server',
  module: `github.com/temporalio/ui-server/v2/cmd/server@v${TEMPORAL_UI_VERSION}`,
  builtAs: 'server',
  versionPattern: /^Temporal UI version \d/m,
  pathSetting: 'TEMPORAL_UI_SERVER_PATH',
};

const versionOf = (path: string) => {
  const run = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return run.status === 0 ? run.stdout.trim() : undefined;
};

/**
 * Finds `program` or builds it, in this order: its *_PATH setting, PATH and the Go bin directories under its
 * name, a `go install` result of the built name in a Go bin directory (copied under the program's name), then
 * `go install` into a scratch GOBIN, moved into the Go bin directory under the program's name. Building into a
 * scratch directory matters: the server and the UI server are both built as `server` and would overwrite
 * each other in GOPATH/bin.
 */
export async function findOrBuild(
  program: GoProgram,
  configured: string | undefined,
  log: (line: string) => void,
): Promise<string> {
  if (configured) {
    if (!versionOf(configured)) throw new Error(`${program.pathSetting}=${configured} does not run`);
    return configured;
  }
  const found = findExecutable(program.name);
  if (found) return found;
  const binDirs = goBinDirs();
  for (const dir of binDirs) {
    const built = join(dir, program.builtAs);
    const version = versionOf(built);
    if (version && program.versionPattern.test(version)) {
      const target = join(dir, program.name);
      copyFileSync(built, target);
      chmodSync(target, 0o755);
      log(`${program.name}: using ${built} (${version.split('\n')[0]}), copied to ${target}`);
      return target;
    }
  }
  if (spawnSync('go', ['version']).status !== 0)
    throw new Error(
      `No ${program.name} found and no Go toolchain to build it: install Go (https://go.dev), or set ` +
        `${program.pathSetting} to a binary built with \`go install ${program.module}\`.`,
    );
  const target = binDirs[0]!;
  log(`${program.name} not found; building it with go install ${program.module} (once per machine)...`);
  const started = Date.now();
  const scratch = mkdtempSync(join(tmpdir(), `${program.name}-`));
  try {
    await promisify(execFile)('go', ['install', program.module], {
      env: { ...process.env, GOBIN: scratch },
      maxBuffer: 64 * 1024 * 1024,
    });
    mkdirSync(target, { recursive: true });
    const installed = join(target, program.name);
    try {
      renameSync(join(scratch, program.builtAs), installed);
    } catch {
      // The scratch directory may sit on another filesystem than GOPATH.
      copyFileSync(join(scratch, program.builtAs), installed);
      chmodSync(installed, 0o755);
    }
    log(`${program.name} built in ${Math.round((Date.now() - started) / 1000)}s: ${installed}`);
    return installed;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  // `npm run temporal:cluster-binaries`: build (or find) everything the cluster needs, and say where it is.
  const log = (line: string) => console.error(line);
  (async () => {
    for (const program of [TEMPORAL_SQL_TOOL, TEMPORAL_SERVER, TEMPORAL_UI_SERVER])
      console.log(`${program.name} ${await findOrBuild(program, process.env[program.pathSetting], log)}`);
  })().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
