/**
 * `map_flags` bits of BPF_MAP_CREATE (include/uapi/linux/bpf.h), by the short names bpfmem
 * accepts in specs and scenarios (`flags=no_prealloc+numa`).
 */
export const MAP_FLAGS = Object.freeze({
  no_prealloc: 1 << 0, // BPF_F_NO_PREALLOC
  no_common_lru: 1 << 1, // BPF_F_NO_COMMON_LRU
  numa_node: 1 << 2, // BPF_F_NUMA_NODE
  rdonly: 1 << 3, // BPF_F_RDONLY
  wronly: 1 << 4, // BPF_F_WRONLY
  stack_build_id: 1 << 5, // BPF_F_STACK_BUILD_ID
  zero_seed: 1 << 6, // BPF_F_ZERO_SEED
  rdonly_prog: 1 << 7, // BPF_F_RDONLY_PROG
  wronly_prog: 1 << 8, // BPF_F_WRONLY_PROG
  clone: 1 << 9, // BPF_F_CLONE
  mmapable: 1 << 10, // BPF_F_MMAPABLE
  preserve_elems: 1 << 11, // BPF_F_PRESERVE_ELEMS
  inner_map: 1 << 12, // BPF_F_INNER_MAP
  link: 1 << 13, // BPF_F_LINK
  path_fd: 1 << 14, // BPF_F_PATH_FD
  vtype_btf_obj_fd: 1 << 15, // BPF_F_VTYPE_BTF_OBJ_FD
  token_fd: 1 << 16, // BPF_F_TOKEN_FD
  segv_on_fault: 1 << 17, // BPF_F_SEGV_ON_FAULT
  no_user_conv: 1 << 18, // BPF_F_NO_USER_CONV
} as const);

/** A flag name. */
export type MapFlag = keyof typeof MAP_FLAGS;

/** Aliases people type (`numa` is what `bpftool map create ... flags` users know). */
// A Map: a name typed by a user (`flags=__proto__`, `flags=constructor`) must not find
// Object.prototype's members (issue 14).
const ALIASES: ReadonlyMap<string, MapFlag> = new Map([['numa', 'numa_node']]);

/** Whether a flag word has a flag. */
export function hasFlag(flags: number, flag: MapFlag): boolean {
  return (flags & MAP_FLAGS[flag]) !== 0;
}

/**
 * Parses `no_prealloc+numa`, `no_prealloc|mmapable`, a decimal or `0x` number, or a list of names.
 * Returns the flag word or the first name that is not a flag.
 */
export function parseFlags(input: string | number | readonly string[]): { flags: number } | { unknown: string } {
  if (typeof input === 'number') {
    return Number.isSafeInteger(input) && input >= 0 && input < 2 ** 32 ? { flags: input } : { unknown: String(input) };
  }
  const names = typeof input === 'string' ? input.split(/[+|,]/) : input;
  let flags = 0;
  for (const raw of names) {
    const name = raw.trim().toLowerCase().replace(/^bpf_f_/, '');
    if (name === '' || name === '0') continue;
    if (/^(0x[0-9a-f]+|\d+)$/.test(name)) {
      const n = Number(name);
      if (n >= 2 ** 32) return { unknown: raw };
      flags |= n;
      continue;
    }
    const flag = ALIASES.get(name) ?? (Object.hasOwn(MAP_FLAGS, name) ? (name as MapFlag) : undefined);
    if (flag === undefined) return { unknown: raw.trim() };
    flags |= MAP_FLAGS[flag];
  }
  return { flags: flags >>> 0 };
}

/** The flag names set in a word, for people (`no_prealloc+numa_node`); unknown bits as hex. */
export function formatFlags(flags: number): string {
  const names: string[] = [];
  let rest = flags;
  for (const [name, bit] of Object.entries(MAP_FLAGS)) {
    if (flags & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.join('+');
}
