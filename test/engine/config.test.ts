/**
 * Every rule of engine/config.ts, table-driven. Each rejection asserts the thrown error is a
 * ConfigError with code QE_CONFIG_INVALID and that one of its `issues` names the exact field
 * path (`instruments.1.tickSize: ...`). Cross-field cases also assert that no *other* field is
 * blamed, so a case cannot pass on an unrelated error in the base config.
 *
 * The base config is small and built here (2 venues, 2 instruments, 3 tiers, 1 client) and
 * omits market, pricing, gateway, auth and nats, so it also exercises their defaults.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfigFile, loadDefaultConfig } from '../../engine/config.js';
import { ConfigError, EngineError } from '../../engine/errors.js';

// Raw configs are untyped JSON on purpose: the point is to feed the parser what a file could hold.
type Raw = any;

const DELETE = Symbol('delete');

const liq = (arrivalA: number, kappaPerBp: number, impactCoef: number) => ({ arrivalA, kappaPerBp, impactCoef });
const tier = (spreadMult: number, maxSize: number, maxBands: number, signalWeight: number, degraded: 'indicative' | 'pulled') => ({
  spreadMult,
  maxSize,
  maxBands,
  signalWeight,
  onStale: degraded,
  onQuarantine: degraded,
  onThin: degraded,
  onDisconnect: degraded,
});

/** A fresh, valid, minimal config. Instrument 0 is proxy-hedged with instrument 1. */
function base(): Raw {
  return {
    venues: ['VA', 'VB'],
    instruments: [
      {
        id: 'BOND-A',
        assetClass: 'corporate_bond',
        tickSize: 0.001,
        minSize: 100_000,
        maxSize: 10_000_000,
        lotSize: 1_000,
        liquidityClass: 'medium',
        hedgeProxy: 'IDX-B',
        hedgeBeta: 0.9,
        refPrice: 101.2,
        baseSpreadBps: 20,
        hedgeCostBps: 5,
        initialVolBpsAnnual: 600,
        sizeBands: [1_000_000, 2_000_000, 5_000_000],
        venues: ['VA', 'VB'],
      },
      {
        id: 'IDX-B',
        assetClass: 'cds_index',
        tickSize: 0.0025,
        minSize: 1_000_000,
        maxSize: 100_000_000,
        lotSize: 1_000_000,
        liquidityClass: 'high',
        refPrice: 100.5,
        baseSpreadBps: 3,
        hedgeCostBps: 1,
        initialVolBpsAnnual: 350,
        sizeBands: [10_000_000, 25_000_000],
        venues: ['VB', 'VA'],
      },
    ],
    liquidity: { high: liq(2, 0.8, 0.15), medium: liq(0.5, 0.15, 0.35), low: liq(0.1, 0.05, 0.6) },
    tiers: {
      '1': tier(0.6, 50_000_000, 4, 0, 'indicative'),
      '2': tier(0.8, 10_000_000, 3, 0.5, 'indicative'),
      '3': tier(1, 2_000_000, 2, 0, 'pulled'),
    },
    clients: [{ id: 'northwind', name: 'Northwind Asset Management', tier: 1 }],
  };
}
// With the base: narrowest base half-spread is BOND-A 20 / 2 × 0.6 = 6 bps (IDX-B: 0.9 bps).

/** Sets (or deletes) `path` ("a.b.0.c") on `o`, creating missing objects on the way. */
function set(o: Raw, path: string, value: unknown): Raw {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (cur[k] === undefined) cur[k] = {};
    cur = cur[k];
  }
  const last = keys[keys.length - 1];
  if (value === DELETE) delete cur[last];
  else cur[last] = value;
  return o;
}

/** A base config with `edits` applied ([path, value] pairs, in order). */
function withEdits(...edits: [string, unknown][]): Raw {
  const c = base();
  for (const [p, v] of edits) set(c, p, v);
  return c;
}

function catchConfigError(t: Test, input: unknown): ConfigError | null {
  try {
    parseConfig(input);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    t.fail(`expected a ConfigError, got ${String(e)}`);
    return null;
  }
  t.fail('expected parseConfig to throw, it returned a config');
  return null;
}

interface Expect {
  /** exact field path that must be named, e.g. 'instruments.1.tickSize' or '(root)' */
  readonly path: string;
  /** the issue for `path` must match this */
  readonly msg?: RegExp;
  /** when set, every issue must name `path` or one of these path prefixes (cross-field cases) */
  readonly only?: readonly string[];
}

function expectRejected(t: Test, input: unknown, x: Expect): void {
  const err = catchConfigError(t, input);
  if (!err) return;
  t.equal(err.code, 'QE_CONFIG_INVALID', 'code');
  const hits = err.issues.filter((i) => i.startsWith(`${x.path}: `));
  t.ok(hits.length > 0, `an issue names ${x.path}`, { issues: err.issues });
  if (x.msg) {
    const re = x.msg;
    t.ok(hits.some((h) => re.test(h)), `issue for ${x.path} matches ${re}`, { issues: err.issues });
  }
  if (x.only) {
    const allowed = [x.path, ...x.only];
    const stray = err.issues.filter((i) => !allowed.some((p) => i.startsWith(`${p}: `) || i.startsWith(`${p}.`)));
    t.same(stray, [], 'no other field is blamed');
  }
}

function expectAccepted(t: Test, input: unknown): ReturnType<typeof parseConfig> | null {
  try {
    return parseConfig(input);
  } catch (e) {
    t.fail(`expected a valid config, got ${String(e)}`, { issues: (e as ConfigError).issues });
    return null;
  }
}

// ─── base and the two original checks ────────────────────────────────────────────────────────

t.test('config - the small base config used below is valid', async (t) => {
  const c = expectAccepted(t, base());
  t.equal(c?.instruments.length, 2);
});

t.test('config - default universe is valid and frozen', async (t) => {
  const c = loadDefaultConfig();
  t.ok(c.instruments.length >= 24);
  t.ok(Object.isFrozen(c.instruments[0]));
});

