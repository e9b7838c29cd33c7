/**
 * Risk ledger reference data and P&L: config section `pnl` (docs/pnl.md).
 * Owned by engine/pnl; merged into engine/config.ts as `pnl`.
 */
import { z } from 'zod';

export const pnlConfigSchema = z.strictObject({}).prefault({});
export type PnlConfig = z.output<typeof pnlConfigSchema>;
