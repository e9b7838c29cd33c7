/**
 * Tier-1 co-pilot, axe distribution and decision audit: config section `copilot` (docs/copilot.md).
 * Owned by engine/copilot; merged into engine/config.ts as `copilot`.
 */
import { z } from 'zod';

export const copilotConfigSchema = z.strictObject({}).prefault({});
export type CopilotConfig = z.output<typeof copilotConfigSchema>;
