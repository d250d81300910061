import { readFile } from 'node:fs/promises';
import { BpfmemError } from '../../vocab/errors.js';
import { linkId, mapId, progId, type LinkId, type MapId, type ProgId } from '../bpf/types.js';
import { emptyRecord, errnoCode, isGone, linesOf, parseHex32, parseHexBig, parseOctal, parseUnsigned, parseUnsignedBig, show } from './text.js';
import { ok, err, type Result } from '../../vocab/result.js';

/**
 * `/proc/PID/fdinfo/FD`: the lines every file has (fs/proc/fd.c `seq_show`), then what the
 * file's `show_fdinfo` adds. For BPF objects that is kernel/bpf/syscall.c
 * `bpf_map_show_fdinfo()`, `bpf_prog_show_fdinfo()` and `bpf_link_show_fdinfo()`.
 */
export interface FdinfoCommon {
  /** `pos`: the file position. */
  readonly pos: number;
  /** `flags`: the open flags (printed in octal; `02000002` is `O_CLOEXEC | O_RDWR`). */
  readonly flags: number;
  /** `mnt_id` (3.15+): the mount of the file; every BPF object shares the anon-inode mount. */
  readonly mntId: number | undefined;
  /** `ino` (5.14+): the inode number; every BPF object shares the one anon inode. */
  readonly ino: number | undefined;
  /**
   * Lines this kind of file is not known to have, as printed (value trimmed). A key that
   * appears more than once (eventpoll `tfd:`) has its values joined with `\n`.
   */
  readonly extra: Readonly<Record<string, string>>;
}

/** A BPF map fd (`bpf_map_show_fdinfo()`). Fields added after 4.1 are undefined on kernels without them. */
export interface MapFdinfo extends FdinfoCommon {
  readonly kind: 'map';
  /** `map_type`: `enum bpf_map_type` (2 = array, 1 = hash, …). */
  readonly mapType: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** `map_flags` (hex in the file): `BPF_F_NO_PREALLOC` = 1, … */
  readonly mapFlags: number;
  /** `map_extra` (5.16+, hex): bloom filter hash count, arena address, … */
  readonly mapExtra: bigint | undefined;
  /** `memlock` (4.10+): bytes, with the meaning of the kernel era (docs/kernel-facts.md §1.1). */
  readonly memlock: number | undefined;
  /** `map_id` (4.13+). */
  readonly mapId: MapId | undefined;
  /** `frozen` (5.2+): BPF_MAP_FREEZE was called. */
  readonly frozen: boolean | undefined;
  /** `owner_prog_type`: prog arrays (and other owner-tracking maps) once a program uses them. */
  readonly ownerProgType: number | undefined;
  /** `owner_jited`: whether that owner program is JITed. */
  readonly ownerJited: boolean | undefined;
}

/** A BPF program fd (`bpf_prog_show_fdinfo()`). */
export interface ProgFdinfo extends FdinfoCommon {
  readonly kind: 'prog';
  /** `prog_type`: `enum bpf_prog_type` (1 = socket filter, …). */
  readonly progType: number;
  readonly progJited: boolean | undefined;
  /** `prog_tag`: 16 hex digits (the SHA-1 prefix of the instructions). */
  readonly progTag: string | undefined;
  /** `memlock`: `prog->pages * PAGE_SIZE`. */
  readonly memlock: number | undefined;
  readonly progId: ProgId | undefined;
  /** `run_time_ns` (5.1+): only counts while `kernel.bpf_stats_enabled` is 1. */
  readonly runTimeNs: bigint | undefined;
  readonly runCnt: bigint | undefined;
  /** `recursion_misses` (5.12+). */
  readonly recursionMisses: bigint | undefined;
  /** `verified_insns` (5.16+). */
  readonly verifiedInsns: number | undefined;
}

/**
 * A BPF link fd (`bpf_link_show_fdinfo()`, 5.7+). Type-specific lines (`tp_name`, `cookie`,
 * `target_name`, `attach_type`, `cgroup_id`, …) are in `extra`.
 */
export interface LinkFdinfo extends FdinfoCommon {
  readonly kind: 'link';
  /** `link_type`: its name (`raw_tracepoint`, `iter`, `cgroup`, …; `<N>` for a type the kernel cannot name). */
  readonly linkType: string;
  readonly linkId: LinkId;
  /** `prog_tag` and `prog_id`: absent when the link has no program. */
  readonly progTag: string | undefined;
  readonly progId: ProgId | undefined;
}

