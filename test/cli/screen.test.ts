import type { Option } from 'commander';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CommandContext } from '../../src/cli/context.js';
import { durationArg, parseDurationArg } from '../../src/cli/context.js';
import { topCommand, topStamp } from '../../src/cli/inventory.js';
import type { Io, Style } from '../../src/cli/io.js';
import { profileLine } from '../../src/cli/render/common.js';
import { fittedSummaryText, mapsText, summaryText, topScreen } from '../../src/cli/render/inventory.js';
import { cutLine, fitHeight, foldLine, screenLines } from '../../src/cli/render/screen.js';
import { serveCommand } from '../../src/cli/serve.js';
import { elide, graphemes, table, textWidth } from '../../src/cli/table.js';
import { watchCommand, watchScreen, watchStamp, watchSummaryText } from '../../src/cli/watch.js';
import { buildInventory } from '../../src/inspect/inventory.js';
import { summarize } from '../../src/inspect/summary.js';
import { profileOf } from '../../src/model/profile.js';
import { BpfmemError } from '../../src/vocab/errors.js';
import type { InventoryInput } from '../../src/vocab/inventory.js';
import { MAP_TYPES } from '../../src/vocab/maptypes.js';
import type { WatchFrame } from '../../src/watch/index.js';
import { cli } from './run.js';

/**
 * `bpfmem top` and `bpfmem watch` on a terminal (docs/cli.md): a frame fits its height and its
 * width (no line wraps, nothing scrolls off the top, the first lines stay), a cut never splits a
 * colour sequence; durations with decimals; messages that name what was typed.
 */

/** Colours as node's styleText writes them: every cut must keep them whole. */
const COLOUR: Style = {
  bold: (s) => `\u001b[1m${s}\u001b[22m`,
  dim: (s) => `\u001b[2m${s}\u001b[22m`,
  ok: (s) => `\u001b[32m${s}\u001b[39m`,
  bad: (s) => `\u001b[31m${s}\u001b[39m`,
  warn: (s) => `\u001b[33m${s}\u001b[39m`,
};
const CLEAR = '\u001b[H\u001b[2J';

/**
 * The screen after `text` is written to a terminal of `cols` x `rows` (as xterm: a line as wide
 * as the screen waits for the next character to wrap), and how many rows scrolled off the top.
 */