t.test('config - unknown key rejected', async (t) => {
  const raw = JSON.parse(readFileSync('engine/default-config.json', 'utf8'));
  t.throws(() => parseConfig({ ...raw, bogus: 1 }), { code: 'QE_CONFIG_INVALID' });
  expectRejected(t, { ...raw, bogus: 1 }, { path: '(root)', msg: /Unrecognized key: "bogus"/, only: [] });
});

// ─── unknown keys, at every level ────────────────────────────────────────────────────────────

t.test('config - unknown keys are rejected at the root and in every nested object', async (t) => {
  const cases: [edit: string, objectPath: string][] = [
    ['bogus', '(root)'],
    ['market.bogus', 'market'],
    ['market.staleAfterMS', 'market'], // case typo of staleAfterMs
    ['pricing.bogus', 'pricing'],
    ['pricing.workers.bogus', 'pricing.workers'],
    ['tiers.4', 'tiers'],
    ['tiers.1.bogus', 'tiers.1'],
    ['tiers.3.bogus', 'tiers.3'],
    ['instruments.1.bogus', 'instruments.1'],
    ['instruments.0.collar', 'instruments.0'],
    ['liquidity.extreme', 'liquidity'],
    ['liquidity.low.bogus', 'liquidity.low'],
    ['clients.0.bogus', 'clients.0'],
    ['gateway.bogus', 'gateway'],
    ['auth.bogus', 'auth'],
    ['nats.bogus', 'nats'],
    ['nats.embedded.bogus', 'nats.embedded'],
  ];
  for (const [edit, objectPath] of cases) {
    const key = edit.split('.').pop();
    t.test(edit, async (t) => {
      expectRejected(t, withEdits([edit, 1]), { path: objectPath, msg: new RegExp(`Unrecognized key: "${key}"`), only: [] });
    });
  }
});

// ─── numeric bounds ──────────────────────────────────────────────────────────────────────────

type NumKind =
  | { kind: 'pos' } // finite, > 0
  | { kind: 'nonneg' } // finite, ≥ 0
  | { kind: 'finite' } // any finite number
  | { kind: 'int'; min: number; max?: number }
  | { kind: 'range'; min: number; max: number }; // finite float in [min, max]

const NUMERIC: [path: string, spec: NumKind, fixups?: [string, unknown][]][] = [
  ['instruments.0.tickSize', { kind: 'pos' }],
  ['instruments.0.minSize', { kind: 'pos' }],
  ['instruments.0.maxSize', { kind: 'pos' }],
  ['instruments.0.lotSize', { kind: 'pos' }],
  ['instruments.0.hedgeBeta', { kind: 'finite' }],
  ['instruments.0.refPrice', { kind: 'pos' }],
  ['instruments.0.baseSpreadBps', { kind: 'pos' }],
  ['instruments.0.hedgeCostBps', { kind: 'nonneg' }],
  ['instruments.0.initialVolBpsAnnual', { kind: 'pos' }],
  ['instruments.1.sizeBands.1', { kind: 'pos' }],
  ['instruments.0.initialPosition', { kind: 'finite' }],
  ['instruments.1.collarBps', { kind: 'pos' }],
  ['liquidity.high.arrivalA', { kind: 'pos' }],
  ['liquidity.medium.kappaPerBp', { kind: 'pos' }],
  ['liquidity.low.impactCoef', { kind: 'nonneg' }],
  ['market.staleAfterMs', { kind: 'int', min: 10, max: 600_000 }],
  ['market.minVenues', { kind: 'int', min: 1, max: 16 }],
  ['market.outlierBps', { kind: 'pos' }],
  ['market.volFastHalfLifeMs', { kind: 'int', min: 1 }],
  ['market.volSlowHalfLifeMs', { kind: 'int', min: 1 }],
  ['market.recoveryTicks', { kind: 'int', min: 1, max: 1000 }],
  ['market.staleSweepMs', { kind: 'int', min: 5, max: 10_000 }],
  ['pricing.gamma', { kind: 'pos' }],
  ['pricing.volHorizonSec', { kind: 'pos' }],
  ['pricing.volCoef', { kind: 'nonneg' }],
  ['pricing.maxSkewBps', { kind: 'pos' }],
  ['pricing.bandSpreadMults.1', { kind: 'pos' }, [['pricing.bandSpreadMults', [1, 1.4, 2]]]],
  ['pricing.minSpreadBps', { kind: 'pos' }],
  ['pricing.collarBps', { kind: 'pos' }],
  ['pricing.workers.threads', { kind: 'int', min: 1, max: 16 }],
  ['pricing.workers.maxQueue', { kind: 'int', min: 1, max: 1024 }],
  ['pricing.workers.batchTimeoutMs', { kind: 'int', min: 1, max: 60_000 }],
  ['pricing.workers.inlineMaxRows', { kind: 'int', min: 0, max: 20_000 }],
  ['pricing.maxBatch', { kind: 'int', min: 1, max: 20_000 }],
  ['pricing.miniBatchRows', { kind: 'int', min: 0, max: 4096 }],
  ['pricing.miniBatchesPerTurn', { kind: 'int', min: 0, max: 1024 }],
  ['tiers.1.spreadMult', { kind: 'pos' }],
  ['tiers.2.maxSize', { kind: 'pos' }],
  ['tiers.3.maxBands', { kind: 'int', min: 1, max: 8 }],
  ['tiers.2.signalWeight', { kind: 'range', min: 0, max: 1 }],
  ['gateway.port', { kind: 'int', min: 0, max: 65_535 }],
  ['gateway.maxPayloadBytes', { kind: 'int', min: 256, max: 1 << 20 }],
  ['gateway.softBackpressureBytes', { kind: 'int', min: 1024 }],
  ['gateway.maxBackpressureBytes', { kind: 'int', min: 2048 }],
  ['gateway.slowClientCloseMs', { kind: 'int', min: 100 }],
  ['gateway.sweepMs', { kind: 'int', min: 5, max: 10_000 }],
  ['gateway.idleTimeoutSec', { kind: 'int', min: 8, max: 960 }],
  ['gateway.maxSubscriptions', { kind: 'int', min: 1 }],
  ['gateway.inboundRatePerSec', { kind: 'int', min: 1 }],
  ['auth.clockSkewSec', { kind: 'int', min: 0, max: 300 }],
  ['auth.tokenTtlSec', { kind: 'int', min: 10, max: 30 * 86_400 }],
  ['nats.embedded.port', { kind: 'int', min: 0, max: 65_535 }],
];

