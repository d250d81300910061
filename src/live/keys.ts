import { PERCPU_MAP_TYPES, type MapType } from '../vocab/maptypes.js';
import type { MapSpec } from '../vocab/map-spec.js';
import { roundUp } from '../vocab/units.js';

/**
 * Keys and values for inserting the n-th new element of a map through BPF_MAP_UPDATE_ELEM,
 * per map type. Keys are distinct for distinct n, so every insert adds an element.
 */

/** What an insert into a map of this type needs besides a key and a value of zeros. */
export type InsertKind =
  | 'key' // a key n and a zero value (hash family)
  | 'index' // an index n mod max_entries (arrays: overwrites, allocates nothing)
  | 'lpm' // struct bpf_lpm_trie_key_u8: prefixlen + data
  | 'push' // no key: queue, stack, bloom filter
  | 'ifindex' // value: the loopback device (devmap, devmap_hash)
  | 'socket' // value: a bound UDP socket's fd (sockmap, sockhash)
  | 'map' // value: an inner map fd (map-in-map)
  | 'unsupported';

/** How bpfmem inserts into a map of `type` live (and why it cannot, when it cannot). */
export function insertKind(type: MapType): InsertKind {
  switch (type) {
    case 'hash':
    case 'percpu_hash':
    case 'lru_hash':
    case 'lru_percpu_hash':
    case 'rhash':
      return 'key';
    case 'array':
    case 'percpu_array':
    case 'insn_array': // a zero bpf_insn_array_value: orig_off 0 (insn_array_update_elem(), 6.19+)
      return 'index';
    case 'lpm_trie':
      return 'lpm';
    case 'queue':
    case 'stack':
    case 'bloom_filter':
      return 'push';
    case 'devmap':
    case 'devmap_hash':
      return 'ifindex';
    case 'sockmap':
    case 'sockhash':
      return 'socket';
    case 'hash_of_maps':
    case 'array_of_maps':
      return 'map';
    case 'prog_array':
    case 'perf_event_array':
    case 'cgroup_array':
    case 'stack_trace':
    case 'cpumap':
    case 'xskmap':
    case 'reuseport_sockarray':
    case 'cgroup_storage':
    case 'percpu_cgroup_storage':
    case 'sk_storage':
    case 'inode_storage':
    case 'task_storage':
    case 'cgrp_storage':
    case 'struct_ops':
    case 'ringbuf':
    case 'user_ringbuf':
    case 'arena':
      return 'unsupported';
  }
}

/** Why live inserts into a type are not driven. */
export const UNSUPPORTED_INSERT =
  'bpfmem drives live inserts into hash maps, arrays, LPM tries, queues, stacks, bloom filters, devmaps, sockmaps and map-in-maps only';

/** Writes `n` little-endian into `out[off..off+len)`; bytes beyond 6 stay zero. */
function writeLE(out: Uint8Array, off: number, len: number, n: number): void {
  let v = n;
  for (let i = 0; i < len && i < 6; i++) {
    out[off + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/** Writes `n` big-endian into the last bytes of `out[off..off+len)` (LPM data is in network order). */
function writeBE(out: Uint8Array, off: number, len: number, n: number): void {
  let v = n;
  for (let i = len - 1; i >= 0 && i >= len - 6; i--) {
    out[off + i] = v & 0xff;
    v = Math.floor(v / 256);
  }
}

/**
 * The key of the n-th insert (empty for pushes). Writes into `into` when given, so a loop of
 * inserts allocates nothing (a worker's own allocations would blur what its cgroup is charged).
 */
export function keyFor(spec: MapSpec, n: number, into?: Uint8Array): Uint8Array {
  const key = into ?? new Uint8Array(spec.keySize);
  key.fill(0);
  switch (insertKind(spec.type)) {
    case 'lpm':
      // struct bpf_lpm_trie_key_u8 { u32 prefixlen; u8 data[]; }: a full-length prefix.
      writeLE(key, 0, 4, (spec.keySize - 4) * 8);
      writeBE(key, 4, spec.keySize - 4, n);
      return key;
    case 'index':
    case 'ifindex':
    case 'socket':
    case 'map':
      writeLE(key, 0, spec.keySize, spec.type === 'devmap' || spec.type === 'array' || spec.type === 'percpu_array' || spec.type === 'insn_array' || spec.type === 'sockmap' || spec.type === 'array_of_maps' ? n % Math.max(1, spec.maxEntries) : n);
      return key;
    case 'push':
      return key;
    case 'key':
    case 'unsupported':
      writeLE(key, 0, spec.keySize, n);
      return key;
  }
}

/**
 * The value buffer of an update from user space: per-CPU maps take one rounded-up value per
 * possible CPU (`bpf_map_value_size()`); devmaps the loopback ifindex (1); socket and map-in-map
 * values an fd, filled in by the caller.
 */
export function valueFor(spec: MapSpec, n: number, possibleCpus: number, fd = 0): Uint8Array {
  if (PERCPU_MAP_TYPES.has(spec.type)) return new Uint8Array(roundUp(spec.valueSize, 8) * possibleCpus);
  const value = new Uint8Array(spec.valueSize);
  switch (insertKind(spec.type)) {
    case 'ifindex':
      writeLE(value, 0, 4, 1); // lo
      return value;
    case 'socket':
    case 'map':
      writeLE(value, 0, 4, fd);
      return value;
    case 'push':
      if (spec.type === 'bloom_filter') writeLE(value, 0, spec.valueSize, n);
      return value;
    case 'key':
    case 'index':
    case 'lpm':
    case 'unsupported':
      return value;
  }
}
