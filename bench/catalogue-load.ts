// The catalogue's load generator, in a process of its own so its CPU is not the bench's event loop: autocannon
// (the maintained Node HTTP load tool) refreshing one event page as browsers do. Each connection keeps the ETag of
// its last 200 and sends it back (If-None-Match), so most refreshes are 304s; one connection in four has no cache
// and always asks cold. Writes what autocannon measured, as JSON, to the file CATALOGUE_LOAD_RESULT names.
// Run by bench/catalogue.ts with CATALOGUE_LOAD_URL, CATALOGUE_LOAD_SECONDS, CATALOGUE_LOAD_CONNECTIONS and
// CATALOGUE_LOAD_RESULT.
import { writeFileSync } from 'node:fs';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- autocannon ships no types
const autocannon = require('autocannon') as (
  options: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => unknown;

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
  non2xx: number;
}

const url = process.env.CATALOGUE_LOAD_URL!;
const seconds = Number(process.env.CATALOGUE_LOAD_SECONDS);
const connections = Number(process.env.CATALOGUE_LOAD_CONNECTIONS);
let nextConnection = 0;

autocannon(
  {
    url,
    duration: seconds,
    connections,
    // Per connection: its own cached ETag, as one browser tab keeps its own.
    setupClient(client: {
      on(event: 'headers', fn: (response: { statusCode: number; headers: string[] }) => void): void;
      setHeaders(headers: Record<string, string>): void;
    }) {
      const cold = nextConnection++ % 4 === 0;
      if (cold) return;
      client.on('headers', ({ statusCode, headers }) => {
        if (statusCode !== 200) return;
        // The raw headers, as a flat [name, value, ...] list.
        for (let i = 0; i < headers.length; i += 2)
          if (String(headers[i]).toLowerCase() === 'etag')
            client.setHeaders({ 'if-none-match': String(headers[i + 1]) });
      });
    },
  },
  (err, result) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
    const byStatus = Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count]));
    // A file, not stdout: the parent then reads exactly this, whatever else the process or its libraries print.
    writeFileSync(
      process.env.CATALOGUE_LOAD_RESULT!,
      JSON.stringify({
        requestsPerSecond: result.requests.average,
        total: result.requests.total,
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        maxMs: result.latency.max,
        byStatus,
        errors: result.errors,
        timeouts: result.timeouts,
      }),
    );
  },
);
