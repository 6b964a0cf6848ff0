import type { ResourceSample } from './processes';

/** Nearest-rank percentile of a list of numbers (0 when empty). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50, p95 and p99 of a list, rounded to a tenth of a millisecond. */
export function latencySummary(values: number[]): { p50: number; p95: number; p99: number } {
  const round = (v: number) => Math.round(v * 10) / 10;
  return {
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
  };
}

/** A phase of the run, shaded on the chart. */
export interface Phase {
  name: string;
  from: number;
  to: number;
}

/** A completed request on the timeline, in seconds since the benchmark started. */
export interface TimedRequest {
  end: number;
  latencyMs: number;
  /** Units this request completed (tickets for a checkout, 1 for a baseline workflow); 0 when refused. */
  units: number;
}

/** One step of the concurrency sweep: what so many buyers at once got through, and how fast each was answered. */
export interface SweepPoint {
  concurrency: number;
  checkoutsPerMinute: number;
  postP50Ms: number;
  postP95Ms: number;
  errors: number;
}

/** Everything the chart draws. */
export interface ChartInput {
  title: string;
  subtitle: string;
  phases: Phase[];
  checkouts: TimedRequest[];
  baseline: TimedRequest[];
  resources: ResourceSample[];
  /** The concurrency sweep, drawn as latency against throughput; no panel when it did not run. */
  sweep?: SweepPoint[];
  /** The mixed sale beside the instant one: tickets/min, and checkout-to-PAID p95 by payment kind. */
  mixed?: MixedSaleBars;
  /** Cores on the machine, to draw whole-machine CPU on the per-core scale. */
  cores: number;
}

/** What the mixed-sale panel draws. */
export interface MixedSaleBars {
  instantTicketsPerMinute: number;
  mixedTicketsPerMinute: number;
  paidP95MsByKind: Record<string, number>;
}

const WIDTH = 1000;
const PANEL_HEIGHT = 170;
const LEFT = 70;
const RIGHT = 170;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
  dashed?: boolean;
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function panel(top: number, title: string, unit: string, series: Series[], phases: Phase[], tMax: number): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(([, y]) => y))) * 1.05);
  const x = (t: number) => LEFT + (t / tMax) * plotWidth;
  const y = (v: number) => top + PANEL_HEIGHT - (v / yMax) * PANEL_HEIGHT;
  const parts: string[] = [];
  parts.push(`<text x="${LEFT}" y="${top - 8}" font-weight="bold">${esc(title)}</text>`);
  for (const [i, phase] of phases.entries()) {
    parts.push(
      `<rect x="${x(phase.from)}" y="${top}" width="${Math.max(0, x(phase.to) - x(phase.from))}" height="${PANEL_HEIGHT}" fill="${i % 2 ? '#f3f3f3' : '#eaf2fb'}"/>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#ccc" stroke-width="0.5"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${+v.toFixed(1)}</text>`,
    );
  }
  parts.push(
    `<text x="${LEFT - 50}" y="${top + PANEL_HEIGHT / 2}" font-size="10" transform="rotate(-90 ${LEFT - 50} ${top + PANEL_HEIGHT / 2})" text-anchor="middle">${esc(unit)}</text>`,
    `<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#888"/>`,
  );
  for (const [i, s] of series.entries()) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<rect x="${LEFT + plotWidth + 10}" y="${top + 6 + i * 16}" width="12" height="3" fill="${s.color}"/>`,
      `<text x="${LEFT + plotWidth + 28}" y="${top + 11 + i * 16}" font-size="11">${esc(s.name)}</text>`,
    );
  }
  for (let i = 0; i <= 10; i++) {
    const t = (tMax * i) / 10;
    parts.push(
      `<text x="${x(t)}" y="${top + PANEL_HEIGHT + 13}" text-anchor="middle" font-size="10">${Math.round(t)}s</text>`,
    );
  }
  return parts.join('\n');
}

/** Latency against throughput, one point per concurrency of the sweep, each labelled with its concurrency. */
function sweepPanel(top: number, points: SweepPoint[]): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const xMax = niceMax(Math.max(0, ...points.map((p) => p.checkoutsPerMinute)) * 1.05);
  const yMax = niceMax(Math.max(0, ...points.map((p) => p.postP95Ms)) * 1.05);
  const x = (v: number) => LEFT + (v / xMax) * plotWidth;
  const y = (v: number) => top + PANEL_HEIGHT - (v / yMax) * PANEL_HEIGHT;
  const parts = [
    `<text x="${LEFT}" y="${top - 8}" font-weight="bold">Concurrency sweep: POST /v1/checkouts latency against paid checkouts/min</text>`,
    `<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const h = (xMax * i) / 4;
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(v)}" y2="${y(v)}" stroke="#ccc" stroke-width="0.5"/>`,
      `<text x="${LEFT - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${Math.round(v)}</text>`,
      `<text x="${x(h)}" y="${top + PANEL_HEIGHT + 13}" text-anchor="middle" font-size="10">${Math.round(h)}/min</text>`,
    );
  }
  parts.push(
    `<text x="${LEFT - 50}" y="${top + PANEL_HEIGHT / 2}" font-size="10" transform="rotate(-90 ${LEFT - 50} ${top + PANEL_HEIGHT / 2})" text-anchor="middle">ms</text>`,
  );
  const lines: Array<[string, string, (p: SweepPoint) => number]> = [
    ['POST p50', COLORS[0]!, (p) => p.postP50Ms],
    ['POST p95', COLORS[3]!, (p) => p.postP95Ms],
  ];
  for (const [i, [name, color, value]] of lines.entries()) {
    const d = points.map((p) => `${x(p.checkoutsPerMinute).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`,
      ...points.map(
        (p) =>
          `<circle cx="${x(p.checkoutsPerMinute).toFixed(1)}" cy="${y(value(p)).toFixed(1)}" r="3" fill="${color}"/>` +
          `<text x="${(x(p.checkoutsPerMinute) + 5).toFixed(1)}" y="${(y(value(p)) - 5).toFixed(1)}" font-size="10">c${p.concurrency}</text>`,
      ),
      `<rect x="${LEFT + plotWidth + 10}" y="${top + 6 + i * 16}" width="12" height="3" fill="${color}"/>`,
      `<text x="${LEFT + plotWidth + 28}" y="${top + 11 + i * 16}" font-size="11">${esc(name)}</text>`,
    );
  }
  return parts.join('\n');
}

