/**
 * hedging.router config: an empty section is valid with the documented defaults; every bad field is
 * named by its path and nothing is accepted silently (strict keys).
 */
import t from 'tap';
import { ConfigError } from '../../engine/errors.js';
import { DEFAULT_HEDGING_CONFIG, parseHedgingConfig } from '../../engine/hedging/config.js';
import { planIdOf } from '../../engine/hedging/router.js';

t.test('hedging.router - defaults', async (t) => {
  const r = DEFAULT_HEDGING_CONFIG.router;
  t.same(
    { enabled: r.enabled, reviewMs: r.reviewMs, redecideMs: r.redecideMs, replanMoveBps: r.replanMoveBps, limitBeyondTouchBps: r.limitBeyondTouchBps, retryAfterMs: r.retryAfterMs, catchUpMaxAgeMs: r.catchUpMaxAgeMs, firmWaitMs: r.firmWaitMs, hedgeInitialPosition: r.hedgeInitialPosition, venuePrefix: r.venuePrefix, venueTimeoutMs: r.venueTimeoutMs },
    { enabled: true, reviewMs: 500, redecideMs: 30_000, replanMoveBps: 25, limitBeyondTouchBps: 10, retryAfterMs: 5_000, catchUpMaxAgeMs: 600_000, firmWaitMs: 5_000, hedgeInitialPosition: false, venuePrefix: 'venue', venueTimeoutMs: 2_000 },
  );
  t.same({ ...r.journal }, { stream: 'HEDGES', subjectPrefix: 'hedge', duplicateWindowMs: 120_000, ackTimeoutMs: 2_000 });
  t.ok(Object.isFrozen(r.journal), 'frozen');
});

t.test('hedging.router - bad fields named, unknown keys refused', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ router: { reviewMs: 0 } }, /hedging\.router\.reviewMs/],
    [{ router: { reviewMs: 1.5 } }, /hedging\.router\.reviewMs/],
    [{ router: { retryAfterMs: -1 } }, /hedging\.router\.retryAfterMs/],
    [{ router: { limitBeyondTouchBps: -1 } }, /hedging\.router\.limitBeyondTouchBps/],
    [{ router: { replanMoveBps: 0 } }, /hedging\.router\.replanMoveBps/],
    [{ router: { venuePrefix: 'a.b' } }, /hedging\.router\.venuePrefix/],
    [{ router: { journal: { stream: 'HEDGES.>' } } }, /hedging\.router\.journal\.stream/],
    [{ router: { journal: { duplicateWindowMs: 10 } } }, /hedging\.router\.journal\.duplicateWindowMs/],
    [{ router: { nope: 1 } }, /hedging\.router/],
    [{ router: { enabled: 'yes' } }, /hedging\.router\.enabled/],
  ];
  for (const [input, re] of bad) {
    t.throws(() => parseHedgingConfig(input), ConfigError, JSON.stringify(input));
    try {
      parseHedgingConfig(input);
    } catch (e) {
      t.match((e as Error).message, re, `${JSON.stringify(input)} names the field`);
    }
  }
});

t.test('hedging.router - a trade\'s plan id is derived from its trade id', async (t) => {
  const tradeId = 'T' + 'ab'.repeat(16);
  t.equal(planIdOf(tradeId), 'D' + 'ab'.repeat(16));
  t.equal(planIdOf(tradeId), planIdOf(tradeId), 'deterministic: a restart derives the same id');
  t.ok(/^[A-Za-z0-9_.:-]{1,64}$/.test(`${planIdOf(tradeId)}-999`), 'child ids fit the venue clientOrderId alphabet and length');
});
