/**
 * Attaches the pnl module to an engine (see engine/extensions.ts). Owned by the pnl module.
 */
import type { EngineContext, EngineExtension } from '../extensions.js';

export async function attach(_ctx: EngineContext): Promise<EngineExtension> {
  return { name: 'pnl', stop: async () => undefined };
}