/** Any other fd, including a BPF iterator fd (`anon_inode:bpf_iter`), which adds no lines. */
export interface OtherFdinfo extends FdinfoCommon {
  readonly kind: 'other';
}

/** What `/proc/PID/fdinfo/FD` says, by the kind of file. */
export type Fdinfo = MapFdinfo | ProgFdinfo | LinkFdinfo | OtherFdinfo;

/** Keys with a typed field, so a repeat of one is an error rather than an `extra` line. */
const KNOWN_KEYS = new Set([
  'pos', 'flags', 'mnt_id', 'ino',
  'map_type', 'key_size', 'value_size', 'max_entries', 'map_flags', 'map_extra', 'memlock', 'map_id', 'frozen',
  'owner_prog_type', 'owner_jited',
  'prog_type', 'prog_jited', 'prog_tag', 'prog_id', 'run_time_ns', 'run_cnt', 'recursion_misses', 'verified_insns',
  'link_type', 'link_id',
]);

/** Thrown inside the parser only, turned into a `Parsed` error at its edge. */
class FieldError extends Error {}

/** The `key: value` lines of one fdinfo file, read field by field. */
class Fields {
  private readonly used = new Set<string>();
  constructor(private readonly values: ReadonlyMap<string, string>) {}

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** A field that must be present and well-formed. */
  req<T>(key: string, parse: (text: string) => T | undefined, what: string): T {
    const v = this.opt(key, parse, what);
    if (v === undefined) throw new FieldError(`fdinfo has no "${key}:" line`);
    return v;
  }

  /** A field that may be absent (older kernels), but must be well-formed when present. */
  opt<T>(key: string, parse: (text: string) => T | undefined, what: string): T | undefined {
    const raw = this.values.get(key);
    if (raw === undefined) return undefined;
    this.used.add(key);
    const v = parse(raw);
    if (v === undefined) throw new FieldError(`fdinfo "${key}:" is ${show(raw)}, not ${what}`);
    return v;
  }

  /** The lines no field took. */
  rest(): Record<string, string> {
    const out = emptyRecord<string>();
    for (const [k, v] of this.values) if (!this.used.has(k)) out[k] = v;
    return out;
  }
}

const bool = (text: string): boolean | undefined => (text === '0' ? false : text === '1' ? true : undefined);
const tag = (text: string): string | undefined => (/^[0-9a-f]{16}$/.test(text) ? text : undefined);
const name = (text: string): string | undefined => (text.length > 0 ? text : undefined);
const NUMBER = 'an unsigned number';
const id = <T>(brand: (n: number) => T) => (text: string): T | undefined => {
  const n = parseUnsigned(text);
  return n === undefined ? undefined : brand(n);
};

/**
 * Parses the text of `/proc/PID/fdinfo/FD`. The kind is told by the first line of the object's
 * own block (`map_type`, `prog_type`, `link_type`); anything else is `other`. Never throws:
 * text that is not fdinfo gives an error value naming the line.
 */
