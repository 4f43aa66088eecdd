/**
 * The package as a user's project sees it: `npm pack` (which builds through
 * `prepare`), the tarball installed into a scratch project without network,
 * and then, each as a user would:
 * - plain `node` importing it by name (ES modules), with a real echo over
 *   127.0.0.1 through the main entry point and a look into `./frames` and
 *   `./channels`;
 * - `require()` from CommonJS (Node >= 20.19 loads ES modules that way);
 * - `tsc` type-checking a usage file, strict and with `skipLibCheck` false
 *   (also with `types: []`, TypeScript 7's default),
 *   under `moduleResolution` `nodenext`, `bundler` and `node` (node10),
 *   and with an older
 *   `target`/`lib` (ES2020);
 * - esbuild bundling the usage with packages external (how tsup builds),
 *   then running the bundle.
 * It also checks what the tarball holds: the built package and its docs,
 * no sources, tests, benchmarks, fuzz properties or tools.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');

interface PackedFile {
  readonly path: string;
  readonly size: number;
}
interface PackResult {
  readonly filename: string;
  readonly size: number;
  readonly unpackedSize: number;
  readonly files: readonly PackedFile[];
}

const scratch = mkdtempSync(join(tmpdir(), 'ktor-ws-ts-pack-'));
const project = join(scratch, 'app');
let packed: PackResult;

test.before(() => {
  const json = execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  packed = (JSON.parse(json) as PackResult[])[0]!;
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(scratch, packed.filename)], {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The user's own dev dependency for `tsc`: Node's types.
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs node on `file` in the scratch project; fails with its output unless it exits 0. */
function runNode(file: string): string {
  const result = spawnSync(process.execPath, [file], { cwd: project, encoding: 'utf8', timeout: 30_000 });
  assert.is(result.status, 0, `${file} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

test('the tarball holds the built package and its docs, nothing else', () => {
  const paths = packed.files.map((f) => f.path);
  const topLevel = new Set(paths.map((p) => p.split('/')[0]));
  assert.equal([...topLevel].sort(), ['LICENSE', 'README.md', 'SECURITY.md', 'dist', 'docs', 'package.json']);
  for (const path of paths.filter((p) => p.startsWith('dist/'))) {
    assert.ok(/\.(js|d\.ts)$/.test(path), `unexpected file ${path}`);
  }
  for (const entry of ['dist/index.js', 'dist/index.d.ts', 'dist/frames/index.js', 'dist/channels/index.d.ts', 'dist/brokers/redis.js']) {
    assert.ok(paths.includes(entry), `missing ${entry}`);
  }
  assert.not.ok(paths.some((p) => /(^|\/)(tests?|bench|fuzz|scripts|examples)\//.test(p)), 'no tests, benchmarks, fuzz or tools');
  assert.not.ok(paths.some((p) => p.endsWith('.ts') && !p.endsWith('.d.ts')), 'no TypeScript sources');
});

test('every relative link of the packed README and SECURITY.md points at a packed file', () => {
  const paths = new Set(packed.files.map((f) => f.path));
  let links = 0;
  for (const doc of ['README.md', 'SECURITY.md']) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:|^#/.test(target!)) continue; // a URL or an anchor of the same page
      links++;
      const file = target!.split('#')[0]!;
      assert.ok(paths.has(file), `${doc} links to ${file}, which the tarball does not hold`);
    }
  }
  assert.ok(links > 0, 'the README links to its docs');
});

const ECHO = `
const server = createWebSocketServer(async (session) => {
  for await (const message of session) await session.send(message);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const session = await connect('ws://127.0.0.1:' + server.address().port + '/');
await session.send('hello');
const reply = await session.receive();
await session.close();
server.close();
const parser = new FrameParser({ role: 'client' });
parser.push(Buffer.from([0x81, 0x02, 0x68, 0x69]));
const frame = parser.next();
const channel = new ByteChannel(16);
await channel.writeFully(Buffer.from('ab'));
const wss = new WebSocketServer().route('/h2', async (s) => {
  for await (const m of s) await s.send(s.request.httpVersion + ':' + m);
});
const { port } = await wss.listen(0, '127.0.0.1');
const overH2 = await connect('ws://127.0.0.1:' + port + '/h2', { http2: { idleTimeoutMs: 0 } });
await overH2.send('x');
const h2 = await overH2.receive();
await overH2.close();
await wss.close();
console.log(JSON.stringify({ reply, h2, opcode: frame.opcode, text: frame.payload.toString(), available: channel.availableForRead, code: CloseCode.Normal, broker: typeof redisBroker }));
`;
const EXPECTED = { reply: 'hello', h2: '2.0:x', opcode: 1, text: 'hi', available: 2, code: 1000, broker: 'function' };

test('plain node imports it by name (ES modules) and echoes over 127.0.0.1', () => {
  writeFileSync(
    join(project, 'esm.mjs'),
    `import { connect, createWebSocketServer, CloseCode, WebSocketServer } from 'ktor-ws-ts';
import { FrameParser } from 'ktor-ws-ts/frames';
import { ByteChannel } from 'ktor-ws-ts/channels';
import { redisBroker } from 'ktor-ws-ts/redis';
${ECHO}`,
  );
  assert.equal(JSON.parse(runNode('esm.mjs')), EXPECTED);
});

test('require() from CommonJS loads it', () => {
  writeFileSync(
    join(project, 'cjs.cjs'),
    `const { connect, createWebSocketServer, CloseCode, WebSocketServer } = require('ktor-ws-ts');
const { FrameParser } = require('ktor-ws-ts/frames');
const { ByteChannel } = require('ktor-ws-ts/channels');
const { redisBroker } = require('ktor-ws-ts/redis');
(async () => {${ECHO}})().catch((error) => { console.error(error); process.exit(1); });`,
  );
  assert.equal(JSON.parse(runNode('cjs.cjs')), EXPECTED);
});

/** A usage file touching the public types of every entry point. */
const USAGE = `import { createServer as createHttp2Server } from 'node:http2';
import { connect, createWebSocketServer, permessageDeflate, CloseCode, type DefaultWebSocketSession, type Message } from 'ktor-ws-ts';
import { WebSocketServer, handleHttp2Stream, http2ServerOptions, type Http2WebSocketLimits, type ListenOptions } from 'ktor-ws-ts';
import { FrameParser, type Frame } from 'ktor-ws-ts/frames';
import { ByteChannel, type ByteReadChannel } from 'ktor-ws-ts/channels';
import { redisBroker, type Broker } from 'ktor-ws-ts/redis';

export async function echo(session: DefaultWebSocketSession): Promise<void> {
  for await (const message of session) {
    const copy: Message = message;
    await session.send(copy);
  }
}
export const server = createWebSocketServer(echo, { extensions: [permessageDeflate({ threshold: 0 })] });
export async function open(url: string): Promise<number> {
  const session = await connect(url, { extensions: [permessageDeflate()] });
  return (await session.close(CloseCode.Normal)).code;
}
export function first(bytes: Buffer): Frame | undefined {
  const parser = new FrameParser({ role: 'client' });
  parser.push(bytes);
  return parser.next();
}
export const input: ByteReadChannel = new ByteChannel(1024);
export const makeBroker: (client: Parameters<typeof redisBroker>[0]['client']) => Broker = (client) => redisBroker({ client });
export const limits: Http2WebSocketLimits = { maxConcurrentStreams: 10 };
export const h2 = createHttp2Server(http2ServerOptions(limits));
h2.on('stream', (stream, headers) => {
  handleHttp2Stream(stream, headers, echo);
});
export const listenOptions: ListenOptions = { http2: true };
export const wss = new WebSocketServer({ http2: limits }).route('/echo', echo);
export const version = (session: DefaultWebSocketSession): string | undefined => session.request?.httpVersion;
// The README's verify hook: branches with different header names (TypeScript gives each the other's as \`?: undefined\`).
declare function lookUp(token: string | null, signal: AbortSignal): Promise<string | undefined>;
export const guarded = new WebSocketServer<{ user: string }>({
  verify: async (_request, { query, signal }) => {
    const user = await lookUp(query.get('token'), signal);
    if (user === undefined) {
      return { accept: false, status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'log in first' };
    }
    return { accept: true, data: { user }, headers: { 'Set-Cookie': 'seen=1' } };
  },
});
`;

/** A usage file that names nothing of Node's itself (as the README's client example). */
const USAGE_WITHOUT_NODE = `import { connect, type Message } from 'ktor-ws-ts';
import { FrameParser } from 'ktor-ws-ts/frames';
import { ByteChannel } from 'ktor-ws-ts/channels';
import { redisBroker } from 'ktor-ws-ts/redis';

export async function hello(url: string): Promise<Message> {
  const session = await connect(url);
  await session.send('hi');
  return session.receive();
}
export const parts = [FrameParser, ByteChannel, redisBroker] as const;
`;

function typeCheck(name: string, compilerOptions: Record<string, unknown>, usage = USAGE): void {
  const dir = join(project, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'usage.ts'), usage);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, types: ['node'], ...compilerOptions }, files: ['usage.ts'] }),
  );
  const result = spawnSync(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: project, encoding: 'utf8' });
  assert.is(result.status, 0, `tsc (${name}) failed:\n${result.stdout}${result.stderr}`);
}

test('tsc type-checks a usage file under moduleResolution nodenext', () => {
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  typeCheck('nodenext', { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022' });
});

test('tsc type-checks a usage file under moduleResolution bundler', () => {
  typeCheck('bundler', { module: 'esnext', moduleResolution: 'bundler', target: 'es2022' });
});

test('tsc type-checks a usage file under the old moduleResolution node (node10), without esModuleInterop: subpaths through typesVersions', () => {
  typeCheck('node10', { module: 'esnext', moduleResolution: 'node', target: 'es2022', esModuleInterop: false });
});

test('tsc type-checks a usage file with an older target and lib (ES2020)', () => {
  typeCheck('es2020', { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2020', lib: ['es2020'] });
});

test("tsc type-checks code that uses none of Node's types under a tsconfig listing no types (TypeScript 7's default): the declarations load them", () => {
  typeCheck('no-types', { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] }, USAGE_WITHOUT_NODE);
});

test('esbuild bundles it with packages external, and the bundle runs', async () => {
  const esbuild = (await import(createRequire(require.resolve('tsx/package.json')).resolve('esbuild'))) as typeof import('esbuild');
  writeFileSync(
    join(project, 'entry.mjs'),
    `import { connect, createWebSocketServer, CloseCode, WebSocketServer } from 'ktor-ws-ts';
import { FrameParser } from 'ktor-ws-ts/frames';
import { ByteChannel } from 'ktor-ws-ts/channels';
import { redisBroker } from 'ktor-ws-ts/redis';
${ECHO}`,
  );
  await esbuild.build({
    absWorkingDir: project,
    entryPoints: ['entry.mjs'],
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    outfile: 'bundle.mjs',
    logLevel: 'silent',
  });
  assert.equal(JSON.parse(runNode('bundle.mjs')), EXPECTED);
});

test.run();
