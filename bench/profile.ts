import { readFileSync } from 'node:fs';

/** The parts of a V8 `.cpuprofile` (as `node --cpu-prof` writes it) this summary reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  /** Microseconds on the monotonic clock (the same clock as `process.hrtime`). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a sampled function lives: an npm package, a folder of this project, or a V8/Node bucket. */
function categoryOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName.startsWith('(')) return functionName;
    // Native calls named by what they do: socket writes (Postgres, gRPC), messages to workflow threads...
    if (['writev', 'writeBuffer', 'writeUtf8String'].includes(functionName)) return 'native: socket writes';
    if (functionName === 'postMessage') return 'native: postMessage to workflow threads';
    if (functionName === 'runMicrotasks') return 'native: microtasks';
    // Each workflow activation enters the workflow's sandboxed V8 context.
    if (functionName === 'runInContext') return 'native: vm runInContext (workflow sandbox)';
    return 'native: other';
  }
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const project = /\/(activities|workflows|workers|domain|db|providers|api|tickets|bench|config)\//.exec(url);
  if (project) return `project ${project[1]}/`;
  if (url.includes('workflow-bundle')) return 'workflow bundle (in the V8 isolate)';
  return url.split('/').slice(-2).join('/');
}

/**
 * Self time by category within a window of the monotonic clock, over every profile the process wrote (the
 * main thread, and the worker threads the Temporal SDK runs workflows in), largest first, as percent of busy time.
 */
export function summarizeProfiles(
  files: string[],
  fromUs: number,
  toUs: number,
): Array<{ category: string; percent: number }> {
  const totals = new Map<string, number>();
  let busy = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread.
    const thread = Number(/\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1] ?? 0);
    const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    let t = profile.startTime;
    profile.samples.forEach((id, i) => {
      const delta = profile.timeDeltas[i] ?? 0;
      t += delta;
      if (t < fromUs || t > toUs) return;
      const frame = byId.get(id);
      if (!frame || frame.functionName === '(idle)') return;
      const where = categoryOf(frame.url, frame.functionName);
      const category = thread === 0 ? where : `workflow thread: ${where}`;
      // Weighted by the sampling interval, so threads sampled at different rates add up fairly.
      totals.set(category, (totals.get(category) ?? 0) + delta);
      busy += delta;
    });
  }
  return [...totals.entries()]
    .sort(([, a], [, b]) => b - a)
    .map(([category, us]) => ({ category, percent: Math.round((1000 * us) / Math.max(1, busy)) / 10 }));
}
