/**
 * Attaches the hedging module to an engine (see engine/extensions.ts). Owned by the hedging module.
 */
import type { EngineContext, EngineExtension } from '../extensions.js';

export async function attach(_ctx: EngineContext): Promise<EngineExtension> {
  return { name: 'hedging', stop: async () => undefined };
}
