import { describe, expect, it } from 'vitest';
import { measuredElementRows, measuredMapRows, measuredProgRows } from '../fixtures/kernel-6.18/index.js';
import { cli, specText } from './run.js';

/** The measured host: 6.18, 2 possible CPUs, 4 KiB pages (kernel-facts.md §0). */
const HOST = ['--kernel', '6.18.44-fc-v782', '--cpus', '2', '--page-size', '4096'];

interface EstimateJson {
  maps: { name: string; memlock?: number; charged?: number; errno?: string; reason?: string }[];
  progs: { insns: number; memlock?: number }[];
  total: { memlock: number; charged: number; uncharged: number };
  profile: { cpus: number; version: string };
}

async function estimate(args: string[]): Promise<EstimateJson> {
  const run = await cli(['estimate', ...HOST, '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as EstimateJson;
}

describe('bpfmem estimate reproduces every measurement of the 6.18 host', () => {
  it('the 137 maps of map_memlock_6.18.txt, byte for byte', async () => {
    const rows = measuredMapRows();
    expect(rows).toHaveLength(137);
    const out = await estimate(rows.flatMap((r, i) => ['--map', specText(r.spec, r.elements, `row${i}`)]));
    expect(out.maps.map((m) => [m.name, m.memlock])).toEqual(rows.map((r, i) => [`row${i}`, r.memlock]));
  });

  it('the maps measured empty and after inserts (map_memlock_elements_6.18.txt)', async () => {
    const rows = measuredElementRows();
    expect(rows).toHaveLength(4);
    const out = await estimate(rows.flatMap((r) => ['--map', specText(r.spec, 0), '--map', specText(r.spec, r.inserted)]));
    expect(out.maps.map((m) => m.memlock)).toEqual(rows.flatMap((r) => [r.empty, r.after]));
  });

  it('the programs of prog_memlock_6.18.txt', async () => {
    const rows = measuredProgRows();
    expect(rows).toHaveLength(6);
    const out = await estimate(rows.flatMap((r) => ['--prog', String(r.insns)]));
    expect(out.progs.map((p) => [p.insns, p.memlock])).toEqual(rows.map((r) => [r.insns, r.memlock]));
  });
});

describe('bpfmem estimate', () => {
  it('scales per-CPU memory with possible CPUs exactly: --cpus 192', async () => {
    const map = ['--map', 'type=percpu_array,key=4,value=64,max_entries=100000'];
    const [two, many] = await Promise.all([
      cli(['estimate', '--kernel', '6.18', '--cpus', '2', '--json', ...map]),
      cli(['estimate', '--kernel', '6.18', '--cpus', '192', '--json', ...map]),
    ]);
    const a = (JSON.parse(two.stdout) as EstimateJson).maps[0];
    const b = (JSON.parse(many.stdout) as EstimateJson).maps[0];
    // 312 + 8 × 100000 + 64 × CPUs × 100000
    expect(a?.memlock).toBe(312 + 800_000 + 64 * 2 * 100_000);
    expect(b?.memlock).toBe(312 + 800_000 + 64 * 192 * 100_000);
    // On 6.0+ only the pointer array is charged, on any number of CPUs.
    expect(a?.charged).toBe(b?.charged);
  });

  it('reports a map the kernel refuses with its errno and exits 1', async () => {
    const run = await cli(['estimate', ...HOST, '--map', 'type=lru_hash,key=4,value=4,max_entries=10,flags=no_prealloc']);
    expect(run.status).toBe(1);
    expect(run.stdout).toMatch(/ENOTSUPP/);
  });

  it('prints a table for people', async () => {
    const run = await cli(['estimate', ...HOST, '--map', 'type=hash,key=4,value=8,max_entries=1000,name=flows']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('kernel 6.18.44, 2 possible CPUs, 4 KiB pages');
    expect(run.stdout).toMatch(/^flows\s+hash\s+1000\s+79\.5 KiB/m);
  });

  it.each([
    [['estimate'], /^bpfmem: estimate: give at least one --map SPEC/],
    [['estimate', '--map', 'type=hsh,key=4'], /^bpfmem: --map "type=hsh,key=4": unknown map type "hsh" \(did you mean hash\?\)\n$/],
    [['estimate', '--map', 'type=hash', '--cpus', 'many'], /^bpfmem: --cpus "many": expected a positive whole number\n$/],
    [['estimate', '--map', 'type=hash', '--kernel', 'six'], /^bpfmem: kernel version "six" is not like 6\.18/],
    [['estimate', '--bogus'], /^bpfmem: unknown option '--bogus'\n$/],
  ])('%j is a usage error: one line, exit 2', async (args, message) => {
    const run = await cli(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
