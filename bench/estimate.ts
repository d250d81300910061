/**
 * bench/estimate.ts: `bpfmem estimate OBJECT.o` end to end (process start included) on a BPF
 * object with 100 maps, against `bpftool btf dump file OBJECT.o` on the same file in the same
 * run (a C program reading the same object's BTF), and against `bpfmem --version` (Node starting
 * the same bundle: the floor). Wall time and the children's CPU time are both printed, with the
 * load average: on a busy machine wall time measures the machine. Target: under 200 ms.
 *
 * The object is written here as BPF C (100 BTF-defined maps of the common types, global data,
 * one program) and compiled with Debian's clang, in a temporary directory removed at the end.
 * Needs clang, bpftool and `npm run build`. Run: `npm run bench:estimate`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseBpfObject } from '../src/elf/index.js';

const RUNS = Number(process.env['RUNS'] ?? 15);
const BIN = fileURLToPath(new URL('../dist/bin/bpfmem.js', import.meta.url));

function fail(why: string): never {
  console.error(`bench/estimate: ${why}`);
  process.exit(1);
}

const TYPES = [
  ['BPF_MAP_TYPE_HASH', '__u32', '__u64', 10000, ''],
  ['BPF_MAP_TYPE_ARRAY', '__u32', 'struct big', 1024, ''],
  ['BPF_MAP_TYPE_PERCPU_HASH', '__u64', '__u64', 4096, ''],
  ['BPF_MAP_TYPE_PERCPU_ARRAY', '__u32', 'struct big', 256, ''],
  ['BPF_MAP_TYPE_LRU_HASH', '__u64', 'struct big', 65536, ''],
  ['BPF_MAP_TYPE_HASH', '__u64', 'struct big', 100000, '__uint(map_flags, 1);'],
  ['BPF_MAP_TYPE_LPM_TRIE', 'struct lpm_key', '__u32', 1024, '__uint(map_flags, 1);'],
  ['BPF_MAP_TYPE_QUEUE', '', '__u64', 4096, ''],
] as const;

/** 100 maps cycling through the types above, one global of each data section, one program. */
function source(): string {
  const lines = [
    '#include <linux/bpf.h>',
    '#include <linux/types.h>',
    '#define SEC(n) __attribute__((section(n), used))',
    '#define __uint(name, val) int (*name)[val]',
    '#define __type(name, val) typeof(val) *name',
    'struct big { __u64 v[16]; };',
    'struct lpm_key { __u32 prefixlen; __u32 addr; };',
    'char LICENSE[] SEC("license") = "GPL";',
    'int counter = 1;',
    'const volatile int config = 7;',
    'int scratch[64];',
  ];
  for (let i = 0; i < 100; i++) {
    const [type, key, value, max, extra] = TYPES[i % TYPES.length] ?? TYPES[0];
    lines.push(
      `struct { __uint(type, ${type}); ${key ? `__type(key, ${key});` : ''} __type(value, ${value}); __uint(max_entries, ${max}); ${extra} } m${i} SEC(".maps");`,
    );
  }
  lines.push('SEC("socket") int prog(void *ctx) { return counter + config + scratch[0]; }');
  return lines.join('\n') + '\n';
}

/**
 * CPU time (user + system) of this process's waited-for children so far, in ms: fields 16 and 17
 * (cutime, cstime) of /proc/self/stat, in clock ticks of 10 ms (USER_HZ 100 on Linux). Less
 * sensitive than wall time to what else the machine runs; its 10 ms grain averages out over runs.
 */
function childCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

