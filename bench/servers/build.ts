/**
 * The benchmark servers run as plain JavaScript importing the built package
 * by its name, as an application deploys this library: `npm run build`
 * compiles bench/servers/ to build/bench/servers/ (tsconfig.examples.json),
 * where `ktor-ws-ts` resolves to dist/. Never through the tsx loader: tsx
 * transpiles with esbuild's `keepNames`, which wraps every named closure in an
 * `Object.defineProperty(fn, 'name', …)` call when it is created — a slow
 * path and a 256-byte property array per closure, on hot paths and per
 * connection (it doubles the heap of an idle connection). ws is plain
 * JavaScript already, so this keeps the comparison fair.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Set by `npm run bench` once it has built, so each benchmark process does not build again. */
const BUILT_ENV = 'KTOR_WS_BENCH_BUILT';
let built = process.env[BUILT_ENV] === '1';

/** Runs `npm run build` (once per process, unless the parent already did); returns the project root. */
export function buildServers(): string {
  if (!built) {
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    if (result.status !== 0) throw new Error('npm run build failed');
    built = true;
    process.env[BUILT_ENV] = '1';
  }
  return ROOT;
}

/** Where the compiled server `file` (a name under bench/servers/) lives. */
export function compiledServer(root: string, file: string): string {
  return join(root, 'build', 'bench', 'servers', file.replace(/\.ts$/, '.js'));
}
