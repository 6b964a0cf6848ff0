/**
 * Ticket codes and signed ticket QR payloads.
 *
 * A ticket carries two things: a short code a person can read out or type at the door, and a QR token
 * signed with Ed25519 so a scanner that holds only the public key can tell a real ticket from a forged one
 * without reaching the platform. Whether a real ticket was already used is still the platform's call
 * (POST /v1/scans); the signature only proves the platform issued it.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  randomBytes,
  sign as signBytes,
  verify as verifyBytes,
} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import QRCode from 'qrcode';

// ---------------------------------------------------------------------------------------------------------
// Ticket codes

/**
 * Crockford's base32 alphabet: digits and capitals without I, L, O and U, so a code read aloud or copied by
 * hand cannot confuse 1/I/L or 0/O, and contains no accidental words. Every character is URL-safe.
 */
export const TICKET_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const CODE_GROUPS = 7;
const CODE_GROUP_LENGTH = 4;
const CODE_LENGTH = CODE_GROUPS * CODE_GROUP_LENGTH; // 28 characters x 5 bits = 140 random bits

/** The shape of a canonical ticket code: seven groups of four Crockford base32 characters, e.g. `7K3M-Q9XD-...`. */
export const TICKET_CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{4}(?:-[0-9A-HJKMNP-TV-Z]{4}){6}$/;

/**
 * A new ticket code: 140 bits from the OS CSPRNG (unguessable, and collisions are negligible even across
 * billions of tickets), written as 28 Crockford base32 characters in hyphenated groups of four.
 */
export function generateTicketCode(): string {
  const bytes = randomBytes(Math.ceil((CODE_LENGTH * 5) / 8));
  let chars = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5 && chars.length < CODE_LENGTH) {
      bits -= 5;
      chars += TICKET_CODE_ALPHABET[(buffer >> bits) & 0x1f];
    }
  }
  return groupCode(chars);
}

/**
 * A code as typed by a person (any case, spaces or hyphens anywhere, O for 0, I or L for 1) in canonical
 * form, or null when it cannot be a ticket code, so door staff typing by hand get the same lookup key.
 */
export function normalizeTicketCode(input: string): string | null {
  const chars = input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (chars.length !== CODE_LENGTH) return null;
  for (const c of chars) if (!TICKET_CODE_ALPHABET.includes(c)) return null;
  return groupCode(chars);
}

function groupCode(chars: string): string {
  const groups: string[] = [];
  for (let i = 0; i < chars.length; i += CODE_GROUP_LENGTH) groups.push(chars.slice(i, i + CODE_GROUP_LENGTH));
  return groups.join('-');
}

// ---------------------------------------------------------------------------------------------------------
// Signed QR payloads

/** What a ticket's QR code says: which ticket, for which event and ticket type, with which code. */
export interface TicketQrPayload {
  v: 1;
  /** Ticket id. */
  tid: string;
  /** Event id, so a scanner at one event rejects another event's tickets offline. */
  eid: string;
  /** Ticket type id, so a scanner can tell e.g. VIP from general admission offline. */
  ttid: string;
  /** The ticket's human-readable code. */
  code: string;
  /** Issued at, in seconds since the epoch. */
  iat?: number;
}

/** An Ed25519 public key as a JWK (RFC 8037), with a kid, for publishing to scanners. */
export interface TicketPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  /** RFC 7638 thumbprint of the key, so a scanner holding several keys can say which one it means. */
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** A public key a scanner can verify tickets with: a KeyObject, a PEM (SPKI) string or a JWK. */
export type TicketPublicKey = KeyObject | string | TicketPublicJwk | { kty: string; crv?: string; x?: string };

/** Signs ticket QR payloads with the platform's private key; the private key itself never leaves it. */
export interface TicketSigner {
  /** Where the key came from: TICKET_SIGNING_KEY, or a development key file (worth saying at startup). */
  readonly source: 'configured' | 'development';
  readonly kid: string;
  readonly publicKeyPem: string;
  readonly publicKeyJwk: TicketPublicJwk;
  /** A compact token for the QR code: `bt1.<base64url JSON payload>.<base64url Ed25519 signature>`. */
  sign(payload: TicketQrPayload): string;
}

