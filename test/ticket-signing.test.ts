import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import QRCode from 'qrcode';
import {
  DEVELOPMENT_KEY_FILE,
  developmentTicketSigner,
  generateTicketCode,
  loadTicketSigner,
  normalizeTicketCode,
  renderTicketQr,
  TICKET_CODE_ALPHABET,
  TICKET_CODE_PATTERN,
  TicketSigningKeyError,
  verifyTicketToken,
  type TicketQrPayload,
} from '../tickets/signing';

const seedHex = 'a3'.repeat(32);

const payload: TicketQrPayload = {
  v: 1,
  tid: '6f1c2a2e-8d3b-4b7e-9d35-2f8f0c1e9a10',
  eid: '0b7e3d4c-5a6f-4e21-8c9d-1a2b3c4d5e6f',
  ttid: '9c8b7a6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d',
  code: generateTicketCode(),
  iat: 1_763_630_000,
};

/** Decodes a token's payload segment, lets the test change it, and re-encodes it with the old signature. */
function tamperPayload(token: string, change: (json: Buffer) => void): string {
  const [prefix, body, signature] = token.split('.') as [string, string, string];
  const json = Buffer.from(body, 'base64url');
  change(json);
  return `${prefix}.${json.toString('base64url')}.${signature}`;
}

describe('ticket codes', () => {
  test('when 10,000 codes are drawn, then all are distinct and use only the documented alphabet and grouping', () => {
    const codes = Array.from({ length: 10_000 }, () => generateTicketCode());

    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.filter((code) => !TICKET_CODE_PATTERN.test(code))).toEqual([]);
    // Exactly the 32 documented symbols turn up: nothing outside the alphabet, and no symbol left unused
    // (which would mean fewer random bits per character than documented).
    const symbols = [...new Set(codes.join('').replace(/-/g, ''))].sort().join('');
    expect(symbols).toBe([...TICKET_CODE_ALPHABET].sort().join(''));
  });

  test('when door staff type a code loosely, then it normalizes to the canonical code', () => {
    const code = generateTicketCode();
    const typed = ` ${code.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o').replace(/1/g, 'l')} `;

    expect(normalizeTicketCode(typed)).toBe(code);
    expect(normalizeTicketCode(code.slice(0, -1))).toBeNull();
    expect(normalizeTicketCode(code.slice(0, -1) + 'U')).toBeNull();
  });
});

