import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Inventory, MapEntry } from '../inspect/inventory.js';
import { largestMaps } from '../inspect/summary.js';
import type { CgroupLabel } from '../inspect/labels.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { VERSION } from '../vocab/bpfmem-version.js';
import type { WatchFrame } from '../watch/index.js';
import { FailureCounters, renderWatchMetrics } from './watch-metrics.js';

export { largestMaps } from '../inspect/summary.js';

/**
 * The Prometheus metrics of `bpfmem serve` (every one is documented in docs/metrics.md).
 *
 * A scrape must never see half of one scan and half of the next, so the metrics of a snapshot
 * are rendered once, into text, from a registry made for that snapshot alone; a scrape sends
 * the text of the last snapshot. The scan counters and the duration histogram live across
 * snapshots and are registered in each new registry; they change only in the scan loop, before
 * the registry is rendered, never while it is. The process metrics (`process_*`, `nodejs_*`)
 * describe this process, not the machine, and are read at each scan, just after it (so with
 * `--interval 1h` they are up to an hour old, like the rest of the text).
 */

/** The Content-Type of the text exposition format 0.0.4. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Scan durations: 10,000 maps take a few hundred ms; a stuck read shows in the last buckets. */
const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The counters and histogram of scans, kept for the life of a server. */
export class ScanMetrics {
  readonly scans = new Counter({ name: 'bpfmem_scans_total', help: 'Scans of the BPF objects finished, failed ones included.', registers: [] });
  readonly errors = new Counter({
    name: 'bpfmem_scan_errors_total',
    help: 'Scans that failed as a whole (the last good snapshot is kept).',
    registers: [],
  });
  readonly duration = new Histogram({
    name: 'bpfmem_scan_duration_seconds',
    help: 'Wall time of a scan: reading every map, program, holder, pin and memory cgroup.',
    buckets: SCAN_BUCKETS,
    registers: [],
  });
  /** Refused map updates by map type, errno and cgroup, carried from scan to scan (src/server/watch-metrics.ts). */
  readonly failures = new FailureCounters();

  /** Counts one scan. */
  record(seconds: number, ok: boolean): void {
    this.scans.inc();
    if (!ok) this.errors.inc();
    this.duration.observe(seconds);
  }

  registerIn(registry: Registry): void {
    registry.registerMetric(this.scans);
    registry.registerMetric(this.errors);
    registry.registerMetric(this.duration);
  }
}

/** What a snapshot's metrics are made of. */
export interface MetricsSnapshot {
  readonly inventory: Inventory;
  /** When the scan that read it ended. */
  readonly time: Date;
  /** Refused map updates and the forecast (src/server/watch-metrics.ts). */
  readonly watch?: WatchFrame;
}

export interface MetricsOptions {
  /**
   * One series per map (`id`, `name`, `type`, `cgroup`) for this many maps, those the model
   * charges most (memlock where it does not model the type), ties by id; 0: none. The number of
   * series stays bounded whatever the number of maps.
   */
  readonly perMap: number;
}

/** The `workload` label: the pod, container or systemd unit a cgroup path names, else empty. */
export const workloadOf = (label: CgroupLabel): string => (label.kind === 'other' ? '' : label.text);

/** Where a map's charge goes, as the payer metrics name it. */
export type PayerKind = MapEntry['chargedTo']['kind'];
const PAYER_KINDS: readonly PayerKind[] = ['cgroup', 'removed', 'nobody', 'unknown'];

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Adds `n` to the entry of `key`, creating it at zero. */
function add<K>(m: Map<K, number[]>, key: K, values: readonly number[]): void {
  const row = m.get(key) ?? values.map(() => 0);
  for (let i = 0; i < values.length; i++) row[i] = (row[i] ?? 0) + (values[i] ?? 0);
  m.set(key, row);
}

