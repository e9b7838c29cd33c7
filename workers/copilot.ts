/**
 * Piscina task: one co-pilot recommendation (engine/copilot/model.ts). Pure compute; imports only
 * the model and the hedge cost model it uses. The input arrives by structured clone (a few KB: the
 * RFQ, market figures, the client's context and past quote outcomes), the result goes back the same
 * way; one task per queued RFQ, so the copy is on no hot path.
 */
import { recommend, type CopilotInput, type Recommendation } from '../engine/copilot/model.js';

/** `null` is the warm-up: proves the worker is up (boot takes a few hundred ms on a loaded machine). */
export default function copilot(task: CopilotInput | null): Recommendation | null {
  return task === null ? null : recommend(task);
}