function timed(cmd: string, args: string[]): Timing {
  const c0 = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wall = performance.now() - t0;
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${String(r.status)}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}`);
  return { wall, cpu: childCpuMs() - c0 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function main(): void {
  if (!existsSync(BIN)) fail(`no ${BIN}: run npm run build first`);
  for (const tool of ['clang', 'bpftool']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      fail(`no ${tool} on PATH (apt-get install ${tool === 'clang' ? 'clang' : 'bpftool'})`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'bpfmem-bench-estimate-'));
  try {
    const c = join(dir, 'hundred.bpf.c');
    const obj = join(dir, 'hundred.bpf.o');
    writeFileSync(c, source());
    // The UAPI headers include <asm/types.h>, under the host's multiarch directory (as test/fixtures/bpf/build.ts does).
    const multiarch = execFileSync('clang', ['-print-multiarch'], { encoding: 'utf8' }).trim();
    const cc = spawnSync('clang', ['-O2', '-g', '-target', 'bpf', `-I/usr/include/${multiarch}`, '-c', c, '-o', obj], { encoding: 'utf8' });
    if (cc.status !== 0) fail(`clang could not compile the 100-map object: ${cc.stderr.trim().split('\n')[0] ?? ''}`);
    const check = JSON.parse(execFileSync(process.execPath, [BIN, 'estimate', obj, '--json'], { encoding: 'utf8' })) as { maps: unknown[] };
    if (check.maps.length < 100) fail(`bpfmem estimate found ${check.maps.length} maps in the object, expected 100 and the data sections`);
    const runs: Record<'ours' | 'floor' | 'ref', Timing[]> = { ours: [], floor: [], ref: [] };
    const commands: Record<keyof typeof runs, [string, string[]]> = {
      ours: [process.execPath, [BIN, 'estimate', obj]],
      // The floor: Node starting the same bundle and doing nothing (`--version`).
      floor: [process.execPath, [BIN, '--version']],
      ref: ['bpftool', ['btf', 'dump', 'file', obj]],
    };
    for (const [cmd, args] of Object.values(commands)) timed(cmd, args);
    // Interleaved, so that a busy moment of the machine falls on all three alike.
    for (let i = 0; i < RUNS; i++) for (const [k, [cmd, args]] of Object.entries(commands)) runs[k as keyof typeof runs].push(timed(cmd, args));
    const wall = (k: keyof typeof runs): number[] => runs[k].map((t) => t.wall);
    const cpu = (k: keyof typeof runs): number => runs[k].reduce((s, t) => s + t.cpu, 0) / RUNS;
    const fmt = (k: keyof typeof runs): string => {
      const xs = wall(k);
      return `wall median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}), CPU ${cpu(k).toFixed(0)} ms`;
    };
    console.log(`object: 100 BTF-defined maps and 3 data sections (${check.maps.length} maps), ${RUNS} runs each, load average ${loadavg()[0]?.toFixed(2) ?? '?'} on ${cpus().length} CPUs`);
    console.log(`bpftool btf dump file OBJ      ${fmt('ref')}`);
    console.log(`node dist/bin/bpfmem.js -V     ${fmt('floor')}`);
    console.log(`bpfmem estimate OBJ            ${fmt('ours')} (target < 200 ms)`);
    console.log(`ratio bpfmem / bpftool         wall ${(median(wall('ours')) / median(wall('ref'))).toFixed(2)}, CPU ${(cpu('ours') / Math.max(cpu('ref'), 1)).toFixed(2)}`);
    console.log(`estimate beyond Node's start   wall ${(median(wall('ours')) - median(wall('floor'))).toFixed(0)} ms, CPU ${(cpu('ours') - cpu('floor')).toFixed(0)} ms`);
    // The reader alone, in this process: the first parse (cold code) and the median of the next.
    const bytes = new Uint8Array(readFileSync(obj));
    const parses: number[] = [];
    for (let i = 0; i <= RUNS; i++) {
      const t0 = performance.now();
      parseBpfObject(bytes, obj);
      parses.push(performance.now() - t0);
    }
    console.log(`parseBpfObject in process      first ${(parses[0] ?? NaN).toFixed(1)} ms, then median ${median(parses.slice(1)).toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
