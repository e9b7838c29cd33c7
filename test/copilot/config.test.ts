import t from 'tap';
import { copilotConfigSchema } from '../../engine/copilot/config.js';
import { parseConfig, loadDefaultConfig } from '../../engine/config.js';

t.test('copilot config - an empty section is valid and filled with the documented defaults', async (t) => {
  const c = copilotConfigSchema.parse({});
  t.match(c, { enabled: true, latencyBudgetMs: 20, workers: { threads: 1, maxQueue: 32 }, audit: { stream: 'DECISIONS', subjectPrefix: 'decision' }, axes: { shadeBps: 1 }, winModel: { priorWinAtHalf: 0.5 } });
  t.equal(copilotConfigSchema.parse(undefined).enabled, true, 'a missing section too');
});

t.test('copilot config - bad fields are named; unknown keys refused', async (t) => {
  for (const [bad, path] of [
    [{ workers: { maxQueue: 0 } }, 'workers.maxQueue'],
    [{ ciZ: -1 }, 'ciZ'],
    [{ winModel: { priorWinAtHalf: 1 } }, 'winModel.priorWinAtHalf'],
    [{ audit: { stream: 'a b' } }, 'audit.stream'],
    [{ axes: { ttlMs: 0 } }, 'axes.ttlMs'],
    [{ surprise: 1 }, ''],
  ] as const) {
    const r = copilotConfigSchema.safeParse(bad);
    t.notOk(r.success, `refused: ${JSON.stringify(bad)}`);
    if (!r.success && path) t.equal(r.error.issues[0].path.join('.'), path);
  }
  const raw = JSON.parse(JSON.stringify(loadDefaultConfig()));
  raw.copilot = { ciZ: 0 };
  t.throws(() => parseConfig(raw), /copilot\.ciZ/, 'the engine config names the field');
});
