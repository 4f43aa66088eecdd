/**
 * Memory per idle connection: 10,000 WebSocket connections (BENCH_QUICK=1:
 * 2,000) opened by the C load generator to each echo server in turn (a fresh
 * server process each, pinned to core 0; the fd limit is raised for both
 * sides). The server reports its heap and RSS after two full GCs before and
 * after the connections are open; the growth divided by the connection count
 * is the cost of one idle connection (kernel socket buffers are not in RSS).
 *
 *   node --import tsx --expose-gc bench/memory.bench.ts
 *
 * Writes bench/results/memory.json.
 */
import { buildLoadgen } from './loadgen/build.ts';
import { bytes, Progress, ratio, table, writeResult } from './report.ts';
import { bufferutilAvailable, LineReader, rssOf, RunningServer, SERVERS, spawnPinned, type MemorySample, type ServerSpec } from './servers/spawn.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const CONNECTIONS = Number(process.env.BENCH_IDLE_CONNECTIONS ?? (QUICK ? 2000 : 10_000));
const SETTLE_MS = QUICK ? 300 : 1000;
/** Targets (issue 14): heap per idle connection at most 4 KiB; RSS at most ws's plus 2 KiB. */
const HEAP_TARGET_BYTES = 4 * 1024;
const RSS_MARGIN_BYTES = 2 * 1024;

interface Result {
  key: string;
  label: string;
  connections: number;
  before: MemorySample;
  after: MemorySample;
  heapPerConnection: number;
  externalPerConnection: number;
  rssPerConnection: number;
  peakRss: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(loadgen: string, spec: ServerSpec): Promise<Result> {
  const server = await RunningServer.start(spec, 0);
  try {
    await sleep(SETTLE_MS);
    const before = await server.memory();
    const client = spawnPinned([loadgen, 'idle', '127.0.0.1', String(server.port), String(CONNECTIONS)], 1);
    const exited = new Promise<number | null>((resolve) => client.once('exit', (code) => resolve(code)));
    const lines = new LineReader(client, `loadgen→${spec.key}`);
    const ready = await lines.next(120_000);
    if (ready !== `ready ${CONNECTIONS}`) throw new Error(`load generator: expected "ready ${CONNECTIONS}", got ${String(ready)}`);
    await sleep(SETTLE_MS);
    const after = await server.memory();
    const { peak } = rssOf(server.pid);
    client.stdin.end();
    await exited;
    return {
      key: spec.key,
      label: spec.label,
      connections: CONNECTIONS,
      before,
      after,
      heapPerConnection: (after.heapUsed - before.heapUsed) / CONNECTIONS,
      externalPerConnection: (after.external - before.external) / CONNECTIONS,
      rssPerConnection: (after.rss - before.rss) / CONNECTIONS,
      peakRss: peak,
    };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadgen = buildLoadgen();
  // One ws row: bufferutil does not change what an idle connection holds.
  const specs: ServerSpec[] = SERVERS.filter((s) => s.key === 'ours' || s.key === 'raw' || s.key === (bufferutilAvailable() ? 'ws' : 'ws-js'));
  // The server object the README recommends (its own listener, HTTP/2 sniffing, session tracking) beside `createWebSocketServer`.
  specs.splice(1, 0, { key: 'ours-server', label: 'ours (WebSocketServer)', file: 'ours.ts', env: { BENCH_SERVER_OBJECT: '1' } });
  console.log(`${CONNECTIONS} idle connections per server (fresh server process each, heap and RSS after two full GCs, before and after)`);
  const progress = new Progress();
  const results: Result[] = [];
  for (const spec of specs) {
    progress.update(`memory: ${CONNECTIONS} connections to ${spec.label} (${Math.round((Date.now() - started) / 1000)} s)`, true);
    results.push(await measure(loadgen, spec));
  }
  progress.done();
  const ws = results.find((r) => r.key === 'ws' || r.key === 'ws-js');
  const rows = results.map((r) => [
    r.label,
    bytes(r.heapPerConnection),
    bytes(r.externalPerConnection),
    bytes(r.rssPerConnection),
    bytes(r.after.rss),
    r === ws ? '' : ratio(r.heapPerConnection, ws?.heapPerConnection),
    r === ws ? '' : ratio(r.rssPerConnection, ws?.rssPerConnection),
  ]);
  console.log(table(['server', 'heap/conn', 'external/conn', 'RSS/conn', 'RSS total', 'heap vs ws', 'RSS vs ws'], rows, new Set([1, 2, 3, 4, 5, 6])));
  if (ws) console.log('\ntargets:');
  for (const ours of results.filter((r) => r.key === 'ours' || r.key === 'ours-server')) {
    if (!ws) break;
    const heapOk = ours.heapPerConnection <= HEAP_TARGET_BYTES;
    const rssOk = ours.rssPerConnection <= ws.rssPerConnection + RSS_MARGIN_BYTES;
    console.log(`  ${ours.label}: heap per idle connection <= 4 KiB: ${bytes(ours.heapPerConnection)} (ws ${bytes(ws.heapPerConnection)}) ${heapOk ? 'met' : 'MISSED'}`);
    console.log(`  ${ours.label}: RSS per idle connection <= ws + 2 KiB: ${bytes(ours.rssPerConnection)} vs ws ${bytes(ws.rssPerConnection)} ${rssOk ? 'met' : 'MISSED'}`);
  }
  const path = writeResult('memory.json', JSON.stringify({ node: process.version, quick: QUICK, connections: CONNECTIONS, results, seconds: (Date.now() - started) / 1000 }, null, 2));
  console.log(`\nwrote ${path} (${Math.round((Date.now() - started) / 1000)} s)`);
}

await main();
