import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../config';
import { SEARCH_ATTRIBUTE_FLAGS } from '../domain';
import { PROMETHEUS_CONFIGS, scrapeJobs, scrapeTargets } from './support/scrape-config';

const root = join(__dirname, '..');

// No Docker engine runs in CI, so the file is checked by parsing it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed compose file, read field by field
const compose: any = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
const services: Record<string, any> = compose.services;
const APP_SERVICES = ['api', 'migrate', 'worker-checkout', 'worker-notifications', 'worker-nft'];
/** Settings whose value is a secret: each must come from the environment, never from a default in the file. */
const SECRETS = [
  'AUTH_JWT_SECRET',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'COINBASE_API_KEY',
  'COINBASE_WEBHOOK_SECRET',
  'SENDGRID_API_KEY',
  'TWILIO_ACCOUNT_SID',
  'TWILIO_AUTH_TOKEN',
  'TICKET_SIGNING_KEY',
  'CHAIN_PRIVATE_KEY',
];

/** Resolves `${NAME:-default}` to its default, as compose does with NAME unset. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
const required = /^\$\{[A-Z_]+:\?[^}]+\}$/;

describe('docker-compose.yml', () => {
  test('when parsed, then it runs the whole production shape and nothing else', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'grafana',
        'migrate',
        'postgres',
        'prometheus',
        'stripe-mock',
        'temporal',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker-checkout',
        'worker-nft',
        'worker-notifications',
      ].sort(),
    );
  });

  test('when parsed, then every service starts after what it needs', () => {
    const needs = (name: string) => services[name].depends_on ?? {};
    expect(needs('temporal-schema')).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(needs('temporal')).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(Object.keys(needs('temporal-setup'))).toEqual(['temporal']);
    expect(Object.keys(needs('temporal-ui'))).toEqual(['temporal']);
    expect(needs('migrate')).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['api', 'worker-checkout', 'worker-notifications', 'worker-nft']) {
      expect(needs(name)).toEqual({
        migrate: { condition: 'service_completed_successfully' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(Object.keys(needs('prometheus')).sort()).toEqual(
      ['api', 'temporal', 'worker-checkout', 'worker-nft', 'worker-notifications'].sort(),
    );
    expect(Object.keys(needs('grafana'))).toEqual(['prometheus']);
    // Every dependency names a service of the file.
    for (const service of Object.values(services))
      for (const dependency of Object.keys(service.depends_on ?? {}))
        expect(services).toHaveProperty([dependency]);
  });

  test('when parsed, then only the API port is published, on 127.0.0.1 by default', () => {
    const published = Object.entries(services).filter(([, s]) => s.ports !== undefined);
    expect(published.map(([name]) => name)).toEqual(['api']);
    expect(services.api.ports.map(withDefaults)).toEqual(['127.0.0.1:3000:3000']);
    // The rest are reachable on the compose network only.
    expect(services.temporal.expose).toEqual(['7233', '8000']);
    expect(services['temporal-ui'].expose).toEqual(['8080']);
    for (const name of ['worker-checkout', 'worker-notifications', 'worker-nft'])
      expect(services[name].expose).toEqual(['9464', '9465']);
  });

  test('when parsed, then the app runs in production mode with every secret required from the environment', () => {
    for (const name of APP_SERVICES) {
      const env = services[name].environment;
      expect(env.NODE_ENV).toBe('production');
      for (const key of SECRETS.filter((k) => k in env))
        expect([key, env[key]]).toEqual([key, expect.stringMatching(required)]);
      expect(env.DATABASE_URL).toMatch(
        /^postgres:\/\/bilten:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/bilten$/,
      );
    }
    expect(Object.keys(services.api.environment)).toEqual(
      expect.arrayContaining(SECRETS.filter((k) => k !== 'CHAIN_PRIVATE_KEY')),
    );
    expect(services['worker-nft'].environment.CHAIN_PRIVATE_KEY).toMatch(required);
    expect(services.postgres.environment.POSTGRES_PASSWORD).toMatch(required);
    expect(services['temporal-schema'].environment.SQL_PASSWORD).toMatch(required);
    expect(services.temporal.environment.TEMPORAL_CLUSTER_PG_PASSWORD).toMatch(required);
    expect(services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toMatch(required);
    // No value anywhere falls back to a default secret (`${X:-...}` is only for non-secrets).
    const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    for (const key of [...SECRETS, 'POSTGRES_PASSWORD', 'GRAFANA_ADMIN_PASSWORD'])
      expect(text).not.toMatch(new RegExp(`\\$\\{${key}:?-`));
  });

  test('when parsed, then every app setting it passes is one the config knows', () => {
    for (const name of APP_SERVICES)
      for (const key of Object.keys(services[name].environment)) expect(CONFIG_KEYS).toContain(key);
  });

  test('when parsed, then there is one worker per task queue, each polling only its own', () => {
    expect(services['worker-checkout'].environment.WORKER_TASK_QUEUES).toBe('checkout');
    expect(services['worker-notifications'].environment.WORKER_TASK_QUEUES).toBe('notifications');
    expect(services['worker-nft'].environment.WORKER_TASK_QUEUES).toBe('nft');
    for (const name of ['worker-checkout', 'worker-notifications', 'worker-nft'])
      expect(services[name].command).toEqual(['npx', 'tsx', 'workers/main.ts']);
  });

  test('when parsed, then Temporal runs the four services from the config file start:cluster uses, on Postgres', () => {
    const temporal = services.temporal;
    expect(temporal.command).toEqual(
      expect.arrayContaining([
        '--config=config/temporal',
        '--env=cluster',
        'start',
        '--service=frontend',
        '--service=history',
        '--service=matching',
        '--service=worker',
      ]),
    );
    expect(temporal.volumes).toEqual(['./config/temporal:/etc/bilten/config/temporal:ro']);
    expect(temporal.environment.TEMPORAL_CLUSTER_PG_HOST).toBe('postgres');
    const schema = services['temporal-schema'].command.join('\n');
    expect(schema).toContain('update-schema --schema-name postgresql/v12/temporal');
    expect(schema).toContain('update-schema --schema-name postgresql/v12/visibility');
    // The template it mounts is the one in the repo, and it reads the variables compose sets.
    const template = readFileSync(join(root, 'config/temporal/cluster.yaml'), 'utf8');
    for (const key of Object.keys(temporal.environment)) expect(template).toContain(`"${key}"`);
  });

  test('when parsed, then the setup registers exactly the search attributes the code uses', () => {
    const script = services['temporal-setup'].command.join('\n');
    const listed = /for attribute in ([^;]+);/.exec(script)![1]!.trim().split(/\s+/);
    expect(listed.sort()).toEqual([...SEARCH_ATTRIBUTE_FLAGS].sort());
  });

  test('when parsed, then Prometheus and Grafana read the files the repo ships', () => {
    const mounts = [...services.prometheus.volumes, ...services.grafana.volumes].map((m) => String(m).split(':'));
    for (const [from] of mounts)
      if (from!.startsWith('./')) expect([from, existsSync(join(root, from!))]).toEqual([from, true]);
    expect(mounts).toContainEqual([`./${PROMETHEUS_CONFIGS.compose}`, '/etc/prometheus/prometheus.yml', 'ro']);
    // Grafana provisions the Prometheus beside it and loads the dashboard from where its provider looks.
    const provisioning = join(root, 'observability/grafana/provisioning');
    const datasource = parse(readFileSync(join(provisioning, 'datasources/prometheus.yml'), 'utf8'));
    expect(datasource.datasources[0].url).toBe(`http://prometheus:${services.prometheus.expose[0]}`);
    const provider = parse(readFileSync(join(provisioning, 'dashboards/bilten.yml'), 'utf8')).providers[0];
    expect(mounts).toContainEqual([
      './observability/grafana/bilten-dashboard.json',
      `${provider.options.path}/bilten-dashboard.json`,
      'ro',
    ]);
  });

  test('when parsed, then Prometheus scrapes the API, both metrics ports of every worker and the Temporal server, each where it listens', () => {
    const targets = scrapeTargets(PROMETHEUS_CONFIGS.compose);
    const listens = (name: string): number[] => {
      const env = services[name].environment;
      if (name === 'api') return [Number(env.PORT)];
      if (name === 'temporal') {
        // The server binds TEMPORAL_CLUSTER_BIND_IP (config/temporal/cluster.yaml), reachable on the network.
        expect(env.TEMPORAL_CLUSTER_BIND_IP).toBe('0.0.0.0');
        return [Number(env.TEMPORAL_CLUSTER_METRICS_PORT)];
      }
      // workers/main.ts binds both on METRICS_HOST: 127.0.0.1 would be unreachable from Prometheus.
      expect([name, env.METRICS_HOST]).toEqual([name, '0.0.0.0']);
      return [Number(env.WORKER_METRICS_PORT), Number(env.WORKER_SDK_METRICS_PORT)];
    };
    // Every target is a service of the file, on a port it listens on and exposes to the network.
    for (const { job, host, port } of targets) {
      expect([job, host, host in services]).toEqual([job, host, true]);
      expect([job, host, listens(host)]).toEqual([job, host, expect.arrayContaining([port])]);
      if (host !== 'api')
        expect([job, host, services[host].expose]).toEqual([job, host, expect.arrayContaining([String(port)])]);
    }
    // And every process that exports metrics is scraped on each of its ports.
    const scraped = (host: string) =>
      targets
        .filter((t) => t.host === host)
        .map((t) => t.port)
        .sort();
    for (const name of ['api', 'temporal', 'worker-checkout', 'worker-notifications', 'worker-nft'])
      expect([name, scraped(name)]).toEqual([name, listens(name).sort()]);
    expect(scrapeJobs(PROMETHEUS_CONFIGS.compose)).toEqual([
      'bilten-api',
      'bilten-worker',
      'bilten-worker-sdk',
      'temporal-server',
    ]);
  });

  test('when parsed, then the npm start Prometheus config scrapes the same jobs on the default ports', () => {
    const config = loadConfig({ NODE_ENV: 'development' });
    const port: Record<string, number> = {
      'bilten-api': config.PORT,
      'bilten-worker': config.WORKER_METRICS_PORT,
      'bilten-worker-sdk': config.WORKER_SDK_METRICS_PORT,
      'temporal-server': config.TEMPORAL_METRICS_PORT,
    };
    const targets = scrapeTargets(PROMETHEUS_CONFIGS.local);
    expect(scrapeJobs(PROMETHEUS_CONFIGS.local)).toEqual(scrapeJobs(PROMETHEUS_CONFIGS.compose));
    for (const t of targets)
      expect(t).toEqual({ job: t.job, host: '127.0.0.1', port: port[t.job], path: '/metrics' });
  });
});
