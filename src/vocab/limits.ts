/**
 * Limits of a scenario file. A scenario is read from a file a person wrote or a program
 * generated, in the CLI, the server and the browser; these bounds keep a hostile or broken file
 * from taking unbounded time or memory (docs/scenarios.md, "Limits").
 */
export const SCENARIO_LIMITS = {
  /** The file's size in UTF-8 bytes. */
  fileBytes: 1024 * 1024,
  /** Entries of `steps`. */
  steps: 10_000,
  /** Entries of `tasks`. */
  tasks: 10_000,
  /** Cgroups: those listed in `cgroups` and the parents they imply. */
  cgroups: 10_000,
  /** Nesting of mappings and lists, aliases expanded. */
  depth: 64,
  /** Values that aliases (`*name`) may copy in, all aliases together: a bound on alias bombs. */
  aliasValues: 100_000,
  /** `count` of update and delete. */
  count: 100_000_000,
  /** `insns` of load_prog: BPF_COMPLEXITY_LIMIT_INSNS (include/linux/bpf.h). */
  insns: 1_000_000,
  /** Components of a cgroup path. */
  cgroupDepth: 32,
} as const;

/** The largest value of a u32 field of `union bpf_attr` (key_size, value_size, max_entries). */
export const U32_MAX = 0xffff_ffff;