function terminal(text: string, cols: number, rows: number): { screen: string[]; scrolled: number } {
  const scr = Array.from({ length: rows }, () => ' '.repeat(cols).split(''));
  let y = 0;
  let x = 0;
  let pending = false;
  let scrolled = 0;
  const down = (): void => {
    if (y === rows - 1) {
      scr.shift();
      scr.push(' '.repeat(cols).split(''));
      scrolled++;
    } else y++;
  };
  for (let i = 0; i < text.length; ) {
    if (text.startsWith(CLEAR, i)) {
      for (const r of scr) r.fill(' ');
      y = x = 0;
      pending = false;
      i += CLEAR.length;
      continue;
    }
    // eslint-disable-next-line no-control-regex
    const sgr = /^\u001b\[[0-9;]*m/.exec(text.slice(i, i + 16));
    if (sgr) {
      i += sgr[0].length;
      continue;
    }
    const c = String.fromCodePoint(text.codePointAt(i) ?? 0);
    i += c.length;
    if (c === '\n') {
      pending = false;
      x = 0;
      down();
      continue;
    }
    if (pending) {
      pending = false;
      x = 0;
      down();
    }
    (scr[y] as string[])[x] = c;
    if (x === cols - 1) pending = true;
    else x++;
  }
  return { screen: scr.map((r) => r.join('').trimEnd()), scrolled };
}

/** Whether every escape in `text` is a whole colour sequence, and every style is off at the end. */
function coloursWhole(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  if (text.replace(/\u001b\[[0-9;]*m/g, '').includes('\u001b')) return false;
  const on = new Set<string>();
  // eslint-disable-next-line no-control-regex
  for (const [, code] of text.matchAll(/\u001b\[([0-9;]*)m/g)) {
    if (code === '22') on.clear();
    else if (code === '39') on.delete('colour');
    else if (code === '1' || code === '2') on.add(code);
    else on.add('colour');
  }
  return on.size === 0;
}

const widest = (text: string): number => screenLines(text).reduce((w, l) => Math.max(w, textWidth(l)), 0);

/**
 * 13 maps, as `bpftool map create` made them in QA, charged to a container's long cgroup path
 * (or `o.path`, at `o.usage` of `o.max`), with the errors `o.errors`.
 */
function inventory(maps = 13, o: { path?: string; usage?: number; max?: number; errors?: string[] } = {}): ReturnType<typeof buildInventory> {
  const path = o.path ?? `/kubepods.slice/kubepods-burstable.slice/cri-containerd-${'3a9d2c1b'.repeat(6)}.scope`;
  const input: InventoryInput = {
    profile: profileOf({ version: '6.18', cpus: 2 }),
    maps: Array.from({ length: maps }, (_, i) => ({ id: 4399246 + i, type: MAP_TYPES.hash.id, name: `qa_map_${i + 1}`, keySize: 8, valueSize: 8, maxEntries: 100, flags: 0, mapExtra: 0 })),
    progs: [],
    charges: new Map(Array.from({ length: maps }, (_, i) => [4399246 + i, 100n])),
    cgroupPaths: new Map<bigint, string>([
      [1n, '/'],
      [100n, path],
    ]),
    holders: { maps: new Map(), progs: new Map() },
    pins: { maps: new Map(), progs: new Map() },
    cgroups: [
      { path: '/', usage: 1 << 30, max: Number.POSITIVE_INFINITY, kernel: undefined },
      { path, usage: o.usage ?? 18 << 20, max: o.max ?? Number.POSITIVE_INFINITY, kernel: undefined },
    ],
    errors: o.errors ?? [],
  };
  return buildInventory(input);
}

const REGIME = "kernel 6.18.44 charges BPF maps and programs to the creator's memory cgroup";
const STAMP = topStamp(new Date('2026-12-07T04:31:00Z'), 2000, true);

describe('top on a terminal', () => {
  const inv = inventory();
  const s = summarize(inv, 10);

  it.each([
    [80, 24],
    [40, 10],
    [120, 50],
    [30, 6],
    [20, 3],
    [10, 2],
  ])('%ix%i: at most rows-1 lines of at most cols, the time line and the header on screen, nothing scrolls', (cols, rows) => {
    for (const st of [COLOUR, { ...COLOUR, bold: (x: string) => x, dim: (x: string) => x }]) {
      const frame = topScreen(st.dim(STAMP), inv, s, { regimeReason: REGIME }, st, { columns: cols, rows });
      const lines = screenLines(frame);
      expect(frame.endsWith('\n')).toBe(true);
      expect(lines.length).toBeLessThanOrEqual(rows - 1);
      expect(widest(frame)).toBeLessThanOrEqual(cols);
      expect(coloursWhole(frame)).toBe(true);
      const { screen, scrolled } = terminal(`${CLEAR}${frame}`, cols, rows);
      expect(scrolled).toBe(0);
      expect(screen[0]).toBe(cutLine(STAMP, cols));
      if (rows >= 3) expect(screen[1]).toBe(cutLine(`bpfmem: ${profileLine(inv.profile)}`, cols));
    }
  });

  it('text from the machine in its lines is escaped: a warning naming a cgroup, a note, a dump\'s name', () => {
    const esc = '\u001b[H\u001b[2J\u001b[41m';
    const hostile = `/pod${esc}`;
    // Near its limit: the summary warns, naming it.
    const inv = { ...inventory(1, { path: hostile, usage: 99 << 20, max: 100 << 20, errors: [`cannot read ${hostile}/memory.stat`] }), source: `dump${esc}.json` };
    const s = summarize(inv, 10);
    expect(s.warnings.map((w) => w.text)).toContainEqual(expect.stringContaining(hostile));
    for (const text of [summaryText(inv, s, { regimeReason: REGIME }, COLOUR), mapsText(inv, inv.maps, { wide: false, pins: false }, COLOUR)]) {
      expect(coloursWhole(text)).toBe(true);
      expect(text).toContain('\\x1b[H\\x1b[2J\\x1b[41m');
    }
  });

  it('80x24: the totals and the last line stay; the tables lose rows, said in a line', () => {
    const frame = topScreen(STAMP, inv, s, { regimeReason: REGIME }, COLOUR, { columns: 80, rows: 24 });
    const { screen } = terminal(`${CLEAR}${frame}`, 80, 24);
    expect(screen.join('\n')).toMatch(/13 maps and 0 programs: /);
    expect(screenLines(frame).at(-1)).toMatch(/More: bpfmem maps/);
    expect(screen[23]).toBe('');
  });

  it('40x10: the header, the time line and the "more lines" line are cut to 40 columns with …', () => {
    const frame = topScreen(STAMP, inv, s, { regimeReason: REGIME }, COLOUR, { columns: 40, rows: 10 });
    const { screen } = terminal(`${CLEAR}${frame}`, 40, 10);
    expect(screen[0]).toBe('2026-12-07 04:31:00 UTC, every 2s; Ctrl…');
    expect(screen[1]).toBe('bpfmem: kernel 6.18, 2 possible CPUs, 4…');
    expect(screen).toContainEqual(expect.stringMatching(/^… \d+ more lines \(a taller terminal, or …$/));
  });

  it('fittedSummaryText: a style that ends with the last newline takes no line (the last line is kept)', () => {
    const text = fittedSummaryText(inv, s, { regimeReason: REGIME, width: 80 }, COLOUR, 12);
    expect(screenLines(text)).toHaveLength(12);
    expect(screenLines(text).at(-1)).toMatch(/More: bpfmem maps/);
    expect(coloursWhole(text)).toBe(true);
  });
});

/** A frame of a kernel that refuses fexit, as this host's (docs/cli.md, watch). */
const REFUSED =
  'this kernel refuses fentry/fexit programs: BPF_PROG_LOAD of an fexit program answers EPERM before the verifier runs, as root (mainline has no such refusal: a vendor restriction); it has no kprobes either (no /sys/bus/event_source/devices/kprobe), so no function return can be hooked';
function refusedFrame(payers = 6): WatchFrame {
  return {
    time: new Date('2026-12-07T04:42:13Z'),
    release: '6.18.44-fc-v1300',
    regime: 'memcg',
    hooks: [],
    refusedAll: REFUSED,
    blind: [],
    failures: [],
    payers: Array.from({ length: payers }, (_, i) => ({
      path: `/process_api/${'bbfc442c'.repeat(5)}${i}`,
      bpf: 150_000,
      usage: 18 << 20,
      limit: Number.POSITIVE_INFINITY,
      headroom: undefined,
      failcnt: 0,
      failcntRecent: 0,
      maxEvents: undefined,
      maxEventsRecent: undefined,
      failcntRun: 0,
      maxEventsRun: undefined,
      forecast: undefined,
    })),
    unattributed: 0,
    dropped: 0,
    recursionMisses: 0,
    events: [],
    notes: ['a note from the session that is long enough to be wider than a small terminal is'],
  };
}

describe('watch on a terminal', () => {
  const f = refusedFrame();
  const stamp = watchStamp(f, 1000, true);

  it.each([
    [40, 10],
    [80, 24],
    [30, 5],
    [120, 40],
    [10, 2],
  ])('%ix%i: at most rows-1 lines of at most cols; the first line says it is not traced', (cols, rows) => {
    const frame = watchScreen(COLOUR.dim(stamp), f, COLOUR, { columns: cols, rows });
    expect(screenLines(frame).length).toBeLessThanOrEqual(rows - 1);
    expect(widest(frame)).toBeLessThanOrEqual(cols);
    expect(coloursWhole(frame)).toBe(true);
    const { screen, scrolled } = terminal(`${CLEAR}${frame}`, cols, rows);
    expect(scrolled).toBe(0);
    expect(screen[0]).toBe(cutLine(stamp, cols));
    if (rows >= 3) expect(screen[1]).toMatch(/^refused updates: not traced:/);
  });

  it('40x10: the notice is wrapped in half the rows, cut with …; the cgroups table is still begun', () => {
    const { screen } = terminal(`${CLEAR}${watchScreen(stamp, f, COLOUR, { columns: 40, rows: 10 })}`, 40, 10);
    expect(screen.slice(0, 5)).toEqual([
      'bpfmem watch: kernel 6.18.44-fc-v1300, …',
      'refused updates: not traced: this kernel',
      'refuses fentry/fexit programs:',
      'BPF_PROG_LOAD of an fexit program',
      'answers EPERM before the verifier runs,…',
    ]);
    expect(screen[8]).toMatch(/^… \d+ more lines \(a taller terminal, or …$/);
    expect(screen[9]).toBe('');
  });

  it('text from the machine in its lines is escaped: what is refused, a note, an armed cgroup', () => {
    const esc = '\u001b[H\u001b[2J\u001b[41m';
    const hostile: WatchFrame = {
      ...f,
      refusedAll: `refused${esc}`,
      notes: [`/sys/fs/cgroup/memory/pod${esc}: gone`],
    };
    const frame = watchScreen('', hostile, COLOUR, { columns: 200, rows: 40 });
    // COLOUR's own sequences aside, no ESC reaches the screen: each from the machine is shown as \x1b.
    // eslint-disable-next-line no-control-regex
    expect(frame.replace(/\u001b\[[0-9;]*m/g, '')).not.toContain('\u001b');
    expect(frame).toContain('refused\\x1b[H\\x1b[2J\\x1b[41m');
    expect(frame).toContain('pod\\x1b[H\\x1b[2J\\x1b[41m: gone');
  });

  it('80x24: the whole notice is on screen, wrapped', () => {
    const { screen } = terminal(`${CLEAR}${watchScreen(stamp, f, COLOUR, { columns: 80, rows: 24 })}`, 80, 24);
    const end = screen.findIndex((l) => l.startsWith('what is shown instead: '));
    expect(end).toBeGreaterThan(2);
    expect(screen.slice(1, end).join(' ')).toBe(`refused updates: not traced: ${REFUSED}`);
  });
});

describe('watch --for: the summary it ends with, on a terminal', () => {
  // eslint-disable-next-line no-control-regex
  const plain = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

  it.each([30, 40, 50, 80])('%i columns: no line wider; the notice and the note wrapped whole, not cut; colours whole', (cols) => {
    const text = watchSummaryText(refusedFrame(), 2.012, COLOUR, cols);
    expect(widest(text)).toBeLessThanOrEqual(cols);
    expect(coloursWhole(text)).toBe(true);
    const { scrolled } = terminal(`${CLEAR}${text}`, cols, 100);
    expect(scrolled).toBe(0);
    // Folded at spaces, and a word wider than the terminal where the line ends: nothing left out.
    const letters = (t: string): string => t.replace(/\s+/g, '');
    const all = letters(plain(text));
    expect(all).toContain(letters(`refused updates: not traced: ${REFUSED}`));
    expect(all).toContain(letters('note: a note from the session that is long enough to be wider than a small terminal is'));
    // The cgroups table is fitted as a frame's is: paths lose their middle, no row is folded.
    const rows = screenLines(plain(text)).filter((l) => l.startsWith('/proce'));
    expect(rows).toHaveLength(6);
  });

  it('into a pipe (no width): every line whole, as before', () => {
    const text = watchSummaryText(refusedFrame(), 2.012, COLOUR);
    expect(text.split('\n')[0]).toBe(COLOUR.bold('bpfmem watch: summary of 2s12ms on kernel 6.18.44-fc-v1300'));
    expect(text).toContain(`${COLOUR.bold('refused updates: not traced')}: ${REFUSED}\n`);
    expect(widest(text)).toBeGreaterThan(300);
  });
});

describe('"Ctrl-C quits" only on a terminal that keeps refreshing', () => {
  const at = new Date('2026-12-07T04:31:00Z');
  it('top: on a terminal with frames to come; not into a pipe, not on the last frame (-n 1)', () => {
    expect(topStamp(at, 2000, true)).toBe('2026-12-07 04:31:00 UTC, every 2s; Ctrl-C quits');
    expect(topStamp(at, 2000, false)).toBe('2026-12-07 04:31:00 UTC, every 2s');
  });
  it('watch: on a terminal without --for; not into a pipe; with --for, when it ends', () => {
    const f = refusedFrame();
    expect(watchStamp(f, 2000, true)).toMatch(/, every 2s; Ctrl-C quits$/);
    expect(watchStamp(f, 2000, false)).toMatch(/ UTC, every 2s$/);
    expect(watchStamp(f, 2000, true, 2917)).toMatch(/, every 2s; ends in 2s917ms$/);
  });
});

describe('cutLine, foldLine, fitHeight', () => {
  it('cutLine keeps every colour sequence whole and in order, drops visible characters only', () => {
    const line = `${COLOUR.bold('refused updates')}: ${COLOUR.dim('not traced')}`;
    expect(cutLine(line, 10)).toBe('\u001b[1mrefused u…\u001b[22m\u001b[2m\u001b[22m');
    expect(cutLine(line, 200)).toBe(line);
    expect(cutLine('abcdef', 0)).toBe('');
    expect(cutLine('abcdef', 1)).toBe('…');
    expect(textWidth(cutLine('\ud83d\ude00'.repeat(5), 3))).toBe(3);
    // Combining marks and zero-width characters take no column, and stay with their character.
    expect(textWidth('e\u0301te\u0301')).toBe(3);
    expect(textWidth('a\u200bb\ufeffc')).toBe(3);
    expect(textWidth('\u0915\u094d\u0937')).toBe(2);
    expect(cutLine('cafe\u0301s', 5)).toBe('cafe\u0301s');
    expect(cutLine('e\u0301tude', 3)).toBe('e\u0301t…');
    expect(elide('re\u0301sume\u0301-of-a-long-name', 8, 'end')).toBe('re\u0301sume\u0301-…');
  });

  it('foldLine breaks at spaces, a word longer than the line where the line ends', () => {
    expect(foldLine('aaa bbb ccc', 7)).toEqual(['aaa bbb', 'ccc']);
    expect(foldLine('abcdefghij kl', 4)).toEqual(['abcd', 'efgh', 'ij', 'kl']);
    expect(foldLine(`${COLOUR.bold('aaa bbb')} ccc`, 5)).toEqual(['\u001b[1maaa', 'bbb\u001b[22m', 'ccc']);
  });

  it('fitHeight keeps the first lines, says how many were left out, keeps their colour sequences', () => {
    const lines = ['a', COLOUR.bold('b'), 'c', 'd', 'last'];
    expect(fitHeight(lines, 4, 80, (n) => `… ${n} more`)).toEqual(['a', '\u001b[1mb\u001b[22m', 'c', '… 2 more']);
    expect(fitHeight(lines, 3, 80, (n) => `… ${n}`, true)).toEqual(['a', '\u001b[1m\u001b[22m… 3', 'last']);
    expect(fitHeight(lines, 1, 80, (n) => `… ${n}`)).toEqual(['a\u001b[1m\u001b[22m']);
    expect(fitHeight(lines, 0, 80, (n) => `… ${n}`)).toEqual([]);
  });
});

describe('durations with decimals and a unit', () => {
  it('parseDurationArg', () => {
    expect(parseDurationArg('1.5s')).toBe(1500);
    expect(parseDurationArg('0.5m')).toBe(30_000);
    expect(parseDurationArg('1.5h')).toBe(5_400_000);
    expect(parseDurationArg('1m30.5s')).toBe(90_500);
    expect(parseDurationArg('1500ms')).toBe(1500);
    expect(parseDurationArg('2.5ms')).toBe(3);
    expect(parseDurationArg('1.5')).toBeUndefined();
    expect(parseDurationArg('1.5', true)).toBe(1500);
    for (const bad of ['', '.5s', '1.s', '1s1m', '1s1s', '1.5x', '1,5s', '-1s', '1e3s', 'NaNs', '1.5 s', `${'9'.repeat(40)}s`]) expect(parseDurationArg(bad, true), bad).toBeUndefined();
  });

  /** The parser of `--flag` of a command. */
  const parser = (options: readonly Option[], flag: string): ((value: string) => number) => {
    const o = options.find((x) => x.long === flag);
    if (!o?.parseArg) throw new Error(flag);
    const parse = o.parseArg.bind(o) as (value: string, previous: unknown) => number;
    return (value) => parse(value, undefined);
  };
  const ctx = { io: {} as Io, exit: () => undefined } as CommandContext;

  it.each([
    ['top', '--interval', '1.5s', 1500],
    ['top', '--interval', '0.5', 500],
    ['top', '--interval', '0.1s', 100],
    ['watch', '--interval', '0.5s', 500],
    ['watch', '--interval', '1.5', 1500],
    ['watch', '--for', '1.5s', 1500],
    ['watch', '--for', '1.5', 1500],
    ['watch', '--for', '1500ms', 1500],
    ['watch', '--for', '1m30.5s', 90_500],
    ['watch', '--for', '0.5h', 1_800_000],
    ['serve', '--interval', '1.5s', 1500],
    ['serve', '--interval', '0.5m', 30_000],
  ])('%s %s %s: %i ms', (command, flag, value, ms) => {
    const cmd = command === 'top' ? topCommand(ctx) : command === 'watch' ? watchCommand(ctx) : serveCommand(ctx);
    expect(parser(cmd.options, flag)(value)).toBe(ms);
  });

  it.each([
    ['top', '--interval', '0.05s', '--interval "0.05s": expected a duration from 100ms to 1h, like 2s, 1.5s or 500ms (a bare number is seconds)'],
    ['watch', '--interval', '0.1s', '--interval "0.1s": expected a duration from 200ms to 1h, like 2s, 1.5s or 500ms (a bare number is seconds)'],
    ['watch', '--for', '0.5s', '--for "0.5s": expected a duration from 1s to 24h, like 30s, 1.5m or 1h (a bare number is seconds)'],
    ['watch', '--for', '24.5h', '--for "24.5h": expected a duration from 1s to 24h'],
    ['serve', '--interval', '0.5s', '--interval "0.5s": expected a duration from 1s to 1h, like 15s, 1m or 1m30s'],
    ['serve', '--interval', '1.5', '--interval "1.5": expected a duration from 1s to 1h, like 15s, 1m or 1m30s (give a unit: 1.5s)'],
  ])('%s %s %s: the range still applies, in one line naming the flag and the value', async (command, flag, value, message) => {
    const r = await cli([command, flag, value]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.startsWith(`bpfmem: ${message}`)).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('durationArg: a usage error', () => {
    expect(() => durationArg('--x', { min: 1000, max: 2000, like: '1s' })('1.5s')).not.toThrow();
    expect(() => durationArg('--x', { min: 1000, max: 2000, like: '1s' })('2.5s')).toThrow(BpfmemError);
  });
});

describe('top: JSON asked for, and -n out of range', () => {
  it.each([
    [['top', '-o', 'json'], '-o json'],
    [['top', '--output', 'json'], '--output json'],
    [['top', '--output=json'], '--output=json'],
    [['top', '-ojson'], '-ojson'],
    [['-o', 'json', 'top'], '-o json'],
    [['top', '--json'], '--json'],
    [['top', '-j'], '-j'],
  ])('bpfmem %j: names what was typed and says why, status 2', async (args, typed) => {
    const r = await cli(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`bpfmem: ${typed}: top has no JSON output: it redraws a summary for people; bpfmem --json prints that summary as JSON (once), bpfmem serve serves it (/api/v1/summary)\n`);
  });

  it('serve -o json: names it and where its JSON is', async () => {
    const r = await cli(['serve', '-o', 'json']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bpfmem: -o json: serve has no JSON output of its own: it serves JSON \(\/api\/v1\/summary/);
  });

  it('top --help with -o json is still help', async () => {
    const r = await cli(['top', '-o', 'json', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: bpfmem top/);
  });

  it('top -n 99999999 says the range', async () => {
    const r = await cli(['top', '-n', '99999999']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('bpfmem: --iterations "99999999": expected a whole number of frames from 1 to 9999999\n');
  });
});

describe('wide characters (CJK, emoji) take two columns', () => {
  it('are measured, cut and folded by the columns they take', () => {
    expect(textWidth('中文')).toBe(4);
    expect(textWidth('\u001b[1m中\u001b[0m✓→a')).toBe(5);
    expect(textWidth('😀')).toBe(2);
    expect(elide('中文名字abc', 5, 'end')).toBe('中文…');
    expect(elide('中文名字', 5)).toBe('中…字');
    expect(elide('中文名字', 4)).toBe('中…');
    expect(cutLine('中文名字', 5)).toBe('中文…');
    expect(cutLine('a中文', 3)).toBe('a…');
    expect(foldLine('中文 名字', 4)).toEqual(['中文', '名字']);
    for (const w of [1, 2, 3, 4, 5, 6, 7]) {
      expect(textWidth(elide('中文名字abc', w, 'end')), `elide end ${w}`).toBeLessThanOrEqual(w);
      expect(textWidth(elide('中文名字abc', w)), `elide middle ${w}`).toBeLessThanOrEqual(w);
      expect(textWidth(cutLine('中文名字abc', w)), `cutLine ${w}`).toBeLessThanOrEqual(w);
    }
  });

  it('count a grapheme of several code points as the one character a terminal draws, and never split one', () => {
    const coder = '\u{1F469}\u200D\u{1F4BB}'; // 👩‍💻: woman, joiner, laptop
    const flag = '\u{1F1E9}\u{1F1EA}'; // 🇩🇪: two regional indicators
    expect(textWidth(coder)).toBe(2);
    expect(textWidth(flag)).toBe(2);
    expect(textWidth(`a${coder}b${flag}`)).toBe(6);
    expect(cutLine(`${coder}${coder}${coder}`, 5)).toBe(`${coder}${coder}…`);
    expect(elide(`${coder}-middle-${flag}`, 6)).toBe(`${coder}-…${flag}`);
    expect(elide(`x${flag}${flag}${flag}`, 4, 'end')).toBe(`x${flag}…`);
    expect(foldLine(`${coder} ${coder}`, 3)).toEqual([coder, coder]);
  });

  it('elide, cutLine and foldLine stay within the width and keep every grapheme whole, whatever the text', () => {
    const unit = fc.constantFrom('a', ' ', '中', '\u0301', '\u200D', '\u{1F469}', '\u{1F4BB}', '\u{1F1E9}', '\u{1F1EA}', '\uFE0F', '\u0915', '\u094D', 'é');
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 24 }), fc.integer({ min: 0, max: 12 }), (parts, w) => {
        const s = parts.join('');
        const whole = new Set(graphemes(s));
        for (const out of [elide(s, w), elide(s, w, 'end'), cutLine(s, w)]) {
          expect(textWidth(out)).toBeLessThanOrEqual(w);
          for (const g of graphemes(out)) if (g !== '…') expect(whole.has(g), `${JSON.stringify(out)} splits a grapheme of ${JSON.stringify(s)}`).toBe(true);
        }
        if (w >= 2) for (const line of foldLine(s, w)) expect(textWidth(line)).toBeLessThanOrEqual(w);
      }),
      { numRuns: 500 },
    );
  });

  it('keep a table\'s columns aligned on a terminal', () => {
    const out = table([{ name: '数据库', n: '1' }, { name: 'ab', n: '22' }], [
      { header: 'NAME', value: (r) => r.name },
      { header: 'N', value: (r) => r.n, align: 'right' },
    ]);
    const lines = out.trimEnd().split('\n');
    // Every line is as wide on screen: the second column ends in the same column.
    expect(new Set(lines.map((l) => textWidth(l))).size).toBe(1);
    expect(lines[1]).toBe('数据库   1');
  });
});
