/** `/proc/cmdline`: the kernel options that decide memory-cgroup accounting (parser only). */

/** One kernel parameter: `key=value`, or a bare `key`. */
export interface KernelParam {
  readonly key: string;
  readonly value: string | undefined;
}

/** The kernel command line, with the options that decide memory-cgroup accounting. */
export interface KernelCmdline {
  /** The kernel's parameters in order (what follows `--` goes to init and is not here). */
  readonly params: readonly KernelParam[];
  /**
   * `cgroup.memory=` options, from every occurrence (mm/memcontrol.c `cgroup_memory()` reads a
   * comma-separated list and each call adds to the last): `nosocket`, `nokmem` (no kernel
   * memory is charged, so BPF is not either) and `nobpf` (6.3+: BPF only).
   */
  readonly memory: {
    readonly nobpf: boolean;
    readonly nokmem: boolean;
    readonly nosocket: boolean;
    readonly options: readonly string[];
  };
  /** `cgroup_disable=` controllers (`memory` turns the memory controller off entirely). */
  readonly cgroupDisable: readonly string[];
  /** `cgroup_no_v1=` controllers (or `all`): kept off cgroup v1 hierarchies. */
  readonly cgroupNoV1: readonly string[];
}

/**
 * Splits a kernel command line the way lib/cmdline.c `next_arg()` does: on spaces, with double
 * quotes grouping (`opt="a b"`, `"opt=a b"`), up to a bare `--`. Only a `--` without a value
 * ends the kernel's parameters (kernel/params.c `parse_args()`: `if (!val && strcmp(param,
 * "--") == 0)`): `--=x` is a parameter named `--`. Never fails.
 */
export function parseCmdline(text: string): KernelCmdline {
  const params: KernelParam[] = [];
  let i = 0;
  const s = text.replace(/\n$/, '');
  while (i < s.length) {
    while (i < s.length && /\s/.test(s.charAt(i))) i++;
    if (i >= s.length) break;
    let token = '';
    let quoted = false;
    while (i < s.length && (quoted || !/\s/.test(s.charAt(i)))) {
      const c = s.charAt(i);
      if (c === '"') quoted = !quoted;
      else token += c;
      i++;
    }
    if (token === '--') break;
    const eq = token.indexOf('=');
    params.push(eq < 0 ? { key: token, value: undefined } : { key: token.slice(0, eq), value: token.slice(eq + 1) });
  }
  const listOf = (key: string): string[] =>
    params.filter((p) => p.key === key && p.value !== undefined).flatMap((p) => (p.value ?? '').split(',').filter((x) => x !== ''));
  const memory = listOf('cgroup.memory');
  return {
    params,
    memory: {
      nobpf: memory.includes('nobpf'),
      nokmem: memory.includes('nokmem'),
      nosocket: memory.includes('nosocket'),
      options: memory,
    },
    cgroupDisable: listOf('cgroup_disable'),
    cgroupNoV1: listOf('cgroup_no_v1'),
  };
}
