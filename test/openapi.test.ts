import type { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import type { Express } from 'express';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../api/app';
import { documentedRoutes, openApiDocument, openApiPath } from '../api/openapi';
import { loadConfig } from '../config';
import { createPaymentProviders } from '../providers';
import { testDb } from './support/env';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every `METHOD /path` the Express app serves, read from its router (nested routers included). */
function servedRoutes(app: Express): string[] {
  const walk = (stack: Layer[]): string[] =>
    stack.flatMap((layer) => {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        return Object.keys(layer.route.methods)
          .filter((m) => m !== '_all')
          .flatMap((method) => paths.map((path) => `${method.toUpperCase()} ${path}`));
      }
      return layer.handle?.stack ? walk(layer.handle.stack) : [];
    });
  return [...new Set(walk((app as unknown as { router: { stack: Layer[] } }).router.stack))].sort();
}

const db = testDb();
afterAll(() => db.destroy());

// Routes are read, never called: the Temporal client is not used by building the app.
const app = (() => {
  const config = loadConfig({ NODE_ENV: 'development' });
  return createApp({ config, db, temporal: {} as Client, payments: createPaymentProviders(config, db) });
})();

describe('the API document', () => {
  test('when the router is walked, then every route it serves (webhooks, sandbox and dev pages included) is documented', () => {
    const served = servedRoutes(app);
    expect(served).toEqual(expect.arrayContaining(['POST /webhooks/stripe', 'GET /sandbox/stripe/3ds/:intentId']));
    const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const inDocument = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const missing = served.filter((route) => {
      const [method, path] = route.split(' ') as [string, string];
      return !inDocument.includes(`${method} ${openApiPath(path)}`);
    });
    expect(missing).toEqual([]);
    // And nothing is documented that is not served.
    expect(documentedRoutes().filter((route) => !served.includes(route))).toEqual([]);
  });

  test('when the document is validated, then it is a valid OpenAPI 3.1 document', () => {
    const doc = openApiDocument() as { openapi: string };
    expect(doc.openapi).toBe('3.1.0');
    // The validator is an ES module (jest here runs CommonJS), so it runs in a plain node process.
    const script = `import { Validator } from '@seriousme/openapi-schema-validator';
      let input = ''; for await (const chunk of process.stdin) input += chunk;
      const result = await new Validator().validate(JSON.parse(input));
      process.stdout.write(JSON.stringify({ valid: result.valid, errors: result.errors ?? [] }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      input: JSON.stringify(doc),
      cwd: join(__dirname, '..'),
    });
    expect(JSON.parse(out.toString('utf8'))).toEqual({ valid: true, errors: [] });
  });

  test('when the contract (shared/API.md) names an endpoint the router serves, then the document has it with its method', () => {
    // shared/ sits beside the clone (CI) or beside the worktrees' folder.
    const file = [
      join(__dirname, '..', '..', 'shared', 'API.md'),
      join(__dirname, '..', '..', '..', 'shared', 'API.md'),
    ].find(existsSync);
    expect(file).toBeDefined();
    const contract = readFileSync(file!, 'utf8');
    const named = [...contract.matchAll(/`(GET|POST|PUT|PATCH|DELETE)\s+(\/[^\s`?]+)/g)].map(
      ([, method, path]) => `${method} ${path!.replace(/\/+$/, '')}`,
    );
    expect(named.length).toBeGreaterThan(10);
    const served = servedRoutes(app);
    const documented = documentedRoutes();
    for (const route of named.filter((r) => served.includes(r))) expect(documented).toContain(route);
    // The checkout, the heart of the contract, is documented with its request body and Idempotency-Key.
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string }>; requestBody?: unknown }>>;
    };
    const post = doc.paths['/v1/checkouts']!.post!;
    expect(post.parameters?.map((p) => p.name)).toContain('Idempotency-Key');
    expect(JSON.stringify(post.requestBody)).toContain('CheckoutRequest');
  });
});
