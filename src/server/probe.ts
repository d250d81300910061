import { formatVersion } from '../vocab/kernel-version.js';
import type { MachineDescription } from '../live/machine.js';

/**
 * `GET /api/v1/probe`: the facts of this machine that decide BPF memory accounting
 * (src/live/machine.ts `describeMachine`), as JSON in the CLI's conventions: snake_case, bytes
 * as integers, null for unknown or unlimited. (`bpfmem probe --json` replaces it when it lands.)
 */

const finite = (n: number | undefined): number | null => (n === undefined || !Number.isFinite(n) ? null : n);

export function machineJson(m: MachineDescription): Record<string, unknown> {
  return {
    release: m.release,
    version: m.version ? formatVersion(m.version) : null,
    possible_cpus: m.possibleCpus ?? null,
    page_size: m.pageSize ?? null,
    arch: m.arch ?? null,
    kmalloc_min_size: m.kmallocMinSize ?? null,
    cgroup_version: m.cgroupVersion,
    memory_cgroup: m.memory.ok
      ? { ok: true, version: m.memory.hierarchy.version, mount_point: m.memory.hierarchy.mountPoint, own_path: m.memory.hierarchy.ownPath }
      : { ok: false, reason: m.memory.reason },
    cmdline: m.cmdline
      ? {
          cgroup_memory: m.cmdline.memory.options,
          cgroup_disable: m.cmdline.cgroupDisable,
          cgroup_no_v1: m.cmdline.cgroupNoV1,
        }
      : null,
    memlock_rlimit: m.memlock ? { soft: finite(m.memlock.soft), hard: finite(m.memlock.hard) } : null,
    unprivileged_bpf_disabled: m.unprivilegedBpfDisabled ?? null,
    bpf_jit_enable: m.bpfJitEnable ?? null,
    bpf_jit_limit: m.bpfJitLimit ?? null,
    regime: m.regime,
    regime_reason: m.regimeReason,
  };
}
