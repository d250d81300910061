import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { release } from 'node:os';
import { parseBtf, type Btf, type ParseBtfOptions } from '../../btf/index.js';
import { BpfmemError } from '../../vocab/errors.js';
import type { Result } from '../../vocab/result.js';
import { readInputFile } from '../file/index.js';

/**
 * The thin reader beside the pure BTF parser of src/btf: read a file, parse it, turn a refusal
 * into a {@link BpfmemError}.
 */

/** Where the running kernel publishes its own BTF (CONFIG_DEBUG_INFO_BTF, 5.4+). */
export const VMLINUX_BTF_PATH = '/sys/kernel/btf/vmlinux';

const errnoCode = (error: unknown): string | undefined =>
  error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;

function read(path: string, code: 'system', options: ParseBtfOptions): Btf {
  let bytes: Uint8Array;
  try {
    // Synchronously: sysfs reports no size for /sys/kernel/btf/vmlinux, and fs.promises.readFile
    // then reads it in small pieces through the thread pool: 79 ms for its 5.5 MB here, against
    // 6 ms for readFileSync.
    bytes = new Uint8Array(readFileSync(path));
  } catch (error) {
    const why = errnoCode(error) === 'ENOENT' && path === VMLINUX_BTF_PATH ? 'no such file: this kernel was built without CONFIG_DEBUG_INFO_BTF' : (errnoCode(error) ?? String(error));
    throw new BpfmemError(code, `reading BTF from ${path}: ${why}`, { cause: error });
  }
  const parsed = parseBtf(bytes, options);
  if (!parsed.ok) throw new BpfmemError(code, `${path}: ${parsed.error}`);
  return parsed.value;
}

/** The running kernel's BTF, unparsed, or why it cannot be read. */
export function readVmlinuxBtfBytes(path = VMLINUX_BTF_PATH): Result<Uint8Array> {
  try {
    return { ok: true, value: new Uint8Array(readFileSync(path)) };
  } catch (error) {
    return { ok: false, error: `reading ${path}: ${errnoCode(error) ?? String(error)}` };
  }
}

/** Largest BTF file read: a kernel's is 5–7 MB; 64 MiB leaves room for any config. */
const BTF_FILE_LIMIT = 64 * 1024 * 1024;

/**
 * A BTF file someone gave (another host's `/sys/kernel/btf/vmlinux`, saved with `cp`), parsed:
 * a regular file of at most 64 MiB (src/sys/file). Throws a one-line {@link BpfmemError}
 * (`input`) when it cannot be read or is not BTF.
 */
export function readBtfFileSync(path: string, options: ParseBtfOptions = {}): Btf {
  const parsed = parseBtf(readInputFile(path, { limit: BTF_FILE_LIMIT, what: 'BTF file' }), options);
  if (!parsed.ok) throw new BpfmemError('input', `BTF file ${path}: ${parsed.error}`);
  return parsed.value;
}

/** {@link readBtfFileSync}, for callers that await it. */
export function readBtfFile(path: string, options: ParseBtfOptions = {}): Promise<Btf> {
  return Promise.resolve().then(() => readBtfFileSync(path, options));
}

/**
 * The running kernel's BTF, parsed. On the test machine (6.18, 5.5 MB, 126,586 types) reading
 * takes 8 ms and parsing 55–65 ms the first time in a process (cold JIT; 8–11 ms when warm); the
 * name index, built by the first lookup by name, 40 ms more (12–15 ms warm). Throws a
 * {@link BpfmemError} (`system`) when the kernel has none or it cannot be read.
 */
export function readVmlinuxBtf(path = VMLINUX_BTF_PATH): Promise<Btf> {
  return Promise.resolve().then(() => read(path, 'system', {}));
}

let vmlinux: Promise<Btf> | undefined;

/**
 * The running kernel's BTF, read and parsed once per process (the map and task_file iterators
 * both need it; a failure is not kept, so a later call tries again).
 */
export function vmlinuxBtf(): Promise<Btf> {
  vmlinux ??= readVmlinuxBtf().catch((error: unknown) => {
    vmlinux = undefined;
    throw error;
  });
  return vmlinux;
}

