/**
 * `wss://` against a local node:tls server running this project's server
 * side (`serveSocket`) with a self-signed certificate that `openssl` makes
 * for the test in a temporary directory: an echo with the certificate
 * trusted through `tls.ca`, SNI sent for a host name, and the certificate
 * refused (a `ConnectionFailedError` with Node's TLS error code) when it is
 * not trusted.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConnectionFailedError } from '../../src/upgrade/client-errors.ts';
import { connect } from '../../src/upgrade/connect.ts';
import { serveSocket } from '../../src/upgrade/serve.ts';

let dir = '';
let cert: Buffer;
let server: Server;
let port = 0;
const serverNames: Array<string | false | null> = [];

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ktor-ws-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (socket: TLSSocket) => {
    serverNames.push(socket.servername);
    void serveSocket(socket, async (session) => {
      for await (const message of session) await session.send(message);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('wss:// echo with the self-signed certificate trusted via tls.ca', async () => {
  const session = await connect(`wss://127.0.0.1:${port}/secure`, { tls: { ca: cert } });
  await session.send('over TLS');
  assert.is(await session.receive(), 'over TLS');
  const big = Buffer.alloc(1024 * 1024, 0x5a);
  await session.send(big);
  assert.ok(big.equals((await session.receive()) as Buffer));
  assert.equal(await session.close(1000, 'tls bye'), { code: 1000, reason: '' }, 'our server echoes the code');
  await session.raw.job.join();
  assert.is(session.raw.job.state, 'completed');
});

test('SNI: a host name is sent as servername, an IP address is not', async () => {
  serverNames.length = 0;
  const named = await connect(`wss://localhost:${port}/`, { tls: { ca: cert } });
  await named.close();
  const byIp = await connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert } });
  await byIp.close();
  assert.equal(serverNames, ['localhost', false]);
});

test('an untrusted certificate fails the handshake with the TLS error code', async () => {
  try {
    await connect(`wss://127.0.0.1:${port}/`);
    assert.unreachable('the self-signed certificate must be refused');
  } catch (error) {
    assert.instance(error, ConnectionFailedError);
    assert.is((error as ConnectionFailedError).code, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  }
  const insecure = await connect(`wss://127.0.0.1:${port}/`, { tls: { rejectUnauthorized: false } });
  await insecure.send('trusting anyway');
  assert.is(await insecure.receive(), 'trusting anyway');
  await insecure.close();
});

test.run();
