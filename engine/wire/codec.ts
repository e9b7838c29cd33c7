/**
 * One place for msgpack: a shared Encoder reused for every outbound frame, and Decoders with
 * limits for untrusted input (R29). Keys that could reach an object's prototype chain are refused.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function mapKeyConverter(key: unknown): string {
  if (typeof key !== 'string') throw new TypeError('map keys must be strings');
  if (FORBIDDEN_KEYS.has(key)) throw new TypeError(`map key "${key}" is not allowed`);
  return key;
}

/** Limits for small protocol messages (market data, client requests): nothing legitimately exceeds these. */
export interface DecodeLimits {
  readonly maxStrLength: number;
  readonly maxArrayLength: number;
  readonly maxMapLength: number;
}

export const MD_LIMITS: DecodeLimits = { maxStrLength: 64, maxArrayLength: 16, maxMapLength: 16 };
export const CLIENT_LIMITS: DecodeLimits = { maxStrLength: 256, maxArrayLength: 1024, maxMapLength: 16 };

export function makeDecoder(limits: DecodeLimits): Decoder {
  return new Decoder({
    maxStrLength: limits.maxStrLength,
    maxArrayLength: limits.maxArrayLength,
    maxMapLength: limits.maxMapLength,
    maxBinLength: 0,
    maxExtLength: 0,
    mapKeyConverter,
  });
}

/**
 * Reused encoder. `encodeShared` returns a view into the encoder's buffer that is valid only until
 * the next encode: callers hand it straight to a sink that copies synchronously (uWS publish/send) and
 * never keep it. nats.js does NOT copy: it keeps a reference until its flush, so NATS
 * publishes need `encodeOwned()` or a slice.
 */
const sharedEncoder = new Encoder({ ignoreUndefined: true, initialBufferSize: 4096 });

export function encodeShared(value: unknown): Uint8Array {
  return sharedEncoder.encodeSharedRef(value);
}

/** Encodes into a fresh buffer the caller may keep. */
export function encodeOwned(value: unknown): Uint8Array {
  return sharedEncoder.encode(value);
}
