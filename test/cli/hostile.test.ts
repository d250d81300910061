import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { escapeText, terminalSafe } from '../../src/cli/escape.js';
import { cgroupsText, fittedSummaryText, mapsText, progsText, summaryText } from '../../src/cli/render/inventory.js';
import { elide, table, textWidth } from '../../src/cli/table.js';
import type { Style } from '../../src/cli/io.js';
import { buildInventory } from '../../src/inspect/inventory.js';
import { summarize } from '../../src/inspect/summary.js';
import { profileOf } from '../../src/model/profile.js';
import { MAP_TYPES } from '../../src/vocab/maptypes.js';
import type { InventoryInput } from '../../src/vocab/inventory.js';
import { cli } from './run.js';

/**
 * Text from the machine or a file is hostile (issue 14, items 2 and 4): a process renames
 * itself, anyone names a cgroup, a dump says what it likes. Nothing of it may steer the
 * terminal or split a row, JSON keeps it exact, and 500,000 rows print.
 */

const PLAIN: Style = { bold: (s) => s, dim: (s) => s, ok: (s) => s, bad: (s) => s, warn: (s) => s };

/** Characters a terminal acts on, or that reorder text: none may reach it raw. */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Escape sequences an attacker would use: clear, title (OSC), colour, cursor, C1 CSI, bidi. */
const ATTACKS = [
  '\u001b[2J\u001b[H',
  '\u001b]0;pwned\u0007',
  '\u001b]8;;http://evil/\u001b\\link\u001b]8;;\u001b\\',
  '\u001b[31mred\u001b[0m',
  '\u001b[1A\u001b[2K',
  '\u009b2J',
  'a\nb',
  'a\rb',
  'tab\there',
  '\u0000nul',
  '\u007fdel',
  'evil\u202egnp.exe',
  '\u2066iso\u2069',
  '\ud800lone',
];

const hostileText = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(...ATTACKS),
    fc.string({ unit: fc.oneof(fc.constantFrom('\u001b', '\n', '\r', '\u0007', '\u009b', '\u202e', '[', ']', ';', '2', 'J', 'x', '/'), fc.constantFrom('\u0000', '\u0085', '\u2067')), maxLength: 24 }),
    fc.string({ unit: 'binary', maxLength: 16 }),
  );

