/**
 * Pre-trade risk controls and the kill switch: config section `risk` (docs/risk-controls.md).
 * Owned by engine/risk; merged into engine/config.ts as `risk`.
 */
import { z } from 'zod';

export const riskConfigSchema = z.strictObject({}).prefault({});
export type RiskConfig = z.output<typeof riskConfigSchema>;