/**
 * What identifies the running kernel's BTF without parsing it: the kernel's release and build
 * (`uname -r`, `uname -v`: the build number and time), the BTF's size, and the kernel image's
 * GNU build ID (/sys/kernel/notes): a SHA-1 the linker computes over the whole vmlinux, whose
 * .BTF section this BTF is. Where the kernel shows no build ID, or for a file that is not the
 * running kernel's, a hash of the file's first and last 64 KiB (the type section starts it, the
 * string table ends it) stands in. Two builds that agree on all of it describe the same structs.
 * Undefined when the file cannot be read.
 */
export function vmlinuxBtfIdentity(path = VMLINUX_BTF_PATH): string | undefined {
  // Both caches (struct sizes, iterator layouts) ask in the same run: once per path.
  if (identities.has(path)) return identities.get(path);
  const id = computeIdentity(path);
  identities.set(path, id);
  return id;
}

const identities = new Map<string, string | undefined>();

/** The kernel's ELF notes: `Elf_Nhdr`s, each name and description padded to 4 bytes (kernel/ksysfs.c `notes_read`). */
export const KERNEL_NOTES_PATH = '/sys/kernel/notes';
/** NT_GNU_BUILD_ID (include/uapi/linux/elf.h), a note of name "GNU". */
const NT_GNU_BUILD_ID = 3;

/**
 * The GNU build ID in a run of ELF notes (`/sys/kernel/notes`), as hex; undefined when there is
 * none or the notes are malformed. Never throws.
 */
export function gnuBuildId(notes: Uint8Array): string | undefined {
  const view = new DataView(notes.buffer, notes.byteOffset, notes.byteLength);
  const pad = (n: number): number => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.byteLength; ) {
    const namesz = view.getUint32(at, true);
    const descsz = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const name = at + 12;
    const desc = name + pad(namesz);
    const next = desc + pad(descsz);
    if (namesz > notes.byteLength || descsz > notes.byteLength || next > notes.byteLength) return undefined;
    const isGnu = namesz === 4 && notes[name] === 0x47 && notes[name + 1] === 0x4e && notes[name + 2] === 0x55 && notes[name + 3] === 0;
    if (isGnu && type === NT_GNU_BUILD_ID && descsz > 0 && descsz <= 64) {
      let hex = '';
      for (let i = desc; i < desc + descsz; i++) hex += (notes[i] ?? 0).toString(16).padStart(2, '0');
      return hex;
    }
    at = next;
  }
  return undefined;
}

/** The running kernel's build ID; undefined where /sys/kernel/notes is missing, unreadable or has none. */
function kernelBuildId(): string | undefined {
  try {
    // A kernel's notes are a few hundred bytes (164 here).
    return gnuBuildId(readInputFile(KERNEL_NOTES_PATH, { limit: 64 * 1024, what: 'kernel notes file', code: 'system' }));
  } catch {
    return undefined;
  }
}

function computeIdentity(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const { size } = fstatSync(fd);
    let build = '';
    try {
      build = readFileSync('/proc/sys/kernel/version', 'utf8').trim();
    } catch {
      // Not every sandbox shows it; the release, size and hash remain.
    }
    const buildId = path === VMLINUX_BTF_PATH ? kernelBuildId() : undefined;
    return `${release()}|${build}|${size}|${buildId !== undefined ? `build-id:${buildId}` : sampledHash(fd, size)}`;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * SHA-256 of a file's first and last {@link SAMPLE} bytes, in native code: 1 ms for the 128 KiB,
 * where FNV-1a in JavaScript took 7.5 ms of a cold start. node:crypto is loaded only here: loading
 * it took 2.9 ms of every start (its modules and Node's streams), which the build ID spares.
 */
function sampledHash(fd: number, size: number): string {
  const sample = (at: number): Uint8Array => {
    const buf = new Uint8Array(Math.min(SAMPLE, Math.max(0, size - at)));
    const n = readSync(fd, buf, 0, buf.byteLength, at);
    return buf.subarray(0, n);
  };
  const { createHash } = process.getBuiltinModule('node:crypto');
  return createHash('sha256').update(sample(0)).update(sample(Math.max(0, size - SAMPLE))).digest('hex').slice(0, 16);
}

const SAMPLE = 64 * 1024;
