/**
 * Signed, expiring access tokens: compact JWS with HS256 only (RFC 7515/7519 subset).
 *
 *   base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256(secret, header "." payload))
 *   header  {"alg":"HS256","typ":"JWT"}
 *   payload {"sub":clientId,"role":"client"|"trader"|"rm"|"admin","iat":s,"exp":s,"nbf"?:s}
 *
 * Verification is a value, not a throw (STYLE 4): an untrusted string from an upgrade request is
 * an expected input, and a refused token is an expected outcome. Only HS256 is accepted, decided
 * by this code and never by the token's own header, so `alg: none` and algorithm-confusion
 * tokens fail before any signature work.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { EngineError, ErrorCode } from '../errors.js';

/** client: a counterparty; trader: prices and works RFQs; rm: relationship manager (CRM overrides); admin: risk controls and the kill switch */
export const ROLES = ['client', 'trader', 'rm', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenClaims {
  readonly sub: string;
  readonly role: Role;
  /** issued at, epoch seconds */
  readonly iat: number;
  /** expires at, epoch seconds: the token is refused from `exp + skew` on */
  readonly exp: number;
  /** not before, epoch seconds */
  readonly nbf?: number;
}

export type VerifyResult =
  | { readonly ok: true; readonly claims: TokenClaims }
  | { readonly ok: false; readonly code: ErrorCode; readonly reason: string };

/** HMAC keys shorter than the hash output weaken HS256 (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;
/** Far above any token we mint (~200 chars); bounds the work an attacker can make us do. */
export const MAX_TOKEN_CHARS = 4096;
const SUB_MAX_CHARS = 64;
const SIG_BYTES = 32;
const B64URL = /^[A-Za-z0-9_-]+$/;
const HEADER_PART = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function b64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function sign(secret: Buffer, signingInput: string): Buffer {
  return createHmac('sha256', secret).update(signingInput).digest();
}

function assertSecret(secret: Buffer): void {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new EngineError(ErrorCode.CONFIG_INVALID, `auth secret must be at least ${MIN_SECRET_BYTES} bytes (got ${secret.length})`);
  }
}

/**
 * Mints a token valid from `nowSec` for `ttlSec` seconds. Throws on a short secret or a bad
 * ttl: those are configuration bugs, not runtime outcomes.
 */
export function mintToken(
  secret: Buffer,
  claims: { readonly sub: string; readonly role?: Role; readonly nbf?: number },
  ttlSec: number,
  nowSec: number,
): string {
  assertSecret(secret);
  if (!Number.isInteger(ttlSec) || ttlSec <= 0) throw new EngineError(ErrorCode.CONFIG_INVALID, `ttlSec must be a positive integer (got ${ttlSec})`);
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > SUB_MAX_CHARS) {
    throw new EngineError(ErrorCode.CONFIG_INVALID, `sub must be 1-${SUB_MAX_CHARS} characters`);
  }
  const iat = Math.floor(nowSec);
  const payload: Record<string, unknown> = { sub: claims.sub, role: claims.role ?? 'client', iat, exp: iat + ttlSec };
  if (claims.nbf !== undefined) payload.nbf = claims.nbf;
  const input = `${HEADER_PART}.${b64urlJson(payload)}`;
  return `${input}.${sign(secret, input).toString('base64url')}`;
}

/** True once `nowSec` reaches `exp + skewSec`; shared with the gateway's expiry sweep. */
export function isExpired(exp: number, nowSec: number, skewSec: number): boolean {
  return nowSec >= exp + skewSec;
}

const fail = (code: ErrorCode, reason: string): VerifyResult => ({ ok: false, code, reason });

/** Parses a base64url JSON object; null for anything else (never throws). */
function decodePart(part: string): Record<string, unknown> | null {
  const bytes = Buffer.from(part, 'base64url');
  // Buffer's decoder skips characters it does not know; the re-encode check refuses any
  // non-canonical spelling so one token has exactly one accepted form.
  if (bytes.toString('base64url') !== part) return null;
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    // not JSON: reported as malformed by the caller
    return null;
  }
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function verifyToken(secret: Buffer, token: string, nowSec: number, skewSec: number): VerifyResult {
  const INVALID = ErrorCode.WS_AUTH_INVALID;
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) return fail(INVALID, 'malformed token');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d1 <= 0 || d2 < 0 || token.indexOf('.', d2 + 1) >= 0) return fail(INVALID, 'malformed token');
  const h = token.slice(0, d1);
  const p = token.slice(d1 + 1, d2);
  const s = token.slice(d2 + 1);
  if (!B64URL.test(h) || !B64URL.test(p)) return fail(INVALID, 'malformed token');

  const header = decodePart(h);
  if (header === null) return fail(INVALID, 'malformed token header');
  if (header.alg !== 'HS256') return fail(INVALID, `unsupported alg ${JSON.stringify(header.alg)}`);
  if (header.typ !== undefined && header.typ !== 'JWT') return fail(INVALID, 'unsupported typ');
  if (header.crit !== undefined) return fail(INVALID, 'unsupported crit header');

  if (!B64URL.test(s)) return fail(INVALID, 'malformed signature');
  const sig = Buffer.from(s, 'base64url');
  if (sig.length !== SIG_BYTES || sig.toString('base64url') !== s) return fail(INVALID, 'malformed signature');
  if (!timingSafeEqual(sig, sign(secret, token.slice(0, d2)))) return fail(INVALID, 'bad signature');

  // Only a payload we signed is parsed past this point.
  const c = decodePart(p);
  if (c === null) return fail(INVALID, 'malformed payload');
  if (typeof c.sub !== 'string' || c.sub.length === 0 || c.sub.length > SUB_MAX_CHARS) return fail(INVALID, 'missing or bad sub');
  if (typeof c.role !== 'string' || !(ROLES as readonly string[]).includes(c.role)) return fail(INVALID, 'missing or bad role');
  if (!isTime(c.iat) || !isTime(c.exp)) return fail(INVALID, 'missing or bad iat/exp');
  if (c.nbf !== undefined && !isTime(c.nbf)) return fail(INVALID, 'bad nbf');
  if (isExpired(c.exp, nowSec, skewSec)) return fail(ErrorCode.WS_AUTH_EXPIRED, 'token expired');
  if (c.nbf !== undefined && nowSec < c.nbf - skewSec) return fail(INVALID, 'token not yet valid (nbf)');
  if (c.iat > nowSec + skewSec) return fail(INVALID, 'token issued in the future (iat)');

  const claims: TokenClaims =
    c.nbf === undefined
      ? { sub: c.sub, role: c.role as Role, iat: c.iat, exp: c.exp }
      : { sub: c.sub, role: c.role as Role, iat: c.iat, exp: c.exp, nbf: c.nbf };
  return { ok: true, claims };
}