const TOO_SMALL = /Too small/;
const TOO_BIG = /Too big/;
const NAN = /expected number, received NaN/;
const INF = /expected number, received Infinity/;
const NEG_INF = /expected number, received -Infinity/;
const STRING = /expected number, received string/;
const NULL = /expected number, received null/;

/** Values that must be rejected for a field of this kind, with the message each must produce. */
function badValues(s: NumKind): [label: string, value: unknown, msg: RegExp][] {
  const common: [string, unknown, RegExp][] = [
    ['NaN', NaN, NAN],
    ['Infinity', Infinity, INF],
    ['-Infinity', -Infinity, NEG_INF],
    ['a numeric string', '1', STRING],
    ['null', null, NULL],
  ];
  switch (s.kind) {
    case 'pos':
      return [...common, ['negative', -1, TOO_SMALL], ['zero', 0, TOO_SMALL], ['-0', -0, TOO_SMALL], ['tiny negative', -Number.MIN_VALUE, TOO_SMALL]];
    case 'nonneg':
      return [...common, ['negative', -1e-9, TOO_SMALL]];
    case 'finite':
      return common;
    case 'range':
      return [...common, ['below min', s.min - 1e-9, TOO_SMALL], ['above max', s.max + 1e-9, TOO_BIG], ['1e308', 1e308, TOO_BIG]];
    case 'int': {
      const out: [string, unknown, RegExp][] = [...common, ['below min', s.min - 1, TOO_SMALL], ['fractional', s.min + 0.5, /expected int, received number/], ['1e308', 1e308, TOO_BIG]];
      if (s.min > 0) out.push(['-0', -0, TOO_SMALL]);
      if (s.max !== undefined) out.push(['above max', s.max + 1, TOO_BIG]);
      return out;
    }
  }
}

t.test('config - numeric fields reject out-of-range, NaN, infinite, -0 and non-number values', async (t) => {
  for (const [path, spec, fixups = []] of NUMERIC) {
    t.test(path, async (t) => {
      t.ok(expectAccepted(t, withEdits(...fixups)), 'valid before the edit');
      for (const [label, value, msg] of badValues(spec)) {
        t.test(label, async (t) => expectRejected(t, withEdits(...fixups, [path, value]), { path, msg }));
      }
    });
  }
});

t.test('config - numeric edges inside the range are accepted as given', async (t) => {
  // Each row is a valid config: range ends, zero where ≥ 0, -0 where ≥ 0, fractional where a float.
  const cases: [path: string, value: number, fixups?: [string, unknown][]][] = [
    ['market.staleAfterMs', 10],
    ['market.staleAfterMs', 600_000],
    ['market.minVenues', 1],
    ['market.minVenues', 2], // = the venue count of each base instrument
    ['market.recoveryTicks', 1000],
    ['market.staleSweepMs', 5],
    ['market.staleSweepMs', 10_000],
    ['market.volFastHalfLifeMs', 299_999], // one below the default slow half-life
    ['pricing.workers.threads', 16],
    ['pricing.workers.maxQueue', 1024],
    ['pricing.workers.batchTimeoutMs', 60_000],
    ['pricing.maxBatch', 20_000],
    ['pricing.volCoef', 0],
    ['pricing.volCoef', -0],
    ['tiers.3.maxBands', 8],
    ['tiers.2.signalWeight', 0],
    ['tiers.2.signalWeight', 1],
    ['gateway.port', 0],
    ['gateway.port', 65_535],
    ['gateway.maxPayloadBytes', 256],
    ['gateway.maxPayloadBytes', 1 << 20],
    ['gateway.idleTimeoutSec', 8],
    ['gateway.idleTimeoutSec', 960],
    ['gateway.slowClientCloseMs', 100],
    ['gateway.maxBackpressureBytes', 262_145], // one above the default soft limit
    ['gateway.softBackpressureBytes', 1024],
    ['gateway.maxSubscriptions', Number.MAX_SAFE_INTEGER],
    ['auth.clockSkewSec', 0],
    ['auth.clockSkewSec', 300],
    ['auth.tokenTtlSec', 10],
    ['auth.tokenTtlSec', 30 * 86_400],
    ['nats.embedded.port', 65_535],
    ['instruments.0.hedgeCostBps', 0],
    ['instruments.0.hedgeBeta', -1.5],
    ['instruments.0.initialPosition', -25_000_000],
    ['liquidity.low.impactCoef', 0],
    ['instruments.0.collarBps', 6.01], // just wider than BOND-A's 6 bps base half-spread
    ['pricing.collarBps', 6.01],
    ['instruments.0.tickSize', 101.19], // just below refPrice
  ];
  for (const [path, value, fixups = []] of cases) {
    t.test(`${path} = ${Object.is(value, -0) ? '-0' : value}`, async (t) => {
      const c = expectAccepted(t, withEdits(...fixups, [path, value]));
      if (!c) return;
      let got: Raw = c;
      for (const k of path.split('.')) got = got[k];
      t.ok(Object.is(got, value), `stored as given (${String(got)})`);
    });
  }
});

// ─── types, enums, strings, arrays, required keys ────────────────────────────────────────────

