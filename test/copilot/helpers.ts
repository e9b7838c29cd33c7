/** Co-pilot model fixtures from the default universe. */
import { copilotConfigSchema } from '../../engine/copilot/config.js';
import type { ClientContext, CopilotInput, ModelParams } from '../../engine/copilot/model.js';
import { loadDefaultConfig } from '../../engine/config.js';
import { hedgeInstrumentFromConfig } from '../../engine/hedging/costs.js';
import { annualBpsToBpsPerSqrtSec } from '../../engine/market/state.js';

export const config = loadDefaultConfig();
export const cfg = copilotConfigSchema.parse({});
export const params: ModelParams = {
  ciZ: cfg.ciZ, volParamUncertainty: cfg.volParamUncertainty, hedgeCostUncertainty: cfg.hedgeCostUncertainty, axeImproveBps: cfg.axeImproveBps,
  maxClips: cfg.maxClips, stressVolMult: cfg.stressVolMult, winModel: cfg.winModel,
};

export function client(over: Partial<ClientContext> = {}): ClientContext {
  return {
    clientId: 'northwind', name: 'Northwind Asset Management', tier: 1, effectiveTier: 1, override: null, score: null, recentTrades: [], hitRatio: null,
    quotedRfqs: 0, markoutBps: null, naturalInterest: [], agreements: [], shadingBps: 0, maxSize: 5e7, ...over,
  };
}

/** An RFQ on `id` (default ACME-27, a corporate bond with a CDX-IG proxy) on a normal day. */
export function input(over: { id?: string; side?: 'buy' | 'sell'; size?: number; position?: number; volMult?: number; history?: CopilotInput['history']; deskAxe?: CopilotInput['deskAxe']; shownAxe?: CopilotInput['shownAxe']; client?: Partial<ClientContext>; reason?: string } = {}): CopilotInput {
  const ins = config.instruments.find((i) => i.id === (over.id ?? 'ACME-27'))!;
  const vol = annualBpsToBpsPerSqrtSec(ins.initialVolBpsAnnual) * (over.volMult ?? 1);
  return {
    rfq: { rfqId: 'R1', clientId: 'northwind', tier: 1, instrument: ins.id, side: over.side ?? 'sell', size: over.size ?? 2e6, limit: null, reason: over.reason ?? 'tier1', regime: null },
    instrument: {
      ...hedgeInstrumentFromConfig(ins, config.liquidity), tickSize: ins.tickSize, minSize: ins.minSize, maxSize: ins.maxSize, baseSpreadBps: ins.baseSpreadBps,
      tierSpreadMult: config.tiers['1'].spreadMult, minHalfSpreadBps: config.pricing.minSpreadBps / 2, collarBps: ins.collarBps ?? config.pricing.collarBps,
    },
    market: { mid: ins.refPrice, volFastBps: vol, volSlowBps: vol * 0.9, halfSpreadBps: (ins.baseSpreadBps / 2) * 1.15, firm: true, venueMidStdBps: 1, liveVenues: 3 },
    positionNotional: over.position ?? 0,
    deskAxe: over.deskAxe ?? null,
    client: client(over.client),
    history: over.history ?? [],
    shownAxe: over.shownAxe ?? null,
    flow: { expectedOffsetNotional: 0, axeOffsetNotional: 0, earnedHalfSpreadBps: 5 },
    proxy: null,
    hedging: config.hedging,
    params,
    nowMs: 1_000_000,
  };
}
