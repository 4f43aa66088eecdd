/**
 * This project's echo server for the HTTP/2 benchmark (bench/http2.bench.ts):
 * HTTP/1.1 and HTTP/2 WebSockets on ONE port of one process. A connection
 * whose first bytes are the HTTP/2 preface (`PRI * HTTP/2.0`) goes to a
 * node:http2 server whose streams `handleHttp2Stream` answers
 * (`http2ServerOptions()` defaults); any other goes to `serveSocket`. Both
 * run the same handler, echoing every message with its type, with default
 * options, as ours.ts does. It imports the package by name, as a user would.
 */
import { createServer as createHttp2Server } from 'node:http2';
import { createServer } from 'node:net';
import { handleHttp2Stream, http2ServerOptions, serveSocket, type WebSocketHandler } from 'ktor-ws-ts';
import { serveBenchmark } from './control.ts';

const echo: WebSocketHandler = async (session) => {
  for await (const message of session) await session.send(message);
};

const http2 = createHttp2Server(http2ServerOptions());
http2.on('stream', (stream, headers) => {
  handleHttp2Stream(stream, headers, echo);
});

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.once('data', (first: Buffer) => {
    socket.pause();
    socket.unshift(first);
    if (first.toString('latin1', 0, 3) === 'PRI') http2.emit('connection', socket);
    else void serveSocket(socket, echo);
  });
});
serveBenchmark(server);
