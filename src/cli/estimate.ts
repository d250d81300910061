import { Command, Option } from 'commander';
import { didYouMean, quote } from '../vocab/fields.js';
import { BpfmemError } from '../vocab/errors.js';
import { unwrap, type Result } from '../vocab/result.js';
import { unchargedOf, type Estimate, type MapEstimate, type ProgEstimate } from '../estimate/maps.js';
import { unchargedReasons } from '../model/uncharged.js';
import { readBpfObjectFile } from '../estimate/object-file.js';
import { inputName } from '../sys/file/index.js';
import { hasStructOps, type PlannedProg } from '../estimate/object-plan.js';
import { parseFill, parseSet, type FillOverride, type PlannedMap, type SetOverride } from '../estimate/plan.js';
import { dumpMaps, fit, runEstimate, type Fit } from '../estimate/run.js';
import { specOf } from '../vocab/inventory.js';
import { estimateResultJson } from '../estimate/json.js';
import { rawMapsOf, readDumpAs } from '../inspect/from-bpftool.js';
import { ARCHES, makeProfile, PAGE_SIZES } from '../model/profile.js';
import type { Arch, KernelProfile, Regime } from '../vocab/profile.js';
import { formatBytes, parseSize, SIZE_EXAMPLES } from '../vocab/units.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { hostProfile, withCpus } from '../live/host-profile.js';
import { featureOfSection, type BpfFeature } from '../elf/features.js';
import type { FeatureProbe } from '../live/probe.js';
import { DEFAULT_LOADER, LOADERS, loaderByName } from '../estimate/loaders.js';
import type { BpfObject } from '../elf/index.js';
import { MAP_TYPES } from '../vocab/maptypes.js';
import { btfOption } from './btf-option.js';
import { styleFor, type Style } from './io.js';
import { escapeText } from './escape.js';
import { jsonOption, stdinOnce, type CommandContext } from './context.js';
import { cellBytes, json, wrap } from './render/common.js';
import { table } from './table.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** What `uname -m` and Debian call the architectures the model knows. */
const ARCH_ALIASES: Readonly<Record<string, Arch>> = { aarch64: 'arm64', amd64: 'x86_64', 'x86-64': 'x86_64' };

/** An architecture the model knows, by its kernel name or what `uname -m` or Debian prints. */
function archArg(value: string): Arch {
  const arch = (ARCHES as readonly string[]).includes(value) ? (value as Arch) : ARCH_ALIASES[value];
  if (arch === undefined) throw new BpfmemError('usage', `--arch ${quote(value)}: expected one of ${ARCHES.join(', ')} (or aarch64, amd64)${didYouMean(value, ARCHES)}`);
  return arch;
}

/** A page size the model knows; checked here, before anything is read or cached for it. */
function pageSizeArg(value: string): number {
  const n = parseSize(value);
  if (n === undefined || !PAGE_SIZES.includes(n)) throw new BpfmemError('usage', `--page-size ${quote(value)}: expected 4096, 16384 or 65536 (4Ki, 16Ki, 64Ki)`);
  return n;
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = parseSize(value);
    if (n === undefined || n < 1 || !Number.isFinite(n)) {
      throw new BpfmemError('usage', `${flag} ${quote(value)}: expected a positive whole number`);
    }
    return n;
  };
}

/** `--cpus 2` or `--cpus 2,64,192`: the possible-CPU counts to estimate for. */
function cpusList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  const out = parts.map((p) => {
    if (!/^[1-9][0-9]{0,3}$/.test(p) || Number(p) > 8192) {
      throw new BpfmemError('usage', `--cpus ${quote(value)}: expected possible CPU counts from 1 to 8192, like 2 or 2,64,192`);
    }
    return Number(p);
  });
  if (out.length > 16) throw new BpfmemError('usage', `--cpus ${quote(value)}: at most 16 counts to compare`);
  return [...new Set(out)];
}

function limitArg(value: string): number {
  const n = parseSize(value);
  if (n === undefined || n < 1 || !Number.isFinite(n)) throw new BpfmemError('usage', `--limit ${quote(value)}: expected a size ${SIZE_EXAMPLES}`);
  return n;
}

