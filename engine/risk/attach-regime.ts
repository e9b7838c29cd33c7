/**
 * Attaches the regime module to an engine (see engine/extensions.ts). Owned by the regime module.
 */
import type { EngineContext, EngineExtension } from '../extensions.js';

export async function attach(_ctx: EngineContext): Promise<EngineExtension> {
  return { name: 'regime', stop: async () => undefined };
}
