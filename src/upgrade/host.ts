/**
 * The `Host` header's grammar (RFC 9112 section 3.2, RFC 3986 section
 * 3.2.2): `uri-host [ ":" port ]`, where `uri-host` is a bracketed IP
 * literal or a reg-name (IPv4 addresses are reg-names too), and `port`
 * digits. A server must answer a request whose `Host` breaks it with 400;
 * the same grammar serves HTTP/2's `:authority`, which carries no userinfo
 * (RFC 9113 section 8.3.1). An empty value is valid (a target URI without
 * an authority), an empty port too.
 */

/** Bytes a reg-name may hold: unreserved, sub-delims and `%` (of a pct-encoding, checked apart). */
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
/**
 * An IP literal's inside: IPv6, with a zone (RFC 6874: `%25`, then the zone;
 * also a bare `%`, as Python's `websockets` and node:http send it), or IPvFuture.
 */
const IP_LITERAL = /^(?:[0-9A-Fa-f:.]+(?:%(?:25)?(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})+)?|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)$/;
const PORT = /^[0-9]*$/;

/** Whether `value` is a valid `Host` header value (or `:authority`). */
export function isValidHost(value: string): boolean {
  let host = value;
  let port = '';
  if (value.startsWith('[')) {
    const close = value.indexOf(']');
    if (close < 0) return false;
    host = value.slice(1, close);
    const rest = value.slice(close + 1);
    if (rest !== '') {
      if (rest[0] !== ':') return false;
      port = rest.slice(1);
    }
    return IP_LITERAL.test(host) && PORT.test(port);
  }
  const colon = value.lastIndexOf(':');
  if (colon >= 0) {
    host = value.slice(0, colon);
    port = value.slice(colon + 1);
  }
  return REG_NAME.test(host) && PORT.test(port);
}
