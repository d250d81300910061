import type { InventoryInput, RawMap } from '../../src/vocab/inventory.js';
import { MAP_FLAGS } from '../../src/vocab/flags.js';
import { MAP_TYPES } from '../../src/vocab/maptypes.js';
import { profileOf } from '../../src/model/profile.js';

/**
 * A machine by hand for the server's tests: a Kubernetes pod and container, a systemd service,
 * maps charged to a removed cgroup, to nobody and to an unknown payer, a map type bpfmem does
 * not know, a per-CPU map (uncharged bytes), a cgroup name with a quote, a backslash and a
 * newline (label escaping), holders, pins, programs, limits.
 */

export const MiB = 1024 * 1024;
export const INF = Number.POSITIVE_INFINITY;

/** 6.18 on 2 possible CPUs, as the 6.18 fixtures were measured. */
export const PROFILE = profileOf({ version: '6.18', cpus: 2 });

export const POD = '/kubepods/burstable/pod0f1c2d3e-1111-2222-3333-444455556666';
export const CONTAINER = `${POD}/${'3a9d2c1b5e07'.padEnd(64, '0')}`;
export const SERVICE = '/system.slice/agent.service';
export const WEIRD = '/weird "q"\\b\nn';

const raw = (id: number, over: Partial<RawMap> = {}): RawMap => ({
  id,
  type: MAP_TYPES.hash.id,
  name: `m${id}`,
  keySize: 4,
  valueSize: 8,
  maxEntries: 1000,
  flags: 0,
  mapExtra: 0,
  ...over,
});

/** The fixture; `extra` maps are charged to the container (to make snapshots differ). */
export function fixtureInput(extra = 0): InventoryInput {
  const extraMaps = Array.from({ length: extra }, (_, i) => raw(1000 + i, { name: `extra${i}`, type: MAP_TYPES.array.id, maxEntries: 16 }));
  return {
    profile: PROFILE,
    maps: [
      raw(10, { name: 'flows' }),
      raw(11, { name: 'counts', type: MAP_TYPES.percpu_array.id, keySize: 4, valueSize: 64, maxEntries: 4096 }),
      raw(12, { name: 'conns', flags: MAP_FLAGS.no_prealloc, memlock: 20_000 }),
      raw(13, { name: 'routes', type: MAP_TYPES.lpm_trie.id, keySize: 8, valueSize: 8, maxEntries: 100, flags: MAP_FLAGS.no_prealloc, memlock: 5000 }),
      raw(14, { name: 'rootmap', type: MAP_TYPES.array.id, maxEntries: 64 }),
      raw(15, { name: 'future', type: 99, typeName: 'new_thing', memlock: 8192 }),
      raw(16, { name: 'unread', type: MAP_TYPES.array.id, maxEntries: 8 }),
      raw(17, { name: 'weird', type: MAP_TYPES.array.id, maxEntries: 32 }),
      ...extraMaps,
    ],
    progs: [
      { id: 50, type: 'xdp', name: 'fw', tag: '0123456789abcdef', memlock: 4096, insns: 120, uid: 0 },
      { id: 51, type: 'kprobe', name: 'trace_open', tag: 'fedcba9876543210', memlock: 8192, insns: 900, uid: 0 },
    ],
    charges: new Map<number, bigint | null>([
      [10, 105n],
      [11, 201n],
      [12, 104n],
      [13, 999n],
      [14, 0n],
      [15, 201n],
      [17, 300n],
      ...extraMaps.map((m): [number, bigint] => [m.id, 105n]),
    ]),
    cgroupPaths: new Map([
      [1n, '/'],
      [100n, '/kubepods'],
      [103n, '/kubepods/burstable'],
      [104n, POD],
      [105n, CONTAINER],
      [200n, '/system.slice'],
      [201n, SERVICE],
      [300n, WEIRD],
      [400n, '/idle'],
    ]),
    holders: {
      maps: new Map([
        [10, [{ pid: 4242, comm: 'agent', cgroup: CONTAINER }]],
        [11, [{ pid: 777, comm: 'agentd', cgroup: SERVICE }]],
        [12, [{ pid: 4242, comm: 'agent', cgroup: CONTAINER }]],
      ]),
      progs: new Map([[50, [{ pid: 4242, comm: 'agent', cgroup: CONTAINER }]]]),
    },
    pins: { maps: new Map([[11, ['/sys/fs/bpf/agent/counts']]]), progs: new Map() },
    cgroups: [
      { path: '/', usage: 4096 * MiB, max: INF, kernel: undefined },
      { path: '/kubepods', usage: 900 * MiB, max: 2048 * MiB, kernel: 50 * MiB },
      { path: '/kubepods/burstable', usage: 600 * MiB, max: INF, kernel: 40 * MiB },
      { path: POD, usage: 300 * MiB, max: 512 * MiB, kernel: 20 * MiB },
      { path: CONTAINER, usage: 250 * MiB, max: 256 * MiB, kernel: 10 * MiB },
      { path: '/system.slice', usage: 800 * MiB, max: INF, kernel: 30 * MiB },
      { path: SERVICE, usage: 100 * MiB, max: INF, kernel: 5 * MiB },
      { path: WEIRD, usage: 1 * MiB, max: 64 * MiB, kernel: undefined },
      { path: '/idle', usage: 3 * MiB, max: INF, kernel: undefined },
    ],
    errors: ['pins: /sys/fs/bpf/x: permission denied'],
  };
}