/** Two groups of horizontal bars: tickets/min of the instant and the mixed sale, and p95 to PAID by payment kind. */
function mixedPanel(top: number, mixed: MixedSaleBars): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const groups: Array<{ title: string; unit: string; bars: Array<[string, number]> }> = [
    {
      title: 'tickets/min',
      unit: '/min',
      bars: [
        ['instant card only', mixed.instantTicketsPerMinute],
        ['mixed 70/15/15', mixed.mixedTicketsPerMinute],
      ],
    },
    {
      title: 'mixed sale: checkout to PAID p95',
      unit: ' ms',
      bars: Object.entries(mixed.paidP95MsByKind).map(([kind, ms]): [string, number] => [kind, ms]),
    },
  ];
  const parts = [
    `<text x="${LEFT}" y="${top - 8}" font-weight="bold">Mixed sale (70% instant card, 15% 3-D Secure, 15% crypto, webhooks on)</text>`,
  ];
  let y = top;
  for (const [g, group] of groups.entries()) {
    const max = niceMax(Math.max(1, ...group.bars.map(([, v]) => v)) * 1.05);
    parts.push(`<text x="${LEFT}" y="${y + 12}" font-size="11" fill="#555">${esc(group.title)}</text>`);
    y += 18;
    for (const [label, value] of group.bars) {
      const w = (value / max) * (plotWidth - 120);
      parts.push(
        `<text x="${LEFT + 110}" y="${y + 11}" text-anchor="end" font-size="11">${esc(label)}</text>`,
        `<rect x="${LEFT + 118}" y="${y}" width="${w.toFixed(1)}" height="14" fill="${COLORS[g * 2]!}"/>`,
        `<text x="${(LEFT + 124 + w).toFixed(1)}" y="${y + 11}" font-size="11">${Math.round(value)}${group.unit}</text>`,
      );
      y += 20;
    }
    y += 6;
  }
  return parts.join('\n');
}

