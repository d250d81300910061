import { escapeText } from '../escape.js';
import type { Snapshot } from '../../vocab/backend.js';
import type { RunResult, StepResult } from '../../scenario/run.js';
import type { Style } from '../io.js';
import { table } from '../table.js';
import { cellBytes, cellKnown, profileLine, wrap } from './common.js';

/** The `--json` of one run, shared with `bpfmem serve` (src/simulate/result-json.ts). */
import { usersOf } from '../../simulate/result-json.js';
export { runJson } from '../../simulate/result-json.js';

/** A map's memlock, or `-` where the map does not exist in that run. */
const memlockCell = (s: Snapshot, name: string): string => {
  const m = s.maps.find((x) => x.name === name);
  return m ? cellBytes(m.memlock) : '-';
};

const mark = (s: StepResult, st: Style): string => (s.ok ? st.ok('✓') : st.bad('✗'));

/** A step's outcome in a column of runs side by side: `✓`, `✗ ERRNO`, or empty where the run has no such step. */
export const stepCell = (s: StepResult | undefined): string => (!s ? '' : s.ok ? '✓' : `✗ ${s.errno ?? ''}`);

/** A step's number for people: its index in the file, or `setup` for the file's cgroups and tasks. */
const stepLabel = (s: StepResult): string => (s.index < 0 ? 'setup' : String(s.index));

/** Where a step's row is: its index, or for setup (every one at -1) what it set up. */
const stepKey = (s: StepResult): string => (s.index < 0 ? `setup ${s.summary}` : String(s.index));

/** One row of steps side by side: the step of each run, undefined where that run has none. */
export interface StepRow {
  /** The first run's step that has one: its label and summary head the row. */
  readonly step: StepResult;
  readonly runs: readonly (StepResult | undefined)[];
}

/**
 * The steps of runs of one scenario side by side, joined on the step's index (setup results, all
 * at -1, on what they set up), not on their position in each run, which a setup failure in one
 * run alone shifts. Setup first, then the steps in the file's order.
 */
export function joinSteps(runs: readonly RunResult[]): StepRow[] {
  const rows = new Map<string, { step: StepResult; runs: (StepResult | undefined)[] }>();
  runs.forEach((run, i) => {
    for (const s of run.steps) {
      const key = stepKey(s);
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { step: s, runs: runs.map(() => undefined) }));
      row.runs[i] = s;
    }
  });
  // Stable: setup rows (-1) keep the order the runs made them in.
  return [...rows.values()].sort((a, b) => a.step.index - b.step.index);
}

function stepLines(steps: readonly StepResult[], st: Style): string {
  const out: string[] = [];
  for (const s of steps) {
    const idx = s.index < 0 ? 'setup' : String(s.index).padStart(3);
    out.push(`${idx} ${mark(s, st)} ${s.summary}`);
    if (!s.ok) {
      const text = `${s.errno ?? 'error'}: ${s.reason ?? ''}${s.applied ? ` (after ${s.applied})` : ''}`;
      out.push(wrap(text, 80, '      ', '        ').replace(s.errno ?? 'error', st.bad(s.errno ?? 'error')));
    } else if (s.detail) out.push(st.dim(wrap(s.detail, 80, '      ', '        ')));
  }
  return out.join('\n') + '\n';
}

function cgroupTable(f: Snapshot, maxWidth: number | undefined): string {
  return table(f.cgroups, [
    { header: 'CGROUP', value: (c) => c.path, elide: 'middle' },
    { header: 'USAGE', value: (c) => cellBytes(c.usage), align: 'right' },
    { header: 'MAX', value: (c) => cellBytes(c.max), align: 'right' },
    { header: 'PEAK', value: (c) => cellKnown(c.peak), align: 'right' },
    { header: 'FAILCNT', value: (c) => (c.failcnt === null ? '-' : String(c.failcnt)), align: 'right' },
    { header: 'BPF OWN', value: (c) => cellKnown(c.bpf), align: 'right' },
    { header: 'KERNEL', value: (c) => cellKnown(c.kernel), align: 'right' },
  ], { maxWidth });
}

function mapTable(f: Snapshot, maxWidth: number | undefined): string {
  return table(f.maps, [
    { header: 'MAP', value: (m) => m.name, elide: 'end' },
    { header: 'TYPE', value: (m) => m.type },
    { header: 'ELEMS', value: (m) => String(m.elements), align: 'right' },
    { header: 'MEMLOCK', value: (m) => cellBytes(m.memlock), align: 'right' },
    { header: 'CHARGED', value: (m) => cellKnown(m.charged), align: 'right' },
    { header: 'UNCHARGED', value: (m) => cellKnown(m.uncharged), align: 'right' },
    { header: 'CHARGED TO', value: (m) => (m.chargedToKnown ? (m.chargedTo ?? '-') + (m.chargedToRemoved ? ' (removed)' : '') : '?'), elide: 'middle' },
  ], { maxWidth });
}

/**
 * One run for people: the steps with their outcomes, then the final state. With `maxWidth` (a
 * terminal's columns), the tables fit it: names and paths elided, columns left out whole.
 * `sizes`: where the struct sizes came from when an option chose them (`sizes from k.btf` for
 * `--btf`), said on the first line with the rest of the profile.
 */