describe('signed ticket tokens', () => {
  const signer = loadTicketSigner(seedHex);

  test('when a payload is signed, then the public key verifies it and returns the same payload', () => {
    const token = signer.sign(payload);

    expect(token.startsWith('bt1.')).toBe(true);
    expect(verifyTicketToken(token, signer.publicKeyPem)).toEqual(payload);
    expect(verifyTicketToken(token, signer.publicKeyJwk)).toEqual(payload);
  });

  test('when one byte of the signed payload is changed, then verification fails', () => {
    const token = signer.sign(payload);
    // Change the last character of the ticket id inside the JSON: still well-formed, different ticket.
    const tampered = tamperPayload(token, (json) => {
      const at = json.indexOf(payload.tid) + payload.tid.length - 1;
      json[at] = json[at] === 0x30 ? 0x31 : 0x30;
    });

    expect(tampered).not.toBe(token);
    expect(verifyTicketToken(tampered, signer.publicKeyPem)).toBeNull();
  });

  test('when any single byte of the payload is flipped, then verification fails', () => {
    const token = signer.sign(payload);
    const length = Buffer.from(token.split('.')[1]!, 'base64url').length;
    for (let i = 0; i < length; i++) {
      const tampered = tamperPayload(token, (json) => {
        json[i] = json[i]! ^ 0x01;
      });
      expect(verifyTicketToken(tampered, signer.publicKeyPem)).toBeNull();
    }
  });

  test('when a token is checked against another key, then verification fails', () => {
    const other = loadTicketSigner('b4'.repeat(32));

    expect(verifyTicketToken(signer.sign(payload), other.publicKeyPem)).toBeNull();
    expect(verifyTicketToken(other.sign(payload), signer.publicKeyJwk)).toBeNull();
  });

  test('when a scanner holds the old and the new key, then tickets signed with either verify', () => {
    const rotated = loadTicketSigner('c5'.repeat(32));
    const keys = [signer.publicKeyJwk, rotated.publicKeyJwk];

    expect(verifyTicketToken(signer.sign(payload), keys)).toEqual(payload);
    expect(verifyTicketToken(rotated.sign(payload), keys)).toEqual(payload);
  });

  test('when the token is malformed, then verification returns null rather than throwing', () => {
    const token = signer.sign(payload);
    const [, body, signature] = token.split('.') as [string, string, string];

    for (const bad of [
      '',
      'not-a-token',
      `bt2.${body}.${signature}`,
      `bt1.${body}`,
      `bt1.${body}.${signature}.extra`,
      `bt1.${body}.${signature.slice(0, -2)}`,
      `bt1.${body}.${signature}=`,
      `bt1..${signature}`,
      'x'.repeat(5000),
    ]) {
      expect(verifyTicketToken(bad, signer.publicKeyPem)).toBeNull();
    }
  });

  test('when the same key is given as a seed in hex, base64 or PEM, then it is the same key with the same kid', () => {
    const seed = Buffer.from(seedHex, 'hex');
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

    expect(loadTicketSigner(seed.toString('base64')).publicKeyPem).toBe(signer.publicKeyPem);
    expect(loadTicketSigner(seed.toString('base64url')).kid).toBe(signer.kid);
    // PEM pasted into a one-line env file, with literal \n.
    const fromPem = loadTicketSigner(pem.replace(/\n/g, '\\n'));
    expect(fromPem.publicKeyPem).toBe(loadTicketSigner(pem).publicKeyPem);
    expect(signer.publicKeyJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: signer.kid, alg: 'EdDSA' });
    expect(signer.publicKeyJwk).not.toHaveProperty('d');
  });

  test('when no key is configured and no development key is allowed, then loading fails with a clear error', () => {
    expect(() => loadTicketSigner(undefined)).toThrow(TicketSigningKeyError);
    expect(() => loadTicketSigner('  ')).toThrow(/TICKET_SIGNING_KEY is not set/);
  });

  test('when the key is not an Ed25519 private key, then loading fails without echoing the key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const garbage = 'secret-but-not-a-key-' + randomBytes(8).toString('hex');

    expect(() => loadTicketSigner(rsa)).toThrow(/Ed25519/);
    expect(() => loadTicketSigner('ab'.repeat(31))).toThrow(TicketSigningKeyError);
    try {
      loadTicketSigner(garbage);
      throw new Error('expected a TicketSigningKeyError');
    } catch (err) {
      expect(err).toBeInstanceOf(TicketSigningKeyError);
      expect((err as Error).message).not.toContain(garbage);
    }
  });
});

describe('development signing key', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bilten-signing-'));
  });
  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('when the development key is first used, then it is kept private and the next start reuses it', () => {
    const dir = path.join(dataDir, 'nested');
    const first = developmentTicketSigner(dir);
    const token = first.sign(payload);

    const file = path.join(dir, DEVELOPMENT_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual([DEVELOPMENT_KEY_FILE]);
    expect(first.source).toBe('development');

    const restarted = loadTicketSigner(undefined, { developmentDataDir: dir });
    expect(restarted.kid).toBe(first.kid);
    expect(verifyTicketToken(token, restarted.publicKeyPem)).toEqual(payload);
  });

  test('when a key is configured, then the development key is not used', () => {
    const signer = loadTicketSigner(seedHex, { developmentDataDir: dataDir });

    expect(signer.source).toBe('configured');
    expect(fs.readdirSync(dataDir)).toEqual([]);
  });
});

describe('ticket QR', () => {
  test('when a token is rendered, then the result is an SVG QR code of the size that token needs', async () => {
    const token = loadTicketSigner(seedHex).sign(payload);

    const svg = await renderTicketQr(token);

    expect(svg.trimStart().startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toMatch(/<path[^>]+d="M[^"]{200,}"/);
    // The module grid is the one the QR encoder derives for this exact token, plus a 2-module quiet zone.
    const qr = QRCode.create(token, { errorCorrectionLevel: 'M' });
    const side = qr.modules.size + 4;
    expect(svg).toContain(`viewBox="0 0 ${side} ${side}"`);
    expect(await renderTicketQr(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).not.toBe(svg);
  });
});
