import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSecretFile, generateSecret, loadSecret, readSecretFile, secretFromEnv } from '../../engine/auth/secret.js';

const dir = mkdtempSync(join(tmpdir(), 'qe-secret-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const LONG = 'k'.repeat(40);

t.test('auth - the secret file wins over the env var, which wins over the fallback file', async (t) => {
  const f = join(dir, 'a.secret');
  const fb = join(dir, 'fb.secret');
  writeFileSync(f, 'f'.repeat(32) + '\n');
  writeFileSync(fb, 'b'.repeat(32));
  const env = { QE_AUTH_SECRET: LONG };
  t.equal(loadSecret({ envName: 'QE_AUTH_SECRET', file: f, env }).toString(), 'f'.repeat(32), 'one trailing newline ignored');
  t.equal(loadSecret({ envName: 'QE_AUTH_SECRET', fallbackFile: fb, env }).toString(), LONG);
  t.equal(loadSecret({ envName: 'QE_AUTH_SECRET', fallbackFile: fb, env: {} }).toString(), 'b'.repeat(32));
  t.throws(() => loadSecret({ envName: 'QE_AUTH_SECRET', env: {} }), { code: 'QE_CONFIG_UNREADABLE', message: /QE_AUTH_SECRET is unset/ });
  t.throws(() => loadSecret({ envName: 'X', fallbackFile: join(dir, 'none'), env: {} }), { code: 'QE_CONFIG_UNREADABLE', message: /unusable/ });
});

t.test('auth - short secrets are refused wherever they come from', async (t) => {
  t.throws(() => secretFromEnv('S', { S: 'short' }), { code: 'QE_CONFIG_INVALID' });
  t.equal(secretFromEnv('S', { S: '' }), null, 'empty means unset');
  const f = join(dir, 'short.secret');
  writeFileSync(f, 'x'.repeat(31) + '\n');
  t.throws(() => readSecretFile(f), { code: 'QE_CONFIG_INVALID', message: /at least 32 bytes/ });
});

t.test('auth - ensureSecretFile creates a private 43-character secret once and then reuses it', async (t) => {
  const f = join(dir, 'sub', 'auth.secret');
  const a = ensureSecretFile(f);
  t.equal(a.length, 43);
  t.equal(statSync(f).mode & 0o777, 0o600);
  t.ok(ensureSecretFile(f).equals(a));
  t.equal(readFileSync(f, 'utf8').trim(), a.toString());
  t.not(generateSecret(), generateSecret());
  writeFileSync(f, 'short');
  t.throws(() => ensureSecretFile(f), { code: 'QE_CONFIG_INVALID' }, 'an existing bad file is not silently replaced');
});
