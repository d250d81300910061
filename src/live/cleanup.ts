/**
 * Live backends that are open now, so that a signal can clean them up: every cgroup and object
 * bpfmem created is removed on SIGINT and SIGTERM too. The process entry (src/bin/) installs
 * the signal handlers; library users call `dispose()` themselves.
 */
export interface Disposable {
  dispose(): Promise<void>;
}

const open = new Set<Disposable>();

/** Remembers a live backend until it is disposed. */
export function track(d: Disposable): void {
  open.add(d);
}

/** Forgets a disposed live backend. */
export function untrack(d: Disposable): void {
  open.delete(d);
}

/** Disposes every open live backend (on a signal); never throws. */
export async function disposeAll(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.allSettled(all.map((d) => d.dispose()));
}

/** How many live backends are open (for tests). */
export function openCount(): number {
  return open.size;
}