interface EstimateOptions {
  btf?: string;
  map: string[];
  prog: number[];
  fromBpftool?: string;
  dumpKernel?: string;
  dumpCpus?: number;
  set: SetOverride[];
  fill: FillOverride[];
  cpus?: number[];
  kernel?: string;
  pageSize?: number;
  arch?: Arch;
  regime?: Regime;
  limit?: number;
  loader: string;
  specialFiles?: boolean;
  json?: boolean;
}

export function estimateCommand(ctx: CommandContext): Command {
  return new Command('estimate')
    .description('what a BPF object or maps cost: fdinfo memlock and the memcg charge, for any kernel and CPU count')
    .argument('[object.o...]', 'compiled BPF objects (clang -target bpf): every map libbpf creates from them, and their programs (- for standard input)')
    .addOption(
      new Option('--map <spec>', 'a map, like type=hash,key=4,value=8,max_entries=1000, and optionally ,flags=no_prealloc+numa ,map_extra=N ,name=x ,elements=N (inserted after creation) (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option('--prog <insns>', 'a program of this many instructions (after the verifier; repeatable)')
        .argParser((v: string, prev: number[]) => [...prev, positiveInt('--prog')(v)])
        .default([]),
    )
    .addOption(new Option('--special-files', 'read objects from FIFOs, pipes and devices too, e.g. <(cat prog.o) (at most 256 MiB; Ctrl-C ends the wait)'))
    .addOption(new Option('--from-bpftool <file>', 'the maps of a `bpftool -j map show` dump, re-estimated for this host profile (- for standard input)'))
    .addOption(new Option('--dump-kernel <version>', "with --from-bpftool: the kernel the dump came from (default: the one its maps' memlock fits, this machine's first)"))
    .addOption(new Option('--dump-cpus <n>', "with --from-bpftool: the possible CPUs of the dump's host (default: what its maps' memlock says, else this machine's)").argParser(positiveInt('--dump-cpus')))
    .addOption(
      new Option('--loader <name>', `what loads the objects, where that changes their memory: ${LOADERS.map((l) => l.name).join(', ')}`).default(DEFAULT_LOADER.name),
    )
    .addOption(
      new Option('--set <name.field=N>', 'set what the loader decides: NAME.max_entries=N, NAME.value_size=N, NAME.key_size=N (repeatable; * for every map)')
        .argParser((v: string, prev: SetOverride[]) => [...prev, must(parseSet(v))])
        .default([]),
    )
    .addOption(
      new Option('--fill <name=80%>', 'entries inserted after creation, as a share of max_entries or a count (repeatable; * for every map)')
        .argParser((v: string, prev: FillOverride[]) => [...prev, must(parseFill(v))])
        .default([]),
    )
    .addOption(new Option('--cpus <n[,n…]>', 'possible CPUs, or a list to compare (default: this machine\'s)').argParser(cpusList))
    .addOption(new Option('--kernel <version>', 'what-if: another kernel version (default: this kernel)'))
    .addOption(new Option('--page-size <bytes>', 'page size: 4096, 16384 or 65536 (default: this machine\'s)').argParser(pageSizeArg))
    .addOption(new Option('--arch <arch>', `architecture: its smallest kmalloc size: ${ARCHES.join(' or ')} (default: this machine's)`).argParser(archArg))
    .addOption(new Option('--regime <regime>', 'accounting regime (default: the kernel\'s)').choices(['memcg', 'memlock', 'none']))
    .addOption(btfOption())
    .addOption(new Option('--limit <size>', 'a memory cgroup limit (memcg) or RLIMIT_MEMLOCK (memlock) to fit under'))
    .addOption(jsonOption())
    .action(async (files: string[], opts: EstimateOptions) => {
      const limit = opts.limit === undefined ? undefined : limitArg(String(opts.limit));
      // Objects first: a bad file is the user's mistake, whatever the machine.
      const loader = loaderByName(opts.loader);
      stdinOnce([...files, opts.fromBpftool], 'one object or for --from-bpftool');
      const objects: { path: string; obj: BpfObject }[] = [];
      for (const path of files) objects.push({ path: inputName(path), obj: await readBpfObjectFile(path, loader.generation, opts.specialFiles === true, '--special-files reads FIFOs and pipes') });
      const host = hostProfile({ kernel: opts.kernel, btf: opts.btf, cpus: opts.cpus?.length === 1 ? opts.cpus[0] : undefined, cpuCounts: opts.cpus, pageSize: opts.pageSize, arch: opts.arch, regime: opts.regime });
      const profiles = (opts.cpus ?? [host.profile.possibleCpus]).map((n) => withCpus(host, n).profile);
      const first = profiles[0];
      if (!first) throw new BpfmemError('usage', '--cpus: give at least one count');
      if (opts.fromBpftool === undefined && (opts.dumpKernel !== undefined || opts.dumpCpus !== undefined)) {
        throw new BpfmemError('usage', '--dump-kernel and --dump-cpus describe a bpftool dump: give them with --from-bpftool FILE');
      }
      const dump = opts.fromBpftool === undefined ? undefined : await mapsOfDump(opts.fromBpftool, opts, first);
      const kernelBtf = objects.some(({ obj }) => hasStructOps(obj)) ? await host.kernelBtf() : undefined;
      const result = runEstimate({
        objects,
        maps: opts.map,
        progs: opts.prog,
        ...(dump && { dump: dump.maps }),
        sets: opts.set,
        fills: opts.fill,
        profiles,
        kernelBtf,
        limit,
        loader,
      });
      // On this host (no --kernel what-if), features of the objects the kernel refuses even to root.
      const refusals = opts.kernel === undefined ? await hostRefusals(objects.map((o) => o.obj)) : [];
      const { runs, plans, progs } = result;
      if (opts.json) {
        const out = estimateResultJson(result, host.basis);
        ctx.io.stdout(json({ ...out, ...(dump && { dump: dump.json }), ...(refusals.length && { refused_here: refusals.map(refusalJson) }) }));
      } else {
        const st = styleFor(ctx.io);
        // The first line says what machine this describes; wrapped as the lines under it are.
        const lines = [wrap(host.basis.line, 80, '', '  '), ...(objects.length ? [wrap(`loader: ${result.loader.description}`, 80, '', '  ')] : []), ...(dump ? [wrap(dump.line, 80, '', '  ')] : [])];
        const basis = lines.join('\n');
        // On a terminal, the tables fit its width (docs/cli.md); into a pipe, rows are whole.
        const maxWidth = ctx.io.terminalSize?.()?.columns;
        ctx.io.stdout(
          runs.length === 1 && runs[0]
            ? estimateText(runs[0], plans[0] ?? [], progs, limit, st, basis, result.progsMax[0] ?? [], maxWidth)
            : compareText(runs, plans, progs, limit, st, basis, maxWidth),
        );
        for (const r of refusals) ctx.io.stdout(`${st.bad(`${r.probe.what}: refused by this kernel`)}: ${r.uses.join(', ')} cannot be created here (${r.probe.detail})\n`);
      }
      // The kernel would refuse one of them, or it does not fit: say so in the status too.
      if (result.failed) ctx.exit(1);
    });
}

/** A feature the objects use that this kernel refuses, and what uses it. */
interface HostRefusal {
  readonly probe: FeatureProbe;
  /** `map arena`, `program on_open`. */
  readonly uses: readonly string[];
}

/**
 * What of the objects this kernel refuses even to root (arena maps; fentry, fexit and LSM
 * programs), each feature probed once (src/live/probe.ts probeFeatures). Probes nothing when the
 * objects use none of them.
 */
async function hostRefusals(objs: readonly BpfObject[]): Promise<HostRefusal[]> {
  const uses = new Map<BpfFeature, string[]>();
  const add = (f: BpfFeature, what: string): void => {
    uses.set(f, [...(uses.get(f) ?? []), what]);
  };
  for (const obj of objs) {
    for (const m of obj.maps) if (m.autocreate && m.type === MAP_TYPES.arena.id) add('arena', `map ${m.symbol}`);
    for (const p of obj.progs) {
      const f = featureOfSection(p.section);
      if (f) add(f, `program ${p.name}`);
    }
  }
  if (uses.size === 0) return [];
  // The probes (and the bpf() they need) load only for objects that use such features.
  const { probeFeatures } = await import('../live/probe.js');
  const probes = await probeFeatures([...uses.keys()]);
  return probes.filter((p) => p.state === 'refused').map((probe) => ({ probe, uses: uses.get(probe.feature) ?? [] }));
}

const refusalJson = (r: HostRefusal): Record<string, unknown> => ({ feature: r.probe.feature, errno: r.probe.errno ?? null, detail: r.probe.detail, uses: r.uses });

function must<T>(r: Result<T>): T {
  return unwrap(r, (e) => new BpfmemError('usage', e));
}

/** A bpftool dump's maps, and the kernel and CPU count they were read as. */
interface DumpRead {
  readonly maps: PlannedMap[];
  /** `dump: FILE read as kernel …`, for the text output. */
  readonly line: string;
  readonly json: Record<string, unknown>;
}

/**
 * The maps of a bpftool dump. What a map holds is read from its memlock on the dump's host, which
 * a dump does not name: `--dump-kernel`, else the kernel its maps' memlock fits (this machine's
 * first, then the target's, then one of each kernel bpfmem knows); the CPU count likewise.
 */
async function mapsOfDump(path: string, opts: EstimateOptions, target: KernelProfile): Promise<DumpRead> {
  // The dump's reader (and its validation library) loads only for --from-bpftool.
  const { parseBpftoolMaps, readBpftoolFile } = await import('../inspect/bpftool.js');
  const name = inputName(path);
  const all = rawMapsOf(parseBpftoolMaps(await readBpftoolFile(path), name));
  // A map of a type bpfmem does not know (a newer kernel's) is left out and said, as `maps
  // --from-bpftool` lists it with no charge: the others are estimated.
  const raw: typeof all = [];
  const unknown: typeof all = [];
  for (const m of all) (specOf(m) === undefined ? unknown : raw).push(m);
  if (raw.length === 0 && unknown.length > 0) {
    const types = [...new Set(unknown.map((m) => m.typeName ?? String(m.type)))].slice(0, 5).join(', ');
    throw new BpfmemError('input', `${name}: ${unknown.length === 1 ? 'its one map is' : `all of its ${unknown.length} maps are`} of a type bpfmem does not know (${types})`);
  }
  const left = unknown.map((m) => `${m.name || `id${m.id}`} (${m.typeName ?? String(m.type)})`);
  const machine = hostProfile({ pageSize: opts.pageSize }).profile;
  let kernel: KernelProfile | undefined;
  if (opts.dumpKernel !== undefined) {
    const made = makeProfile({ version: opts.dumpKernel, cpus: machine.possibleCpus, pageSize: target.pageSize, arch: target.arch });
    if (!made.ok) throw new BpfmemError('usage', `--dump-kernel ${quote(opts.dumpKernel)}: ${made.error}`);
    kernel = made.value;
  }
  const read = readDumpAs(raw, name, { machine, kernel, also: target, cpus: opts.dumpCpus, options: { kernel: '--dump-kernel', cpus: '--dump-cpus' } });
  if (!read.ok) throw new BpfmemError('usage', read.error);
  const { profile, kernelBasis, cpusBasis, line } = read.value;
  const leftOut = left.length ? `; left out, of a type bpfmem does not know: ${left.slice(0, 5).join(', ')}${left.length > 5 ? `, +${left.length - 5}` : ''}` : '';
  return {
    maps: dumpMaps(raw, name, profile),
    line: `dump: ${line}${leftOut}`,
    json: {
      source: name,
      kernel: profile.release,
      cpus: profile.possibleCpus,
      kernel_basis: kernelBasis,
      cpus_basis: cpusBasis,
      unknown_types: unknown.map((m) => ({ id: m.id, name: m.name, type: m.typeName ?? String(m.type) })),
    },
  };
}

function fitText(f: Fit): string {
  const what = f.regime === 'memcg' ? 'memory cgroup limit' : f.regime === 'memlock' ? 'RLIMIT_MEMLOCK' : 'limit';
  if (f.regime === 'none') return `${what} ${formatBytes(f.limit)}: regime none charges no BPF memory to a cgroup`;
  return f.fits
    ? `${what} ${formatBytes(f.limit)}: fits, ${formatBytes(f.headroom)} left`
    : `${what} ${formatBytes(f.limit)}: does not fit, needs ${formatBytes(-f.headroom)} more (${formatBytes(f.need)} in all)`;
}

/** Notes, numbered, for the tables' NOTE column and the lines under them (maps, then programs). */
function numberNotes(plans: readonly (readonly PlannedMap[])[], progs: readonly PlannedProg[]): { mark: (i: number) => string; progMark: (i: number) => string; lines: string[] } {
  const marks: string[] = [];
  const progMarks: string[] = [];
  const lines: string[] = [];
  const first = plans[0] ?? [];
  first.forEach((p, i) => {
    // Across profiles a note can differ (libbpf sets perf_event_array entries to the possible CPUs): each once.
    const notes = [...new Set(plans.flatMap((plan) => plan[i]?.notes ?? []))];
    if (notes.length === 0) return;
    lines.push(wrap(`${lines.length + 1}. ${p.name}: ${notes.join('; ')}`, 80, ' ', '    '));
    marks[i] = String(lines.length);
  });
  progs.forEach((g, i) => {
    if (g.notes.length === 0) return;
    lines.push(wrap(`${lines.length + 1}. ${g.name}: ${g.notes.join('; ')}`, 80, ' ', '    '));
    progMarks[i] = String(lines.length);
  });
  return { mark: (i) => marks[i] ?? '', progMark: (i) => progMarks[i] ?? '', lines };
}

/**
 * A map's name in the table: the kernel's, unless another map of the plan has the same 15 bytes
 * (`devmap_xmit_cnt` and `devmap_xmit_cnt_multi`): then its full name, so the rows differ.
 */
function shownName(plan: readonly PlannedMap[], i: number, name: string): string {
  const p = plan[i];
  if (!p?.cut) return name;
  return plan.some((q, j) => j !== i && q.name === p.name) ? (p.aliases[0] ?? name) : name;
}

/**
 * Whether the maps and programs come from more than one place (two objects, an object and
 * `--map`): then every row says which (OBJECT), since two objects may hold maps of one name.
 */
function severalOrigins(plan: readonly PlannedMap[], progs: readonly PlannedProg[]): boolean {
  // `--map` and `--prog` are both the command line: one origin.
  const origin = (o: string): string => (o === '--map' || o === '--prog' ? '--' : o);
  return new Set([...plan.map((p) => origin(p.origin)), ...progs.map((g) => origin(g.origin))]).size > 1;
}

function estimateText(
  e: Estimate,
  plan: readonly PlannedMap[],
  progs: readonly PlannedProg[],
  limit: number | undefined,
  st: Style,
  basisLine: string,
  progsMax: readonly ProgEstimate[] = [],
  maxWidth?: number,
): string {
  /** A program's memlock, or the range the verifier's rewrites may take it over. */
  const progMemlock = (p: ProgEstimate, i: number): string => {
    const max = progsMax[i];
    return max?.ok && max.memlock !== p.memlock ? `${cellBytes(p.memlock)}–${cellBytes(max.memlock)}` : cellBytes(p.memlock);
  };
  /** A program's charge, a range where its memlock is one. */
  const progCharged = (p: ProgEstimate, i: number): string => {
    const max = progsMax[i];
    return max?.ok && max.charged !== p.charged ? `${cellBytes(p.charged)}–${cellBytes(max.charged)}` : cellBytes(p.charged);
  };
  const rows = e.maps;
  const notes = numberNotes([plan], progs);
  const several = severalOrigins(plan, progs);
  let out = `${basisLine}\n\n`;
  // The maps' own total under their table; with programs too, the whole total after theirs.
  const mapsTotal = { memlock: 0, charged: 0, uncharged: 0 };
  for (const m of rows) {
    if (!m.ok) continue;
    mapsTotal.memlock += m.memlock;
    mapsTotal.charged += m.charged;
    mapsTotal.uncharged += m.uncharged;
  }
  const totalLabel = e.progs.length ? 'maps' : 'total';
  type Row = { m: MapEstimate; i: number } | undefined;
  if (rows.length) out += table<Row>(
    [...rows.map((m, i) => ({ m, i })), undefined],
    [
      ...(several ? [{ header: 'OBJECT', value: (r: Row) => (r ? (plan[r.i]?.origin ?? '') : ''), elide: 'middle' as const }] : []),
      { header: 'MAP', value: (r) => (r ? shownName(plan, r.i, r.m.name) : totalLabel), elide: 'end' },
      { header: 'TYPE', value: (r) => r?.m.type ?? '' },
      { header: 'MAX', value: (r) => (r?.m.ok ? String(r.m.maxEntries) : ''), align: 'right' },
      { header: 'MEMLOCK', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.memlock) : r.m.errno) : cellBytes(mapsTotal.memlock)), align: 'right' },
      { header: 'CHARGED', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.charged) : '') : cellBytes(mapsTotal.charged)), align: 'right' },
      { header: 'UNCHARGED', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.uncharged) : '') : cellBytes(mapsTotal.uncharged)), align: 'right' },
      ...(notes.lines.length ? [{ header: 'NOTE', value: (r: Row) => (r ? notes.mark(r.i) : '') }] : []),
    ],
    { maxWidth },
  );
  if (e.progs.length) {
    const named = progs.some((g) => g.name !== '');
    type ProgRow = { readonly p: (typeof e.progs)[number]; readonly i: number };
    out +=
      (rows.length ? '\n' : '') +
      table<ProgRow>(
        e.progs.map((p, i) => ({ p, i })),
        [
          ...(several ? [{ header: 'OBJECT', value: (r: ProgRow) => progs[r.i]?.origin ?? '', elide: 'middle' as const }] : []),
          ...(named ? [{ header: 'PROGRAM', value: (r: ProgRow) => progs[r.i]?.name || '--prog', elide: 'end' as const }] : []),
          { header: named ? 'INSNS' : 'PROGRAM INSNS', value: (r) => String(r.p.insns), align: 'right' },
          { header: 'MEMLOCK', value: (r) => (r.p.ok ? progMemlock(r.p, r.i) : (r.p.errno ?? '')), align: 'right' },
          { header: 'CHARGED', value: (r) => (r.p.ok ? progCharged(r.p, r.i) : ''), align: 'right' },
          ...(named && progs.some((_g, i) => notes.progMark(i) !== '') ? [{ header: 'NOTE', value: (r: ProgRow) => notes.progMark(r.i) }] : []),
        ],
        { maxWidth },
      );
    if (rows.length) out += `\ntotal, maps and programs: ${formatBytes(e.total.memlock)} memlock, ${formatBytes(e.total.charged)} charged, ${formatBytes(e.total.uncharged)} uncharged\n`;
  }
  if (progs.some((g) => g.name !== '')) {
    out += st.dim(
      `\n${wrap("INSNS: what libbpf loads, the program's own instructions and the .text subprograms it calls, before the verifier. MEMLOCK is whole pages of them (kernel/bpf/core.c: bpf_prog_alloc_no_stats); a range where the verifier's rewrites of its helper calls may cross a page. CHARGED adds struct bpf_prog_aux and the per-CPU stats, not the JIT image.", 80, '')}\n`,
    );
  }
  if (notes.lines.length) out += `\n${st.dim(notes.lines.join('\n'))}\n`;
  // A map's name is the object's to choose (an ESC, a newline): escaped, as in the table.
  for (const m of rows) if (!m.ok) out += `${st.bad(`${escapeText(m.name)}: ${m.errno}`)}: ${m.reason}\n`;
  e.progs.forEach((p, i) => {
    const name = progs[i]?.name;
    const what = name ? `program ${name}` : `program of ${p.insns} insns`;
    if (!p.ok) out += `${st.bad(`${what}: ${p.errno ?? ''}`)}: ${p.reason ?? ''}\n`;
  });
  // Worth a word when it is a real share of the map, not the few bytes of a per-CPU counter.
  if (e.profile.regime === 'memcg' && e.total.uncharged > 0.1 * (e.total.charged + e.total.uncharged)) {
    out += st.dim(
      `\n${wrap(`UNCHARGED: ${formatBytes(e.total.uncharged)} that no memory cgroup pays for; it escapes memory.max:`, 80, '')}\n` +
        unchargedReasons(unchargedOf(e), e.profile)
          .map((line) => `${wrap(line, 80, '  ', '    ')}\n`)
          .join(''),
    );
  }
  if (limit !== undefined) {
    const f = fit(e, limit);
    out += `\n${f.fits || f.regime === 'none' ? st.ok(fitText(f)) : st.bad(fitText(f))}\n`;
  }
  return out;
}

