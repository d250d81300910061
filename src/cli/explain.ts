import { Command, Option } from 'commander';
import { quote } from '../vocab/fields.js';
import type { Btf } from '../btf/index.js';
import { readBpfObjectFile } from '../estimate/object-file.js';
import type { BpfObject } from '../elf/index.js';
import { inputName } from '../sys/file/index.js';
import { specMaps } from '../estimate/run.js';
import { parseCgroupArg, parseErrnoArg, parseNeedArg, parsePidArg } from '../explain/args.js';
import type { Cause } from '../explain/causes.js';
import { exitStatusOf, type Explanation } from '../explain/explain.js';
import type { ExplainFacts } from '../explain/facts.js';
import { explanationJson } from '../explain/json.js';
import { hasStructOps } from '../estimate/object-plan.js';
import { explainLoad } from '../explain/load.js';
import { readExplainFacts, type FactsSource } from '../explain/read-facts.js';
import { maxFile, type LevelView } from '../explain/verdict.js';
import { hostProfile } from '../live/host-profile.js';
import { BpfmemError } from '../vocab/errors.js';
import type { LinuxErrno } from '../vocab/errno.js';
import { formatBytes, parseSize } from '../vocab/units.js';
import { styleFor, type Style } from './io.js';
import { jsonOption, stdinOnce, type CommandContext } from './context.js';
import { json, profileLine, wrap, wrapStyled } from './render/common.js';
import { table } from './table.js';
import { escapeText } from './escape.js';

/** What `explain` reads the machine with; tests pass hand-made facts. */
export interface ExplainDeps {
  readonly readFacts: (source: FactsSource) => Promise<ExplainFacts>;
  /**
   * The kernel's BTF, for the value size of an object's struct_ops maps (undefined: estimated
   * from the object's own struct). Default: this machine's /sys/kernel/btf/vmlinux, if any.
   */
  readonly kernelBtf?: () => Promise<Btf | undefined>;
}

/** This machine's BTF, or undefined where it has none (struct_ops maps are then estimated from the object). */
const machineBtf = (): Promise<Btf | undefined> => hostProfile().kernelBtf();