t.test('config - wrong types, bad enums, bad strings and bad arrays name the field', async (t) => {
  const cases: [edit: string, value: unknown, path: string, msg: RegExp][] = [
    // the root itself
    ['', null, '(root)', /expected object, received null/],
    ['', [], '(root)', /expected object, received array/],
    ['', 'config.json', '(root)', /expected object, received string/],
    // arrays and sections of the wrong shape
    ['venues', 'VA', 'venues', /expected array, received string/],
    ['venues', [], 'venues', TOO_SMALL],
    ['venues', Array.from({ length: 17 }, (_, i) => `V${i}`), 'venues', TOO_BIG],
    ['venues.0', 7, 'venues.0', /expected string, received number/],
    ['venues.1', 'V B', 'venues.1', /must be 1-32 characters/],
    ['venues.1', 'V'.repeat(33), 'venues.1', /must be 1-32 characters/],
    ['instruments', {}, 'instruments', /expected array, received object/],
    ['instruments', [], 'instruments', TOO_SMALL],
    ['instruments.1', null, 'instruments.1', /expected object, received null/],
    ['liquidity', [], 'liquidity', /expected object, received array/],
    ['tiers', [], 'tiers', /expected object, received array/],
    ['tiers.2', null, 'tiers.2', /expected object, received null/],
    ['clients', [], 'clients', TOO_SMALL],
    ['clients', {}, 'clients', /expected array, received object/],
    ['market', null, 'market', /expected object, received null/],
    ['pricing', 'fast', 'pricing', /expected object, received string/],
    ['pricing.workers', 4, 'pricing.workers', /expected object, received number/],
    ['gateway', [], 'gateway', /expected object, received array/],
    ['auth', true, 'auth', /expected object, received boolean/],
    ['nats', null, 'nats', /expected object, received null/],
    ['nats.embedded', 'yes', 'nats.embedded', /expected object, received string/],
    // instrument fields
    ['instruments.0.id', 5, 'instruments.0.id', /expected string, received number/],
    ['instruments.0.id', 'BOND.A', 'instruments.0.id', /must be 1-32 characters/],
    ['instruments.0.id', '', 'instruments.0.id', /must be 1-32 characters/],
    ['instruments.0.assetClass', 'equity', 'instruments.0.assetClass', /Invalid option/],
    ['instruments.0.liquidityClass', 'HIGH', 'instruments.0.liquidityClass', /Invalid option/],
    ['instruments.0.description', 7, 'instruments.0.description', /expected string, received number/],
    ['instruments.0.description', 'x'.repeat(121), 'instruments.0.description', TOO_BIG],
    ['instruments.0.hedgeProxy', 5, 'instruments.0.hedgeProxy', /expected string, received number/],
    ['instruments.0.hedgeProxy', '', 'instruments.0.hedgeProxy', /must be 1-32 characters/],
    ['instruments.0.sizeBands', 1_000_000, 'instruments.0.sizeBands', /expected array, received number/],
    ['instruments.0.sizeBands', [], 'instruments.0.sizeBands', TOO_SMALL],
    ['instruments.1.sizeBands', [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => k * 1_000_000), 'instruments.1.sizeBands', TOO_BIG],
    ['instruments.0.venues', [], 'instruments.0.venues', TOO_SMALL],
    ['instruments.0.venues', 'VA', 'instruments.0.venues', /expected array, received string/],
    ['instruments.0.venues.0', 'V A', 'instruments.0.venues.0', /must be 1-32 characters/],
    // tiers
    ['tiers.1.onStale', 'off', 'tiers.1.onStale', /Invalid option/],
    ['tiers.2.onQuarantine', 'Pulled', 'tiers.2.onQuarantine', /Invalid option/],
    ['tiers.3.onThin', null, 'tiers.3.onThin', /Invalid option/],
    ['tiers.3.onDisconnect', 1, 'tiers.3.onDisconnect', /Invalid option/],
    ['tiers.1.maxBands', '4', 'tiers.1.maxBands', STRING],
    // clients
    ['clients.0.id', 'north wind', 'clients.0.id', /must be 1-32 characters/],
    ['clients.0.name', '', 'clients.0.name', TOO_SMALL],
    ['clients.0.name', 'n'.repeat(81), 'clients.0.name', TOO_BIG],
    ['clients.0.tier', '1', 'clients.0.tier', /Invalid input/],
    ['clients.0.tier', 4, 'clients.0.tier', /Invalid input/],
    ['clients.0.tier', 0, 'clients.0.tier', /Invalid input/],
    ['clients.0.role', 'root', 'clients.0.role', /Invalid option/],
    // pricing arrays
    ['pricing.bandSpreadMults', [], 'pricing.bandSpreadMults', TOO_SMALL],
    ['pricing.bandSpreadMults', [1, 1, 1, 1, 1, 1, 1, 1, 1], 'pricing.bandSpreadMults', TOO_BIG],
    ['pricing.bandSpreadMults', 1, 'pricing.bandSpreadMults', /expected array, received number/],
    // gateway, auth, nats strings (host/secretEnv/dataDir/origins rules are new: see the report)
    ['gateway.host', 5, 'gateway.host', /expected string, received number/],
    ['gateway.host', '', 'gateway.host', TOO_SMALL],
    ['gateway.allowedOrigins', 'http://localhost:8080', 'gateway.allowedOrigins', /expected array, received string/],
    ['gateway.allowedOrigins', ['http://localhost:8080/'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['http://localhost:8080', 'localhost:8080'], 'gateway.allowedOrigins.1', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['https://desk.example.com:443'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['https://desk.example.com/app'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['*'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['null'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['gateway.allowedOrigins', ['file:///tmp/page.html'], 'gateway.allowedOrigins.0', /must be a browser Origin/],
    ['auth.secretEnv', '', 'auth.secretEnv', /must be an environment variable name/],
    ['auth.secretEnv', '1SECRET', 'auth.secretEnv', /must be an environment variable name/],
    ['auth.secretEnv', 'QE-AUTH-SECRET', 'auth.secretEnv', /must be an environment variable name/],
    ['auth.secretEnv', 5, 'auth.secretEnv', /expected string, received number/],
    ['nats.mdPrefix', 'md.book', 'nats.mdPrefix', /must be 1-32 characters/],
    ['nats.mdPrefix', 'md>', 'nats.mdPrefix', /must be 1-32 characters/],
    ['nats.quotePrefix', '', 'nats.quotePrefix', /must be 1-32 characters/],
    ['nats.publishQuotes', 'yes', 'nats.publishQuotes', /expected boolean, received string/],
    ['nats.embedded.dataDir', '', 'nats.embedded.dataDir', TOO_SMALL],
    ['nats.embedded.dataDir', 7, 'nats.embedded.dataDir', /expected string, received number/],
  ];
  for (const [edit, value, path, msg] of cases) {
    t.test(`${edit || '(root)'} = ${JSON.stringify(value)?.slice(0, 40)}`, async (t) => {
      expectRejected(t, edit === '' ? value : withEdits([edit, value]), { path, msg });
    });
  }
});

t.test('config - a missing required key names the field', async (t) => {
  const required = [
    'venues',
    'instruments',
    'liquidity',
    'tiers',
    'clients',
    'instruments.0.id',
    'instruments.0.assetClass',
    'instruments.1.tickSize',
    'instruments.1.minSize',
    'instruments.1.maxSize',
    'instruments.1.lotSize',
    'instruments.1.liquidityClass',
    'instruments.1.refPrice',
    'instruments.1.baseSpreadBps',
    'instruments.1.hedgeCostBps',
    'instruments.1.initialVolBpsAnnual',
    'instruments.1.sizeBands',
    'instruments.1.venues',
    'liquidity.medium',
    'liquidity.high.kappaPerBp',
    'tiers.3',
    'tiers.2.spreadMult',
    'tiers.2.maxSize',
    'tiers.2.maxBands',
    'tiers.2.signalWeight',
    'tiers.2.onThin',
    'clients.0.id',
    'clients.0.name',
    'clients.0.tier',
  ];
  for (const path of required) {
    t.test(path, async (t) => expectRejected(t, withEdits([path, DELETE]), { path, msg: /received undefined|Invalid option|Invalid input/, only: [] }));
  }
});

// ─── cross-field rules (superRefine) ─────────────────────────────────────────────────────────

t.test('config - cross-field rules name the conflicting field and nothing else', async (t) => {
  const cases: [name: string, edits: [string, unknown][], x: Expect][] = [
    ['duplicate venue', [['venues', ['VA', 'VB', 'VA']]], { path: 'venues.2', msg: /duplicate venue "VA"/, only: [] }],
    [
      'duplicate instrument id',
      [['instruments.2', { ...base().instruments[1] }]],
      { path: 'instruments.2.id', msg: /duplicate instrument "IDX-B"/, only: [] },
    ],
    [
      'minSize > maxSize (bands cannot fit either)',
      [['instruments.0.maxSize', 50_000]],
      { path: 'instruments.0.minSize', msg: /minSize exceeds maxSize/, only: ['instruments.0.sizeBands'] },
    ],
    [
      'lotSize > minSize (minSize is then an odd lot too)',
      [['instruments.0.lotSize', 125_000]],
      { path: 'instruments.0.lotSize', msg: /lotSize exceeds minSize/, only: ['instruments.0.minSize'] },
    ],
    ['sizeBands equal neighbours', [['instruments.0.sizeBands', [1_000_000, 1_000_000, 5_000_000]]], { path: 'instruments.0.sizeBands.1', msg: /strictly ascending/, only: [] }],
    ['sizeBands descending', [['instruments.0.sizeBands', [2_000_000, 1_000_000]]], { path: 'instruments.0.sizeBands.1', msg: /strictly ascending/, only: [] }],
    ['band below minSize', [['instruments.0.sizeBands', [50_000, 2_000_000]]], { path: 'instruments.0.sizeBands.0', msg: /band 50000 outside \[minSize, maxSize\]/, only: [] }],
    [
      'band above maxSize',
      [['instruments.0.sizeBands', [1_000_000, 20_000_000]]],
      { path: 'instruments.0.sizeBands.1', msg: /band 20000000 outside \[minSize, maxSize\]/, only: [] },
    ],
    ['tickSize = refPrice', [['instruments.0.tickSize', 101.2]], { path: 'instruments.0.tickSize', msg: /tickSize must be below refPrice/, only: [] }],
    ['tickSize > refPrice', [['instruments.1.refPrice', 0.001]], { path: 'instruments.1.tickSize', msg: /tickSize must be below refPrice/, only: [] }],
    ['unknown venue on an instrument', [['instruments.1.venues', ['VA', 'VZ']]], { path: 'instruments.1.venues.1', msg: /unknown venue "VZ"/, only: [] }],
    [
      'duplicate venue on an instrument',
      [['market.minVenues', 1], ['instruments.1.venues', ['VA', 'VA']]],
      { path: 'instruments.1.venues', msg: /^instruments\.1\.venues: duplicate venue$/, only: [] },
    ],
    ['unknown hedge proxy', [['instruments.0.hedgeProxy', 'NOPE']], { path: 'instruments.0.hedgeProxy', msg: /unknown instrument "NOPE"/, only: [] }],
    ['instrument is its own hedge proxy', [['instruments.1.hedgeProxy', 'IDX-B']], { path: 'instruments.1.hedgeProxy', msg: /cannot be its own hedge proxy/, only: [] }],
    ['tier 1 spreadMult above tier 2', [['tiers.1.spreadMult', 0.9]], { path: 'tiers.2.spreadMult', msg: /tier 1 ≤ tier 2 ≤ tier 3 \(tier 1 has 0.9\)/, only: [] }],
    ['tier 3 spreadMult below tier 2', [['tiers.3.spreadMult', 0.7]], { path: 'tiers.3.spreadMult', msg: /tier 1 ≤ tier 2 ≤ tier 3 \(tier 2 has 0.8\)/, only: [] }],
    ['fast vol half-life = slow', [['market.volFastHalfLifeMs', 300_000]], { path: 'market.volFastHalfLifeMs', msg: /must be shorter than volSlowHalfLifeMs/, only: [] }],
    ['fast vol half-life > slow', [['market.volSlowHalfLifeMs', 1_000]], { path: 'market.volFastHalfLifeMs', msg: /must be shorter than volSlowHalfLifeMs/, only: [] }],
    [
      'maxBackpressureBytes = softBackpressureBytes',
      [['gateway.maxBackpressureBytes', 262_144]],
      { path: 'gateway.maxBackpressureBytes', msg: /must exceed softBackpressureBytes/, only: [] },
    ],
    [
      'softBackpressureBytes above maxBackpressureBytes',
      [['gateway.softBackpressureBytes', 8 * 1024 * 1024]],
      { path: 'gateway.maxBackpressureBytes', msg: /must exceed softBackpressureBytes/, only: [] },
    ],
    [
      'collar = minimum half-spread',
      [['pricing.minSpreadBps', 13], ['pricing.collarBps', 6.5]],
      { path: 'pricing.collarBps', msg: /collar narrower than the minimum half-spread/, only: [] },
    ],
    ['duplicate client', [['clients.1', { id: 'northwind', name: 'Other', tier: 2 }]], { path: 'clients.1.id', msg: /duplicate client "northwind"/, only: [] }],
    // ── rules added with this test file ──
    ['minSize not a multiple of lotSize', [['instruments.0.minSize', 100_500]], { path: 'instruments.0.minSize', msg: /must be a multiple of lotSize 1000/, only: [] }],
    ['maxSize not a multiple of lotSize', [['instruments.1.maxSize', 100_500_000]], { path: 'instruments.1.maxSize', msg: /must be a multiple of lotSize 1000000/, only: [] }],
    [
      'size band not a multiple of lotSize',
      [['instruments.0.sizeBands', [1_000_500, 2_000_000]]],
      { path: 'instruments.0.sizeBands.0', msg: /band 1000500 is not a multiple of lotSize 1000/, only: [] },
    ],
    [
      'instrument with fewer venues than market.minVenues',
      [['instruments.1.venues', ['VA']]],
      { path: 'instruments.1.venues', msg: /1 venue\(s\) but market.minVenues is 2: never firm/, only: [] },
    ],
    [
      'market.minVenues above every instrument’s venue count',
      [['market.minVenues', 3]],
      { path: 'instruments.0.venues', msg: /2 venue\(s\) but market.minVenues is 3/, only: ['instruments.1.venues'] },
    ],
    [
      'hedge proxy cycle (A→B→A)',
      [['instruments.1.hedgeProxy', 'BOND-A']],
      { path: 'instruments.0.hedgeProxy', msg: /"IDX-B" is itself hedged via "BOND-A"/, only: ['instruments.1.hedgeProxy'] },
    ],
    [
      'hedge proxy chain (A→B→C)',
      [
        ['instruments.2', { ...base().instruments[1], id: 'IDX-C' }],
        ['instruments.1.hedgeProxy', 'IDX-C'],
      ],
      { path: 'instruments.0.hedgeProxy', msg: /"IDX-B" is itself hedged via "IDX-C": a proxy must have hedgeProxy null/, only: [] },
    ],
    ['tier 2 maxSize above tier 1', [['tiers.2.maxSize', 60_000_000]], { path: 'tiers.2.maxSize', msg: /tier 1 ≥ tier 2 ≥ tier 3 \(tier 1 has 50000000\)/, only: [] }],
    ['tier 3 maxSize above tier 2', [['tiers.3.maxSize', 10_000_001]], { path: 'tiers.3.maxSize', msg: /tier 1 ≥ tier 2 ≥ tier 3 \(tier 2 has 10000000\)/, only: [] }],
    ['signalWeight on tier 1', [['tiers.1.signalWeight', 0.1]], { path: 'tiers.1.signalWeight', msg: /Tier 2 only: must be 0/, only: [] }],
    ['signalWeight on tier 3', [['tiers.3.signalWeight', 1]], { path: 'tiers.3.signalWeight', msg: /Tier 2 only: must be 0/, only: [] }],
    ['bandSpreadMults[0] ≠ 1', [['pricing.bandSpreadMults', [1.2, 1.4]]], { path: 'pricing.bandSpreadMults.0', msg: /must be 1/, only: [] }],
    ['bandSpreadMults decreasing', [['pricing.bandSpreadMults', [1, 2, 1.5]]], { path: 'pricing.bandSpreadMults.2', msg: /must not decrease/, only: [] }],
    [
      'instrument collar override narrower than the minimum half-spread',
      [['pricing.minSpreadBps', 2], ['instruments.1.collarBps', 1]],
      { path: 'instruments.1.collarBps', msg: /narrowest half-spread 1 bps/, only: [] },
    ],
    [
      'instrument collar override narrower than its base half-spread',
      [['instruments.0.collarBps', 6]],
      { path: 'instruments.0.collarBps', msg: /narrowest half-spread 6 bps/, only: [] },
    ],
    [
      'global collar narrower than an instrument’s base half-spread',
      [['pricing.collarBps', 6]],
      { path: 'instruments.0.baseSpreadBps', msg: /half-spread 6 bps .* reaches pricing.collarBps 6/, only: [] },
    ],
  ];
  for (const [name, edits, x] of cases) {
    t.test(name, async (t) => expectRejected(t, withEdits(...edits), x));
  }
});

t.test('config - the cross-field rules accept the combinations they allow', async (t) => {
  const cases: [name: string, edits: [string, unknown][]][] = [
    ['minSize = maxSize with one band', [['instruments.0.maxSize', 1_000_000], ['instruments.0.minSize', 1_000_000], ['instruments.0.sizeBands', [1_000_000]]]],
    ['lotSize = minSize', [['instruments.1.lotSize', 1_000_000]]],
    ['bands at both ends of [minSize, maxSize]', [['instruments.0.sizeBands', [100_000, 10_000_000]]]],
    ['fractional lots with float noise (0.6 / 0.1 = 5.999…)', [['instruments.0.lotSize', 0.1], ['instruments.0.minSize', 0.3], ['instruments.0.maxSize', 0.7], ['instruments.0.sizeBands', [0.3, 0.6]]]],
    ['equal tier spreadMults', [['tiers.1.spreadMult', 1], ['tiers.2.spreadMult', 1]]],
    ['equal tier maxSizes', [['tiers.2.maxSize', 2_000_000], ['tiers.1.maxSize', 2_000_000]]],
    ['flat bandSpreadMults', [['pricing.bandSpreadMults', [1, 1, 1]]]],
    ['hedgeProxy null, any beta', [['instruments.0.hedgeProxy', null], ['instruments.0.hedgeBeta', 0]]],
    ['an instrument with 3 venues', [['venues', ['VA', 'VB', 'VC']], ['instruments.0.venues', ['VC', 'VA', 'VB']]]],
    ['valid browser origins (the gateway compares them case-insensitively)', [['gateway.allowedOrigins', ['http://127.0.0.1:8080', 'https://desk.example.com', 'http://[::1]:3000', 'HTTP://LOCALHOST:8080']]]],
  ];
  for (const [name, edits] of cases) t.test(name, async (t) => t.ok(expectAccepted(t, withEdits(...edits)), 'parsed'));
});

// ─── defaults ────────────────────────────────────────────────────────────────────────────────

const DEFAULTS = {
  market: { staleAfterMs: 500, minVenues: 2, outlierBps: 50, volFastHalfLifeMs: 5_000, volSlowHalfLifeMs: 300_000, recoveryTicks: 3, staleSweepMs: 50 },
  pricing: {
    gamma: 0.05,
    volHorizonSec: 60,
    volCoef: 1,
    maxSkewBps: 50,
    bandSpreadMults: [1, 1.4, 2, 3],
    minSpreadBps: 0.5,
    collarBps: 300,
    workers: { threads: 1, maxQueue: 4, batchTimeoutMs: 250, inlineMaxRows: 64 },
    maxBatch: 4096,
    miniBatchRows: 8,
    miniBatchesPerTurn: 4,
  },
  gateway: {
    host: '127.0.0.1',
    port: 8080,
    maxPayloadBytes: 4096,
    softBackpressureBytes: 262_144,
    maxBackpressureBytes: 4_194_304,
    slowClientCloseMs: 10_000,
    sweepMs: 50,
    idleTimeoutSec: 60,
    maxSubscriptions: 20_000,
    inboundRatePerSec: 200,
    allowedOrigins: [],
  },
  auth: { secretEnv: 'QE_AUTH_SECRET', clockSkewSec: 5, tokenTtlSec: 28_800 },
  nats: { mdPrefix: 'md', quotePrefix: 'quote', publishQuotes: false, embedded: { dataDir: '.data/nats', port: 0 } },
} as const;

t.test('config - omitted sections are filled with their defaults', async (t) => {
  const c = expectAccepted(t, base());
  if (!c) return;
  t.strictSame(c.market, DEFAULTS.market, 'market');
  t.strictSame(c.pricing, DEFAULTS.pricing, 'pricing');
  t.strictSame(c.gateway, DEFAULTS.gateway, 'gateway');
  t.strictSame(c.auth, DEFAULTS.auth, 'auth');
  t.strictSame(c.nats, DEFAULTS.nats, 'nats');
});

t.test('config - empty sections and partial sections are completed field by field', async (t) => {
  const empty = expectAccepted(t, withEdits(['market', {}], ['pricing', { workers: {} }], ['gateway', {}], ['auth', {}], ['nats', { embedded: {} }]));
  if (empty) {
    t.strictSame(empty.market, DEFAULTS.market);
    t.strictSame(empty.pricing, DEFAULTS.pricing);
    t.strictSame(empty.nats, DEFAULTS.nats);
  }
  const partial = expectAccepted(t, withEdits(['market.staleAfterMs', 1000], ['pricing.workers.threads', 2], ['nats.embedded.port', 4222], ['auth.secretEnv', 'DESK_SECRET']));
  if (partial) {
    t.strictSame(partial.market, { ...DEFAULTS.market, staleAfterMs: 1000 });
    t.strictSame(partial.pricing.workers, { ...DEFAULTS.pricing.workers, threads: 2 });
    t.strictSame(partial.nats.embedded, { dataDir: '.data/nats', port: 4222 });
    t.strictSame(partial.auth, { ...DEFAULTS.auth, secretEnv: 'DESK_SECRET' });
  }
});

t.test('config - optional instrument and client fields get their defaults', async (t) => {
  const c = expectAccepted(t, base());
  if (!c) return;
  const idx = c.instruments[1];
  t.equal(idx.description, '');
  t.equal(idx.hedgeProxy, null);
  t.equal(idx.hedgeBeta, 1);
  t.equal(idx.initialPosition, 0);
  t.notOk('collarBps' in idx, 'no collar override unless given');
  t.equal(c.instruments[0].hedgeBeta, 0.9, 'a given value is kept');
  t.equal(c.clients[0].role, 'client');
});

// ─── the result is frozen and detached from the input ────────────────────────────────────────

t.test('config - the result is deep-frozen: any mutation throws in strict mode', async (t) => {
  const c = expectAccepted(t, withEdits(['gateway.allowedOrigins', ['http://localhost:8080']])) as Raw;
  if (!c) return;
  const mutations: [string, () => void][] = [
    ['root key', () => (c.venues = [])],
    ['new root key', () => (c.extra = 1)],
    ['market.staleAfterMs', () => (c.market.staleAfterMs = 1)],
    ['pricing.workers.threads', () => (c.pricing.workers.threads = 8)],
    ['pricing.bandSpreadMults[0]', () => (c.pricing.bandSpreadMults[0] = 2)],
    ['instruments.push', () => c.instruments.push({})],
    ['instruments[0].tickSize', () => (c.instruments[0].tickSize = 1)],
    ['instruments[0].sizeBands[0]', () => (c.instruments[0].sizeBands[0] = 1)],
    ['instruments[1].venues.pop', () => c.instruments[1].venues.pop()],
    ['tiers.2.spreadMult', () => (c.tiers['2'].spreadMult = 0)],
    ['liquidity.high.arrivalA', () => (c.liquidity.high.arrivalA = 0)],
    ['clients[0].tier', () => (c.clients[0].tier = 3)],
    ['delete venues[0]', () => delete c.venues[0]],
    ['gateway.allowedOrigins.push', () => c.gateway.allowedOrigins.push('http://evil.example')],
    ['auth.secretEnv', () => (c.auth.secretEnv = 'OTHER')],
    ['nats.embedded.port', () => (c.nats.embedded.port = 1)],
  ];
  for (const [name, mutate] of mutations) t.throws(mutate, TypeError, name);
  t.equal(c.market.staleAfterMs, 500, 'values unchanged');
  t.equal(c.instruments.length, 2);
});

t.test('config - the caller’s input is neither frozen nor shared with the result', async (t) => {
  const input = base();
  const c = expectAccepted(t, input);
  if (!c) return;
  t.notOk(Object.isFrozen(input), 'root');
  t.notOk(Object.isFrozen(input.instruments[0].sizeBands), 'nested array');
  input.instruments[0].sizeBands[0] = 1;
  input.venues.push('VZ');
  t.equal(c.instruments[0].sizeBands[0], 1_000_000);
  t.strictSame(c.venues, ['VA', 'VB']);
});

// ─── several errors at once ──────────────────────────────────────────────────────────────────

t.test('config - every error is reported together, field checks and cross-field rules alike', async (t) => {
  const input = withEdits(
    ['instruments.1.tickSize', -1],
    ['gateway.port', 70_000],
    ['clients.0.bogus', true],
    ['venues', ['VA', 'VB', 'VA']],
    ['tiers.3.signalWeight', 0.2],
  );
  const err = catchConfigError(t, input);
  if (!err) return;
  t.equal(err.code, 'QE_CONFIG_INVALID');
  const expected = ['instruments.1.tickSize: ', 'gateway.port: ', 'clients.0: ', 'venues.2: ', 'tiers.3.signalWeight: '];
  for (const p of expected) t.ok(err.issues.some((i) => i.startsWith(p)), `names ${p}`, { issues: err.issues });
  t.equal(err.issues.length, expected.length, 'one issue each', { issues: err.issues });
  t.equal(err.message, `invalid configuration:\n  ${err.issues.join('\n  ')}`, 'message lists every issue, one per line');
});

t.test('config - a wrong type stops the cross-field pass (it would only repeat the noise)', async (t) => {
  // documented behaviour of zod 4: refinements are skipped once a value has the wrong type
  const err = catchConfigError(t, withEdits(['instruments.1.tickSize', 'x'], ['venues', ['VA', 'VB', 'VA']]));
  if (!err) return;
  t.strictSame(err.issues, ['instruments.1.tickSize: Invalid input: expected number, received string']);
});

// ─── files ───────────────────────────────────────────────────────────────────────────────────

t.test('config - loadConfigFile: unreadable, not JSON, invalid, valid', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'qe-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  t.test('a missing file is QE_CONFIG_UNREADABLE with the OS error as cause', async (t) => {
    const path = join(dir, 'nope.json');
    try {
      loadConfigFile(path);
      t.fail('expected a throw');
    } catch (e) {
      t.ok(e instanceof EngineError, 'EngineError');
      t.notOk(e instanceof ConfigError, 'not a validation error');
      t.equal((e as EngineError).code, 'QE_CONFIG_UNREADABLE');
      t.match((e as Error).message, path);
      t.equal(((e as Error).cause as NodeJS.ErrnoException).code, 'ENOENT');
    }
  });

  t.test('a directory is QE_CONFIG_UNREADABLE', async (t) => {
    const path = join(dir, 'a-dir.json');
    mkdirSync(path);
    t.throws(() => loadConfigFile(path), { code: 'QE_CONFIG_UNREADABLE' });
  });

  for (const [name, text] of [
    ['truncated JSON', '{"venues": ["VA"'],
    ['an empty file', ''],
    ['JSON with a comment', '{ // comment\n}'],
  ] as const) {
    t.test(`${name} is QE_CONFIG_INVALID naming the file`, async (t) => {
      const path = join(dir, `${name.replace(/\W+/g, '-')}.json`);
      writeFileSync(path, text);
      try {
        loadConfigFile(path);
        t.fail('expected a throw');
      } catch (e) {
        t.ok(e instanceof ConfigError, 'ConfigError');
        t.equal((e as ConfigError).code, 'QE_CONFIG_INVALID');
        t.equal((e as ConfigError).issues.length, 1);
        t.ok((e as ConfigError).issues[0].startsWith(`(file ${path}): not valid JSON: `), (e as ConfigError).issues[0]);
        t.ok((e as Error).cause instanceof SyntaxError, 'cause is the SyntaxError');
      }
    });
  }

  t.test('valid JSON that breaks a rule is QE_CONFIG_INVALID naming the field', async (t) => {
    const path = join(dir, 'bad-tick.json');
    writeFileSync(path, JSON.stringify(withEdits(['instruments.1.tickSize', 0])));
    try {
      loadConfigFile(path);
      t.fail('expected a throw');
    } catch (e) {
      t.ok(e instanceof ConfigError, 'ConfigError');
      t.equal((e as ConfigError).code, 'QE_CONFIG_INVALID');
      t.strictSame((e as ConfigError).issues, ['instruments.1.tickSize: Too small: expected number to be >0']);
    }
  });

  t.test('a valid file parses to the same frozen config as parseConfig', async (t) => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(base(), null, 1));
    const c = loadConfigFile(path);
    t.strictSame(c, parseConfig(base()));
    t.ok(Object.isFrozen(c.tiers['1']));
  });
});
