/**
 * The cpio "newc" format the kernel unpacks an initramfs from (Documentation/driver-api/
 * early-userspace/buffer-format.rst; init/initramfs.c): for each entry a 110-byte ASCII header
 * (magic `070701` and 13 eight-digit hex fields), the NUL-terminated name, padding to 4 bytes,
 * the data, padding to 4 bytes; a last entry named `TRAILER!!!`. Pure: entries in, bytes out.
 */

/** One entry of the archive: a directory, a regular file or a symbolic link. */
export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Uint8Array }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';

const encoder = new TextEncoder();

const hex8 = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** Why a path cannot be archived, or undefined: relative, normalized, no NUL, under 4096 bytes. */
export function checkCpioPath(path: string): string | undefined {
  if (path.length === 0 || path.startsWith('/') || path.endsWith('/')) return `cpio path ${JSON.stringify(path)} is not a relative path without a trailing /`;
  if (path.includes('\0')) return `cpio path ${JSON.stringify(path)} contains NUL`;
  if (path.split('/').some((n) => n === '' || n === '.' || n === '..')) return `cpio path ${JSON.stringify(path)} is not normalized`;
  if (encoder.encode(path).length >= 4096) return `cpio path ${JSON.stringify(path)} is 4096 bytes or longer`;
  return undefined;
}

function header(ino: number, mode: number, nlink: number, size: number, nameSize: number): string {
  // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
  return MAGIC + [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, nameSize, 0].map(hex8).join('');
}

/**
 * The archive's pieces in order (headers and names, data, padding), to write one after another:
 * a large file's bytes are passed through, not copied. Throws an Error for a bad path or mode
 * (callers build entries from their own lists).
 */
export function* cpioChunks(entries: Iterable<CpioEntry>): Generator<Uint8Array, void, undefined> {
  let ino = 1;
  let offset = 0;
  const emit = function* (head: string, name: string, data: Uint8Array): Generator<Uint8Array, void, undefined> {
    const nameBytes = encoder.encode(`${name}\0`);
    const start = new Uint8Array(HEADER_SIZE + nameBytes.length + pad4(HEADER_SIZE + nameBytes.length));
    start.set(encoder.encode(head), 0);
    start.set(nameBytes, HEADER_SIZE);
    yield start;
    offset += start.length;
    if (data.length > 0) {
      yield data;
      offset += data.length;
      const pad = pad4(offset);
      if (pad > 0) {
        yield new Uint8Array(pad);
        offset += pad;
      }
    }
  };
  for (const e of entries) {
    const bad = checkCpioPath(e.path);
    if (bad !== undefined) throw new Error(bad);
    if (e.kind !== 'symlink' && (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777)) {
      throw new Error(`cpio entry ${e.path}: mode ${String(e.mode)} is not 0–07777`);
    }
    const nameSize = encoder.encode(e.path).length + 1;
    switch (e.kind) {
      case 'dir':
        yield* emit(header(ino++, S_IFDIR | e.mode, 2, 0, nameSize), e.path, new Uint8Array(0));
        break;
      case 'file':
        yield* emit(header(ino++, S_IFREG | e.mode, 1, e.data.length, nameSize), e.path, e.data);
        break;
      case 'symlink': {
        const target = encoder.encode(e.target);
        yield* emit(header(ino++, S_IFLNK | 0o777, 1, target.length, nameSize), e.path, target);
        break;
      }
    }
  }
  yield* emit(header(0, 0, 1, 0, TRAILER.length + 1), TRAILER, new Uint8Array(0));
}

/** The whole archive in one array (for small archives and tests). */
export function cpioArchive(entries: Iterable<CpioEntry>): Uint8Array {
  const chunks = [...cpioChunks(entries)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
