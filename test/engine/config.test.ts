import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseConfig, loadDefaultConfig } from '../../engine/config.js';

t.test('config - default universe is valid and frozen', async (t) => {
  const c = loadDefaultConfig();
  t.ok(c.instruments.length >= 24);
  t.ok(Object.isFrozen(c.instruments[0]));
});
t.test('config - unknown key rejected', async (t) => {
  const raw = JSON.parse(readFileSync('engine/default-config.json', 'utf8'));
  t.throws(() => parseConfig({ ...raw, bogus: 1 }), { code: 'QE_CONFIG_INVALID' });
});
