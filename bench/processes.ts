import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { waitUntil, type ReadinessProbe } from '../scripts/readiness';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux the project runs on. */
const CLOCK_TICKS = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
  rssKb: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses; the fields after the last ')' are fixed.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const rssPages = Number(fields[21]);
    return {
      pid,
      ppid: Number(fields[1]),
      comm,
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      rssKb: rssPages * 4,
    };
  } catch {
    return undefined; // the process ended between listing and reading
  }
}

function allProcesses(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** One sample of a component: memory now and CPU used since the previous sample. */
export interface ComponentSample {
  rssMb: number;
  /** Percent of one core over the last interval. */
  cpuPercent: number;
}

/** A point on the resource timeline. */
export interface ResourceSample {
  /** Seconds since the benchmark started. */
  t: number;
  components: Record<string, ComponentSample>;
  /** Percent of the whole machine busy (all cores, all processes, not only ours). */
  machineBusyPercent: number;
}

/** Where a component's processes are: a root pid, and whether its descendants count too. */
export interface Component {
  name: string;
  pid: () => number | undefined;
  withDescendants: boolean;
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const total = values.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Samples RSS and CPU of each component once a second. CPU is summed over a component's process tree
 * (Postgres runs one backend per connection), so the figures say where the machine's time went.
 */
export function startResourceSampler(components: Component[], startedAt: number, intervalMs = 1000) {
  const samples: ResourceSample[] = [];
  const previousTicks = new Map<string, number>();
  let previousMachine = machineTicks();
  let previousAt = Date.now();
  /** CPU seconds per component across named windows, for the per-checkout breakdown. */
  const cumulative = new Map<string, number>();

  const sample = () => {
    const procs = allProcesses();
    const children = new Map<number, ProcStat[]>();
    for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
    const byPid = new Map(procs.map((p) => [p.pid, p]));
    const now = Date.now();
    const seconds = (now - previousAt) / 1000;
    const machine = machineTicks();
    const machineBusyPercent =
      machine.total > previousMachine.total
        ? (100 * (machine.busy - previousMachine.busy)) / (machine.total - previousMachine.total)
        : 0;
    previousMachine = machine;
    const point: ResourceSample = { t: (now - startedAt) / 1000, components: {}, machineBusyPercent };
    for (const component of components) {
      const pid = component.pid();
      const root = pid === undefined ? undefined : byPid.get(pid);
      if (!root) continue;
      const tree: ProcStat[] = [root];
      if (component.withDescendants) {
        for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!.pid) ?? []));
      }
      const ticks = tree.reduce((sum, p) => sum + p.cpuTicks, 0);
      const rssKb = tree.reduce((sum, p) => sum + p.rssKb, 0);
      const before = previousTicks.get(component.name);
      previousTicks.set(component.name, ticks);
      const used = before === undefined ? 0 : Math.max(0, ticks - before) / CLOCK_TICKS;
      cumulative.set(component.name, (cumulative.get(component.name) ?? 0) + used);
      point.components[component.name] = {
        rssMb: rssKb / 1024,
        cpuPercent: seconds > 0 ? (100 * used) / seconds : 0,
      };
    }
    previousAt = now;
    samples.push(point);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    samples,
    /** CPU seconds used by each component so far. */
    cpuSeconds: () => new Map(cumulative),
    sampleNow: sample,
    stop: () => clearInterval(timer),
  };
}

/** The first child of `parent` whose command name is `comm` (the Temporal CLI, the postmaster). */
export function childByName(parent: number, comm: string): number | undefined {
  return allProcesses().find((p) => p.ppid === parent && p.comm === comm)?.pid;
}

/** A TypeScript entry point run as one Node process (no tsx wrapper), its output appended to a log file. */
export function spawnTs(
  script: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
  nodeArgs: string[] = [],
): { child: ChildProcess; ready: (marker: string | ReadinessProbe, timeoutMs: number) => Promise<void> } {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  // The start of the output (where readiness is announced) and a window over the latest, for markers split
  // across chunks; a process that logs a lot afterwards must not scroll its announcement away.
  let head = '';
  let recent = '';
  const seen = (marker: string) => head.includes(marker) || recent.includes(marker);
  const waiters: Array<{ marker: string; done: () => void }> = [];
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const text = chunk.toString();
    if (head.length < 65_536) head += text;
    recent = (recent + text).slice(-8192);
    for (const w of [...waiters]) {
      if (seen(w.marker)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.done();
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return {
    child,
    ready: (marker, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (typeof marker !== 'string') {
          child.once('exit', (code, signal) =>
            reject(new Error(`${script} exited (${signal ?? code}) before it was ready; see ${logFile}`)),
          );
          waitUntil(marker, `${script} was not ready; see ${logFile}`, timeoutMs).then(resolve, reject);
          return;
        }
        if (seen(marker)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`${script} did not print "${marker}" within ${timeoutMs} ms; see ${logFile}`)),
          timeoutMs,
        );
        child.once('exit', (code, signal) =>
          reject(new Error(`${script} exited (${signal ?? code}) before it was ready; see ${logFile}`)),
        );
        waiters.push({
          marker,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

/** Stops a child: SIGTERM, then SIGKILL if it lingers. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}
