import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type DataConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { parsePayloadKeys, type Config, type PayloadKey } from '../config';

/** The encoding an encrypted payload carries in its metadata; anything else is passed through as it is. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key naming the key that encrypted a payload, so keys can rotate without re-encrypting history. */
export const ENCRYPTION_KEY_ID = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const PayloadProto = temporal.api.common.v1.Payload;
const text = new TextEncoder();
const untext = new TextDecoder();

/**
 * Encrypts every Temporal payload with AES-256-GCM under the first configured key, and decrypts with whichever
 * key the payload names. Payloads written before encryption (no `binary/encrypted` encoding) decode unchanged,
 * so old histories keep replaying. The key id is authenticated as associated data.
 */
export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  private readonly current: PayloadKey;

  constructor(keys: PayloadKey[]) {
    if (keys.length === 0) throw new Error('AesGcmPayloadCodec needs at least one key');
    this.current = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
      cipher.setAAD(Buffer.from(this.current.id));
      const sealed = Buffer.concat([cipher.update(PayloadProto.encode(payload).finish()), cipher.final()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: text.encode(ENCRYPTED_ENCODING),
          [ENCRYPTION_KEY_ID]: text.encode(this.current.id),
        },
        data: Buffer.concat([iv, sealed, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || untext.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyIdBytes = payload.metadata?.[ENCRYPTION_KEY_ID];
      const keyId = keyIdBytes ? untext.decode(keyIdBytes) : '';
      const key = this.byId.get(keyId);
      if (!key) throw new Error(`payload encrypted with unknown key "${keyId.slice(0, 64)}"`);
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return PayloadProto.decode(plain) as Payload;
    });
  }
}

/** The failure converter's module, for the data converter and for `bundleWorkflowCode`. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The codec this process encrypts payloads with, from PAYLOAD_ENCRYPTION_KEYS. */
export function configuredPayloadCodec(config: Pick<Config, 'PAYLOAD_ENCRYPTION_KEYS'>): AesGcmPayloadCodec {
  return new AesGcmPayloadCodec(parsePayloadKeys(config.PAYLOAD_ENCRYPTION_KEYS));
}

/**
 * The data converter every client and worker of the platform uses: payloads encrypted, and failure messages and
 * stack traces moved into an encrypted payload too (they can quote provider errors). Client and worker must agree.
 */
export function platformDataConverter(config: Pick<Config, 'PAYLOAD_ENCRYPTION_KEYS'>): DataConverter {
  return {
    payloadCodecs: [configuredPayloadCodec(config)],
    failureConverterPath: FAILURE_CONVERTER_PATH,
  };
}