/** Renders the metrics of a snapshot with the scan metrics as they are now. */
export async function renderSnapshotMetrics(s: MetricsSnapshot, scan: ScanMetrics, options: MetricsOptions): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const inv = s.inventory;
  const p = inv.profile;

  new Gauge({ name: 'bpfmem_build_info', help: 'bpfmem that serves these metrics: its version and Node.js version.', labelNames: ['version', 'nodejs_version'], registers }).set(
    { version: VERSION, nodejs_version: process.versions.node },
    1,
  );
  new Gauge({
    name: 'bpfmem_kernel_info',
    help: 'The running kernel: release, version, architecture, how it charges BPF memory (regime memcg, memlock or none), cgroup version of the memory controller.',
    labelNames: ['release', 'version', 'arch', 'regime', 'cgroup_version'],
    registers,
  }).set({ release: p.release, version: formatVersion(p.version), arch: p.arch, regime: p.regime, cgroup_version: String(p.cgroupVersion) }, 1);
  new Gauge({ name: 'bpfmem_kernel_possible_cpus', help: 'Possible CPUs (/sys/devices/system/cpu/possible): per-CPU maps allocate for each.', registers }).set(p.possibleCpus);
  new Gauge({ name: 'bpfmem_kernel_page_size_bytes', help: 'The page size.', registers }).set(p.pageSize);
  new Gauge({ name: 'bpfmem_kernel_kmalloc_min_size_bytes', help: 'The smallest kmalloc cache (KMALLOC_MIN_SIZE): map elements and small allocations round up to it.', registers }).set(p.kmallocMinSize);
  new Gauge({
    name: 'bpfmem_charges_known',
    help: '1 when the memory cgroup each map is charged to was read (the map iterator ran), else 0.',
    registers,
  }).set(inv.chargesUnavailable === undefined ? 1 : 0);
  new Gauge({ name: 'bpfmem_inventory_errors', help: 'Things the last snapshot could not read, one per line of its errors list.', registers }).set(inv.errors.length);
  new Gauge({ name: 'bpfmem_last_scan_timestamp_seconds', help: 'When the scan behind these metrics ended (Unix time).', registers }).set(s.time.getTime() / 1000);
  scan.registerIn(registry);

  // Per map type: count, fdinfo memlock, the model's charged and uncharged bytes.
  const byType = new Map<string, number[]>();
  for (const m of inv.maps) add(byType, m.type, [1, m.memlock, m.charge ?? m.memlock, m.uncharged ?? 0]);
  const types = [...byType].sort(([a], [b]) => byText(a, b));
  const typeGauge = (name: string, help: string, column: number): void => {
    const g = new Gauge({ name, help, labelNames: ['type'], registers });
    for (const [type, row] of types) g.set({ type }, row[column] ?? 0);
  };
  typeGauge('bpfmem_maps', 'BPF maps, by map type.', 0);
  typeGauge('bpfmem_maps_memlock_bytes', 'fdinfo memlock of BPF maps (what the kernel reports per map), by map type.', 1);
  typeGauge(
    'bpfmem_maps_charged_bytes',
    "Estimated bytes the kernel charges for BPF maps, whoever pays (bpfmem_payer_maps_charged_bytes says who: maps made in the root cgroup are charged to nobody), by map type; fdinfo memlock for map types bpfmem does not model.",
    2,
  );
  typeGauge('bpfmem_maps_uncharged_bytes', 'Bytes BPF maps allocated that no memory cgroup is charged for (made at creation: per-CPU memory on 6.0+, allocations without __GFP_ACCOUNT), by map type.', 3);

  const progTypes = new Map<string, number[]>();
  for (const q of inv.progs) add(progTypes, q.type, [1, q.memlock]);
  const progRows = [...progTypes].sort(([a], [b]) => byText(a, b));
  const progs = new Gauge({ name: 'bpfmem_progs', help: 'BPF programs, by program type.', labelNames: ['type'], registers });
  const progMemlock = new Gauge({ name: 'bpfmem_progs_memlock_bytes', help: 'fdinfo memlock of BPF programs, by program type.', labelNames: ['type'], registers });
  for (const [type, row] of progRows) {
    progs.set({ type }, row[0] ?? 0);
    progMemlock.set({ type }, row[1] ?? 0);
  }

  // Who pays: a memory cgroup, a removed one, nobody, or unknown.
  const payers = new Map<PayerKind, number[]>(PAYER_KINDS.map((k) => [k, [0, 0]]));
  const own = new Map<string, { label: CgroupLabel; row: number[] }>();
  for (const m of inv.maps) {
    const bytes = m.charge ?? m.memlock;
    add(payers, m.chargedTo.kind, [1, bytes]);
    if (m.chargedTo.kind === 'cgroup') {
      const o = own.get(m.chargedTo.path) ?? { label: m.chargedTo.label, row: [0, 0] };
      o.row[0] = (o.row[0] ?? 0) + 1;
      o.row[1] = (o.row[1] ?? 0) + bytes;
      own.set(m.chargedTo.path, o);
    }
  }
  const payerMaps = new Gauge({ name: 'bpfmem_payer_maps', help: 'BPF maps by who is charged: kind cgroup, removed (a dying memory cgroup), nobody (root cgroup or no kmem accounting), unknown.', labelNames: ['kind'], registers });
  const payerBytes = new Gauge({ name: 'bpfmem_payer_maps_charged_bytes', help: 'Estimated bytes of BPF maps by who is charged (fdinfo memlock for map types bpfmem does not model).', labelNames: ['kind'], registers });
  for (const [kind, row] of payers) {
    payerMaps.set({ kind }, row[0] ?? 0);
    payerBytes.set({ kind }, row[1] ?? 0);
  }

  const cgroupLabels = ['cgroup', 'workload'] as const;
  const ownMaps = new Gauge({ name: 'bpfmem_cgroup_maps', help: 'BPF maps charged to a memory cgroup itself (not below it).', labelNames: cgroupLabels, registers });
  const ownBytes = new Gauge({
    name: 'bpfmem_cgroup_maps_charged_bytes',
    help: 'Estimated bytes of the BPF maps charged to a memory cgroup itself (not below it).',
    labelNames: cgroupLabels,
    registers,
  });
  for (const [cgroup, o] of [...own].sort(([a], [b]) => byText(a, b))) {
    const labels = { cgroup, workload: workloadOf(o.label) };
    ownMaps.set(labels, o.row[0] ?? 0);
    ownBytes.set(labels, o.row[1] ?? 0);
  }

  // Memory cgroups with BPF at or below them: their counters, against their limits.
  const subtree = new Gauge({ name: 'bpfmem_cgroup_subtree_maps_charged_bytes', help: 'Estimated bytes of the BPF maps charged to a memory cgroup or any cgroup below it.', labelNames: cgroupLabels, registers });
  const usage = new Gauge({ name: 'bpfmem_cgroup_memory_usage_bytes', help: 'Memory charged to a memory cgroup and below it (v2 memory.current, v1 memory.usage_in_bytes).', labelNames: cgroupLabels, registers });
  const limit = new Gauge({ name: 'bpfmem_cgroup_memory_limit_bytes', help: 'The memory limit of a memory cgroup (v2 memory.max, v1 memory.limit_in_bytes); absent when it has none.', labelNames: cgroupLabels, registers });
  const headroom = new Gauge({
    name: 'bpfmem_cgroup_memory_headroom_bytes',
    help: 'The least room left under the limit of a memory cgroup or any ancestor (a charge needing more fails with ENOMEM); absent when no limit applies.',
    labelNames: cgroupLabels,
    registers,
  });
  const kernel = new Gauge({ name: 'bpfmem_cgroup_memory_kernel_bytes', help: 'Kernel memory charged to a memory cgroup (v1 memory.kmem.usage_in_bytes, v2 memory.stat kernel) where the kernel reports it.', labelNames: cgroupLabels, registers });
  for (const c of inv.cgroups) {
    if (c.objectsSubtree === 0) continue;
    const labels = { cgroup: c.path, workload: workloadOf(c.label) };
    subtree.set(labels, c.bpfSubtree);
    usage.set(labels, c.usage);
    if (Number.isFinite(c.max)) limit.set(labels, c.max);
    if (Number.isFinite(c.headroom)) headroom.set(labels, c.headroom);
    if (c.kernel !== undefined) kernel.set(labels, c.kernel);
  }

  const text = (await registry.metrics()) + (await renderWatchMetrics(s.watch, scan.failures));
  return options.perMap > 0 ? `${text}\n${perMapFamilies(largestMaps(inv.maps, options.perMap))}\n` : text;
}

