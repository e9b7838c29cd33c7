import t, { type Test } from 'tap';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { isExpired, mintToken, verifyToken, MAX_TOKEN_CHARS } from '../../engine/auth/token.js';

const SECRET = Buffer.from('s'.repeat(32));
const OTHER = Buffer.from('o'.repeat(32));
const NOW = 1_700_000_000;
const SKEW = 5;

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** Builds a token from raw parts, signed correctly with `secret` (to test claim checks past the signature). */
function signed(header: unknown, payload: unknown, secret = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const HS = { alg: 'HS256', typ: 'JWT' };
const good = { sub: 'atlas', role: 'client', iat: NOW, exp: NOW + 60 };

function refused(t: Test, token: string, code: string, reason: RegExp, now = NOW) {
  const r = verifyToken(SECRET, token, now, SKEW);
  t.equal(r.ok, false, 'refused');
  if (!r.ok) {
    t.equal(r.code, code);
    t.match(r.reason, reason);
  }
}

t.test('auth - minted token verifies with its claims', async (t) => {
  const tok = mintToken(SECRET, { sub: 'atlas', role: 'trader' }, 60, NOW + 0.7);
  const r = verifyToken(SECRET, tok, NOW + 1, SKEW);
  t.same(r, { ok: true, claims: { sub: 'atlas', role: 'trader', iat: NOW, exp: NOW + 60 } });
  t.equal(tok.split('.').length, 3);
  t.notOk(tok.includes('='), 'base64url without padding');
});

t.test('auth - role defaults to client and nbf is carried', async (t) => {
  const r = verifyToken(SECRET, mintToken(SECRET, { sub: 'atlas', nbf: NOW + 10 }, 60, NOW), NOW + 10, SKEW);
  t.same(r, { ok: true, claims: { sub: 'atlas', role: 'client', iat: NOW, exp: NOW + 60, nbf: NOW + 10 } });
});

t.test('auth - forged signature (other secret) is refused', async (t) => {
  refused(t, mintToken(OTHER, { sub: 'atlas' }, 60, NOW), 'QE_WS_AUTH_INVALID', /bad signature/);
});

t.test('auth - alg none and other algorithms are refused before the signature is looked at', async (t) => {
  refused(t, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`, 'QE_WS_AUTH_INVALID', /unsupported alg "none"/);
  refused(t, `${b64({ alg: 'none' })}.${b64(good)}`, 'QE_WS_AUTH_INVALID', /malformed/);
  // a correct HS256 MAC does not rescue a header that names another algorithm
  refused(t, signed({ alg: 'HS512', typ: 'JWT' }, good), 'QE_WS_AUTH_INVALID', /unsupported alg "HS512"/);
  refused(t, signed({ alg: 'RS256' }, good), 'QE_WS_AUTH_INVALID', /unsupported alg/);
  refused(t, signed({ alg: 'hs256' }, good), 'QE_WS_AUTH_INVALID', /unsupported alg/);
  refused(t, signed({ typ: 'JWT' }, good), 'QE_WS_AUTH_INVALID', /unsupported alg undefined/);
  refused(t, signed({ alg: 'HS256', crit: ['exp'] }, good), 'QE_WS_AUTH_INVALID', /crit/);
});

t.test('auth - expiry: 1 s beyond the skew is refused, at the boundary too, 1 s inside is accepted', async (t) => {
  const exp = NOW + 60;
  const tok = mintToken(SECRET, { sub: 'atlas' }, 60, NOW);
  refused(t, tok, 'QE_WS_AUTH_EXPIRED', /expired/, exp + SKEW + 1);
  refused(t, tok, 'QE_WS_AUTH_EXPIRED', /expired/, exp + SKEW);
  t.equal(verifyToken(SECRET, tok, exp + SKEW - 1, SKEW).ok, true);
  t.equal(isExpired(exp, exp + SKEW - 0.001, SKEW), false);
  t.equal(isExpired(exp, exp + SKEW, SKEW), true);
});

t.test('auth - not yet valid (nbf) and issued in the future (iat) are refused beyond the skew', async (t) => {
  refused(t, signed(HS, { ...good, nbf: NOW + SKEW + 1 }), 'QE_WS_AUTH_INVALID', /not yet valid/);
  t.equal(verifyToken(SECRET, signed(HS, { ...good, nbf: NOW + SKEW }), NOW, SKEW).ok, true);
  refused(t, signed(HS, { ...good, iat: NOW + SKEW + 1 }), 'QE_WS_AUTH_INVALID', /issued in the future/);
});

t.test('auth - tampered payload is refused', async (t) => {
  const tok = mintToken(SECRET, { sub: 'atlas', role: 'client' }, 60, NOW);
  const [h, , s] = tok.split('.');
  refused(t, `${h}.${b64({ ...good, sub: 'northwind' })}.${s}`, 'QE_WS_AUTH_INVALID', /bad signature/);
  refused(t, `${h}.${b64({ ...good, role: 'admin' })}.${s}`, 'QE_WS_AUTH_INVALID', /bad signature/);
  refused(t, `${h}.${b64({ ...good, exp: NOW + 86400 })}.${s}`, 'QE_WS_AUTH_INVALID', /bad signature/);
});

t.test('auth - missing or bad claims are refused even when correctly signed', async (t) => {
  const { sub: _s, ...noSub } = good;
  refused(t, signed(HS, noSub), 'QE_WS_AUTH_INVALID', /sub/);
  refused(t, signed(HS, { ...good, sub: '' }), 'QE_WS_AUTH_INVALID', /sub/);
  refused(t, signed(HS, { ...good, sub: 7 }), 'QE_WS_AUTH_INVALID', /sub/);
  refused(t, signed(HS, { ...good, role: 'root' }), 'QE_WS_AUTH_INVALID', /role/);
  const { exp: _e, ...noExp } = good;
  refused(t, signed(HS, noExp), 'QE_WS_AUTH_INVALID', /iat\/exp/);
  refused(t, signed(HS, { ...good, exp: '9999999999' }), 'QE_WS_AUTH_INVALID', /iat\/exp/);
  refused(t, signed(HS, { ...good, nbf: 'soon' }), 'QE_WS_AUTH_INVALID', /nbf/);
  refused(t, signed(HS, [good]), 'QE_WS_AUTH_INVALID', /malformed payload/);
  refused(t, signed(HS, 'not json at all'), 'QE_WS_AUTH_INVALID', /malformed payload/);
});

t.test('auth - malformed tokens are refused without throwing', async (t) => {
  const tok = mintToken(SECRET, { sub: 'atlas' }, 60, NOW);
  for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', '.b.c', `${tok}.x`, tok.replace('.', '.!'), ' ' + tok, 'x'.repeat(MAX_TOKEN_CHARS + 1)]) {
    refused(t, bad, 'QE_WS_AUTH_INVALID', /malformed/);
  }
  refused(t, `${b64('{"alg":')}.${b64(good)}.${tok.split('.')[2]}`, 'QE_WS_AUTH_INVALID', /malformed token header/);
  // the final base64url character carries 2 unused bits: a second spelling of the same MAC is refused
  const s = tok.split('.')[2];
  const last = s[s.length - 1];
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const twin = alphabet[(alphabet.indexOf(last) & ~3) | ((alphabet.indexOf(last) + 1) & 3)];
  t.equal(Buffer.from(s.slice(0, -1) + twin, 'base64url').equals(Buffer.from(s, 'base64url')), true, 'twin decodes to the same bytes');
  refused(t, tok.slice(0, -1) + twin, 'QE_WS_AUTH_INVALID', /malformed signature/);
  // a non-string from a sloppy caller is a refusal, not a crash
  refused(t, undefined as unknown as string, 'QE_WS_AUTH_INVALID', /malformed/);
});

t.test('auth - mintToken refuses a short secret and a bad ttl', async (t) => {
  t.throws(() => mintToken(Buffer.from('short'), { sub: 'a' }, 60, NOW), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => mintToken(SECRET, { sub: 'a' }, 0, NOW), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => mintToken(SECRET, { sub: 'a' }, 1.5, NOW), { code: 'QE_CONFIG_INVALID' });
  t.throws(() => mintToken(SECRET, { sub: '' }, 60, NOW), { code: 'QE_CONFIG_INVALID' });
});

t.test('auth - any single-character change to a valid token is refused (property)', async (t) => {
  const tok = mintToken(SECRET, { sub: 'atlas', role: 'admin' }, 3600, NOW);
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
  let accepted = 0;
  fc.assert(
    fc.property(fc.nat(tok.length - 1), fc.constantFrom(...chars), (pos, ch) => {
      const m = tok.slice(0, pos) + ch + tok.slice(pos + 1);
      if (m === tok) return true;
      const r = verifyToken(SECRET, m, NOW, SKEW);
      if (r.ok) accepted++;
      return !r.ok;
    }),
    { numRuns: 3000 },
  );
  t.equal(accepted, 0);
});

t.test('auth - arbitrary strings never verify and never throw (property)', async (t) => {
  let ok = 0;
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      const r = verifyToken(SECRET, s, NOW, SKEW);
      if (r.ok) ok++;
      return r.ok === false && typeof r.code === 'string';
    }),
    { numRuns: 2000 },
  );
  t.equal(ok, 0);
});
