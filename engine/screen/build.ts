/**
 * Builds the trader screen: type-checks engine/screen/app (its own tsconfig: DOM, Preact JSX) and
 * bundles it with esbuild into one minified app.js + app.css with source maps, plus index.html,
 * in dist/screen/ (served by serve.ts). No hashing: serve.ts revalidates with ETags instead.
 *
 *   node dist/engine/screen/build.js [--out DIR] [--no-typecheck]
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/** The repository root: the nearest directory above this file with a package.json (works from engine/ and dist/engine/). */
export function repoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let d = from;
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error(`no package.json above ${from}`);
    d = up;
  }
  return d;
}

export interface BuildScreenOptions {
  /** output directory (default <root>/dist/screen) */
  readonly outDir?: string;
  /** run tsc on the app first (default true) */
  readonly typecheck?: boolean;
  readonly root?: string;
}

export interface BuiltScreen {
  readonly outDir: string;
  /** output file → bytes */
  readonly files: Record<string, number>;
}

export async function buildScreen(o: BuildScreenOptions = {}): Promise<BuiltScreen> {
  const root = o.root ?? repoRoot();
  const app = join(root, 'engine', 'screen', 'app');
  const outDir = resolve(o.outDir ?? join(root, 'dist', 'screen'));
  if (o.typecheck !== false) {
    const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
    // throws with tsc's report on a type error: a broken screen must fail the build
    execFileSync(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: root, stdio: 'inherit' });
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const r = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { app: join(app, 'main.tsx') },
    outdir: outDir,
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  copyFileSync(join(app, 'index.html'), join(outDir, 'index.html'));
  const files: Record<string, number> = {};
  for (const [f, m] of Object.entries(r.metafile.outputs)) files[f.slice(f.lastIndexOf('/') + 1)] = m.bytes;
  return { outDir, files };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  buildScreen({ outDir: at >= 0 ? args[at + 1] : undefined, typecheck: !args.includes('--no-typecheck') }).then(
    (b) => console.log(`trader screen built in ${b.outDir}: ${Object.entries(b.files).map(([f, n]) => `${f} ${(n / 1024).toFixed(1)} KiB`).join(', ')}`),
    (e: Error) => {
      console.error(`screen build failed: ${e.message}`);
      process.exit(1);
    },
  );
}
