/**
 * The stressed demo (`npm run stress`, engine/cli/stress.ts) run in-process against a real broker on
 * a small universe and a compressed scenario: its output shows, in order, the watched instrument
 * turning stressed, tier 3 pulled and tier 2 at half size, a tier-1 RFQ queued for a trader with the
 * regime stated, hedge decisions with their reasons, then recovery. Real time, real feed: this checks
 * what the terminal shows, not exact timings (stress-regime.test.ts replays deterministically).
 */
import t from 'tap';
import { runStressDemo } from '../../engine/cli/stress.js';
import { demoDirectory } from '../helpers/directory.js';
import { quietLog, testConfig } from '../helpers/engine.js';
import { startBroker } from '../helpers/nats.js';

t.test('stress - the demo prints the regime change, each tier degrading, tier-1 RFQs to a trader, hedge decisions, then recovery', async (t) => {
  const broker = await startBroker(t);
  const config = testConfig();
  const lines: string[] = [];
  const r = await runStressDemo({
    config, natsUrl: broker.url, seed: 42, ratePerSec: 400, timeScale: 50, stressStartMs: 3_000, stressDurationMs: 10_000,
    maxMs: 90_000, tradeEveryMs: 2_000, hedgeSubject: 'hedge.decision.>', log: quietLog, engine: { directory: demoDirectory() }, out: (l) => lines.push(l),
  });
  const text = lines.join('\n');
  t.ok(r.recovered, 'the watched instrument recovered');
  const W = r.watched;
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  const esc = W.replace(/[-]/g, '\\-');
  const stressed = at(new RegExp(`regime +\\*${esc}: normal → (stressed|halted)`));
  const t3 = at(new RegExp(`tier 3 .*${esc} pulled +\\(regime\\) .*← ${esc} stressed`));
  const t2Full = at(new RegExp(`tier 2 .*${esc} firm .*sizes `));
  const rfqCalm = at(/rfq .*tier-1 .*\(calm market\) → queued for a trader, reason tier1/);
  const rfqStressed = at(/rfq .*tier-1 .*→ queued for a trader, reason stressed — trader sees "(stressed|halted): /);
  const hedge = at(/hedge +\S+: (immediate|paced|hold|proxy)/);
  const normal = at(new RegExp(`regime +\\*${esc}: stressed → normal`));
  const recovered = at(/^Recovered: /);
  t.ok(stressed >= 0, 'the watched instrument turns stressed');
  t.ok(t3 > stressed, 'tier 3 is shown pulled for the regime once it does');
  t.ok(rfqCalm >= 0 && rfqCalm < stressed, 'a tier-1 RFQ in the calm market queues as tier 1');
  t.ok(rfqStressed > stressed, 'a tier-1 RFQ in the stress queues with reason stressed and the trader sees the regime');
  t.ok(hedge >= 0, 'hedge decisions are printed with their reasons');
  t.ok(normal > rfqStressed, 'then the watched instrument is normal again');
  t.ok(recovered > normal, 'and the demo says so and ends');
  // tier 2 at half size while stressed: its sizes line after the change shows every band halved
  const sizesOf = (l: string) => (/sizes (\S+)/.exec(l)?.[1] ?? '').split('/');
  const t2Lines = lines.filter((l) => /tier 2 .* firm .*sizes /.test(l));
  const calm = sizesOf(lines[t2Full]);
  const half = lines.slice(stressed).find((l) => /tier 2 .* firm .*sizes /.test(l) && l.includes('← ') && l.includes('stressed'));
  t.ok(t2Lines.length >= 2 && half, 'tier 2 lines before and during the stress');
  t.not(sizesOf(half!).join('/'), calm.join('/'), `tier 2 sizes change in the stress: ${calm.join('/')} → ${sizesOf(half!).join('/')}`);
  const last = lines.slice(normal).find((l) => /tier 3 .* firm .*sizes /.test(l));
  t.ok(last, 'tier 3 firm with prices again after recovery');
  if (!t.passing()) t.comment(`the demo printed:\n${text}`);
});
