import t from 'tap';
import { Registry } from 'prom-client';
import { copilotConfigSchema } from '../../engine/copilot/config.js';
import { recommend } from '../../engine/copilot/model.js';
import { createCopilotPool, createInlineCopilot } from '../../engine/copilot/pool.js';
import { input } from './helpers.js';

t.test('copilot pool - a recommendation round-trips through the worker unchanged, and its latency is measured', async (t) => {
  const registry = new Registry();
  const pool = createCopilotPool(copilotConfigSchema.parse({}), registry);
  t.teardown(() => pool.close());
  await pool.warm();
  const x = input({ side: 'buy', size: 3e6, position: 5e6 });
  const r = await pool.run(x);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.same(r.rec, recommend(x), 'same figures as the model on the main thread');
  t.ok(r.ms >= 0);
  const h = await registry.getSingleMetric('qe_copilot_latency_seconds')!.get();
  const count = h.values.find((v) => (v as { metricName?: string }).metricName === 'qe_copilot_latency_seconds_count');
  t.equal(count?.value, 1, 'one latency sample');
  const runs = await registry.getSingleMetric('qe_copilot_runs_total')!.get();
  t.equal(runs.values.reduce((a, v) => a + ((v.labels.outcome === 'ok' || v.labels.outcome === 'over_budget') ? v.value : 0), 0), 1, 'counted ok or over budget');
});

t.test('copilot pool - the queue is bounded: a burst beyond maxQueue is refused with a code, not queued', async (t) => {
  const pool = createCopilotPool(copilotConfigSchema.parse({ workers: { threads: 1, maxQueue: 1 } }));
  t.teardown(() => pool.close());
  const x = input();
  await pool.warm();
  const rs = await Promise.all(Array.from({ length: 40 }, () => pool.run(x)));
  const busy = rs.filter((r) => !r.ok);
  t.ok(busy.length > 0, `${busy.length} refused`);
  for (const b of busy) t.match(b, { ok: false, code: 'QE_COPILOT_UNAVAILABLE', message: /busy/ });
  t.ok(rs.some((r) => r.ok), 'the rest computed');
});

t.test('copilot pool - a model that throws resolves to a code (inline runner)', async (t) => {
  const pool = createInlineCopilot(copilotConfigSchema.parse({}));
  const bad = { ...input(), instrument: null } as unknown as Parameters<typeof recommend>[0];
  const r = await pool.run(bad);
  t.match(r, { ok: false, code: 'QE_COPILOT_UNAVAILABLE' });
});
