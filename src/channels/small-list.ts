/**
 * Lists that usually hold one element (a parked receiver, a cancel handler):
 * the first element starts a one-element array literal, whose backing store
 * has exactly one slot, where `[]` plus `push` would reserve sixteen (about
 * 150 bytes). An idle connection holds several such lists. `remove` is what
 * their disposers call.
 *
 * `Callbacks` go further for lists of functions (a job's completion
 * handlers): one function is held as itself, with no array at all.
 */

/** Appends `item` to `list`, creating the list (sized for one) when there is none. */
export function append<T>(list: T[] | undefined, item: T): T[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}

/**
 * `dispose`, made safe to call more than once: a disposer removes one
 * registration, so a second call must not take out another registration
 * of the same item.
 */
export function once(dispose: () => void): () => void {
  let registered = true;
  return () => {
    if (!registered) return;
    registered = false;
    dispose();
  };
}

/** The disposer of one registration of `item` in `list`: removes one occurrence, once (see `once`). */
export function disposerOf<T>(list: T[], item: T): () => void {
  return once(() => remove(list, item));
}

/** Removes `item` from `list` (its first occurrence), if it is there. */
export function remove<T>(list: T[] | undefined, item: T): void {
  if (list === undefined) return;
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/** No function, one (held as itself), or several in an array. */
export type Callbacks<F extends (...args: never[]) => unknown> = F | F[] | undefined;

/** Adds `callback` to `callbacks`; the result replaces them. */
export function addCallback<F extends (...args: never[]) => unknown>(callbacks: Callbacks<F>, callback: F): Callbacks<F> {
  if (callbacks === undefined) return callback;
  if (typeof callbacks === 'function') return [callbacks, callback];
  callbacks.push(callback);
  return callbacks;
}

/** Removes one occurrence of `callback` from `callbacks`, if it is there; the result replaces them. */
export function removeCallback<F extends (...args: never[]) => unknown>(callbacks: Callbacks<F>, callback: F): Callbacks<F> {
  if (callbacks === callback) return undefined;
  if (typeof callbacks === 'object') remove(callbacks, callback);
  return callbacks;
}
