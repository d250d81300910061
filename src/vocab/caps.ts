import type { MapType } from './maptypes.js';
import { hasFlag } from './flags.js';
import type { KernelVersion } from './kernel-version.js';
import { atLeast } from './kernel-version.js';

/**
 * The capabilities that decide whether a task may create BPF maps and load programs, and the
 * kernel's rules for them. Pure: the caller passes the task's effective capability mask
 * (`CapEff` of /proc/PID/status).
 */

/** Capability numbers (include/uapi/linux/capability.h). */
export const CAP = {
  CAP_NET_ADMIN: 12,
  CAP_IPC_LOCK: 14,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_RESOURCE: 24,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
} as const;

/** A capability bpfmem knows by name. */
export type CapName = keyof typeof CAP;

/** Whether an effective capability mask has a capability. */
export function hasCap(capEff: bigint, cap: CapName): boolean {
  return ((capEff >> BigInt(CAP[cap])) & 1n) === 1n;
}

/**
 * `bpf_capable()` (include/linux/capability.h, 5.8+): CAP_BPF or CAP_SYS_ADMIN. Before CAP_BPF
 * existed (5.8, "bpf, capability: Introduce CAP_BPF") only CAP_SYS_ADMIN counted.
 */
export function bpfCapable(capEff: bigint, version: KernelVersion): boolean {
  return hasCap(capEff, 'CAP_SYS_ADMIN') || (atLeast(version, 5, 8) && hasCap(capEff, 'CAP_BPF'));
}

/**
 * CAP_NET_ADMIN as `map_create()` checks it for network maps: since the BPF token series (6.9,
 * kernel/bpf/token.c `bpf_token_capable()`) CAP_SYS_ADMIN stands in for any other capability;
 * before, `capable(CAP_NET_ADMIN)` alone.
 */
function netCapable(capEff: bigint, version: KernelVersion): boolean {
  return hasCap(capEff, 'CAP_NET_ADMIN') || (atLeast(version, 6, 9) && hasCap(capEff, 'CAP_SYS_ADMIN'));
}

/** Which capability creating a map of a type needs. */
export type MapPrivilege = 'none' | 'bpf' | 'net_admin';

/**
 * The capability `map_create()` requires per map type (kernel/bpf/syscall.c, "check privileged
 * map type permissions", gathered there by Andrii Nakryiko's "bpf: centralize permissions
 * checks for all BPF map types", 6.5; each type's `map_alloc` checked the same before).
 */
export function mapPrivilege(type: MapType): MapPrivilege {
  switch (type) {
    case 'array':
    case 'percpu_array':
    case 'prog_array':
    case 'perf_event_array':
    case 'cgroup_array':
    case 'array_of_maps':
    case 'hash':
    case 'percpu_hash':
    case 'hash_of_maps':
    case 'ringbuf':
    case 'user_ringbuf':
    case 'cgroup_storage':
    case 'percpu_cgroup_storage':
    case 'rhash':
      return 'none';
    case 'sockmap':
    case 'sockhash':
    case 'devmap':
    case 'devmap_hash':
    case 'xskmap':
      return 'net_admin';
    case 'sk_storage':
    case 'inode_storage':
    case 'task_storage':
    case 'cgrp_storage':
    case 'bloom_filter':
    case 'lpm_trie':
    case 'reuseport_sockarray':
    case 'stack_trace':
    case 'queue':
    case 'stack':
    case 'lru_hash':
    case 'lru_percpu_hash':
    case 'struct_ops':
    case 'cpumap':
    case 'arena':
    case 'insn_array':
      return 'bpf';
  }
}

/** What a task may do, as far as bpfmem can read it. */
export interface Privileges {
  /** `CapEff` of the task; undefined when unread. */
  readonly capEff: bigint | undefined;
  /** `kernel.unprivileged_bpf_disabled`: 0, 1 or 2; undefined when unread. */
  readonly unprivilegedBpfDisabled: number | undefined;
}

/**
 * Why `map_create()` would refuse a map with EPERM for this task, or undefined when it would not
 * (or the capabilities are unknown). Checks, in the kernel's order: `unprivileged_bpf_disabled`
 * without `bpf_capable()`, the type's capability, and `BPF_F_ZERO_SEED`, which needs
 * CAP_SYS_ADMIN (kernel/bpf/hashtab.c `htab_map_alloc_check()`: "Guard against local DoS").
 */
export function mapPermission(type: MapType, flags: number, p: Privileges, version: KernelVersion): string | undefined {
  const cap = p.capEff;
  if (cap === undefined) return undefined;
  const bpf = bpfCapable(cap, version);
  if (!bpf && p.unprivilegedBpfDisabled !== undefined && p.unprivilegedBpfDisabled !== 0) {
    return `kernel.unprivileged_bpf_disabled is ${p.unprivilegedBpfDisabled} and the task has neither CAP_BPF nor CAP_SYS_ADMIN`;
  }
  const need = mapPrivilege(type);
  if (need === 'bpf' && !bpf) return `${type} maps need CAP_BPF or CAP_SYS_ADMIN, and the task has neither`;
  if (need === 'net_admin' && !netCapable(cap, version)) {
    return `${type} maps need CAP_NET_ADMIN${atLeast(version, 6, 9) ? ' (or CAP_SYS_ADMIN)' : ''}, and the task has ${atLeast(version, 6, 9) ? 'neither' : 'not'}`;
  }
  if (hasFlag(flags, 'zero_seed') && !hasCap(cap, 'CAP_SYS_ADMIN')) return 'flag zero_seed needs CAP_SYS_ADMIN, and the task lacks it';
  return undefined;
}

/**
 * Why `bpf_prog_load()` would refuse a program for this task (its type unknown: bpfmem counts
 * instructions only), or undefined. Without `bpf_capable()` only socket filters and cgroup skb
 * programs load, and only while `unprivileged_bpf_disabled` is 0 (kernel/bpf/syscall.c
 * `bpf_prog_load()`).
 */
export function progPermission(p: Privileges, version: KernelVersion): string | undefined {
  const cap = p.capEff;
  if (cap === undefined || bpfCapable(cap, version)) return undefined;
  if (p.unprivilegedBpfDisabled !== undefined && p.unprivilegedBpfDisabled !== 0) {
    return `kernel.unprivileged_bpf_disabled is ${p.unprivilegedBpfDisabled} and the task has neither CAP_BPF nor CAP_SYS_ADMIN`;
  }
  return undefined;
}

/** The capabilities bpfmem cares about that a mask has, by name (`CAP_BPF`, …). */
export function capNames(capEff: bigint): CapName[] {
  return (Object.keys(CAP) as CapName[]).filter((c) => hasCap(capEff, c));
}
