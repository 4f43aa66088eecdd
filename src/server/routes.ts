/**
 * Routing by path: a table from exact paths to routes, plus an optional
 * default route (`'*'`). A request matches on its URL's pathname as the WHATWG
 * URL parser reads it (dot segments resolved, non-ASCII percent-encoded);
 * the query and fragment are ignored. Route paths are normalised the same
 * way when registered, so `route('/café')` matches `GET /caf%C3%A9`.
 */

/** The path of the default route: every request no other route matches. */
export const DEFAULT_ROUTE = '*';

const BASE = 'http://localhost';

/**
 * The pathname of a request target: origin form (`/chat?x=1`) or absolute
 * form (`http://host/chat`). `undefined` for anything else (`*`, an
 * authority, garbage): such a request matches no route but the default one.
 */
export function requestPath(target: string | undefined): string | undefined {
  if (target === undefined || target === '') return undefined;
  let url: URL;
  try {
    // Origin form is appended to a fixed origin rather than resolved against
    // it, so `//chat` stays the path `//chat` instead of becoming a host.
    url = target.startsWith('/') ? new URL(BASE + target) : new URL(target);
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'ws:' || url.protocol === 'wss:'
    ? url.pathname
    : undefined;
}

/**
 * A route path as requests are matched against it: `'*'`, or a path starting
 * with `/`, normalised like a request's.
 *
 * @throws TypeError for anything else, or a path with a query or fragment.
 */
export function routePath(path: string): string {
  if (path === DEFAULT_ROUTE) return path;
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('?') || path.includes('#')) {
    throw new TypeError(
      `a route path starts with "/" and has no query or fragment (or is "*" for the default route), got ${JSON.stringify(path)}`,
    );
  }
  const normalised = requestPath(path);
  if (normalised === undefined) throw new TypeError(`invalid route path ${JSON.stringify(path)}`);
  return normalised;
}

/** Exact-path routes and an optional default. */
export class RouteTable<R> {
  readonly #routes = new Map<string, R>();
  #default: R | undefined;

  /**
   * Adds a route (see `routePath` for `path`).
   *
   * @throws TypeError for an invalid path or one that already has a route.
   */
  add(path: string, route: R): void {
    const key = routePath(path);
    if (key === DEFAULT_ROUTE ? this.#default !== undefined : this.#routes.has(key)) {
      throw new TypeError(`the path ${JSON.stringify(path)} already has a route`);
    }
    if (key === DEFAULT_ROUTE) this.#default = route;
    else this.#routes.set(key, route);
  }

  /** The route for a request target: its path's, else the default route, else `undefined`. */
  match(target: string | undefined): R | undefined {
    const path = requestPath(target);
    return (path === undefined ? undefined : this.#routes.get(path)) ?? this.#default;
  }
}
