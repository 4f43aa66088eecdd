/**
 * Serializes HTTP/1.1 response heads for the raw handshake path: the 101
 * that starts a session and the error response that refuses one. Values are
 * checked so a header can never split the response (no CR, LF or NUL).
 */
import { STATUS_CODES } from 'node:http';
import type { HandshakeError } from './errors.ts';
import { isToken } from './header-tokens.ts';

/** Headers of an error response that `formatErrorResponse` sets itself. */
const FIXED_ERROR_HEADERS = new Set(['connection', 'content-type', 'content-length']);

/**
 * A header line `Name: value\r\n`, after checking both parts (also used for
 * the client's request head).
 *
 * @throws TypeError when the name is not a token or the value contains CR,
 *   LF, NUL or a character above U+00FF.
 */
export function headerLine(name: string, value: string): string {
  if (!isToken(name)) {
    throw new TypeError(`header name ${JSON.stringify(name)} is not an RFC 7230 token`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00 || c > 0xff) {
      throw new TypeError(
        `header ${name} has a value with a CR, LF, NUL or non-Latin-1 character; remove it: ${JSON.stringify(value)}`,
      );
    }
  }
  return `${name}: ${value}\r\n`;
}

/**
 * An HTTP/1.1 response head: status line with the standard reason phrase,
 * one line per header (an object, or name-value pairs when a name repeats),
 * and the blank line, encoded as Latin-1.
 *
 * @throws RangeError when `status` is not an integer 100-599.
 * @throws TypeError when a header name is not a token or a value contains
 *   CR, LF, NUL or a character above U+00FF.
 */
export function formatResponseHead(
  status: number,
  headers: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>,
): Buffer {
  return formatHead(status, isEntries(headers) ? headers : Object.entries(headers));
}

function isEntries(
  headers: Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>,
): headers is ReadonlyArray<readonly [string, string]> {
  return Array.isArray(headers);
}

/** `formatResponseHead` over header entries (entries, not an object: no name can hit a prototype). */
function formatHead(status: number, headers: ReadonlyArray<readonly [string, string]>): Buffer {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`HTTP status must be an integer 100-599, got ${status}`);
  }
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  for (const [name, value] of headers) head += headerLine(name, value);
  return Buffer.from(head + '\r\n', 'latin1');
}

/**
 * The complete response refusing a handshake: `error.status`, its headers,
 * `Connection: close` (`Upgrade, close` when they have an `Upgrade`),
 * `Content-Type: text/plain; charset=utf-8`,
 * `Content-Length`, and the body `error.message + "\n"` in UTF-8. The caller
 * writes it and closes the socket.
 *
 * @throws TypeError when one of `error.headers` is malformed (see `formatResponseHead`).
 */
export function formatErrorResponse(error: HandshakeError): Buffer {
  const body = Buffer.from(error.message + '\n', 'utf8');
  const headers = Object.entries(error.headers).filter(([name]) => !FIXED_ERROR_HEADERS.has(name.toLowerCase()));
  // A sender of Upgrade (a 426's) names it in Connection too, so intermediaries drop it (RFC 9110 section 7.8).
  const upgrades = headers.some(([name]) => name.toLowerCase() === 'upgrade');
  headers.push(
    ['Connection', upgrades ? 'Upgrade, close' : 'close'],
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(body.length)],
  );
  return Buffer.concat([formatHead(error.status, headers), body]);
}
