import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../config';
import { clusterDatabaseFrom, clusterPorts } from '../scripts/temporal-cluster';
import { temporalConnectionOptions, workerBuildId } from '../workers/temporal-connection';
import { version } from '../package.json';

const PEM = (label: string) => `-----BEGIN ${label}-----\nMIIB\n-----END ${label}-----\n`;

describe('connecting to a remote cluster or Temporal Cloud', () => {
  test('when only an address is set, then the connection is plaintext with no credentials', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' });
    expect(temporalConnectionOptions(config)).toEqual({ address: 'temporal.internal:7233' });
  });

  test('when an mTLS certificate and key are set as PEM text, then TLS presents them', () => {
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_TLS_CERT: PEM('CERTIFICATE'),
      TEMPORAL_TLS_KEY: PEM('PRIVATE KEY').replace(/\n/g, '\\n'),
    });
    const options = temporalConnectionOptions(config);
    expect(options.tls?.clientCertPair?.crt.toString()).toBe(PEM('CERTIFICATE'));
    // Escaped newlines, as one-line environment variables carry them, become real ones.
    expect(options.tls?.clientCertPair?.key.toString()).toBe(PEM('PRIVATE KEY'));
    expect(options.apiKey).toBeUndefined();
  });

  test('when the certificate, key and CA are file paths, then their files are read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bilten-tls-'));
    for (const [name, label] of [
      ['client.pem', 'CERTIFICATE'],
      ['client.key', 'PRIVATE KEY'],
      ['ca.pem', 'CERTIFICATE'],
    ])
      writeFileSync(join(dir, name!), PEM(label!));
    const config = loadConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CERT: join(dir, 'client.pem'),
      TEMPORAL_TLS_KEY: join(dir, 'client.key'),
      TEMPORAL_TLS_CA: join(dir, 'ca.pem'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    const { tls } = temporalConnectionOptions(config);
    expect(tls?.serverRootCACertificate?.toString()).toBe(PEM('CERTIFICATE'));
    expect(tls?.clientCertPair?.key.toString()).toBe(PEM('PRIVATE KEY'));
    expect(tls?.serverNameOverride).toBe('temporal');
  });

  test('when an API key is set, then it is sent over TLS', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233', TEMPORAL_API_KEY: 'key' });
    expect(temporalConnectionOptions(config)).toEqual({
      address: 'us-east-1.aws.api.temporal.io:7233',
      tls: {},
      apiKey: 'key',
    });
  });

  test('when a client certificate comes without its key, then startup fails naming both', () => {
    expect(() => loadConfig({ TEMPORAL_TLS_CERT: PEM('CERTIFICATE') })).toThrow(ConfigError);
    expect(() => loadConfig({ TEMPORAL_TLS_KEY: PEM('PRIVATE KEY') })).toThrow(
      /TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY/,
    );
  });

  test('when worker versioning has no build id configured, then the package version is the build id', () => {
    expect(workerBuildId(loadConfig({}))).toBe(version);
    expect(workerBuildId(loadConfig({ TEMPORAL_BUILD_ID: 'abc123' }))).toBe('abc123');
  });
});

describe('the local cluster layout', () => {
  test('when the frontend is on 7233, then the services, membership, HTTP and metrics take the ports after it', () => {
    expect(clusterPorts(7233, 8233)).toEqual({
      grpc: { frontend: 7233, history: 7234, matching: 7235, worker: 7236 },
      membership: { frontend: 7243, history: 7244, matching: 7245, worker: 7246 },
      metrics: { frontend: 7283, history: 7284, matching: 7285, worker: 7286 },
      frontendHttp: 7253,
      ui: 8233,
    });
  });

  test('when TEMPORAL_DB_URL names a database, then persistence goes there and visibility beside it', () => {
    expect(clusterDatabaseFrom('postgres://t%40x:p%2Fw@db.internal:6543/temporal_prod?sslmode=require')).toEqual({
      host: 'db.internal',
      port: 6543,
      user: 't@x',
      password: 'p/w',
      database: 'temporal_prod',
      visibilityDatabase: 'temporal_prod_visibility',
      tls: true,
    });
    expect(clusterDatabaseFrom('postgres://u:p@127.0.0.1/postgres')).toMatchObject({
      port: 5432,
      database: 'temporal',
      visibilityDatabase: 'temporal_visibility',
      tls: false,
    });
  });
});
