/**
 * The ceiling: a raw node:net echo. It answers the HTTP upgrade with a fixed
 * 101 response (proper accept key), then pipes every byte back unparsed (the
 * client's masked frames return as they are; the load generator accepts
 * masked frames). It is the reference for "Node moving bytes with no
 * WebSocket work", not a hard limit: at 64 KiB and larger messages ws and
 * our server beat it in some runs while it sits at 100% CPU. Why is not
 * established; 64 KiB high-water marks and corking a turn's writes were
 * tried and changed nothing.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { serveBenchmark } from './control.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const server = createServer((socket) => {
  socket.setNoDelay(true);
  let head = Buffer.alloc(0);
  const onHead = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) {
      if (head.length > 16 * 1024) socket.destroy();
      return;
    }
    socket.off('data', onHead);
    const key = /^sec-websocket-key:\s*(\S+)/im.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '';
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const rest = head.subarray(end + 4);
    if (rest.length > 0) socket.write(rest);
    socket.pipe(socket);
  };
  socket.on('data', onHead);
  socket.on('error', () => {});
});
serveBenchmark(server);
