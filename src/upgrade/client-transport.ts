/**
 * Where a client connection goes: the host and port of a `ws:` / `wss:`
 * URL, and the `tls.connect` options for `wss:` (the caller's settings, the
 * target, SNI), and the handshake's default time limit. Shared by the
 * HTTP/1.1 and HTTP/2 clients.
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

/** Default `handshakeTimeoutMs`: 10 seconds from the call to the 101 (or HTTP/2 200) response. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** TLS settings passed through to `tls.connect` (`ca`, `cert`, `key`, `rejectUnauthorized`, `servername`, ...). */
export type ClientTlsOptions = Omit<ConnectionOptions, 'host' | 'port' | 'path' | 'socket'>;

/** Where `target` points: the host (IPv6 without brackets), the port (the scheme's default when absent) and whether it is `wss:`. */
export function endpoint(target: URL): { host: string; port: number; secure: boolean } {
  const secure = target.protocol === 'wss:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  return { host, port: Number(target.port || (secure ? 443 : 80)), secure };
}

/**
 * `tls.connect` options: `ALPNProtocols` (`['http/1.1']` unless given), the
 * caller's settings, the target, and SNI for a host name (never for an IP
 * address).
 */
export function tlsOptions(host: string, port: number, given: ClientTlsOptions = {}): ConnectionOptions {
  const options: ConnectionOptions = { ALPNProtocols: ['http/1.1'], ...given, host, port };
  if (given.servername === undefined && isIP(host) === 0) options.servername = host;
  return options;
}