interface ExplainOptions {
  pid?: number;
  cgroup?: string;
  map: string[];
  object: string[];
  prog: number[];
  need?: number;
  errno?: LinuxErrno;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function progArg(value: string, previous: number[]): number[] {
  const n = parseSize(value);
  if (n === undefined || !Number.isFinite(n) || n < 1) throw new BpfmemError('usage', `--prog ${quote(value)}: expected a number of instructions, like 4096`);
  return [...previous, n];
}

/**
 * `bpfmem explain`: whether maps (and programs, and extra bytes) fit under the limits of a task
 * and its memory cgroups on this machine, which limit stops them and what to change; with
 * `--errno`, the causes of a failure that already happened. Exit status 0 when it fits (with
 * `--errno`: when a likely cause was found), 1 otherwise, 2 for argument mistakes.
 */
export function explainCommand(ctx: CommandContext, deps: ExplainDeps = { readFacts: (s) => readExplainFacts(s) }): Command {
  return new Command('explain')
    .description('does it fit, and which limit stops it: memory cgroups, RLIMIT_MEMLOCK, privileges; --errno explains a failure')
    .addOption(new Option('--pid <pid>', 'the task that creates the maps (default: this process)').argParser(parsePidArg))
    .addOption(new Option('--cgroup <path>', 'a memory cgroup, from the hierarchy\'s root, instead of a task').argParser(parseCgroupArg))
    .addOption(new Option('--map <spec>', 'a map, as `bpfmem estimate --map` takes it (repeatable)').argParser(collect).default([]))
    .addOption(new Option('--object <file.o>', 'a compiled BPF object: every map libbpf creates from it and its programs (repeatable; - for standard input)').argParser(collect).default([]))
    .addOption(new Option('--prog <insns>', 'a program of this many instructions (repeatable)').argParser(progArg).default([]))
    .addOption(new Option('--need <bytes>', 'bytes needed besides the maps, like 64Mi').argParser(parseNeedArg))
    .addOption(new Option('--errno <errno>', 'explain a failure: EPERM, ENOMEM, E2BIG, EINVAL, EMFILE, … (any errno name or number)').argParser(parseErrnoArg))
    .addOption(jsonOption())
    .action(async (opts: ExplainOptions) => {
      if (opts.pid !== undefined && opts.cgroup !== undefined) {
        throw new BpfmemError('usage', 'explain: give --pid or --cgroup, not both (a task brings its own cgroup)');
      }
      const maps = specMaps(opts.map);
      if (maps.length === 0 && opts.object.length === 0 && opts.prog.length === 0 && opts.need === undefined) {
        throw new BpfmemError(
          'usage',
          'explain: give what is needed: --map SPEC (e.g. --map type=hash,key=4,value=8,max_entries=1000), --object FILE.o, --prog INSNS or --need BYTES',
        );
      }
      // Objects are read before the machine: a bad file is the user's mistake, whatever the machine.
      stdinOnce(opts.object, 'one --object');
      const objects: { path: string; obj: BpfObject }[] = [];
      // explain has no --special-files: a pipe comes in as standard input.
      for (const path of opts.object) objects.push({ path: inputName(path), obj: await readBpfObjectFile(path, '1.1+', false, 'explain reads a pipe as standard input: --object -') });
      const source: FactsSource = opts.pid !== undefined ? { pid: opts.pid } : opts.cgroup !== undefined ? { cgroup: opts.cgroup } : { self: true };
      const facts = await deps.readFacts(source);
      const kernelBtf = objects.some(({ obj }) => hasStructOps(obj)) ? await (deps.kernelBtf ?? machineBtf)() : undefined;
      const { explanation: e, progNames } = explainLoad(facts, { objects, maps, progs: opts.prog, need: opts.need ?? 0, errno: opts.errno, kernelBtf });
      // On a terminal, the tables fit its width (docs/cli.md); into a pipe, rows are whole.
      ctx.io.stdout(opts.json ? json(explanationJson(e, progNames)) : explanationText(e, styleFor(ctx.io), progNames, ctx.io.terminalSize?.()?.columns));
      ctx.exit(exitStatusOf(e));
    });
}


// ---------------------------------------------------------------------------------------------
// Text

const show = (n: number | undefined): string => (n === undefined ? '-' : Number.isFinite(n) ? formatBytes(n) : 'max');

function headLine(e: Explanation): string {
  const { facts } = e;
  const task = facts.task;
  const where = e.levels[0]?.path ?? facts.chainMissing ?? 'unknown';
  const who = task ? `process ${task.pid}${task.comm ? ` (${escapeText(task.comm)})` : ''}${task.uid === undefined ? '' : `, uid ${task.uid}`}` : 'no task';
  return `${who}; memory cgroup ${escapeText(where)}\n${wrap(facts.basis?.line ?? profileLine(facts.profile), 80, '', '  ')}\n`;
}

function needText(e: Explanation, progNames: readonly string[], maxWidth: number | undefined): string {
  const { need } = e;
  const regime = e.facts.profile.regime;
  // A task in the root memory cgroup (its chain starts there) is charged nothing (mm/memcontrol.c: no objcg for the root).
  const inRoot = e.levels[0]?.path === '/';
  const what =
    regime === 'memcg'
      ? inRoot
        ? 'charged to no cgroup (the root memory cgroup never is)'
        : 'charged to the memory cgroup'
      : regime === 'memlock'
        ? 'precharged against RLIMIT_MEMLOCK'
        : 'counted against no limit';
  let out = '';
  if (need.counted > 0 || need.refused.length === 0) {
    out += `\nneeds ${formatBytes(regime === 'none' ? need.charged : need.counted)} ${what}`;
    if (need.extra > 0) out += ` (${formatBytes(need.extra)} of it --need)`;
    out += '\n';
  } else out += '\n';
  const rows = [
    ...need.estimate.maps.map((m) => ({ what: m.name, type: m.type, memlock: m.ok ? formatBytes(m.memlock) : m.errno, charged: m.ok ? formatBytes(m.charged) : '', uncharged: m.ok && m.uncharged > 0 ? formatBytes(m.uncharged) : '' })),
    ...need.estimate.progs.map((p, i) => ({ what: progNames[i] || `${p.insns} insns`, type: 'program', memlock: p.ok ? formatBytes(p.memlock) : (p.errno ?? ''), charged: p.ok ? formatBytes(p.charged) : '', uncharged: '' })),
  ];
  if (rows.length > 0) {
    out += table(rows, [
      { header: 'OBJECT', value: (r) => r.what, elide: 'end' },
      { header: 'TYPE', value: (r) => r.type },
      { header: 'MEMLOCK', value: (r) => r.memlock, align: 'right' },
      { header: 'CHARGED', value: (r) => r.charged, align: 'right' },
      { header: 'UNCHARGED', value: (r) => r.uncharged, align: 'right' },
    ], { maxWidth });
  }
  return out;
}

function levelsText(e: Explanation, st: Style, maxWidth: number | undefined): string {
  if (e.levels.length === 0) return '';
  const file = maxFile(e.facts.profile.cgroupVersion);
  const stopper = e.verdict.kind === 'short' ? e.verdict.cgroup : undefined;
  return (
    `\n${table<LevelView>(e.levels, [
      { header: 'USAGE', value: (l) => show(l.usage), align: 'right' },
      { header: file === 'memory.max' ? 'MAX' : 'LIMIT', value: (l) => show(l.max), align: 'right' },
      { header: 'FREE', value: (l) => (l.headroom === undefined || !Number.isFinite(l.headroom) ? '-' : formatBytes(Math.max(0, l.headroom))), align: 'right' },
      { header: 'SHORT', value: (l) => (l.short > 0 ? formatBytes(l.short) : ''), align: 'right', format: (cell, l) => (l.short > 0 && !l.reclaimCovers ? st.bad(cell) : cell) },
      // Cut in its middle, a path keeps both ends, and `← stops it`.
      { header: 'CGROUP', value: (l) => (l.path === stopper ? `${l.path}  ← stops it` : l.path), elide: 'middle' },
    ], { maxWidth })}`
  );
}

function verdictText(e: Explanation, st: Style): string {
  const v = e.verdict;
  const file = maxFile(e.facts.profile.cgroupVersion);
  // The verdict's first words are styled after wrapping (wrapStyled).
  let head: string;
  let style: (s: string) => string;
  let rest: string;
  switch (v.kind) {
    case 'fits':
      head = 'fits';
      style = st.ok;
      rest = (v.limit === undefined
        ? e.facts.profile.regime === 'memcg'
          ? ': no memory cgroup on the way has a limit'
          : ': no limit applies'
        : v.limit === 'RLIMIT_MEMLOCK'
          ? `: ${Number.isFinite(v.headroom) ? `${formatBytes(v.headroom)} of RLIMIT_MEMLOCK left` : 'RLIMIT_MEMLOCK is unlimited'}`
          : `: ${formatBytes(v.headroom)} left under the ${file} of ${v.cgroup ?? ''}`)
        + (v.reclaim > 0 ? `, once the kernel reclaims ${formatBytes(v.reclaim)} of page cache` : '');
      break;
    case 'short':
      head = 'does not fit';
      style = st.bad;
      rest =
        v.limit === 'RLIMIT_MEMLOCK'
          ? `: RLIMIT_MEMLOCK ${formatBytes(v.headroom)} is ${formatBytes(v.short)} short`
          : `: ${formatBytes(v.short)} short under the ${file} of ${v.cgroup ?? ''} (${formatBytes(Math.max(0, v.headroom))} free)`;
      break;
    case 'refused':
      head = `the kernel would refuse it with ${v.errno}`;
      style = st.bad;
      rest = `: ${v.reason}`;
      break;
    case 'unknown':
      head = 'cannot tell';
      style = st.warn;
      rest = `: ${v.reason}`;
      break;
  }
  let out = `\n${wrapStyled(head, style, rest, 80, '')}\n`;
  for (const a of e.advice) out += `${wrap(a, 80, '  ', '    ')}\n`;
  return out;
}

function causesText(e: Explanation, st: Style): string {
  if (e.request.errno === undefined) return '';
  const mark = (c: Cause): string => (c.status === 'likely' ? st.bad('likely   ') : c.status === 'possible' ? st.warn('possible ') : st.dim('ruled out'));
  let out = `\n${e.request.errno}: what could have caused it\n`;
  const indent = ' '.repeat(11);
  for (const c of e.causes) {
    // Wrapped as if the 9-column mark were there, then the mark put in its place.
    out += `${mark(c)}  ${wrap(c.text, 80, indent).slice(indent.length)}\n`;
    for (const ev of c.evidence) if (ev !== '') out += `${st.dim(wrap(ev, 80, '           ', '             '))}\n`;
    if (c.fix !== undefined && c.status !== 'ruled out') out += `${wrap(`fix: ${c.fix}`, 80, '           ', '             ')}\n`;
  }
  if (!e.causes.some((c) => c.status === 'likely')) out += `${wrap(`no cause bpfmem can check fits the evidence for ${e.request.errno}; the possible ones above remain`, 80, '')}\n`;
  return out;
}

/** The explanation for people; with `maxWidth` (a terminal's columns), its tables fit it. */
export function explanationText(e: Explanation, st: Style, progNames: readonly string[] = [], maxWidth?: number): string {
  let out = headLine(e) + needText(e, progNames, maxWidth) + levelsText(e, st, maxWidth) + verdictText(e, st) + causesText(e, st);
  if (e.notes.length) out += `\n${st.dim(e.notes.map((n) => wrap(`- ${escapeText(n)}`, 80, '', '  ')).join('\n'))}\n`;
  return out;
}
