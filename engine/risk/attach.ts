/**
 * Attaches the risk module to an engine (see engine/extensions.ts). Owned by the risk module.
 */
import type { EngineContext, EngineExtension } from '../extensions.js';

export async function attach(_ctx: EngineContext): Promise<EngineExtension> {
  return { name: 'risk', stop: async () => undefined };
}
