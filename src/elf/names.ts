import { MAP_TYPES } from '../vocab/maptypes.js';
import type { ObjectMap } from './types.js';

/* Names as libbpf gives them; map type ids are src/vocab/maptypes.ts's. */

/** `BPF_OBJ_NAME_LEN`: names are at most 15 bytes and a NUL. */
export const BPF_OBJ_NAME_LEN = 16;


/** Map types whose max_entries must be 0 (local storage) or is ignored (cgroup storage). */
const NO_MAX_ENTRIES = new Set<number>([
  MAP_TYPES.cgroup_storage.id,
  MAP_TYPES.percpu_cgroup_storage.id,
  MAP_TYPES.sk_storage.id,
  MAP_TYPES.inode_storage.id,
  MAP_TYPES.task_storage.id,
  MAP_TYPES.cgrp_storage.id,
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/**
 * The first `max` bytes of `name` (UTF-8), as C's `%.*s` and `strlcpy` cut it, less a character
 * the cut splits: its leading bytes are not text (decoded, they would become U+FFFD, three bytes,
 * and the name would outgrow `max`; found by src/elf/parse.fuzz.test.ts).
 */
export function cutBytes(name: string, max: number): string {
  const bytes = encoder.encode(name);
  if (bytes.length <= max) return name;
  let end = max;
  // Back off over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

/**
 * The name the kernel keeps: `bpf_map_create()` copies at most BPF_OBJ_NAME_LEN − 1 bytes
 * (`libbpf_strlcpy(attr.map_name, …)`).
 */
export function kernelName(name: string): string {
  return cutBytes(name, BPF_OBJ_NAME_LEN - 1);
}

/**
 * Whether the kernel's `isalnum()` takes byte `b`: lib/ctype.c's `_ctype` table is Latin-1, so
 * besides ASCII letters and digits it takes 0xC0–0xFF but for 0xD7 (×) and 0xF7 (÷). A UTF-8
 * character other than ASCII always has a continuation byte (0x80–0xBF), which it refuses.
 */
function kernelIsalnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0xc0 && b !== 0xd7 && b !== 0xf7);
}

/**
 * Why the kernel refuses `name` as an object's name in BPF_MAP_CREATE, or undefined when it takes
 * it. libbpf copies at most BPF_OBJ_NAME_LEN − 1 = 15 bytes of the name it has (`bpf_map_create()`:
 * `libbpf_strlcpy(attr.map_name, …)`, src/bpf.c), so a longer name is cut, never refused; the
 * kernel then takes only `isalnum()`, `_` and `.` up to the NUL (kernel/bpf/syscall.c
 * `bpf_obj_name_cpy()`, after the map is allocated: `map_create()` frees it and returns EINVAL).
 * The reason names the first character refused by its code point, never raw.
 */
export function kernelNameRefusal(name: string): string | undefined {
  const bytes = encoder.encode(name).subarray(0, BPF_OBJ_NAME_LEN - 1);
  const bad = bytes.findIndex((b) => !kernelIsalnum(b) && b !== 0x5f && b !== 0x2e);
  if (bad < 0) return undefined;
  // The character the refused byte belongs to (its first byte may be one isalnum() takes).
  let start = bad;
  while (start > 0 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start--;
  const cp = decoder.decode(encoder.encode(name).subarray(start)).codePointAt(0) ?? 0xfffd;
  const code = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const shown = cp >= 0x21 && cp <= 0x7e ? `"${String.fromCodePoint(cp)}" (${code})` : code;
  return `the kernel takes only letters, digits, _ and . in a map name (bpf_obj_name_cpy, kernel/bpf/syscall.c): ${shown}, at byte ${start + 1} of the name, is none of them`;
}

/**
 * libbpf's object name (`bpf_object__new`): the path's base name cut to 15 bytes
 * (`libbpf_strlcpy` into `char name[BPF_OBJ_NAME_LEN]`), then up to its first dot.
 */
export function objectName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const cut = cutBytes(base, BPF_OBJ_NAME_LEN - 1);
  const dot = cut.indexOf('.');
  return dot < 0 ? cut : cut.slice(0, dot);
}

/**
 * `internal_map_name()`: the name of a global data map. A section name with a second dot
 * (`.data.foo`, `.rodata.str1.1`) is used as is; otherwise as much of the object name as fits
 * before it, reserving at least 7 bytes for the section name even when it is shorter
 * (`.bss` → `my_objec.bss`). Then cut to 15 bytes, and every byte that is not alphanumeric,
 * `_` or `.` becomes `_`.
 */
export function internalMapName(objName: string, sectionName: string): string {
  const sectionBytes = encoder.encode(sectionName).length;
  const sfxLen = Math.min(Math.max(7, sectionBytes), BPF_OBJ_NAME_LEN - 1);
  const custom = sectionName.slice(1).includes('.');
  const pfxLen = custom ? 0 : Math.min(BPF_OBJ_NAME_LEN - sfxLen - 1, encoder.encode(objName).length);
  const raw = new Uint8Array([...encoder.encode(objName).subarray(0, pfxLen), ...encoder.encode(sectionName).subarray(0, sfxLen)]).subarray(0, BPF_OBJ_NAME_LEN - 1);
  // Sanitized byte by byte, so a multi-byte character becomes several `_`, as in libbpf.
  let name = '';
  for (const b of raw) {
    const c = String.fromCharCode(b);
    name += /[A-Za-z0-9_.]/.test(c) ? c : '_';
  }
  return name;
}

/** What libbpf (or the kernel) settles at load about a map's size, one phrase each. */
export function mapLoadTime(map: Pick<ObjectMap, 'type' | 'maxEntries'>): string[] {
  const notes: string[] = [];
  if (map.type === MAP_TYPES.perf_event_array.id && map.maxEntries === 0) {
    notes.push('max_entries 0: libbpf sets the number of possible CPUs (map_set_def_max_entries)');
  } else if (map.type === MAP_TYPES.ringbuf.id || map.type === MAP_TYPES.user_ringbuf.id) {
    const pages = map.maxEntries / 4096;
    if (map.maxEntries === 0) notes.push('max_entries 0: the loader must set the ring buffer size, or the kernel refuses it');
    else if (!Number.isInteger(pages) || (pages & (pages - 1)) !== 0) {
      notes.push(`max_entries ${map.maxEntries}: libbpf rounds a ring buffer up to a power-of-2 number of pages (adjust_ringbuf_sz)`);
    }
  } else if (map.maxEntries === 0 && !NO_MAX_ENTRIES.has(map.type) && map.type !== MAP_TYPES.struct_ops.id) {
    notes.push('max_entries 0: the loader must set it (bpf_map__set_max_entries), or the kernel refuses the map');
  }
  return notes;
}