/** Raised when the configured signing key is missing or unusable; the message never contains the key. */
export class TicketSigningKeyError extends Error {
  override readonly name = 'TicketSigningKeyError';
}

/** Version prefix of every ticket token; it is part of the signed bytes, so it cannot be swapped. */
export const TICKET_TOKEN_PREFIX = 'bt1';

// Tokens are read from QR codes and request bodies; anything this long is not ours and is not worth parsing.
const MAX_TOKEN_LENGTH = 2048;
const MAX_FIELD_LENGTH = 128;

/**
 * The signer for this process. `keyMaterial` is TICKET_SIGNING_KEY: an Ed25519 private key as PKCS8 PEM
 * (`openssl genpkey -algorithm ed25519`; literal `\n` is accepted for one-line env files) or a 32-byte seed
 * in hex or base64. Without it, this throws unless `developmentDataDir` is given, which is the explicit
 * opt-in to a development key kept in that directory; pass it only outside production.
 */
export function loadTicketSigner(
  keyMaterial: string | undefined,
  options: { developmentDataDir?: string } = {},
): TicketSigner {
  if (keyMaterial !== undefined && keyMaterial.trim() !== '') {
    return signerFromPrivateKey(parsePrivateKey(keyMaterial, 'TICKET_SIGNING_KEY'), 'configured');
  }
  if (options.developmentDataDir) return developmentTicketSigner(options.developmentDataDir);
  throw new TicketSigningKeyError(
    'TICKET_SIGNING_KEY is not set: set it to an Ed25519 private key (PKCS8 PEM, or a 32-byte seed in hex or ' +
      'base64), or enable the development key explicitly. Without a stable key, issued tickets cannot be verified.',
  );
}

/** The file, under the data directory, where the development key is kept. */
export const DEVELOPMENT_KEY_FILE = 'ticket-signing-key.dev.pem';

/**
 * A signer over a development key kept in `<dataDir>/ticket-signing-key.dev.pem` (mode 0600), created on
 * first use, so tickets issued by `npm start` stay verifiable across restarts. Not for production.
 */
export function developmentTicketSigner(dataDir: string): TicketSigner {
  const file = path.join(dataDir, DEVELOPMENT_KEY_FILE);
  const pem = readIfExists(file) ?? createDevelopmentKeyFile(dataDir, file);
  return signerFromPrivateKey(parsePrivateKey(pem, file), 'development');
}

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Writes a fresh key to a private temporary file and hard-links it into place. The link either wins or finds
 * the file already there, so an API and a worker starting together end up sharing one complete key file.
 */