/** Buckets requests by completion second: units per second, and a latency percentile per bucket. */
function perBucket(requests: TimedRequest[], bucketSeconds: number, value: (bucket: TimedRequest[]) => number) {
  const buckets = new Map<number, TimedRequest[]>();
  for (const r of requests) {
    const key = Math.floor(r.end / bucketSeconds);
    buckets.set(key, [...(buckets.get(key) ?? []), r]);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([key, bucket]): [number, number] => [(key + 0.5) * bucketSeconds, value(bucket)]);
}

/** The run as an SVG: throughput, latency, CPU by component and memory over time, phases shaded. */
export function renderChart(input: ChartInput): string {
  const tMax = Math.max(1, ...input.phases.map((p) => p.to), ...input.resources.map((r) => r.t));
  const panelTop = (i: number) => 90 + i * (PANEL_HEIGHT + 50);
  const bucket = 2;
  const throughput: Series[] = [
    {
      name: 'checkout tickets/s',
      color: COLORS[0]!,
      points: perBucket(input.checkouts, bucket, (b) => b.reduce((s, r) => s + r.units, 0) / bucket),
    },
    {
      name: 'baseline workflows/s',
      color: COLORS[7]!,
      points: perBucket(input.baseline, bucket, (b) => b.reduce((s, r) => s + r.units, 0) / bucket),
    },
  ];
  const latency: Series[] = [
    {
      name: 'POST p50',
      color: COLORS[0]!,
      points: perBucket(input.checkouts, bucket, (b) =>
        percentile(
          b.map((r) => r.latencyMs),
          50,
        ),
      ),
    },
    {
      name: 'POST p95',
      color: COLORS[3]!,
      points: perBucket(input.checkouts, bucket, (b) =>
        percentile(
          b.map((r) => r.latencyMs),
          95,
        ),
      ),
    },
    {
      name: 'baseline p95',
      color: COLORS[7]!,
      dashed: true,
      points: perBucket(input.baseline, bucket, (b) =>
        percentile(
          b.map((r) => r.latencyMs),
          95,
        ),
      ),
    },
  ];
  const names = [...new Set(input.resources.flatMap((r) => Object.keys(r.components)))];
  const cpu: Series[] = [
    ...names.map((name, i) => ({
      name,
      color: COLORS[i % COLORS.length]!,
      points: input.resources
        .filter((r) => r.components[name])
        .map((r): [number, number] => [r.t, r.components[name]!.cpuPercent]),
    })),
    {
      name: 'machine (all cores)',
      color: '#000',
      dashed: true,
      points: input.resources.map((r): [number, number] => [r.t, r.machineBusyPercent * input.cores]),
    },
  ];
  const memory: Series[] = names.map((name, i) => ({
    name,
    color: COLORS[i % COLORS.length]!,
    points: input.resources
      .filter((r) => r.components[name])
      .map((r): [number, number] => [r.t, r.components[name]!.rssMb]),
  }));
  const sweep = input.sweep?.length ? input.sweep : undefined;
  const extraPanels = [
    ...(sweep ? [(top: number) => sweepPanel(top, sweep)] : []),
    ...(input.mixed ? [(top: number) => mixedPanel(top, input.mixed!)] : []),
  ];
  const height = panelTop(4 + extraPanels.length) + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${LEFT}" y="28" font-size="17" font-weight="bold">${esc(input.title)}</text>`,
    `<text x="${LEFT}" y="48" font-size="12">${esc(input.subtitle)}</text>`,
    `<text x="${LEFT}" y="66" font-size="11" fill="#555">${esc(input.phases.map((p) => `${p.name} ${Math.round(p.from)}-${Math.round(p.to)}s`).join(' | '))}</text>`,
    panel(panelTop(0), 'Throughput (2 s buckets)', 'per second', throughput, input.phases, tMax),
    panel(panelTop(1), 'Latency (2 s buckets)', 'ms', latency, input.phases, tMax),
    panel(
      panelTop(2),
      `CPU by component (100 = one core; the machine has ${input.cores})`,
      '% of a core',
      cpu,
      input.phases,
      tMax,
    ),
    panel(panelTop(3), 'Resident memory', 'MB', memory, input.phases, tMax),
    ...extraPanels.map((draw, i) => draw(panelTop(4 + i))),
    '</svg>',
  ].join('\n');
}
