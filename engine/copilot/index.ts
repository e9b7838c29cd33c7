/** Public surface of engine/copilot/: the co-pilot service, its model, axes, decision audit and the demo client. */
export { CopilotService, COPILOT_KINDS, type RfqChange, type CopilotDeps } from './service.js';
export { recommend, fitWinModel, winPrior, winProbability, ciHalfWidthBps, type CopilotInput, type Recommendation, type ClientContext, type ModelParams } from './model.js';
export { AxeBook, type AxePosition, type AxeCandidate, type ShownAxe } from './axes.js';
export { DecisionJournal, readDecisions, joinDecisions, decisionSchema, type Decision, type DecisionRow } from './audit.js';
export { calibrate, type Calibration } from './report.js';
export { createCopilotPool, createInlineCopilot, COPILOT_WORKER_URL, type CopilotRunner, type CopilotRun } from './pool.js';
export { copilotConfigSchema, type CopilotConfig } from './config.js';
export { startDemoTier1Client, type DemoTier1Options, type DemoTier1Client, type DemoTier1Stats } from './demo-client.js';
export { attach, type RfqCopilotHooks } from './attach.js';
