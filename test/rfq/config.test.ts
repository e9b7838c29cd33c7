/** The rfq and booking config sections: defaults and every rule (config.ts, docs/configuration.md). */
import t from 'tap';
import { loadDefaultConfig, parseConfig } from '../../engine/config.js';
import { ConfigError } from '../../engine/errors.js';

const raw = () => JSON.parse(JSON.stringify(loadDefaultConfig())) as Record<string, any>;
function issues(patch: (c: Record<string, any>) => void): string[] {
  const c = raw();
  patch(c);
  try {
    parseConfig(c);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return [...e.issues];
    throw e;
  }
}

t.test('config rfq/booking - defaults', async (t) => {
  const c = raw();
  delete c.rfq;
  delete c.booking;
  const p = parseConfig(c);
  t.same(p.rfq, { ttlMs: 2000, queueTtlMs: 30000, lastLookToleranceBps: 2, lastLookHoldMs: 0, streamTtlMs: 1000, streamHistory: 8, maxOpenPerClient: 50, sweepMs: 50, retainMs: 300000 });
  t.same(p.booking, { stream: 'TRADES', subjectPrefix: 'trade', duplicateWindowMs: 86400000, ackTimeoutMs: 2000, maxAttempts: 3, retryIntervalMs: 5000 });
  t.ok(Object.isFrozen(p.rfq) && Object.isFrozen(p.booking));
});

t.test('config rfq/booking - each bad field is named', async (t) => {
  const cases: Array<[(c: Record<string, any>) => void, RegExp]> = [
    [(c) => (c.rfq = { ttlMs: 0 }), /^rfq\.ttlMs: /],
    [(c) => (c.rfq = { ttlMs: 1.5 }), /^rfq\.ttlMs: /],
    [(c) => (c.rfq = { queueTtlMs: 99 }), /^rfq\.queueTtlMs: /],
    [(c) => (c.rfq = { lastLookToleranceBps: -1 }), /^rfq\.lastLookToleranceBps: /],
    [(c) => (c.rfq = { lastLookToleranceBps: NaN }), /^rfq\.lastLookToleranceBps: /],
    [(c) => (c.rfq = { lastLookHoldMs: 1001 }), /^rfq\.lastLookHoldMs: /],
    [(c) => (c.rfq = { streamHistory: 0 }), /^rfq\.streamHistory: /],
    [(c) => (c.rfq = { streamHistory: 65 }), /^rfq\.streamHistory: /],
    [(c) => (c.rfq = { maxOpenPerClient: 0 }), /^rfq\.maxOpenPerClient: /],
    [(c) => (c.rfq = { bogus: 1 }), /^rfq: Unrecognized key/],
    [(c) => (c.booking = { stream: 'TRADES.X' }), /^booking\.stream: /],
    [(c) => (c.booking = { subjectPrefix: 'trade.>' }), /^booking\.subjectPrefix: /],
    [(c) => (c.booking = { ackTimeoutMs: 10 }), /^booking\.ackTimeoutMs: /],
    [(c) => (c.booking = { maxAttempts: 0 }), /^booking\.maxAttempts: /],
    [(c) => (c.booking = { duplicateWindowMs: 999 }), /^booking\.duplicateWindowMs: /],
    [(c) => (c.booking = { retryIntervalMs: 50 }), /^booking\.retryIntervalMs: /],
    [(c) => (c.booking = { bogus: 1 }), /^booking: Unrecognized key/],
  ];
  for (const [patch, re] of cases) {
    const got = issues(patch);
    t.ok(got.some((i) => re.test(i)), `${re}: ${JSON.stringify(got)}`);
  }
});

t.test('config rfq/booking - cross-field rules', async (t) => {
  t.match(issues((c) => (c.rfq = { ttlMs: 500, lastLookHoldMs: 500 })), [/^rfq\.lastLookHoldMs: must be shorter than rfq\.ttlMs/]);
  t.same(issues((c) => (c.rfq = { ttlMs: 501, lastLookHoldMs: 500 })), [], 'hold just below the ttl is fine');
  t.match(issues((c) => (c.booking = { ackTimeoutMs: 1000, maxAttempts: 5, duplicateWindowMs: 5000 })), [/^booking\.duplicateWindowMs: must exceed/]);
  t.same(issues((c) => (c.booking = { ackTimeoutMs: 1000, maxAttempts: 5, duplicateWindowMs: 5001 })), []);
  t.match(issues((c) => (c.booking = { subjectPrefix: 'md' })), [/^booking\.subjectPrefix: must differ/]);
  t.match(issues((c) => (c.booking = { subjectPrefix: 'quote' })), [/^booking\.subjectPrefix: must differ/]);
});
