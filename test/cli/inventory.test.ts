import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './run.js';

/**
 * `bpfmem maps|progs --from-bpftool`: what bpfmem says from a bpftool dump, and the argument
 * errors of the inventory commands. The live side of `maps`, `progs`, `cgroups` and the summary
 * is tested in test/live/inventory.test.ts.
 */

const FIX = 'test/fixtures/bpftool';
/** The dumps were captured on 6.18 with 2 possible CPUs (test/fixtures/bpftool/README.md). */
const CAPTURED = ['--kernel', '6.18'];

interface MapsJson {
  source: string;
  charges_unavailable: string | null;
  errors: string[];
  kernel: { cpus: number; version: string };
  maps: {
    id: number;
    type: string;
    name: string;
    bytes_memlock: number;
    memlock_source: string;
    charge: number | null;
    uncharged: number | null;
    charged_to: { kind: string };
    pids: { pid: number; comm: string; cgroup: string | null }[];
    pinned: string[];
  }[];
}

async function mapsJson(args: string[]): Promise<MapsJson> {
  const run = await cli(['maps', '--json', ...args]);
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as MapsJson;
}

const tmp = mkdtempSync(join(tmpdir(), 'bpfmem-dump-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});
function dump(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

describe('bpfmem maps --from-bpftool', () => {
  it('reads a captured dump: the CPU count is inferred from the per-CPU map, and every memlock agrees with the model', async () => {
    const out = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED]);
    expect(out.kernel.cpus).toBe(2);
    expect(out.source).toContain("with 2 possible CPUs (as its maps' memlock says)");
    expect(out.errors).toEqual([]);
    expect(out.maps.map((m) => m.name)).toEqual(['x', 'fx_array', 'fx_pcpu_hash', 'fx_lpm', 'fx_ringbuf', 'fx_used', 'fx_lpm_held']);
    expect(out.maps.every((m) => m.memlock_source === 'fdinfo' && m.charged_to.kind === 'unknown')).toBe(true);
    expect(out.charges_unavailable).toMatch(/bpftool does not say which memory cgroup pays/);
    // The per-CPU hash: per-CPU values made at creation are charged to no cgroup on 6.18.
    const pcpu = out.maps.find((m) => m.name === 'fx_pcpu_hash');
    expect(pcpu?.uncharged).toBeGreaterThan(0);
    expect(out.maps.every((m) => typeof m.charge === 'number' && m.charge > 0)).toBe(true);
  });

  it('without --kernel, reads the dump as the kernel its maps\' memlock fits and says so', async () => {
    // Captured on the 6.18 calibration host: its sizes are 6.18's defaults, whatever kernel runs the test.
    const out = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`]);
    expect(out.errors).toEqual([]);
    expect(out.kernel.cpus).toBe(2);
    expect(out.source).toMatch(/, read as kernel 6\.18\S* \((this machine's, )?as its maps' memlock says\) with 2 possible CPUs \(as its maps' memlock says\)$/);
  });

  it('says where the printed memlock disagrees with the kernel and CPU count it is read as', async () => {
    const out = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED, '--cpus', '8']);
    expect(out.kernel.cpus).toBe(8);
    // A hash map's memlock counts its per-CPU lock counters and extra elements too.
    expect(out.errors).toEqual([
      'map 12565 (hash): bytes_memlock 2320, the model gives 2944 for kernel 6.18 with 8 CPUs',
      'map 12567 (percpu_hash): bytes_memlock 115584, the model gives 214080 for kernel 6.18 with 8 CPUs',
    ]);
  });

  it('a map whose memlock says more entries than the model simulates: its charge unknown, at once, and not counted as charged', async () => {
    const path = dump('huge.json', JSON.stringify([{ id: 1, type: 'lpm_trie', name: 'a', flags: 1, bytes_key: 8, bytes_value: 8, max_entries: 4294967295, bytes_memlock: 2 ** 53 - 1 }]));
    const out = await mapsJson(['--from-bpftool', path, ...CAPTURED]);
    expect(out.maps.map((m) => m.charge)).toEqual([null]);
    const text = await cli(['maps', '--from-bpftool', path, ...CAPTURED]);
    expect(text.stdout).toContain('\n1 map, of a charge the model cannot give (CHARGE -)\n');
    // A type the model does not know: its charge is not its memlock in the total.
    const mixed = await cli(['maps', '--from-bpftool', `${FIX}/map-show.json`, '--kernel', '4.19']);
    // The line under the table, wrapped at 80 columns as the notes are.
    expect(mixed.stdout.replace(/\n(?=\S)/g, ' ')).toContain("7 maps, 2.7 KiB charged (model estimate from each map's layout and fdinfo); the model cannot give the charge of 1 (CHARGE -)");
    const foot = mixed.stdout.split('\n').filter((line) => line.startsWith('7 maps') || line.includes('(CHARGE -)'));
    expect(foot).toHaveLength(2);
    for (const line of foot) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('keeps pins and holders from the dump', async () => {
    const pinned = await mapsJson(['--from-bpftool', `${FIX}/map-show-pinned.json`, ...CAPTURED]);
    expect(pinned.maps.find((m) => m.name === 'fx_array')?.pinned).toEqual([expect.stringMatching(/\/arr$/)]);
    const path = dump(
      'pids.json',
      JSON.stringify([{ id: 7, type: 'hash', name: 'conns', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 1000, bytes_memlock: 81424, pids: [{ pid: 42, comm: 'agent' }] }]),
    );
    const held = await mapsJson(['--from-bpftool', path, ...CAPTURED, '--pid', '42']);
    expect(held.maps).toHaveLength(1);
    expect(held.maps[0]?.pids).toEqual([{ pid: 42, comm: 'agent', cgroup: null }]);
    expect(held.errors).toEqual([]);
    expect((await mapsJson(['--from-bpftool', path, ...CAPTURED, '--pid', '43'])).maps).toEqual([]);
  });

  it('filters by type and sorts by charge, largest first', async () => {
    const byType = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED, '--type', 'lpm_trie']);
    expect(byType.maps.map((m) => m.name)).toEqual(['fx_lpm', 'fx_lpm_held']);
    const sorted = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED, '--sort', 'charge']);
    const charges = sorted.maps.map((m) => m.charge ?? 0);
    expect(charges).toEqual([...charges].sort((a, b) => b - a));
  });

  it('--type selects a type bpfmem does not know as the listing shows it, or all such with `unknown`', async () => {
    const path = dump(
      'unknown-types.json',
      JSON.stringify([
        { id: 1, type: 'hash', name: 'known', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 16, bytes_memlock: 2320, frozen: 0 },
        { id: 2, type: 'new_thing', name: 'future', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 16, bytes_memlock: 8192, frozen: 0 },
        { id: 3, type: 47, name: 'numbered', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 16, bytes_memlock: 4096, frozen: 0 },
      ]),
    );
    const all = await mapsJson(['--from-bpftool', path, ...CAPTURED]);
    expect(all.maps.map((m) => [m.name, m.type])).toEqual([
      ['known', 'hash'],
      ['future', 'unknown(new_thing)'],
      ['numbered', 'unknown(47)'],
    ]);
    const names = async (type: string): Promise<string[]> => (await mapsJson(['--from-bpftool', path, ...CAPTURED, '--type', type])).maps.map((m) => m.name);
    expect(await names('unknown(new_thing)')).toEqual(['future']);
    expect(await names('unknown(47)')).toEqual(['numbered']);
    expect(await names('unknown')).toEqual(['future', 'numbered']);
  });

  it('prints a table with a line saying how the dump was read', async () => {
    const run = await cli(['maps', '--from-bpftool', `${FIX}/map-show-pinned.json`, ...CAPTURED, '--wide']);
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^\s*ID\s+TYPE\s+NAME\s+KEY\s+VALUE\s+MAX\s+FLAGS\s+MEMLOCK\s+CHARGE\s+CHARGED TO\s+HOLDERS\s+PINNED$/);
    expect(lines[1]).toMatch(/^12565\s+hash\s+x\s+4\s+8\s+16\s+-\s+2\.3 KiB\s+\S+ KiB\s+\?\s+-\s+\/tmp\/\S+\/x$/);
    expect(run.stdout.replace(/\s+/g, ' ')).toContain("from test/fixtures/bpftool/map-show-pinned.json, read as kernel 6.18 (as given) with 2 possible CPUs (as its maps' memlock says)");
  });

  it('--pins adds the pinned paths to the narrow table, as --wide does', async () => {
    const header = async (...args: string[]) => (await cli(['maps', '--from-bpftool', `${FIX}/map-show-pinned.json`, ...CAPTURED, ...args])).stdout.split('\n')[0];
    expect(await header('--pins')).toMatch(/^\s*ID\s+TYPE\s+NAME\s+MEMLOCK\s+CHARGE\s+CHARGED TO\s+HOLDERS\s+PINNED$/);
    expect(await header()).toMatch(/^\s*ID\s+TYPE\s+NAME\s+MEMLOCK\s+CHARGE\s+CHARGED TO\s+HOLDERS$/);
  });

  it("JSON gives how the dump was read in fields (dump: { source, kernel, cpus, kernel_basis, cpus_basis }) beside source's words", async () => {
    const json = JSON.parse((await cli(['maps', '--json', '--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED])).stdout) as Record<string, unknown>;
    expect(Object.keys(json).slice(0, 3)).toEqual(['source', 'dump', 'kernel']);
    expect(json['dump']).toEqual({ source: `${FIX}/map-show.json`, kernel: '6.18', cpus: 2, kernel_basis: 'option', cpus_basis: 'memlock' });
    const progs = await cli(['progs', '--from-bpftool', `${FIX}/prog-show.json`, ...CAPTURED]);
    // Programs: the kernel a dump is read as changes nothing shown, and the line does not say it does.
    expect(progs.stdout.replace(/\s+/g, ' ')).toContain(`from ${FIX}/prog-show.json (each program's memlock as the dump gives it)`);
  });

  it('a dump without -f lists no pins: unknown (null, ?), not "pinned nowhere"', async () => {
    const json = await mapsJson(['--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED]);
    expect(json.maps.map((m) => m.pinned)).toEqual(Array(7).fill(null));
    const text = await cli(['maps', '--from-bpftool', `${FIX}/map-show.json`, ...CAPTURED, '--pins']);
    expect(text.stdout.split('\n')[1]).toMatch(/^12565\s+hash\s+x\s.*\s\?$/);
    expect(text.stdout.replace(/\s+/g, ' ')).toContain('PINNED is unknown (?): the dump lists no pins');
    const progs = await cli(['progs', '--json', '--from-bpftool', `${FIX}/prog-show.json`, ...CAPTURED]);
    expect((JSON.parse(progs.stdout) as { progs: { pinned: unknown }[] }).progs.every((p) => p.pinned === null)).toBe(true);
  });

  it('reads programs from `bpftool -j prog show`', async () => {
    const run = await cli(['progs', '--json', '--from-bpftool', `${FIX}/prog-show.json`, ...CAPTURED]);
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { progs: { name: string; type: string; bytes_memlock: number; xlated_insns: number; charged_to: { kind: string } }[] };
    expect(out.progs.map((p) => [p.name, p.type, p.bytes_memlock, p.xlated_insns])).toEqual([
      ['fx_filter', 'socket_filter', 4096, 2],
      ['fx_uses_map', 'socket_filter', 4096, 4],
      ['fx_iter', 'tracing', 4096, 2],
    ]);
    expect(out.progs.every((p) => p.charged_to.kind === 'unknown')).toBe(true);
  });
});

describe('bad input and arguments: one line, exit 2', () => {
  it.each([
    [['maps', '--from-bpftool', '/nonexistent/dump.json'], /^bpfmem: bpftool dump \/nonexistent\/dump\.json: cannot read \(no such file\)\n$/],
    [['maps', '--from-bpftool', 'README.md'], /^bpfmem: README.md: not JSON: .*\n$/],
    [['maps', '--from-bpftool', `${FIX}/map-show.json`, '--kernel', '4.x'], /^bpfmem: --kernel "4.x": kernel version "4.x" is not like 6.18 or 5.10.0-28\n$/],
    [['maps', '--from-bpftool', `${FIX}/map-show.json`, '--cpus', '0'], /^bpfmem: --cpus "0": expected a number of CPUs from 1 to 8192\n$/],
    [['maps', '--cpus', '4'], /^bpfmem: --kernel and --cpus describe a dump: give them with --from-bpftool FILE\n$/],
    [['maps', '--type', 'hashmap'], /^bpfmem: --type "hashmap": not a map type; map types are hash, array, [a-z_, ]*\barena\b[a-z_, ]* \(and unknown\(N\), [^\n]*\)\n$/],
    [['maps', '--type', 'unknown(x/y)'], /^bpfmem: --type "unknown\(x\/y\)": not a map type; map types are hash, [a-z_, ]*\(and unknown\(N\), as a listing shows a type bpfmem does not know\)\n$/],
    [['progs', '--type', 'xdpp'], /^bpfmem: --type "xdpp": not a program type \(did you mean xdp\?\)\n$/],
    [['maps', '--pid', '-3'], /^bpfmem: .*\n$/],
    [['maps', '--pid', 'abc'], /^bpfmem: --pid "abc": expected a process id \(a positive whole number\)\n$/],
    [['maps', '--cgroup', 'system.slice'], /^bpfmem: --cgroup "system.slice": expected a cgroup path from the hierarchy's root.*\n$/],
    [['maps', '--cgroup', '/a/../b'], /^bpfmem: --cgroup "\/a\/..\/b": expected a cgroup path.*\n$/],
    [['maps', '--from-bpftool', 'test/fixtures/bpftool/map-show.json', '--cgroup', '/x'], /^bpfmem: --cgroup: a bpftool dump names no memory cgroups; filter this machine \(without --from-bpftool\), or by --pid or --type\n$/],
    [['maps', '--from-bpftool', 'test/fixtures/bpftool/map-show.json', '--pid', '1'], /^bpfmem: --pid: test\/fixtures\/bpftool\/map-show\.json lists no holders \(bpftool gives "pids" where its build can read them\); filter by --type\n$/],
    [['maps', '--sort', 'size'], /^bpfmem: --sort "size": expected one of id, name, type, memlock, charge, cgroup\n$/],
    [['maps', '--sort', 'memlok'], /^bpfmem: --sort "memlok": expected one of id, name, type, memlock, charge, cgroup \(did you mean memlock\?\)\n$/],
    [['maps', '--sort'], /^bpfmem: --sort needs a value: --sort <key>\n$/],
    [['maps', 'extra'], /^bpfmem: maps takes no arguments \(got 1\)\n$/],
    [['top', '--interval', '0'], /^bpfmem: --interval "0": expected a duration from 100ms to 1h, like 2s, 1\.5s or 500ms \(a bare number is seconds\)\n$/],
    [['top', '--interval', '50ms'], /^bpfmem: --interval "50ms": expected a duration from 100ms/],
    [['top', '--interval', '0.05s'], /^bpfmem: --interval "0\.05s": expected a duration from 100ms/],
    [['top', '--interval', '1.5h'], /^bpfmem: --interval "1\.5h": expected a duration from 100ms to 1h/],
    [['top', '--interval', '2x'], /^bpfmem: --interval "2x": expected a duration/],
    [['top', '-n', 'x'], /^bpfmem: --iterations "x": expected a whole number of frames from 1 to 9999999\n$/],
    [['top', '-n', '99999999'], /^bpfmem: --iterations "99999999": expected a whole number of frames from 1 to 9999999\n$/],
  ])('bpfmem %j', async (args, message) => {
    const run = await cli(args);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    expect(run.status).toBe(2);
  });

  it('a dump with a wrong field names the file and the field', async () => {
    const path = dump('bad.json', JSON.stringify([{ id: 1, type: 'hash', name: 'x', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 16, bytes_memlock: '12k' }]));
    const run = await cli(['maps', '--from-bpftool', path]);
    expect(run.stderr).toBe(`bpfmem: ${path}: [0].bytes_memlock: expected a non-negative integer, got "12k"\n`);
    expect(run.status).toBe(2);
  });
});