describe('escapeText and terminalSafe', () => {
  it('escapes each control character as a visible escape', () => {
    expect(escapeText('\u001b[2Jx\ny\tz\r')).toBe('\\x1b[2Jx\\ny\\tz\\r');
    expect(escapeText('\u009b\u007f\u202e')).toBe('\\u009b\\u007f\\u202e');
    expect(escapeText('ls\u2028x\u2029')).toBe('ls\\u2028x\\u2029');
    expect(escapeText('\ud83d\ude00 ok')).toBe('\ud83d\ude00 ok');
    expect(escapeText('\ud800x')).toBe('\\ud800x');
    const plain = '/kubepods/burstable/pod1';
    expect(escapeText(plain)).toBe(plain);
  });

  it('keeps bpfmem\'s own colour and clear-screen, and newlines between lines', () => {
    const own = '\u001b[H\u001b[2J\u001b[1mbold\u001b[22m\nnext\u001b[31m\u001b[39m\n';
    expect(terminalSafe(own)).toBe(own);
    expect(terminalSafe('a\u001b]0;title\u0007b\n')).toBe('a\\x1b]0;title\\x07b\n');
  });

  it('fuzz: leaves no unsafe character, and JSON through it parses to the same values', () => {
    fc.assert(
      fc.property(fc.array(hostileText(), { maxLength: 8 }), (names) => {
        for (const n of names) {
          expect(UNSAFE.test(escapeText(n))).toBe(false);
          expect(escapeText(n)).not.toContain('\n');
          // The last pass lets colour through (bpfmem's own); the renderers escape names.
          // eslint-disable-next-line no-control-regex
          expect(UNSAFE.test(terminalSafe(n).replace(/\n|\u001b\[[0-9;]*m/g, ''))).toBe(false);
        }
        const doc = { names, nested: { [names[0] ?? 'k']: names } };
        expect(JSON.parse(terminalSafe(JSON.stringify(doc)))).toEqual(JSON.parse(JSON.stringify(doc)));
      }),
      { numRuns: 500 },
    );
  });
});

/** A machine whose names are `names`: maps, holders' comms, pins and cgroup paths. */
function hostileInput(names: readonly string[]): InventoryInput {
  const paths = names.map((n, i) => `/evil${i}/${n}`);
  return {
    profile: profileOf({ version: '6.18', cpus: 2 }),
    maps: names.map((n, i) => ({ id: i + 1, type: MAP_TYPES.array.id, name: n, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0, mapExtra: 0 })),
    progs: [],
    charges: new Map(names.map((_n, i) => [i + 1, BigInt(100 + i)])),
    cgroupPaths: new Map<bigint, string>([[1n, '/'], ...paths.map((p, i): [bigint, string] => [BigInt(100 + i), p])]),
    holders: { maps: new Map(names.map((n, i) => [i + 1, [{ pid: 1000 + i, comm: n, cgroup: paths[i] ?? '/' }]])), progs: new Map() },
    pins: { maps: new Map(names.map((n, i) => [i + 1, [`/sys/fs/bpf/${n}`]])), progs: new Map() },
    cgroups: [{ path: '/', usage: 1 << 30, max: Number.POSITIVE_INFINITY, kernel: undefined }, ...paths.map((p) => ({ path: p, usage: 1 << 20, max: 1 << 21, kernel: undefined }))],
    errors: names.map((n) => `pins: /sys/fs/bpf/${n}: permission denied`),
  };
}

describe('names from the machine in text output', () => {
  it('fuzz: maps, cgroups and the summary print every name escaped, one row per object', () => {
    fc.assert(
      fc.property(fc.array(hostileText(), { minLength: 1, maxLength: 6 }), (names) => {
        const inv = buildInventory(hostileInput(names));
        const maps = mapsText(inv, inv.maps, { wide: true, pins: true }, PLAIN);
        const cgroups = cgroupsText(inv, inv.cgroups, PLAIN);
        const summary = summaryText(inv, summarize(inv, 10), {}, PLAIN);
        for (const text of [maps, cgroups, summary]) expect(UNSAFE.test(text)).toBe(false);
        // Header, one line per map, then the footer: a newline in a name split no row.
        const rows = maps.split('\n').filter((l) => /^\s*\d+\s+array\s/.test(l));
        expect(rows).toHaveLength(names.length);
        for (const n of names) expect(maps).toContain(escapeText(n));
      }),
      { numRuns: 200 },
    );
  });

  const dir = mkdtempSync(join(tmpdir(), 'bpfmem-hostile-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('bpfmem maps --from-bpftool: escaped in the table, exact in --json', async () => {
    const dump = join(dir, 'evil.json');
    writeFileSync(
      dump,
      JSON.stringify(
        ATTACKS.map((name, i) => ({ id: i + 1, type: 'array', name, flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 4, bytes_memlock: 344, pinned: [`/sys/fs/bpf/${name}`], pids: [{ pid: 10 + i, comm: name }] })),
      ),
    );
    const text = await cli(['maps', '--wide', '--from-bpftool', dump, '--kernel', '6.18', '--cpus', '2']);
    expect(text.status).toBe(0);
    expect(UNSAFE.test(text.stdout)).toBe(false);
    expect(text.stdout.split('\n').filter((l) => /^\s*\d+\s+array\s/.test(l))).toHaveLength(ATTACKS.length);
    const json = await cli(['maps', '--json', '--from-bpftool', dump, '--kernel', '6.18', '--cpus', '2']);
    const out = JSON.parse(json.stdout) as { maps: { name: string; pinned: string[]; pids: { comm: string }[] }[] };
    // Exact, the lone surrogate too (JSON.stringify wrote it as \ud800).
    expect(out.maps.map((m) => m.name)).toEqual(ATTACKS);
    expect(out.maps.map((m) => m.pids[0]?.comm)).toEqual(ATTACKS);
    expect(out.maps.map((m) => m.pinned[0])).toEqual(ATTACKS.map((a) => `/sys/fs/bpf/${a}`));
  });

  it('an error naming a hostile file name is escaped', async () => {
    const run = await cli(['maps', '--from-bpftool', join(dir, 'no\u001b]0;x\u0007such')]);
    expect(run.status).toBe(2);
    expect(UNSAFE.test(run.stderr.replace(/\n$/, ''))).toBe(false);
    expect(run.stderr).toContain('\\x1b]0;x\\x07');
  });

  it('simulate: a scenario file named with a clear-screen sequence is shown escaped, on one line', async () => {
    const file = join(dir, 'x\u001b[H\u001b[2Jy\nz.yaml');
    writeFileSync(file, 'tasks: { t: {} }\nsteps:\n  - create_map: { task: t, name: m, type: array, key: 4, value: 4, max_entries: 1 }\n');
    for (const args of [['simulate', file], ['simulate', file, '--regime', 'both']]) {
      const run = await cli(args);
      expect(run.status).toBe(0);
      const first = run.stdout.split('\n')[0] ?? '';
      expect(first).toContain('x\\x1b[H\\x1b[2Jy\\nz.yaml');
      expect(run.stdout).not.toContain('\u001b');
    }
  });

  it.each([
    ['a file name', ['estimate', 'no\nsuch.o']],
    ['a bpftool dump', ['maps', '--from-bpftool', 'no\nsuch.json']],
    ['a scenario', ['simulate', 'no\nsuch.yaml']],
    ['an option', ['maps', '--fo\no']],
    ['a sort key', ['maps', '--sort', 'i\nd']],
    ['a command', ['ma\nps']],
    ['a kernel version', ['estimate', '--map', 'type=hash', '--kernel', '6.1\n8']],
  ])('an error quoting %s with a newline in it is one line, the newline shown as \\n', async (_what, args) => {
    const run = await cli(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bpfmem: [^\n]*\\n[^\n]*\n$/);
  });
});

describe('large inventories (item 4)', () => {
  it('a table of 500,000 rows: no spread over rows, every row printed', () => {
    const rows = Array.from({ length: 500_000 }, (_, i) => i);
    const text = table(rows, [
      { header: 'ID', value: (i) => String(i), align: 'right' },
      { header: 'NAME', value: (i) => (i === 499_999 ? 'the-longest-name' : `m${i % 100}`) },
      { header: 'BYTES', value: (i) => String(i * 8), align: 'right' },
    ]);
    const lines = text.split('\n');
    expect(lines).toHaveLength(500_002);
    expect(lines[0]).toBe(`    ID  ${'NAME'.padEnd(16)}  ${'BYTES'.padStart(7)}`);
    expect(lines[500_000]).toBe('499999  the-longest-name  3999992');
  });

  it('bpfmem maps --from-bpftool with 500,000 maps on one line of JSON prints every row', async () => {
    const dump = join(mkdtempSync(join(tmpdir(), 'bpfmem-500k-')), 'big.json');
    const maps = [];
    for (let i = 1; i <= 500_000; i++) maps.push(`{"id":${i},"type":"array","name":"m${i % 1000}","flags":0,"bytes_key":4,"bytes_value":8,"max_entries":4,"bytes_memlock":344}`);
    writeFileSync(dump, `[${maps.join(',')}]`);
    try {
      const text = await cli(['maps', '--from-bpftool', dump, '--kernel', '6.18', '--cpus', '2']);
      expect(text.stderr).toBe('');
      expect(text.status).toBe(0);
      expect(text.stdout).toContain('500000 maps,');
      // The header, 500,000 rows, the footer and its notes.
      expect(text.stdout.split('\n').filter((l) => /^\s*\d+\s+array\s/.test(l))).toHaveLength(500_000);
    } finally {
      rmSync(dump, { force: true });
    }
  }, 120_000);
});

describe('fitting the terminal (item 5)', () => {
  it('elides the middle of a long cell, keeping both ends', () => {
    const e = elide('/kubepods.slice/kubepods-burstable.slice/pod1234/cri-containerd-abcdef.scope', 30);
    expect(e).toBe('/kubepods.slice…d-abcdef.scope');
    expect(textWidth(elide('x'.repeat(100), 30))).toBe(30);
    expect(elide('short', 30)).toBe('short');
  });

  it('cuts an escape of a hostile name whole or not at all, and still fits', () => {
    const name = escapeText('ab\u001b]0;owned\u0007\u202ecd');
    expect(name).toBe('ab\\x1b]0;owned\\x07\\u202ecd');
    for (let w = 2; w <= name.length; w++) {
      for (const where of ['middle', 'end'] as const) {
        const e = elide(name, w, where);
        expect(textWidth(e)).toBeLessThanOrEqual(w);
        // Every backslash left starts a whole escape.
        expect(e.replace(/\\(x[0-9a-f]{2}|u[0-9a-f]{4})/g, '')).not.toContain('\\');
      }
    }
    expect(elide(name, 10, 'end')).toBe('ab\\x1b]0;…');
  });

  it('a table with a long path fits 80 columns; numbers are not cut', () => {
    const long = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${'0f1c2d3e'.repeat(4)}.slice/cri-containerd-${'3a9d'.repeat(16)}.scope`;
    const text = table(
      [
        { path: long, usage: '12.5 MiB', limit: '256.0 MiB' },
        { path: '/', usage: '1.2 GiB', limit: 'max' },
      ],
      [
        { header: 'CGROUP', value: (r) => r.path, elide: 'middle' },
        { header: 'USAGE', value: (r) => r.usage, align: 'right' },
        { header: 'LIMIT', value: (r) => r.limit, align: 'right' },
      ],
      { maxWidth: 80 },
    );
    const lines = text.trimEnd().split('\n');
    for (const l of lines) expect(textWidth(l)).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/^\/kubepods\.slice\/.*….*3a9d\.scope\s+12\.5 MiB\s+256\.0 MiB$/);
  });
});

describe('a table wider than the terminal with nothing left to elide', () => {
  it('shows the columns that fit whole, then …: no value is cut (81.2 KiB is never 81…)', () => {
    const rows = [
      { id: '12565', name: 'fx_pcpu_hash', memlock: '112.9 KiB', charge: '81.2 KiB' },
      { id: '7', name: 'x', memlock: '2.3 KiB', charge: '3.5 KiB' },
    ];
    const columns = [
      { header: 'ID', value: (r: (typeof rows)[number]) => r.id, align: 'right' as const },
      { header: 'NAME', value: (r: (typeof rows)[number]) => r.name },
      { header: 'MEMLOCK', value: (r: (typeof rows)[number]) => r.memlock, align: 'right' as const },
      { header: 'CHARGE', value: (r: (typeof rows)[number]) => r.charge, align: 'right' as const },
    ];
    const lines = table(rows, columns, { maxWidth: 34 }).trimEnd().split('\n');
    expect(lines).toEqual(['   ID  NAME            MEMLOCK  …', '12565  fx_pcpu_hash  112.9 KiB  …', '    7  x               2.3 KiB  …']);
    for (const l of lines) expect(textWidth(l)).toBeLessThanOrEqual(34);
    // Room for every column: nothing dropped, no …
    expect(table(rows, columns, { maxWidth: 80 })).not.toContain('…');
  });
});

describe('a map name of 10,000 characters (a dump\'s)', () => {
  it('loses its end on a terminal, and the columns after it stay', () => {
    const inv = buildInventory(hostileInput(['n'.repeat(10_000)]));
    const lines = mapsText(inv, inv.maps, { wide: false, pins: false }, PLAIN, 60).split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+NAME\s+MEMLOCK\s+CHARGE\b/);
    expect(lines[1]).toMatch(/^\s*1\s+array\s+n+…\s+[\d.]+ (B|KiB)\s/);
    for (const l of lines.slice(0, 2)) expect(textWidth(l)).toBeLessThanOrEqual(60);
  });
});

describe('an 80x24 terminal (item 5)', () => {
  /** Kubernetes-long cgroup paths, each paying for maps held by a process. */
  const k8s = (i: number): string =>
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${String(i).padStart(8, '0')}_1111_2222_3333_444455556666.slice/cri-containerd-${'3a9d2c1b'.repeat(8)}.scope`;
  const names = Array.from({ length: 40 }, (_, i) => `agent_map_${i}`);
  const input = hostileInput(names);
  const paths = names.map((_n, i) => k8s(i));
  const inv = buildInventory({
    ...input,
    cgroupPaths: new Map<bigint, string>([[1n, '/'], ...paths.map((p, i): [bigint, string] => [BigInt(100 + i), p])]),
    cgroups: [{ path: '/', usage: 1 << 30, max: Number.POSITIVE_INFINITY, kernel: undefined }, ...paths.map((p) => ({ path: p, usage: 1 << 20, max: 1 << 21, kernel: undefined }))],
    holders: { maps: new Map(names.map((_n, i) => [i + 1, [{ pid: 1000 + i, comm: 'containerd-shim-runc-v2', cgroup: paths[i] ?? '/' }]])), progs: new Map() },
    errors: [],
  });
  const width = (text: string): number => text.split('\n').reduce((w, l) => Math.max(w, textWidth(l)), 0);

  it('top: header and totals stay, every line fits 80 columns and 23 rows', () => {
    const text = fittedSummaryText(inv, summarize(inv, 10), { regimeReason: 'kernel 6.18 charges BPF maps to the creator\'s memory cgroup', width: 80 }, PLAIN, 23);
    const lines = text.replace(/\n$/, '').split('\n');
    expect(lines.length).toBeLessThanOrEqual(23);
    expect(width(text)).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^bpfmem: kernel 6\.18/);
    expect(text).toMatch(/40 maps and 0 programs: .* memlock/);
    expect(lines.at(-1)).toMatch(/^More: bpfmem maps/);
    // Paths keep both ends: the pod's slice and the container's scope.
    expect(text).toMatch(/\/kubepods\.slice\/[^\n]*…[^\n]*3a9d2c1b3a9d\)/);
    // Plain spaces in numbers (awk and cut read them).
    expect(text).not.toContain('\u00a0');
  });

  it('cgroups on v1 with the root shown: a note says why the root\'s USAGE can be below a child\'s', () => {
    const note = "On cgroup v1 the root's USAGE is the kernel's estimate from page cache and anonymous memory";
    const flat = (text: string): string => text.replace(/\s+/g, ' ');
    expect(flat(cgroupsText({ ...inv, profile: { ...inv.profile, cgroupVersion: 1 } }, inv.cgroups, PLAIN))).toContain(note);
    expect(flat(cgroupsText({ ...inv, profile: { ...inv.profile, cgroupVersion: 2 } }, inv.cgroups, PLAIN))).not.toContain(note);
    expect(flat(cgroupsText({ ...inv, profile: { ...inv.profile, cgroupVersion: 1 } }, inv.cgroups.slice(1), PLAIN))).not.toContain(note);
  });

  it('maps, progs and cgroups say what they describe: this machine\'s kernel, or the dump', () => {
    const machine = 'this machine: kernel 6.18, 2 possible CPUs, 4 KiB pages, cgroup v1, regime memcg';
    for (const text of [mapsText(inv, inv.maps, { wide: false, pins: false }, PLAIN, 80), progsText(inv, [], { wide: false, pins: false }, PLAIN), cgroupsText(inv, inv.cgroups, PLAIN, { maxWidth: 80 })]) {
      expect(text.split('\n')).toContain(machine);
    }
    const dump = mapsText({ ...inv, source: 'bpftool -j map show output dump.json' }, inv.maps, { wide: false, pins: false }, PLAIN, 80);
    expect(dump).toContain('from bpftool -j map show output dump.json');
    expect(dump).not.toContain('this machine');
  });

  it('without a size, nothing is cut (a pipe gets whole lines)', () => {
    const text = summaryText(inv, summarize(inv, 10), {}, PLAIN);
    expect(text).toContain(k8s(0));
    expect(width(text)).toBeGreaterThan(80);
  });

  it('maps, --wide maps, cgroups fit 80 columns', () => {
    for (const text of [mapsText(inv, inv.maps, { wide: false, pins: false }, PLAIN, 80), mapsText(inv, inv.maps, { wide: true, pins: true }, PLAIN, 80), cgroupsText(inv, inv.cgroups, PLAIN, { maxWidth: 80 })]) {
      expect(width(text)).toBeLessThanOrEqual(80);
      expect(text.split('\n').length).toBeGreaterThan(41);
    }
    // Numbers are not cut: every MEMLOCK and CHARGE cell is whole.
    const maps = mapsText(inv, inv.maps, { wide: false, pins: false }, PLAIN, 80);
    expect(maps.split('\n').slice(1, 41).every((l) => /^\s*\d+\s+array\s+agent_map_\d+\s+[\d.]+ (B|KiB)\s+[\d.]+ (B|KiB)\s/.test(l))).toBe(true);
    // The two long columns share the room: the path keeps more than its first characters.
    expect(maps.split('\n')[1]).toMatch(/ \/kubepods…[^ ]+ {2}containerd-shim-r…$/);
  });
});
