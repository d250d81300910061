import { describe, expect, it } from 'vitest';
import { measuredElementRows, measuredMapRows, measuredProgRows } from '../fixtures/kernel-6.18/index.js';
import { cli, specText } from './run.js';

/** The measured host: 6.18, 2 possible CPUs, 4 KiB pages (kernel-facts.md §0). */
const HOST = ['--kernel', '6.18.44-fc-v782', '--cpus', '2', '--page-size', '4096'];

interface EstimateJson {
  maps: { name: string; memlock?: number; charged?: number; elements?: number; max_entries?: number; notes?: string[]; errno?: string; reason?: string }[];
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

  it('--cpus 2,64,192 estimates each count: the same numbers as one --cpus at a time', async () => {
    const map = ['--map', 'type=percpu_array,key=4,value=64,max_entries=100000,name=stats', '--map', 'type=hash,key=8,value=8,max_entries=1000,name=h'];
    const all = JSON.parse((await cli(['estimate', '--kernel', '6.18', '--cpus', '2,64,192', '--json', ...map])).stdout) as { estimates: EstimateJson[] };
    expect(all.estimates.map((e) => e.profile.cpus)).toEqual([2, 64, 192]);
    for (const e of all.estimates) {
      const one = JSON.parse((await cli(['estimate', '--kernel', '6.18', '--cpus', String(e.profile.cpus), '--json', ...map])).stdout) as EstimateJson;
      expect(e.maps).toEqual(one.maps.map((m) => ({ ...m, origin: '--map', notes: [] })));
    }
    const text = await cli(['estimate', '--kernel', '6.18', '--cpus', '2,192', ...map]);
    expect(text.stdout).toMatch(/^MAP\s+TYPE\s+2 CPUS\s+192 CPUS$/m);
    expect(text.stdout).toMatch(/^stats\s+percpu_array\s+13\.0 MiB\s+1\.1 GiB$/m);
  });

  it('--limit says whether the charge fits, and exits 1 when it does not', async () => {
    const map = ['--map', 'type=array,key=4,value=1024,max_entries=10000,name=big'];
    const fits = await cli([...['estimate', ...HOST], ...map, '--limit', '64Mi', '--json']);
    expect(fits.status).toBe(0);
    const f = JSON.parse(fits.stdout) as { limit: { fits: boolean; headroom: number; need: number; counted: string }; total: { charged: number } };
    expect(f.limit).toMatchObject({ fits: true, counted: 'charged', need: f.total.charged, headroom: 64 * 1024 * 1024 - f.total.charged });
    const tight = await cli(['estimate', ...HOST, ...map, '--limit', '8Mi']);
    expect(tight.status).toBe(1);
    expect(tight.stdout).toMatch(/memory cgroup limit 8\.0 MiB: does not fit, needs 1\.8 MiB more \(9\.8 MiB in all\)/);
    // Before 5.11 the same map counts against RLIMIT_MEMLOCK with its memlock.
    const legacy = await cli(['estimate', '--kernel', '5.10', '--cpus', '2', ...map, '--limit', '8Mi']);
    expect(legacy.stdout).toMatch(/RLIMIT_MEMLOCK 8\.0 MiB: does not fit/);
  });

  it('--set and --fill decide what the loader and the workload decide, and flag what is left', async () => {
    const map = ['--map', 'type=hash,key=8,value=64,max_entries=1000,flags=no_prealloc,name=flows'];
    const bare = await estimate(map);
    expect(bare.maps[0]).toMatchObject({ elements: 0, notes: ['grows with its entries, none counted (--fill flows=80%)'] });
    const set = await estimate([...map, '--set', 'flows.max_entries=200000', '--fill', 'flows=80%']);
    expect(set.maps[0]).toMatchObject({ max_entries: 200000, elements: 160000, notes: ['max_entries 200000 (--set)', '160000 entries (--fill)'] });
    const direct = await estimate(['--map', 'type=hash,key=8,value=64,max_entries=200000,flags=no_prealloc,name=flows,elements=160000']);
    expect(set.maps[0]?.memlock).toBe(direct.maps[0]?.memlock);
    expect(set.maps[0]?.charged).toBe(direct.maps[0]?.charged);
    const count = await estimate([...map, '--fill', '*=500']);
    expect(count.maps[0]).toMatchObject({ elements: 500 });
  });

  it('re-estimates the maps of a bpftool dump for another host', async () => {
    const dump = ['--from-bpftool', 'test/fixtures/bpftool/map-show.json'];
    const here = await estimate(dump);
    // Captured on this host (6.18, 2 CPUs): the estimate gives back every printed memlock.
    const printed = (JSON.parse(await import('node:fs').then((fs) => fs.readFileSync('test/fixtures/bpftool/map-show.json', 'utf8'))) as { name: string; bytes_memlock: number }[]);
    expect(here.maps.map((m) => [m.name, m.memlock])).toEqual(printed.map((m) => [m.name, m.bytes_memlock]));
    const big = JSON.parse((await cli(['estimate', '--kernel', '6.18', '--cpus', '192', '--json', ...dump])).stdout) as EstimateJson;
    const pcpu = (e: EstimateJson): number => e.maps.find((m) => m.name === 'fx_pcpu_hash')?.memlock ?? 0;
    const same = JSON.parse((await cli(['estimate', '--kernel', '6.18', '--cpus', '192', '--json', '--map', 'type=percpu_hash,key=8,value=16,max_entries=1024'])).stdout) as EstimateJson;
    expect(pcpu(big)).toBe(same.maps[0]?.memlock);
    expect(pcpu(big)).toBeGreaterThan(pcpu(here));
  });

  it.each([
    [['estimate', '--map', 'type=hash', '--set', 'x.key_size=4'], /^bpfmem: --set "x\.key_size=4": only max_entries can be set/],
    [['estimate', '--map', 'type=hash,name=h', '--set', 'g.max_entries=4'], /^bpfmem: --set "g": no such map/],
    [['estimate', '--map', 'type=hash,name=h', '--fill', 'h=120%'], /^bpfmem: --fill "h=120%": at most 100%\n$/],
    [['estimate', '--map', 'type=hash', '--limit', 'lots'], /^bpfmem: --limit "lots": expected a size like 512Mi or 2G\n$/],
    [['estimate', '--map', 'type=hash', '--cpus', '2,0'], /^bpfmem: --cpus "2,0": expected possible CPU counts/],
    [['estimate', '--from-bpftool', '/nonexistent.json'], /^bpfmem: \/nonexistent\.json: cannot read \(ENOENT\)\n$/],
    [['estimate'], /^bpfmem: estimate: give at least one --map SPEC/],
    [['estimate', '--map', 'type=hsh,key=4'], /^bpfmem: --map "type=hsh,key=4": unknown map type "hsh" \(did you mean hash\?\)\n$/],
    [['estimate', '--map', 'type=hash', '--cpus', 'many'], /^bpfmem: --cpus "many": expected possible CPU counts from 1 to 8192, like 2 or 2,64,192\n$/],
    [['estimate', '--map', 'type=hash', '--kernel', 'six'], /^bpfmem: kernel version "six" is not like 6\.18/],
    [['estimate', '--bogus'], /^bpfmem: unknown option '--bogus'\n$/],
  ])('%j is a usage error: one line, exit 2', async (args, message) => {
    const run = await cli(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});