/** A label value as the exposition format writes it: `\\`, `\"` and `\n` escaped (as prom-client does). */
const labelValue = (v: string): string => (/[\\\n"]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v);

/**
 * The three per-map families (`--per-map-metrics`), written as text directly: the same text
 * prom-client writes (families apart by a blank line, label values escaped the same way), in a
 * tenth of the time. 10,000 maps make 30,000 series, and prom-client took 180–310 ms of the
 * event loop to render them, which every scrape in flight waited for.
 */
function perMapFamilies(maps: readonly MapEntry[]): string {
  const families = [
    { name: 'bpfmem_map_memlock_bytes', help: 'fdinfo memlock of one BPF map (--per-map-metrics).', value: (m: MapEntry): number | undefined => m.memlock },
    { name: 'bpfmem_map_charged_bytes', help: "The model's estimate of what one BPF map's memory cgroup is charged (--per-map-metrics).", value: (m: MapEntry) => m.charge },
    { name: 'bpfmem_map_uncharged_bytes', help: 'Bytes one BPF map allocated that no memory cgroup is charged for (--per-map-metrics).', value: (m: MapEntry) => m.uncharged },
  ];
  // The label set of each map, made once for the three families.
  const labels = maps.map(
    (m) => `{id="${m.id}",name="${labelValue(m.name)}",type="${labelValue(m.type)}",cgroup="${m.chargedTo.kind === 'cgroup' ? labelValue(m.chargedTo.path) : ''}"}`,
  );
  let out = '';
  for (const { name, help, value } of families) {
    out += `${out === '' ? '' : '\n\n'}# HELP ${name} ${help}\n# TYPE ${name} gauge`;
    for (let i = 0; i < maps.length; i++) {
      const v = value(maps[i] as MapEntry);
      if (v !== undefined) out += `\n${name}${labels[i] ?? ''} ${v}`;
    }
  }
  return out;
}

let processRegistry: Registry | undefined;

/** Open file descriptors of this process; undefined where /proc cannot tell. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/**
 * This process's metrics, read at each scan, under the names every Prometheus client library
 * uses (`process_*`; `nodejs_*` for the V8 heap). Not prom-client's default collectors: those
 * print gauges named `_total` and `Nan` before the event loop histogram has a sample, which
 * `promtool check metrics` refuses.
 */
export function processMetrics(): Promise<string> {
  if (!processRegistry) {
    const registers = [(processRegistry = new Registry())];
    new Counter({
      name: 'process_cpu_seconds_total',
      help: 'User and system CPU time of this process.',
      registers,
      collect() {
        const u = process.cpuUsage();
        this.reset();
        this.inc((u.user + u.system) / 1e6);
      },
    });
    new Gauge({ name: 'process_start_time_seconds', help: 'When this process started (Unix time).', registers }).set(Math.round(performance.timeOrigin) / 1000);
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory of this process.',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Gauge({
      name: 'process_open_fds',
      help: 'Open file descriptors of this process.',
      registers,
      collect() {
        const n = openFds();
        if (n === undefined) this.reset();
        else this.set(n);
      },
    });
    new Gauge({
      name: 'nodejs_heap_used_bytes',
      help: 'V8 heap in use.',
      registers,
      collect() {
        this.set(process.memoryUsage().heapUsed);
      },
    });
    new Gauge({
      name: 'nodejs_heap_total_bytes',
      help: 'V8 heap allocated.',
      registers,
      collect() {
        this.set(process.memoryUsage().heapTotal);
      },
    });
    new Gauge({
      name: 'nodejs_external_memory_bytes',
      help: 'Memory outside the V8 heap that V8 objects hold (Buffers and other ArrayBuffers).',
      registers,
      collect() {
        this.set(process.memoryUsage().external);
      },
    });
  }
  return processRegistry.metrics();
}
