/**
 * Where the HMAC secret comes from. The secret is the UTF-8 bytes of a string (env var or file,
 * one trailing newline ignored) so the same value works when pasted into a shell, a file or a
 * container secret. A generated secret is 32 random bytes in base64url (43 characters).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EngineError, ErrorCode } from '../errors.js';
import { MIN_SECRET_BYTES } from './token.js';

/** Default location the demo writes its generated secret to, relative to the working directory. */
export const DEFAULT_SECRET_FILE = '.data/auth.secret';

function fromText(text: string, where: string): Buffer {
  const b = Buffer.from(text.replace(/\r?\n$/, ''), 'utf8');
  if (b.length < MIN_SECRET_BYTES) {
    throw new EngineError(ErrorCode.CONFIG_INVALID, `auth secret from ${where} must be at least ${MIN_SECRET_BYTES} bytes (got ${b.length})`);
  }
  return b;
}

export function readSecretFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EngineError(ErrorCode.CONFIG_UNREADABLE, `cannot read auth secret file ${path}`, { cause });
  }
  return fromText(text, `file ${path}`);
}

/** The secret from environment variable `envName`, or null when it is unset or empty. */
export function secretFromEnv(envName: string, env: NodeJS.ProcessEnv = process.env): Buffer | null {
  const v = env[envName];
  return v === undefined || v === '' ? null : fromText(v, `$${envName}`);
}

/**
 * An explicit file wins; then the env var; then `fallbackFile` if given. Throws EngineError
 * naming every place it looked when none has a secret.
 */
export function loadSecret(opts: { envName: string; file?: string; fallbackFile?: string; env?: NodeJS.ProcessEnv }): Buffer {
  if (opts.file !== undefined) return readSecretFile(opts.file);
  const fromEnv = secretFromEnv(opts.envName, opts.env);
  if (fromEnv !== null) return fromEnv;
  if (opts.fallbackFile !== undefined) {
    try {
      return readSecretFile(opts.fallbackFile);
    } catch (cause) {
      throw new EngineError(
        ErrorCode.CONFIG_UNREADABLE,
        `no auth secret: $${opts.envName} is unset and ${opts.fallbackFile} is unusable (${(cause as Error).message})`,
        { cause },
      );
    }
  }
  throw new EngineError(ErrorCode.CONFIG_UNREADABLE, `no auth secret: $${opts.envName} is unset`);
}

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Reads `path`, or creates it (mode 0600, parent dirs included) with a fresh secret. */
export function ensureSecretFile(path: string): Buffer {
  try {
    return readSecretFile(path);
  } catch (e) {
    if ((e as EngineError).code !== ErrorCode.CONFIG_UNREADABLE) throw e;
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, generateSecret() + '\n', { mode: 0o600 });
  return readSecretFile(path);
}
