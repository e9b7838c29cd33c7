import t from 'tap';
import { readFileSync } from 'node:fs';
import { ErrorCode, MdResult, MD_RESULT_CODE, EngineError, ConfigError } from '../../engine/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

t.test('errors - every code is documented in docs/errors.md, and the doc names no code that does not exist', async (t) => {
  const codes = Object.values(ErrorCode);
  for (const code of codes) t.ok(doc.includes('`' + code + '`'), `${code} documented`);
  // environment variables share the prefix; everything else named QE_* must be a real code
  const ENV_VARS = new Set(['QE_AUTH_SECRET', 'QE_CONFIG']);
  const mentioned = new Set((doc.match(/QE_[A-Z_]+/g) ?? []).filter((m) => !ENV_VARS.has(m)));
  for (const m of mentioned) t.ok((codes as string[]).includes(m), `${m} (in the doc) exists in engine/errors.ts`);
  t.equal(new Set(codes).size, codes.length, 'codes are unique');
});

t.test('errors - market-data results map to their codes', async (t) => {
  t.equal(MD_RESULT_CODE.length, Object.keys(MdResult).length);
  t.equal(MD_RESULT_CODE[MdResult.SEQ_GAP], ErrorCode.MD_SEQ_GAP);
  t.equal(MD_RESULT_CODE[MdResult.DECODE], ErrorCode.MD_DECODE);
  t.equal(MD_RESULT_CODE[MdResult.UNKNOWN_VENUE], ErrorCode.MD_UNKNOWN_VENUE);
});

t.test('errors - EngineError keeps code, cause and subclass name', async (t) => {
  const cause = new Error('root');
  const e = new EngineError(ErrorCode.NATS_UNAVAILABLE, 'down', { cause });
  t.equal(e.code, 'QE_NATS_UNAVAILABLE');
  t.equal(e.cause, cause);
  const c = new ConfigError(['a.b: bad']);
  t.equal(c.name, 'ConfigError');
  t.equal(c.code, 'QE_CONFIG_INVALID');
  t.match(c.message, /a\.b: bad/);
});
