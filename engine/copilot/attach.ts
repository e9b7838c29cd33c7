/**
 * Attaches the copilot module to an engine (see engine/extensions.ts). Owned by the copilot module.
 */
import type { EngineContext, EngineExtension } from '../extensions.js';

export async function attach(_ctx: EngineContext): Promise<EngineExtension> {
  return { name: 'copilot', stop: async () => undefined };
}
