import { apiError, decode, oneLine, type DocumentKind, type DocumentOf } from './decode.js';

/**
 * Reads the API of `bpfmem serve` (the server that served this page: every URL is relative,
 * so the page asks nothing of any other host). A failure is thrown as an {@link ApiError} with
 * one line for people.
 */

/** How long a request may take before the page gives up on it (a scan runs in the server). */
const TIMEOUT_MS = 10_000;

export class ApiError extends Error {
  override readonly name = 'ApiError';
}

/** GETs an API document and checks its shape. `path` is relative to the page (`api/v1/maps`). */
export async function getDocument<K extends DocumentKind>(kind: K, path: string): Promise<DocumentOf<K>> {
  const where = `/${path.replace(/\?.*$/, '')}`;
  let response: Response;
  try {
    response = await fetch(path, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
  } catch (error) {
    const why = error instanceof DOMException && error.name === 'TimeoutError' ? `no answer in ${TIMEOUT_MS / 1000} s` : 'the server cannot be reached';
    throw new ApiError(`${where}: ${why}`);
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${where}: HTTP ${response.status}, and the answer is not JSON`);
  }
  if (!response.ok) throw new ApiError(`${where}: HTTP ${response.status}${prefixed(apiError(body))}`);
  const r = decode(kind, body, where);
  if (!r.ok) throw new ApiError(r.message);
  return r.value;
}

const prefixed = (message: string | undefined): string => (message === undefined ? '' : `: ${message}`);

/** One line for any error. */
export function messageOf(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}
