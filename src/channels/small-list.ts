/**
 * Lists that usually hold one element (a parked receiver, a cancel handler):
 * the first element starts a one-element array literal, whose backing store
 * has exactly one slot, where `[]` plus `push` would reserve sixteen (about
 * 150 bytes). An idle connection holds several such lists. `remove` is what
 * their disposers call.
 */

/** Appends `item` to `list`, creating the list (sized for one) when there is none. */
export function append<T>(list: T[] | undefined, item: T): T[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}

/** Removes `item` from `list` (its first occurrence), if it is there. */
export function remove<T>(list: T[] | undefined, item: T): void {
  if (list === undefined) return;
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
