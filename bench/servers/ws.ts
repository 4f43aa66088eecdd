/**
 * ws's echo server for the benchmarks: a node:http server with a
 * `WebSocketServer` on it (no permessage-deflate, other options default),
 * echoing every message with its type. ws uses `bufferutil` when it resolves;
 * the benchmark starts it a second time with WS_NO_BUFFER_UTIL=1 for the
 * pure-JS masking path. With BENCH_DEFLATE set (see deflate-settings.ts) it
 * negotiates permessage-deflate.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { serveBenchmark } from './control.ts';
import { deflateModeFromEnv, wsDeflateOptions } from './deflate-settings.ts';

const deflate = deflateModeFromEnv();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: deflate === undefined ? false : wsDeflateOptions(deflate) });
wss.on('connection', (socket) => {
  socket.on('error', () => {}); // a peer that vanishes ends only its own connection
  socket.on('message', (data, isBinary) => socket.send(data as Buffer, { binary: isBinary }));
});
serveBenchmark(server);
