/**
 * Live backends that are open now, so that a signal can clean them up: every cgroup and object
 * bpfmem created is removed on SIGINT and SIGTERM too. The process entry (src/bin/) installs
 * the signal handlers; library users call `dispose()` themselves.
 */
export interface Disposable {
  dispose(): Promise<void>;
}

const open = new Set<Disposable>();
let closing = false;
let guard: ((armed: boolean) => void) | undefined;

/**
 * Who is told when this process comes to hold something to clean up (the first backend
 * tracked: true) and when it holds nothing again (false). The process entry (src/bin/) handles
 * SIGINT and SIGTERM only in between: a run that holds nothing ends by the signal's default at
 * once, even in the middle of a long computation, which no handler could interrupt.
 */
export function onGuard(listener: ((armed: boolean) => void) | undefined): void {
  guard = listener;
  if (open.size > 0) guard?.(true);
}

/**
 * Remembers a live backend until it is disposed. After a signal (once {@link disposeAll} has
 * begun) nothing new may start: the caller gets an error and must dispose what it made.
 */
export function track(d: Disposable): void {
  if (closing) throw new Error('bpfmem is shutting down: no new live backend');
  if (open.size === 0) guard?.(true);
  open.add(d);
}

/** Whether a signal has begun the shutdown. */
export function isClosing(): boolean {
  return closing;
}

/** Forgets a disposed live backend. */
export function untrack(d: Disposable): void {
  if (open.delete(d) && open.size === 0 && !closing) guard?.(false);
}

/**
 * Disposes every open live backend (on a signal) and refuses new ones. Never throws: returns
 * what could not be cleaned up, one line each, for the caller to say.
 */
export async function disposeAll(): Promise<string[]> {
  closing = true;
  const all = [...open];
  open.clear();
  const results = await Promise.allSettled(all.map((d) => d.dispose()));
  return results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
}

/**
 * Ends the closing state once {@link disposeAll} is done, for a process that goes on after the
 * shutdown: a test of the signal path, whose worker runs other test files after it.
 */
export function reopen(): void {
  closing = false;
}

/** How many live backends are open (for tests). */
export function openCount(): number {
  return open.size;
}

/** Who hears of cgroups of dead runs that this run removed (the CLI says so in one line). */
let staleListener: ((names: readonly string[]) => void) | undefined;

/** Records cgroups of dead runs that this run removed, and tells the listener at once. */
export function noteStaleRemoved(names: readonly string[]): void {
  if (names.length > 0) staleListener?.(names);
}

/** Sets (or with undefined, clears) who hears of removed cgroups of dead runs. */
export function onStaleRemoved(listener: ((names: readonly string[]) => void) | undefined): void {
  staleListener = listener;
}
