/**
 * ws's fan-out server for bench/fanout.bench.ts, the broadcast of ws's
 * README: a node:http server with a `WebSocketServer` on it (no
 * permessage-deflate; bufferutil when it resolves), the topic a `Set` of its
 * subscribers' sockets, and a publish a loop of `send` over it. `/sub`: the
 * socket joins the set until it closes. `/pub`: every message is sent with
 * its type to every open socket of the set; the publisher is not in it.
 * Answers `alloc <ms>` (allocation-window.ts).
 */
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { AllocationWindow } from './allocation-window.ts';
import { serveBenchmark } from './control.ts';

const window = new AllocationWindow();
const topic = new Set<WebSocket>();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (socket, request) => {
  socket.on('error', () => {}); // a peer that vanishes ends only its own connection
  if (request.url === '/sub') {
    topic.add(socket);
    socket.on('close', () => topic.delete(socket));
  } else if (request.url === '/pub') {
    socket.on('message', (data, isBinary) => {
      window.publishing(topic.size);
      for (const client of topic) {
        if (client.readyState === WebSocket.OPEN) client.send(data as Buffer, { binary: isBinary });
      }
    });
  } else {
    socket.close(1008, 'unknown path');
  }
});
serveBenchmark(server, { alloc: window.command });