export function runText(run: RunResult, source: string, st: Style, maxWidth?: number, sizes?: string): string {
  const f = run.final;
  const parts = [
    `${st.bold(escapeText(source))}: ${profileLine(run.profile)}${sizes === undefined ? '' : `, ${sizes}`}\n`,
    stepLines(run.steps, st),
    `\n${st.bold('cgroups')}\n${cgroupTable(f, maxWidth)}`,
  ];
  const users = Object.entries(usersOf(f));
  if (run.regime === 'memlock' || users.some(([, u]) => u.locked_vm > 0)) {
    parts.push(`\n${st.bold('users')} (locked_vm)\n`);
    parts.push(table(users, [
      { header: 'UID', value: ([uid]) => uid, align: 'right' },
      { header: 'LOCKED_VM', value: ([, u]) => cellBytes(u.locked_vm), align: 'right' },
    ], { maxWidth }));
  }
  if (f.maps.length) parts.push(`\n${st.bold('maps')}\n${mapTable(f, maxWidth)}`);
  if (f.progs.length) {
    parts.push(`\n${st.bold('programs')}\n`);
    parts.push(table(f.progs, [
      { header: 'PROG', value: (p) => p.name, elide: 'end' },
      { header: 'INSNS', value: (p) => String(p.insns), align: 'right' },
      { header: 'MEMLOCK', value: (p) => cellBytes(p.memlock), align: 'right' },
      { header: 'CHARGED', value: (p) => cellKnown(p.charged), align: 'right' },
      { header: 'CHARGED TO', value: (p) => p.chargedTo ?? '-', elide: 'middle' },
    ], { maxWidth }));
  }
  return parts.join('');
}

/** Two runs of one scenario side by side: the same steps under memcg and under memlock; `maxWidth` as for {@link runText}. */
export function bothText(memcg: RunResult, memlock: RunResult, source: string, st: Style, maxWidth?: number, sizes?: string): string {
  const s = sizes === undefined ? '' : `, ${sizes}`;
  const parts = [
    `${st.bold(escapeText(source))}\n  memcg:   ${profileLine(memcg.profile)}${s}\n  memlock: ${profileLine(memlock.profile)}${s}\n\n`,
  ];
  const rows = joinSteps([memcg, memlock]);
  const labels = ['memcg', 'memlock'];
  parts.push(
    table(rows, [
      { header: '#', value: (r) => stepLabel(r.step), align: 'right' },
      { header: 'STEP', value: (r) => r.step.summary, elide: 'end' },
      ...labels.map((label, i) => ({
        header: label.toUpperCase(),
        value: (r: StepRow) => stepCell(r.runs[i]),
        format: (c: string, r: StepRow) => (r.runs[i]?.ok ? st.ok(c) : st.bad(c)),
      })),
    ], { maxWidth }),
  );
  const why: string[] = [];
  for (const r of rows) {
    r.runs.forEach((s, i) => {
      // A setup failure names what it set up: the index (-1) would not.
      const what = s && s.index < 0 ? `setup (${s.summary})` : r.step.index;
      if (s && !s.ok) why.push(wrap(`${what} ${labels[i] ?? ''}: ${s.errno ?? ''}: ${s.reason ?? ''}`, 80, '  ', '    '));
    });
  }
  if (why.length) parts.push(`\n${st.bold('why')}\n${why.join('\n')}\n`);
  const paths = memcg.final.cgroups.map((c) => c.path);
  for (const c of memlock.final.cgroups) if (!paths.includes(c.path)) paths.push(c.path);
  parts.push(`\n${st.bold('cgroups')} (usage, the cgroup and below)\n`);
  parts.push(
    table(paths, [
      { header: 'CGROUP', value: (p) => p, elide: 'middle' },
      { header: 'MAX', value: (p) => cellBytes(memcg.final.cgroups.find((c) => c.path === p)?.max ?? null), align: 'right' },
      { header: 'MEMCG', value: (p) => cellBytes(memcg.final.cgroups.find((c) => c.path === p)?.usage ?? 0), align: 'right' },
      { header: 'MEMLOCK', value: (p) => cellBytes(memlock.final.cgroups.find((c) => c.path === p)?.usage ?? 0), align: 'right' },
    ], { maxWidth }),
  );
  const usersA = usersOf(memcg.final);
  const usersB = usersOf(memlock.final);
  const uids = [...new Set([...Object.keys(usersA), ...Object.keys(usersB)])];
  parts.push(`\n${st.bold('users')} (locked_vm)\n`);
  parts.push(
    table(uids, [
      { header: 'UID', value: (u) => u, align: 'right' },
      { header: 'MEMCG', value: (u) => cellBytes(usersA[u]?.locked_vm ?? 0), align: 'right' },
      { header: 'MEMLOCK', value: (u) => cellBytes(usersB[u]?.locked_vm ?? 0), align: 'right' },
    ], { maxWidth }),
  );
  const names = [...new Set([...memcg.final.maps.map((m) => m.name), ...memlock.final.maps.map((m) => m.name)])];
  if (names.length) {
    // A column per run, as in the tables above; who pays is the memcg run's alone.
    parts.push(`\n${st.bold('maps')} (fdinfo memlock in each run; the memory cgroup charged in the memcg run)\n`);
    parts.push(
      table(names, [
        { header: 'MAP', value: (n) => n, elide: 'end' },
        { header: 'MEMCG', value: (n) => memlockCell(memcg.final, n), align: 'right' },
        { header: 'MEMLOCK', value: (n) => memlockCell(memlock.final, n), align: 'right' },
        { header: 'CHARGED TO', value: (n) => memcg.final.maps.find((m) => m.name === n)?.chargedTo ?? '-', elide: 'middle' },
      ], { maxWidth }),
    );
  }
  return parts.join('');
}