/** `--cpus 2,64,192`: each map's memory (charged + uncharged) per CPU count, side by side. */
function compareText(
  runs: readonly Estimate[],
  plans: readonly (readonly PlannedMap[])[],
  progs: readonly PlannedProg[],
  limit: number | undefined,
  st: Style,
  basisLine: string,
  maxWidth?: number,
): string {
  const first = runs[0];
  if (!first) return '';
  const notes = numberNotes(plans, []);
  const p = first.profile;
  let out = `${basisLine}\nmemory by possible CPUs, charged + uncharged:\n\n`;
  // Maps, then programs (their charge: programs have no per-CPU part but the stats), then the total.
  type Row = { readonly prog: boolean; readonly i: number } | undefined;
  const cell = (e: Estimate, r: Row): string => {
    if (!r) return cellBytes(e.total.charged + e.total.uncharged);
    if (r.prog) {
      const g = e.progs[r.i];
      return !g ? '' : g.ok ? cellBytes(g.charged) : (g.errno ?? '');
    }
    const m = e.maps[r.i];
    return !m ? '' : m.ok ? cellBytes(m.charged + m.uncharged) : m.errno;
  };
  const nameOf = (r: Row): string => {
    if (!r) return 'total';
    if (!r.prog) return first.maps[r.i]?.name ?? '';
    return progs[r.i]?.name || `--prog ${first.progs[r.i]?.insns ?? ''}`;
  };
  const plan = plans[0] ?? [];
  const originOf = (r: Row): string => (!r ? '' : r.prog ? (progs[r.i]?.origin ?? '') : (plan[r.i]?.origin ?? ''));
  out += table<Row>(
    [...first.maps.map((_m, i) => ({ prog: false, i })), ...first.progs.map((_p, i) => ({ prog: true, i })), undefined],
    [
      ...(severalOrigins(plan, progs) ? [{ header: 'OBJECT', value: originOf, elide: 'middle' as const }] : []),
      { header: 'MAP', value: nameOf, elide: 'end' },
      { header: 'TYPE', value: (r) => (r ? (r.prog ? 'program' : (first.maps[r.i]?.type ?? '')) : '') },
      ...runs.map((e) => ({ header: `${e.profile.possibleCpus} CPUS`, value: (r: Row) => cell(e, r), align: 'right' as const })),
      ...(notes.lines.length ? [{ header: 'NOTE', value: (r: Row) => (r && !r.prog ? notes.mark(r.i) : '') }] : []),
    ],
    { maxWidth },
  );
  if (notes.lines.length) out += `\n${st.dim(notes.lines.join('\n'))}\n`;
  const last = runs[runs.length - 1];
  if (last && last.profile.regime === 'memcg' && last.total.uncharged > 0.1 * (last.total.charged + last.total.uncharged)) {
    out += st.dim(
      `\n${wrap(`Of ${formatBytes(last.total.charged + last.total.uncharged)} on ${last.profile.possibleCpus} CPUs, ${formatBytes(last.total.uncharged)} is memory made at creation that no memory cgroup is charged for on ${formatVersion(p.version)}: it escapes memory.max, and a limit counts only the rest.`, 80, '')}\n` +
        unchargedReasons(unchargedOf(last), last.profile)
          .map((line) => `${wrap(line, 80, '  ', '    ')}\n`)
          .join(''),
    );
  }
  if (limit !== undefined) {
    out += '\n';
    for (const e of runs) {
      const f = fit(e, limit);
      out += `${String(e.profile.possibleCpus).padStart(4)} CPUs: ${f.fits || f.regime === 'none' ? st.ok(fitText(f)) : st.bad(fitText(f))}\n`;
    }
  }
  return out;
}
