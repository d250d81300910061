/**
 * The one error type of bpfmem. `code` says whose mistake it was: `usage` (arguments) and
 * `input` (a file or spec the user gave) exit 2; `system` (the machine refused or broke) exits 1.
 * Messages are one line that names the input and what is wrong.
 */
export type ErrorCode = 'usage' | 'input' | 'system';

export class BpfmemError extends Error {
  override readonly name = 'BpfmemError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The exit status for an error: 2 for the user's mistakes, 1 for everything else. */
export function exitCodeOf(error: unknown): 1 | 2 {
  return error instanceof BpfmemError && (error.code === 'usage' || error.code === 'input') ? 2 : 1;
}
