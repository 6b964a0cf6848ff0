import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_KEYS, loadConfig, ConfigError } from '../config';
import { SEARCH_ATTRIBUTE_FLAGS } from '../domain';

const root = join(__dirname, '..');

describe('configuration', () => {
  test('when .env.example is read, then it lists every setting the platform reads', () => {
    const listed = readFileSync(join(root, '.env.example'), 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split('=')[0]);
    expect(listed.sort()).toEqual([...CONFIG_KEYS].sort());
  });

  test('when a setting is invalid, then startup fails naming it', () => {
    expect(() => loadConfig({ PORT: 'eighty', HOLD_TTL_SECONDS: '-1' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_JWT_SECRET/);
  });

  test('when nothing is set, then the development defaults run', () => {
    expect(loadConfig({})).toMatchObject({
      PORT: 3000,
      TEMPORAL_UI_PORT: 8233,
      PUBLIC_BASE_URL: 'http://localhost:3000',
    });
  });
});

describe('docker-compose.yml', () => {
  // No Docker engine runs in CI, so the file is checked by parsing it.
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'));

  test('when parsed, then it runs Postgres, Temporal with its UI, migrations, the worker and the API', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'migrate', 'postgres', 'temporal', 'worker']);
    expect(compose.services.temporal.ports).toEqual(expect.arrayContaining(['7233:7233', '8233:8233']));
    expect(compose.services.api.ports).toEqual(['3000:3000']);
  });

  test('when parsed, then Temporal registers exactly the search attributes the code uses', () => {
    const flags = (compose.services.temporal.command as string[])
      .filter((arg) => arg.startsWith('--search-attribute='))
      .map((arg) => arg.slice('--search-attribute='.length));
    expect(flags.sort()).toEqual([...SEARCH_ATTRIBUTE_FLAGS].sort());
  });

  test('when parsed, then every app setting it passes is one the config knows', () => {
    for (const name of ['api', 'worker', 'migrate']) {
      for (const key of Object.keys(compose.services[name].environment)) expect(CONFIG_KEYS).toContain(key);
    }
  });
});
