/**
 * Linear-time parsers for the comma-separated header values of the
 * WebSocket handshake, per the RFC 7230 grammar (`token`, `#rule` lists with
 * optional whitespace, `quoted-string`) and RFC 6455 section 9.1
 * (`Sec-WebSocket-Extensions`).
 *
 * Every parser is one left-to-right scan over the value with no regular
 * expressions and no backtracking, so a hostile header costs time
 * proportional to its length (no super-linear parsing: the class of bug of
 * the ws advisory GHSA-6fc8-4gx4-v693 for `Sec-WebSocket-Protocol` and the
 * websocket-extensions advisory GHSA-g78m-2chm-r7qv for unterminated quoted
 * strings full of backslashes). Invalid syntax yields `null`, never an
 * exception. Empty list elements (`a, , b`, a leading or trailing comma) are
 * ignored, as RFC 7230 section 7 asks of recipients.
 */

import type { ExtensionOffer } from '../extensions/extension.ts';

const SP = 0x20;
const HTAB = 0x09;
const COMMA = 0x2c;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;

/** The shared parameter list of offers without parameters. */
const NO_PARAMS: ExtensionOffer['params'] = Object.freeze([]);

/** tchar of RFC 7230 section 3.2.6, indexed by char code (0-127). */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

/** True when `value` is a non-empty RFC 7230 `token`. */
export function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isTchar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** Index of the first character at or after `i` that is not SP or HTAB. */
function skipOws(value: string, i: number): number {
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (c !== SP && c !== HTAB) break;
    i++;
  }
  return i;
}

/** Index of the first character at or after `i` that is not a tchar. */
function skipToken(value: string, i: number): number {
  while (i < value.length && isTchar(value.charCodeAt(i))) i++;
  return i;
}

/** Index of the first character at or after `i` that is not OWS or a comma (skips empty list elements). */
function skipEmptyElements(value: string, i: number): number {
  while (i < value.length) {
    const c = value.charCodeAt(i);
    if (c !== SP && c !== HTAB && c !== COMMA) break;
    i++;
  }
  return i;
}

/**
 * The shared `#element` list scan: elements are `token`, or `token "/" token`
 * when `allowVersion` is set (the `protocol` of the `Upgrade` header).
 */
function parseList(value: string, allowVersion: boolean): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    i = skipEmptyElements(value, i);
    if (i >= value.length) return out;
    const start = i;
    i = skipToken(value, i);
    if (i === start) return null;
    if (allowVersion && i < value.length && value.charCodeAt(i) === SLASH) {
      const versionStart = i + 1;
      i = skipToken(value, versionStart);
      if (i === versionStart) return null;
    }
    out.push(value.slice(start, i));
    i = skipOws(value, i);
    if (i >= value.length) return out;
    if (value.charCodeAt(i) !== COMMA) return null;
    i++;
  }
}

/**
 * Parses a `#token` list such as `Connection: keep-alive, Upgrade`. Returns the
 * tokens in order (case kept; `[]` for an empty or all-empty list), or `null`
 * on invalid syntax (a non-token character, two tokens without a comma).
 */
export function parseTokenList(value: string): string[] | null {
  return parseList(value, false);
}

/**
 * Parses the `Upgrade` header, `#protocol` with `protocol = token ["/" token]`
 * (e.g. `HTTP/2.0, websocket`). Returns the protocols in order, or `null` on
 * invalid syntax.
 */
export function parseUpgradeProtocols(value: string): string[] | null {
  return parseList(value, true);
}

/**
 * Parses `Sec-WebSocket-Protocol` (`1#token`). Returns the offered
 * subprotocols in the client's order, or `null` when the syntax is invalid,
 * the list is empty, or a subprotocol is repeated (as ws does; names compare
 * case-sensitively). Several header lines should be joined with ", " first.
 */
export function parseSubprotocols(value: string): string[] | null {
  const list = parseList(value, false);
  if (list === null || list.length === 0) return null;
  if (new Set(list).size !== list.length) return null;
  return list;
}

