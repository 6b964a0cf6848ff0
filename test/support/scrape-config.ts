import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** One address Prometheus scrapes: a job, a host (a compose service name or an IP) and a port. */
export interface ScrapeTarget {
  job: string;
  host: string;
  port: number;
  path: string;
}

/** The Prometheus configs the repo ships: the compose one and the one for `npm start` on this machine. */
export const PROMETHEUS_CONFIGS = {
  compose: 'observability/prometheus/prometheus.yml',
  local: 'observability/prometheus/prometheus.local.yml',
} as const;

/** Every address a Prometheus config scrapes, from its static targets and its DNS names. */
export function scrapeTargets(file: string): ScrapeTarget[] {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed Prometheus config, read field by field
  const config: any = parse(readFileSync(join(__dirname, '..', '..', file), 'utf8'));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  return config.scrape_configs.flatMap((job: any): ScrapeTarget[] => {
    const path = job.metrics_path ?? '/metrics';
    const statics = (job.static_configs ?? []).flatMap((c: { targets: string[] }) =>
      c.targets.map((target) => {
        const [host, port] = target.split(':');
        return { job: job.job_name, host: host!, port: Number(port), path };
      }),
    );
    const dns = (job.dns_sd_configs ?? []).flatMap((c: { names: string[]; port: number }) =>
      c.names.map((host) => ({ job: job.job_name, host, port: c.port, path })),
    );
    return [...statics, ...dns];
  });
}

/** The job names of a Prometheus config, sorted. */
export function scrapeJobs(file: string): string[] {
  return [...new Set(scrapeTargets(file).map((t) => t.job))].sort();
}
