/**
 * The servers run as plain JavaScript, as an application would deploy this
 * library (compiled), not through the tsx loader: tsx transpiles with
 * esbuild's `keepNames`, which wraps every named closure in an
 * `Object.defineProperty(fn, 'name', …)` call when it is created — a slow
 * path and a 256-byte property array per closure, on hot paths and per
 * connection (it doubles the heap of an idle connection). ws is plain
 * JavaScript already, so this keeps the comparison fair.
 *
 * `typescript.transpileModule` (type stripping only, `.ts` imports rewritten
 * to `.js`) writes src/ and bench/servers/ into
 * node_modules/.cache/ktor-ws-ts-bench/<hash>/ (inside the project so that
 * `ws` resolves; ignored by git), once per change of the sources.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCES = ['src', 'bench/servers'];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Compiles once per source change; returns the directory that mirrors the project layout. */
export function buildServers(): string {
  const files = SOURCES.flatMap(tsFiles).sort();
  const hash = createHash('sha1');
  for (const file of files) hash.update(file).update(readFileSync(join(ROOT, file)));
  const out = join(ROOT, 'node_modules', '.cache', 'ktor-ws-ts-bench', hash.digest('hex').slice(0, 12));
  if (existsSync(join(out, 'package.json'))) return out;
  const staging = `${out}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  for (const file of files) {
    const result = ts.transpileModule(readFileSync(join(ROOT, file), 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        rewriteRelativeImportExtensions: true,
        sourceMap: false,
      },
    });
    const target = join(staging, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, result.outputText);
  }
  writeFileSync(join(staging, 'package.json'), '{ "type": "module" }\n');
  rmSync(out, { recursive: true, force: true });
  renameSync(staging, out);
  // Older builds are of no use any more.
  for (const old of readdirSync(dirname(out))) {
    if (!old.includes('.tmp-') && join(dirname(out), old) !== out) rmSync(join(dirname(out), old), { recursive: true, force: true });
  }
  return out;
}

/** Where the compiled server `file` (a name under bench/servers/) lives. */
export function compiledServer(dir: string, file: string): string {
  return join(dir, relative(ROOT, join(ROOT, 'bench', 'servers', file.replace(/\.ts$/, '.js'))));
}
