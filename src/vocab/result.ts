/**
 * The result of anything that can fail in a way the caller handles: a parse, a read, a check.
 * Failures are values, not exceptions (valibot's and cilium/ebpf's habit); a thin wrapper that
 * throws ({@link unwrap}) serves code paths where a failure can only be a bug or must end the
 * command.
 */
export type Result<T, E = string> = Ok<T> | Err<E>;

/** A success and its value. */
export interface Ok<T> {
  readonly ok: true;
  readonly value: T;
}

/** A failure and what went wrong: a one-line message by default. */
export interface Err<E = string> {
  readonly ok: false;
  readonly error: E;
}

/** Builds an {@link Ok}. */
export const ok = <T>(value: T): Ok<T> => ({ ok: true, value });

/** Builds an {@link Err}. */
export const err = <E = string>(error: E): Err<E> => ({ ok: false, error });

/** The value, or what `toError` makes of the failure, thrown. */
export function unwrap<T, E>(r: Result<T, E>, toError: (error: E) => Error): T {
  if (!r.ok) throw toError(r.error);
  return r.value;
}
