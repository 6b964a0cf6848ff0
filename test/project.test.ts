import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_KEYS, loadConfig, ConfigError } from '../config';

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

// docker-compose.yml is checked in test/compose.test.ts.
