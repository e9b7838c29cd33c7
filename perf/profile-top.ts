/**
 * Self time per function from a V8 .cpuprofile (what `node --cpu-prof` writes; `npm run perf --
 * --profile` puts them in perf/results/profiles/). Prints the top functions and a roll-up by file.
 *
 *   node dist/perf/profile-top.js <file.cpuprofile> [top=25]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-top <file.cpuprofile> [top]');
const top = Number(topArg ?? 25);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
// self time: each sample's delta charged to the node it landed in
const selfUs = new Map<number, number>();
for (let k = 0; k < p.samples.length; k++) selfUs.set(p.samples[k], (selfUs.get(p.samples[k]) ?? 0) + (p.timeDeltas[k] ?? 0));
const totalUs = p.endTime - p.startTime;

const short = (url: string) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm:').replace(/^.*\/dist\//, '');
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const name = n.callFrame.functionName || '(anonymous)';
  const where = n.callFrame.url ? `${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : '';
  const key = where ? `${name} ${where}` : name;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const f = n.callFrame.url ? short(n.callFrame.url).replace(/:\d+$/, '') : `(${name})`;
  files.set(f, (files.get(f) ?? 0) + us);
}
const pct = (us: number) => ((100 * us) / totalUs).toFixed(1).padStart(5);
const busy = totalUs - (fn.get('(idle)') ?? 0);
console.log(`profile ${file}: ${(totalUs / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s (${pct(busy)}%)`);
console.log('\nself time by function');
for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
console.log('\nself time by file');
for (const [k, us] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
