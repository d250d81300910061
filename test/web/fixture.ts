import type { InventoryInput, RawCgroup, RawMap } from '../../src/vocab/inventory.js';
import { MAP_TYPES, type MapType } from '../../src/vocab/maptypes.js';
import { profileOf } from '../../src/model/profile.js';

/**
 * A node as the dashboard tests see it: a Kubernetes pod whose container runs a CNI agent, a
 * systemd service running a security agent, a map charged to a removed cgroup and one to nobody.
 * Made by hand (a machine with pods is not at hand here); the inventory is assembled from it by
 * the same buildInventory() the CLI uses, so every charge is the model's.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const POD = '/kubepods/burstable/pod0f1c2d3e-4b5a-6789-abcd-ef0123456789';
export const CONTAINER = `${POD}/cri-containerd-${'3a9d2c1b5e07'.repeat(5)}abcd.scope`;
export const FALCO = '/system.slice/falco.service';

const cgroups: RawCgroup[] = [
  { path: '/', usage: 3 * GiB, max: Infinity, kernel: 400 * MiB },
  { path: '/kubepods', usage: 1536 * MiB, max: 6 * GiB, kernel: 300 * MiB },
  { path: '/kubepods/burstable', usage: 1024 * MiB, max: Infinity, kernel: 250 * MiB },
  // Within 10% of its limit: the summary warns about it.
  { path: POD, usage: 950 * MiB, max: 1 * GiB, kernel: 200 * MiB },
  { path: CONTAINER, usage: 940 * MiB, max: Infinity, kernel: 195 * MiB },
  { path: '/system.slice', usage: 400 * MiB, max: Infinity, kernel: 60 * MiB },
  { path: FALCO, usage: 300 * MiB, max: 512 * MiB, kernel: 40 * MiB },
  { path: '/system.slice/sshd.service', usage: 10 * MiB, max: Infinity, kernel: 1 * MiB },
];

/** kernfs ids of the cgroups, as the map iterator reports them. */
const ids = new Map<string, bigint>(cgroups.map((c, i) => [c.path, BigInt(1000 + i)]));
const REMOVED = 4242n;

function map(id: number, type: MapType, name: string, key: number, value: number, maxEntries: number, extra: Partial<RawMap> = {}): RawMap {
  return { id, type: MAP_TYPES[type].id, name, keySize: key, valueSize: value, maxEntries, flags: 0, mapExtra: 0, ...extra };
}

const maps: RawMap[] = [
  map(101, 'lru_hash', 'cilium_ct4_glob', 56, 56, 524288),
  map(102, 'hash', 'cilium_lb4_serv', 12, 12, 65536),
  map(103, 'percpu_array', 'falco_stats', 4, 64, 4096),
  map(104, 'ringbuf', 'falco_events', 0, 0, 8 * MiB),
  map(105, 'array', 'pod_cfg', 4, 256, 64),
  // A no-prealloc hash whose fdinfo memlock says how many elements it holds.
  map(106, 'hash', 'old_flows', 8, 64, 100000, { flags: 1, memlock: 2 * MiB }),
  map(107, 'array', 'root_cfg', 4, 8, 16),
];

const charges = new Map<number, bigint | null>([
  [101, ids.get(CONTAINER)!],
  [102, ids.get(CONTAINER)!],
  [103, ids.get(FALCO)!],
  [104, ids.get(FALCO)!],
  [105, ids.get(POD)!],
  [106, REMOVED],
  [107, 0n],
]);

export const fixtureInput: InventoryInput = {
  profile: profileOf({ version: '6.18.44', cpus: 2 }),
  maps,
  progs: [
    { id: 201, type: 'sched_cls', name: 'cil_from_netdev', tag: '0123456789abcdef', memlock: 16384, insns: 1800, uid: 0 },
    { id: 202, type: 'raw_tracepoint', name: 'falco_sys_enter', tag: 'fedcba9876543210', memlock: 8192, insns: 700, uid: 0 },
  ],
  charges,
  cgroupPaths: new Map([...ids].map(([path, id]) => [id, path])),
  holders: {
    maps: new Map([
      [101, [{ pid: 4100, comm: 'cilium-agent', cgroup: CONTAINER }]],
      [102, [{ pid: 4100, comm: 'cilium-agent', cgroup: CONTAINER }]],
      [103, [{ pid: 900, comm: 'falco', cgroup: FALCO }]],
      [104, [{ pid: 900, comm: 'falco', cgroup: FALCO }]],
      // The creator moved to the container: the pod pays, the holder is below it.
      [105, [{ pid: 4100, comm: 'cilium-agent', cgroup: CONTAINER }]],
    ]),
    progs: new Map([
      [201, [{ pid: 4100, comm: 'cilium-agent', cgroup: CONTAINER }]],
      [202, [{ pid: 900, comm: 'falco', cgroup: FALCO }]],
    ]),
  },
  pins: { maps: new Map([[106, ['/sys/fs/bpf/old_flows']]]), progs: new Map() },
  cgroups,
};

/** The regime reason the fixture source reports. */
export const FIXTURE_REGIME_REASON = 'kernel 6.18 charges BPF memory to memory cgroups (fixture)';