export function parseFdinfo(text: string): Result<Fdinfo> {
  const values = new Map<string, string>();
  const lines = linesOf(text);
  if (lines.length === 0) return err('fdinfo is empty');
  for (const [i, line] of lines.entries()) {
    const colon = line.indexOf(':');
    if (colon <= 0) return err(`fdinfo line ${i + 1} is not "key: value": ${show(line)}`);
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    const before = values.get(key);
    if (before !== undefined) {
      if (KNOWN_KEYS.has(key)) return err(`fdinfo line ${i + 1} repeats "${key}:"`);
      values.set(key, `${before}\n${value}`);
    } else {
      values.set(key, value);
    }
  }
  const kinds = ['map_type', 'prog_type', 'link_type'].filter((k) => values.has(k));
  if (kinds.length > 1) return err(`fdinfo has both ${kinds.join(' and ')}: not one object`);
  try {
    const f = new Fields(values);
    const common = {
      pos: f.req('pos', parseUnsigned, NUMBER),
      flags: f.req('flags', parseOctal, 'octal flags'),
      mntId: f.opt('mnt_id', parseUnsigned, NUMBER),
      ino: f.opt('ino', parseUnsigned, NUMBER),
    };
    if (f.has('map_type')) {
      const map = {
        kind: 'map' as const,
        ...common,
        mapType: f.req('map_type', parseUnsigned, NUMBER),
        keySize: f.req('key_size', parseUnsigned, NUMBER),
        valueSize: f.req('value_size', parseUnsigned, NUMBER),
        maxEntries: f.req('max_entries', parseUnsigned, NUMBER),
        mapFlags: f.req('map_flags', parseHex32, 'hex flags such as 0x1'),
        mapExtra: f.opt('map_extra', parseHexBig, 'a hex number such as 0x0'),
        memlock: f.opt('memlock', parseUnsigned, NUMBER),
        mapId: f.opt('map_id', id(mapId), NUMBER),
        frozen: f.opt('frozen', bool, '0 or 1'),
        ownerProgType: f.opt('owner_prog_type', parseUnsigned, NUMBER),
        ownerJited: f.opt('owner_jited', bool, '0 or 1'),
      };
      return ok({ ...map, extra: f.rest() });
    }
    if (f.has('prog_type')) {
      const prog = {
        kind: 'prog' as const,
        ...common,
        progType: f.req('prog_type', parseUnsigned, NUMBER),
        progJited: f.opt('prog_jited', bool, '0 or 1'),
        progTag: f.opt('prog_tag', tag, '16 hex digits'),
        memlock: f.opt('memlock', parseUnsigned, NUMBER),
        progId: f.opt('prog_id', id(progId), NUMBER),
        runTimeNs: f.opt('run_time_ns', parseUnsignedBig, NUMBER),
        runCnt: f.opt('run_cnt', parseUnsignedBig, NUMBER),
        recursionMisses: f.opt('recursion_misses', parseUnsignedBig, NUMBER),
        verifiedInsns: f.opt('verified_insns', parseUnsigned, NUMBER),
      };
      return ok({ ...prog, extra: f.rest() });
    }
    if (f.has('link_type')) {
      const link = {
        kind: 'link' as const,
        ...common,
        linkType: f.req('link_type', name, 'a link type name'),
        linkId: f.req('link_id', id(linkId), NUMBER),
        progTag: f.opt('prog_tag', tag, '16 hex digits'),
        progId: f.opt('prog_id', id(progId), NUMBER),
      };
      return ok({ ...link, extra: f.rest() });
    }
    return ok({ kind: 'other', ...common, extra: f.rest() });
  } catch (error) {
    if (error instanceof FieldError) return err(error.message);
    throw error;
  }
}

/**
 * The `memlock` of a BPF map's or program's fdinfo, without parsing the rest: the object
 * listings read it for every program and for each map the model checks, and {@link parseFdinfo}
 * took 18 ms for 1,000 programs' fdinfo in a fresh process here, this 0.3 ms. Undefined unless
 * the text is that kind of object's (its `map_type:` or `prog_type:` line) and has one
 * `memlock:` line, with an unsigned number: what {@link parseFdinfo} gives whenever it accepts
 * the text (src/sys/proc/procfs.fuzz.test.ts checks).
 */
export function fdinfoMemlock(text: string, kind: 'map' | 'prog'): number | undefined {
  if (lineAt(text, kind === 'map' ? 'map_type:' : 'prog_type:') < 0) return undefined;
  const other = kind === 'map' ? 'prog_type:' : 'map_type:';
  if (lineAt(text, other) >= 0 || lineAt(text, 'link_type:') >= 0) return undefined;
  const at = lineAt(text, MEMLOCK);
  if (at < 0 || lineAt(text, MEMLOCK, at + 1) >= 0) return undefined;
  const end = text.indexOf('\n', at);
  return parseUnsigned(text.slice(at + MEMLOCK.length, end < 0 ? text.length : end).trim());
}

const MEMLOCK = 'memlock:';

/** Where the first line starting with `prefix` at or after `from` starts, or -1. */
function lineAt(text: string, prefix: string, from = 0): number {
  if (from === 0 && text.startsWith(prefix)) return 0;
  const i = text.indexOf(`\n${prefix}`, Math.max(0, from - 1));
  return i < 0 ? -1 : i + 1;
}

/**
 * Reads and parses `/proc/PID/fdinfo/FD`. Returns undefined when the fd was closed or the process
 * exited (ENOENT, ESRCH): scans race with both. Throws a `BpfmemError` for anything else.
 */
export async function readFdinfo(pid: number | 'self', fd: number, procRoot = '/proc'): Promise<Fdinfo | undefined> {
  const path = `${procRoot}/${pid}/fdinfo/${fd}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isGone(error)) return undefined;
    throw new BpfmemError('system', `reading ${path}: ${errnoCode(error) ?? String(error)}`, { cause: error });
  }
  const result = parseFdinfo(text);
  if (!result.ok) throw new BpfmemError('system', `${path}: ${result.error}`);
  return result.value;
}
