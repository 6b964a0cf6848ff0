import { call, startTestPlatform, type TestPlatform } from './support/platform';

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform();
}, 120_000);
afterAll(() => platform?.stop());

describe('operations endpoints', () => {
  test('when /healthz and /readyz are asked, then the process (with its Node version), Postgres and Temporal report ready', async () => {
    expect((await call(platform, 'GET', '/healthz')).body).toEqual({ status: 'ok', node: process.version });
    const ready = await call(platform, 'GET', '/readyz', { token: platform.token({ sub: 'ops', role: 'admin' }) });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', postgres: 'ok', temporal: 'ok' });
  });

  test('when requests have been served, then /metrics exposes their latency by route pattern, not by id', async () => {
    await call(platform, 'GET', '/v1/events/evt_does_not_exist');
    const res = await fetch(`${platform.baseUrl}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(text).toMatch(
      /bilten_http_request_duration_seconds_count\{method="GET",route="\/v1\/events\/:eventId",status="404"\}/,
    );
    expect(text).not.toContain('evt_does_not_exist');
  });

  test('when /openapi.json is read, then every path of the contract is described', async () => {
    const doc = (await call(platform, 'GET', '/openapi.json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/v1/events',
      '/v1/events/{eventId}',
      '/v1/checkouts',
      '/v1/checkouts/{orderId}',
      '/v1/checkouts/{orderId}/cancel',
    ]) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    const docs = await fetch(`${platform.baseUrl}/docs`);
    expect(await docs.text()).toContain('/v1/checkouts');
  });
});