function createDevelopmentKeyFile(dataDir: string, file: string): string {
  fs.mkdirSync(dataDir, { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const fresh = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(temp, fresh, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(temp, file);
    return fresh;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return fs.readFileSync(file, 'utf8');
    // Some mounted volumes refuse hard links; an exclusive create still never overwrites another's key.
    try {
      fs.writeFileSync(file, fresh, { mode: 0o600, flag: 'wx' });
      return fresh;
    } catch (fallbackErr) {
      if ((fallbackErr as NodeJS.ErrnoException).code === 'EEXIST') return fs.readFileSync(file, 'utf8');
      throw fallbackErr;
    }
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

// RFC 8410 PKCS8 wrapping of a raw Ed25519 seed; node:crypto imports seeds only in this form.
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

function parsePrivateKey(material: string, source: string): KeyObject {
  const text = material.trim();
  let key: KeyObject;
  if (text.includes('-----BEGIN')) {
    try {
      key = createPrivateKey({ key: text.replace(/\\n/g, '\n'), format: 'pem' });
    } catch {
      throw new TicketSigningKeyError(`${source} is not a readable PEM private key`);
    }
  } else {
    const seed = /^[0-9a-fA-F]{64}$/.test(text)
      ? Buffer.from(text, 'hex')
      : /^[A-Za-z0-9+/_-]{43}=?$/.test(text)
        ? Buffer.from(text, 'base64')
        : null;
    if (seed === null || seed.length !== 32) {
      throw new TicketSigningKeyError(
        `${source} must be an Ed25519 private key: PKCS8 PEM, or a 32-byte seed in hex (64 characters) or base64`,
      );
    }
    key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TicketSigningKeyError(
      `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; tickets need Ed25519`,
    );
  }
  return key;
}

function signerFromPrivateKey(privateKey: KeyObject, source: TicketSigner['source']): TicketSigner {
  const publicKey = createPublicKey(privateKey);
  const { x } = publicKey.export({ format: 'jwk' });
  if (typeof x !== 'string') throw new TicketSigningKeyError('could not derive the ticket public key');
  // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
  const kid = createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
  const publicKeyJwk: TicketPublicJwk = { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
  return {
    source,
    kid,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicKeyJwk,
    sign(payload) {
      const canonical = checkPayload(payload);
      if (canonical === null) throw new TypeError('not a valid ticket QR payload');
      const signingInput = `${TICKET_TOKEN_PREFIX}.${Buffer.from(JSON.stringify(canonical)).toString('base64url')}`;
      const signature = signBytes(null, Buffer.from(signingInput), privateKey);
      return `${signingInput}.${signature.toString('base64url')}`;
    },
  };
}

/**
 * The payload of a ticket token if it was signed by (one of) the given key(s), else null. Needs only public
 * keys, so a scanner can run it offline. Throws only when a key itself is unusable (a setup error), never
 * for a bad token.
 */
export function verifyTicketToken(
  token: string,
  publicKey: TicketPublicKey | readonly TicketPublicKey[],
): TicketQrPayload | null {
  const keys = (Array.isArray(publicKey) ? publicKey : [publicKey]) as TicketPublicKey[];
  const verifiers = keys.map(toPublicKey);
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== TICKET_TOKEN_PREFIX) return null;
  const payloadPart = parts[1]!;
  const signaturePart = parts[2]!;
  const payloadBytes = decodeCanonicalBase64url(payloadPart);
  const signature = decodeCanonicalBase64url(signaturePart);
  if (payloadBytes === null || signature === null || signature.length !== 64) return null;
  const signingInput = Buffer.from(`${TICKET_TOKEN_PREFIX}.${payloadPart}`);
  if (!verifiers.some((key) => verifyBytes(null, signingInput, key, signature))) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payloadBytes.toString('utf8'));
  } catch {
    return null;
  }
  return checkPayload(parsed);
}

/**
 * Base64url without padding, and only in its one canonical spelling, so a token has exactly one valid form
 * (otherwise the unused low bits of the last character would let one ticket be written several ways).
 */
function decodeCanonicalBase64url(text: string): Buffer | null {
  if (text === '' || !/^[A-Za-z0-9_-]+$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

function toPublicKey(key: TicketPublicKey): KeyObject {
  let keyObject: KeyObject;
  if (key instanceof KeyObject) {
    keyObject = key.type === 'private' ? createPublicKey(key) : key;
  } else if (typeof key === 'string') {
    keyObject = createPublicKey(key);
  } else {
    const { kty, crv, x } = key;
    keyObject = createPublicKey({ key: { kty, crv, x }, format: 'jwk' });
  }
  if (keyObject.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('ticket tokens are verified with an Ed25519 public key');
  }
  return keyObject;
}

/** The payload with exactly the known fields in a fixed order, or null when it is not a ticket payload. */
function checkPayload(value: unknown): TicketQrPayload | null {
  if (typeof value !== 'object' || value === null) return null;
  const { v, tid, eid, ttid, code, iat } = value as Record<string, unknown>;
  const isId = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= MAX_FIELD_LENGTH;
  if (v !== 1 || !isId(tid) || !isId(eid) || !isId(ttid) || !isId(code)) return null;
  if (iat !== undefined && !(Number.isSafeInteger(iat) && (iat as number) >= 0)) return null;
  return iat === undefined ? { v, tid, eid, ttid, code } : { v, tid, eid, ttid, code, iat: iat as number };
}

// ---------------------------------------------------------------------------------------------------------
// QR rendering

/**
 * The ticket token as an SVG QR code. Error correction M survives a scuffed printout or a cracked phone
 * screen while keeping a ~350-character token at a size phone cameras read easily.
 */
export async function renderTicketQr(token: string): Promise<string> {
  return QRCode.toString(token, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}