/**
 * Reads a quoted-string starting at the DQUOTE at `i`. RFC 6455 section 9.1
 * requires the unescaped value of an extension parameter to be a token, so
 * every character (escaped or not) must be a tchar. Returns the unescaped
 * value and the index after the closing quote, or `null`.
 */
function readQuotedToken(value: string, i: number): { text: string; end: number } | null {
  let text = '';
  let segment = i + 1;
  let j = segment;
  while (j < value.length) {
    const c = value.charCodeAt(j);
    if (c === DQUOTE) {
      text += value.slice(segment, j);
      return text.length === 0 ? null : { text, end: j + 1 };
    }
    if (c === BACKSLASH) {
      text += value.slice(segment, j);
      j++;
      if (j >= value.length || !isTchar(value.charCodeAt(j))) return null;
      segment = j;
    } else if (!isTchar(c)) {
      return null;
    }
    j++;
  }
  return null;
}

/**
 * Parses `Sec-WebSocket-Extensions` (RFC 6455 section 9.1):
 * `ext; param; param=value; param="quoted", ext2`, with optional whitespace
 * around `,`, `;` and `=`. Returns the offers in order, each with its
 * parameters in order (duplicates kept: the extension decides), or `null` on
 * invalid syntax or an empty list. Several header lines should be joined
 * with ", " first. Offers are not negotiated here.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const offers: ExtensionOffer[] = [];
  // Parameters are gathered in one scratch array and copied out at their exact
  // size: a fresh array per offer would over-allocate its backing store, and a
  // header of many tiny offers would then cost far more memory than its length.
  const params: Array<readonly [string, string | true]> = [];
  let i = 0;
  for (;;) {
    i = skipEmptyElements(value, i);
    if (i >= value.length) break;
    const nameStart = i;
    i = skipToken(value, i);
    if (i === nameStart) return null;
    const name = value.slice(nameStart, i);
    params.length = 0;
    i = skipOws(value, i);
    while (i < value.length && value.charCodeAt(i) === SEMICOLON) {
      i = skipOws(value, i + 1);
      const paramStart = i;
      i = skipToken(value, i);
      if (i === paramStart) return null;
      const paramName = value.slice(paramStart, i);
      i = skipOws(value, i);
      if (i < value.length && value.charCodeAt(i) === EQUALS) {
        i = skipOws(value, i + 1);
        let paramValue: string;
        if (i < value.length && value.charCodeAt(i) === DQUOTE) {
          const quoted = readQuotedToken(value, i);
          if (quoted === null) return null;
          paramValue = quoted.text;
          i = quoted.end;
        } else {
          const valueStart = i;
          i = skipToken(value, i);
          if (i === valueStart) return null;
          paramValue = value.slice(valueStart, i);
        }
        params.push([paramName, paramValue]);
        i = skipOws(value, i);
      } else {
        params.push([paramName, true]);
      }
    }
    offers.push({ name, params: params.length === 0 ? NO_PARAMS : params.slice() });
    if (i >= value.length) break;
    if (value.charCodeAt(i) !== COMMA) return null;
    i++;
  }
  return offers.length === 0 ? null : offers;
}

/**
 * Formats extension offers (or accepted extensions) for a
 * `Sec-WebSocket-Extensions` header: `name; param; param=value, name2`.
 * Returns `''` for an empty list (send no header then).
 *
 * @throws TypeError when a name, parameter name or value is not a token
 *   (RFC 6455 section 9.1 requires tokens).
 */
export function formatExtensions(offers: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const offer of offers) {
    if (!isToken(offer.name)) {
      throw new TypeError(`extension name ${JSON.stringify(offer.name)} is not an RFC 7230 token`);
    }
    let part = offer.name;
    for (const [name, value] of offer.params) {
      if (!isToken(name)) {
        throw new TypeError(`extension parameter name ${JSON.stringify(name)} is not an RFC 7230 token`);
      }
      if (value === true) {
        part += `; ${name}`;
      } else if (isToken(value)) {
        part += `; ${name}=${value}`;
      } else {
        throw new TypeError(
          `extension parameter ${name} has value ${JSON.stringify(value)}, which is not an RFC 7230 token`,
        );
      }
    }
    parts.push(part);
  }
  return parts.join(', ');
}
