import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tolerance } from '../../src/conformance/tolerance.js';
import { kmallocMinSizeFor, profileOf } from '../../src/model/profile.js';
import { kmallocClasses } from '../../src/model/slab.js';
import { simulateJsonText } from '../../src/simulate/result-json.js';
import { atLeast, parseKernelVersion } from '../../src/vocab/kernel-version.js';
import { missingTool } from '../tools.js';

/**
 * The arm64 lab: Debian's arm64 cloud kernels (5.10, 6.1, 6.12, the newest 7.x) booted under
 * qemu-system-aarch64 by scripts/arm64-lab.sh, with busybox and bpftool. Each kernel's kmalloc
 * caches must be the model's for arm64 and its version (KMALLOC_MIN_SIZE 128 before 6.5, no
 * kmalloc-192 then; 8 since), and on the memcg kernels a no-prealloc hash of 80-byte elements
 * filled with 20,000 of them must charge its cgroup what the model says for arm64 (the kernel and
 * slab counters of memory.stat, to a page), which is 32 bytes an element more than x86-64 before
 * 6.5 (640 KiB here): the model's arm64 rule is proven where the two arches differ. Skips, saying
 * why, without qemu-system-aarch64 or when no kernel can be had.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = `${ROOT}scripts/arm64-lab.sh`;
/**
 * The conformance tolerance of the guest (2 CPUs, 4 KiB pages): under a page of objcg stock a CPU
 * and two pages for the creating task's file and fd table, 16 KiB. Two pages was too few: 6.1
 * once measured /t's `kernel` 12,288 bytes over the model while its `slab` was 4,976 over (CI,
 * 2026-12-07). Still far under the 640 KiB by which x86-64's numbers differ from arm64's.
 */
const SLACK = tolerance(profileOf({ version: '6.1', arch: 'arm64', cpus: 2, pageSize: 4096, cgroup: 2 })).bytes;

/** The scenario the guest runs: the map made in /t by a task that then leaves, the inserts from the root. */
const scenario = (version: string, arch: string): string => `kernel: { version: "${version}", arch: ${arch}, cpus: 2, cgroup: 2, page_size: 4Ki }
cgroups: { /t: {} }
tasks: { shell: { cgroup: /t } }
steps:
  - create_map: { task: shell, name: h, type: hash, key: 8, value: 24, max_entries: 100000, flags: no_prealloc }
  - move_task: { task: shell, cgroup: / }
  - update: { map: h, count: 20000 }
`;

interface Measured {
  readonly series: string;
  readonly release: string;
  readonly kmalloc: readonly number[];
  readonly kernel: number | undefined;
  readonly slab: number;
}

/** What the model says /t holds: memory.stat kernel and slab. */
async function model(version: string, arch: string): Promise<{ kernel: number; slab: number }> {
  const run = JSON.parse(await simulateJsonText(scenario(version, arch), `arm64-${version}.yaml`)) as { cgroups: Record<string, { kernel: number; stat: { slab: number } }> };
  const t = run.cgroups['/t'];
  if (!t) throw new Error('the model has no cgroup /t');
  return { kernel: t.kernel, slab: t.stat.slab };
}

async function measure(): Promise<{ kernels: Measured[]; reason?: string; stderr: string }> {
  const missing = missingTool('qemu-system-aarch64') ?? missingTool('cpio');
  if (missing !== undefined) return { kernels: [], reason: missing, stderr: '' };
  let stdout: string;
  let stderr: string;
  try {
    ({ stdout, stderr } = await promisify(execFile)('bash', [SCRIPT], { encoding: 'utf8', timeout: 900_000 }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    stdout = e.stdout ?? '';
    stderr = e.stderr ?? '';
    if (e.code === 3) return { kernels: [], reason: `no arm64 kernel could be had (network? cache?): ${stderr.trim().split('\n').pop() ?? ''}`, stderr };
  }
  const kernels = [...stdout.matchAll(/^ARM64 (\S+) (\S+) kmalloc=(\S+) current=\S+ kernel=(\d*) slab=(\d+) percpu=\S*$/gm)].map((m) => ({
    series: m[1] ?? '',
    release: m[2] ?? '',
    kmalloc: (m[3] ?? '').split(',').map(Number),
    kernel: m[4] === '' ? undefined : Number(m[4]),
    slab: Number(m[5]),
  }));
  return { kernels, stderr };
}

const lab = await measure();
if (lab.reason !== undefined) console.warn(`arm64 lab tests skipped: ${lab.reason}`);

describe.skipIf(lab.reason !== undefined)('the arm64 lab', () => {
  it('booted every series it could fetch, and measured it', () => {
    const lines = lab.stderr.split('\n').filter((l) => l !== '' && !l.includes(': fetching '));
    // A series the mirror no longer carries (and the cache lacks) is said, as the x86-64 lab does;
    // a kernel that did not boot or measure is a failure.
    const unavailable = lines.filter((l) => / could be had$| download \S+ failed$/.test(l));
    if (unavailable.length > 0) console.warn(`arm64 lab: ${unavailable.join('; ')}`);
    expect(lines.filter((l) => !unavailable.includes(l))).toEqual([]);
    expect(lab.kernels.length).toBeGreaterThan(0);
    for (const k of lab.kernels) expect(['5.10', '6.1', '6.12', '7']).toContain(k.series);
  });

  it.for(lab.kernels)('$release: the kmalloc caches are the model\'s, and so is the charge of 20,000 inserts', async (k) => {
    const version = parseKernelVersion(k.release);
    expect(version).toBeDefined();
    if (!version) return;
    const min = kmallocMinSizeFor('arm64', version);
    expect(k.kmalloc).toEqual(kmallocClasses(4096, min));
    const v = `${version.major}.${version.minor}`;
    const arm = await model(v, 'arm64');
    const x86 = await model(v, 'x86_64');
    console.log(`${k.release}: kmalloc from ${k.kmalloc[0]} B; /t kernel ${k.kernel ?? '-'} (model arm64 ${arm.kernel}, x86_64 ${x86.kernel}), slab ${k.slab} (model arm64 ${arm.slab}, x86_64 ${x86.slab})`);
    if (!atLeast(version, 5, 11)) {
      // The memlock regime: the map and its elements are charged to no memory cgroup.
      expect(arm.kernel).toBe(0);
      expect(k.slab).toBeLessThanOrEqual(SLACK);
      return;
    }
    expect(Math.abs((k.kernel ?? Number.NaN) - arm.kernel)).toBeLessThanOrEqual(SLACK);
    expect(Math.abs(k.slab - arm.slab)).toBeLessThanOrEqual(SLACK);
    // Where the arches differ, the test can tell them apart: x86-64's numbers would fail it.
    if (min > 8) {
      expect(arm.slab - x86.slab).toBeGreaterThanOrEqual(20000 * 32);
      expect(Math.abs(k.slab - x86.slab)).toBeGreaterThan(20000 * 32 - SLACK);
    }
  });
});
