import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { profileWithBtf } from '../vocab/btf-sizes.js';
import { parseBpfObject, type BpfObject } from '../elf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import { estimateMaps, type Estimate, type MapEstimate } from '../estimate/maps.js';
import { objectMaps, objectProgs, type PlannedProg } from '../estimate/object-plan.js';
import { applyPlan, namedSpecs, parseFill, parseSet, type FillOverride, type PlannedMap, type SetOverride } from '../estimate/plan.js';
import { parseMapSpec } from '../estimate/spec.js';
import { inferCpus, rawMapsOf } from '../inspect/from-bpftool.js';
import { elementsFromMemlock, specOf } from '../inspect/inventory.js';
import { memlockDependsOnContents } from '../model/maps/memlock.js';
import { DEFAULT_RELEASE, makeProfile, type KernelProfile, type Regime } from '../model/profile.js';
import { formatBytes, parseSize } from '../vocab/units.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { readBtfFile } from '../sys/bpf/vmlinux.js';
import { readPageSize, readPossibleCpus } from '../sys/proc/host.js';
import { btfOption } from './btf-option.js';
import { styleFor, type Style } from './io.js';
import { jsonOption, type CommandContext } from './context.js';
import { cellBytes, json, profileJson, profileLine } from './render/common.js';
import { wrap } from './render/common.js';
import { table } from './table.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = parseSize(value);
    if (n === undefined || n < 1 || !Number.isFinite(n)) {
      throw new BpfmemError('usage', `${flag} ${JSON.stringify(value)}: expected a positive whole number`);
    }
    return n;
  };
}

/** `--cpus 2` or `--cpus 2,64,192`: the possible-CPU counts to estimate for. */
function cpusList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  const out = parts.map((p) => {
    if (!/^[1-9][0-9]{0,3}$/.test(p) || Number(p) > 8192) {
      throw new BpfmemError('usage', `--cpus ${JSON.stringify(value)}: expected possible CPU counts from 1 to 8192, like 2 or 2,64,192`);
    }
    return Number(p);
  });
  if (out.length > 16) throw new BpfmemError('usage', `--cpus ${JSON.stringify(value)}: at most 16 counts to compare`);
  return [...new Set(out)];
}

function limitArg(value: string): number {
  const n = parseSize(value);
  if (n === undefined || n < 1 || !Number.isFinite(n)) throw new BpfmemError('usage', `--limit ${JSON.stringify(value)}: expected a size like 512Mi or 2G`);
  return n;
}

interface EstimateOptions {
  btf?: string;
  map: string[];
  prog: number[];
  fromBpftool?: string;
  set: SetOverride[];
  fill: FillOverride[];
  cpus?: number[];
  kernel: string;
  pageSize?: number;
  regime?: Regime;
  limit?: number;
  json?: boolean;
}

export function estimateCommand(ctx: CommandContext): Command {
  return new Command('estimate')
    .description('what a BPF object or maps cost: fdinfo memlock and the memcg charge, for any kernel and CPU count')
    .argument('[object.o...]', 'compiled BPF objects (clang -target bpf): every map libbpf creates from them, and their programs')
    .addOption(
      new Option('--map <spec>', 'a map: type=hash,key=4,value=8,max_entries=1000[,flags=no_prealloc+numa][,map_extra=N][,name=x] (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option('--prog <insns>', 'a program of this many instructions (after the verifier; repeatable)')
        .argParser((v: string, prev: number[]) => [...prev, positiveInt('--prog')(v)])
        .default([]),
    )
    .addOption(new Option('--from-bpftool <file>', 'the maps of a `bpftool -j map show` dump, re-estimated for this host profile'))
    .addOption(
      new Option('--set <name.max_entries=N>', 'set what the loader decides (repeatable; * for every map)')
        .argParser((v: string, prev: SetOverride[]) => [...prev, must(parseSet(v))])
        .default([]),
    )
    .addOption(
      new Option('--fill <name=80%>', 'entries inserted after creation, as a share of max_entries or a count (repeatable; * for every map)')
        .argParser((v: string, prev: FillOverride[]) => [...prev, must(parseFill(v))])
        .default([]),
    )
    .addOption(new Option('--cpus <n[,n…]>', 'possible CPUs, or a list to compare (default: this machine\'s)').argParser(cpusList))
    .addOption(new Option('--kernel <version>', 'kernel version').default(DEFAULT_RELEASE))
    .addOption(new Option('--page-size <bytes>', 'page size (default: this machine\'s)').argParser(positiveInt('--page-size')))
    .addOption(new Option('--regime <regime>', 'accounting regime (default: the kernel\'s)').choices(['memcg', 'memlock', 'none']))
    .addOption(btfOption())
    .addOption(new Option('--limit <size>', 'a memory cgroup limit (memcg) or RLIMIT_MEMLOCK (memlock) to fit under'))
    .addOption(jsonOption())
    .action(async (files: string[], opts: EstimateOptions) => {
      const limit = opts.limit === undefined ? undefined : limitArg(String(opts.limit));
      const cpus = opts.cpus ?? [readPossibleCpus() ?? 2];
      const pageSize = opts.pageSize ?? readPageSize() ?? 4096;
      const kernelBtf = opts.btf === undefined ? undefined : await readBtfFile(opts.btf);
      const profiles = cpus.map((n) => {
        const p = makeProfile({ version: opts.kernel, cpus: n, pageSize, ...(opts.regime ? { regime: opts.regime } : {}) });
        if ('ok' in p) throw new BpfmemError('usage', p.reason);
        return kernelBtf ? profileWithBtf(p, kernelBtf) : p;
      });
      const first = profiles[0];
      if (!first) throw new BpfmemError('usage', '--cpus: give at least one count');
      const objects = files.map((f) => ({ path: f, obj: readBpfObjectFile(f) }));
      const fixed = [...mapsOfSpecs(opts.map), ...(opts.fromBpftool ? await mapsOfDump(opts.fromBpftool, first) : [])];
      // What libbpf settles at load (perf_event_array entries, ring buffer sizes) follows each profile.
      const plannedFor = (p: KernelProfile): PlannedMap[] => [...objects.flatMap(({ path, obj }) => objectMaps(obj, path, p, kernelBtf)), ...fixed];
      const progs: PlannedProg[] = [
        ...objects.flatMap(({ path, obj }) => objectProgs(obj, path)),
        ...opts.prog.map((insns) => ({ name: '', origin: '--prog', section: '', insns, notes: [] })),
      ];
      if (objects.length === 0 && fixed.length === 0 && progs.length === 0) {
        throw new BpfmemError('usage', 'estimate: give a BPF object (bpfmem estimate prog.bpf.o), --map SPEC (e.g. --map type=hash,key=4,value=8,max_entries=1000), --prog INSNS or --from-bpftool FILE');
      }
      const plans = profiles.map((p) => {
        const plan = applyPlan(plannedFor(p), opts.set, opts.fill);
        if (!plan.ok) throw new BpfmemError('usage', plan.message);
        return plan.value;
      });
      const runs = profiles.map((p, i) => estimateMaps(namedSpecs(plans[i] ?? []), p, progs.map((g) => g.insns)));
      const st = styleFor(ctx.io);
      if (opts.json) {
        const one = (e: Estimate, i: number): Record<string, unknown> => ({
          ...estimateJson(e, plans[i], progs),
          ...(limit !== undefined && { limit: limitJson(fit(e, limit)) }),
        });
        ctx.io.stdout(json(runs.length === 1 && runs[0] ? one(runs[0], 0) : { estimates: runs.map(one) }));
      } else {
        ctx.io.stdout(
          runs.length === 1 && runs[0] ? estimateText(runs[0], plans[0] ?? [], progs, limit, st) : compareText(runs, plans, progs, limit, st),
        );
      }
      // The kernel would refuse one of them, or it does not fit: say so in the status too.
      const refused = runs.some((e) => e.maps.some((m) => !m.ok) || e.progs.some((p) => !p.ok));
      const tooBig = limit !== undefined && runs.some((e) => !fit(e, limit).fits);
      if (refused || tooBig) ctx.exit(1);
    });
}

/** Largest object file read: far above any real BPF object (the kernel's own BTF is 6 MB). */
const OBJECT_LIMIT = 256 * 1024 * 1024;

/**
 * Reads and parses a compiled BPF object named on the command line. Anything wrong with it is
 * one line naming the file (`BpfmemError('input')`, exit 2): cannot read, too big, not an ELF
 * BPF object, or what libbpf would refuse in it.
 */
export function readBpfObjectFile(path: string): BpfObject {
  let bytes: Uint8Array;
  let fd: number;
  // Synchronous: the CLI reads one file and waits for it anyway, and node:fs/promises took
  // longer to load than a 100-map object takes to read (bench/estimate.ts).
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new BpfmemError('input', `${path}: cannot read (${errnoOf(error)})`, { cause: error });
  }
  try {
    const { size } = fstatSync(fd);
    if (size > OBJECT_LIMIT) throw new BpfmemError('input', `${path}: ${(size / 2 ** 20).toFixed(0)} MiB is more than the ${OBJECT_LIMIT / 2 ** 20} MiB bpfmem reads of an object`);
    bytes = new Uint8Array(readFileSync(fd));
  } catch (error) {
    if (error instanceof BpfmemError) throw error;
    throw new BpfmemError('input', `${path}: cannot read (${errnoOf(error)})`, { cause: error });
  } finally {
    closeSync(fd);
  }
  try {
    return parseBpfObject(bytes, path);
  } catch (error) {
    if (error instanceof BpfmemError) throw error;
    // The parser refuses what it cannot read with BpfmemError; anything else is still one line.
    throw new BpfmemError('input', `${path}: not a BPF object bpfmem can read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

const errnoOf = (error: unknown): string =>
  typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : error instanceof Error ? error.message : String(error);

function must<T>(r: { ok: true; value: T } | { ok: false; message: string }): T {
  if (!r.ok) throw new BpfmemError('usage', r.message);
  return r.value;
}

function mapsOfSpecs(texts: readonly string[]): PlannedMap[] {
  return texts.map((text, i) => {
    const parsed = parseMapSpec(text, `map${i}`);
    if (!parsed.ok) throw new BpfmemError('input', parsed.message);
    // Entries inserted are said in a note (the table has no column for them: it would pass 80 columns).
    const notes = parsed.elements > 0 ? [`${parsed.elements} entries (elements=)`] : [];
    return { name: parsed.name, aliases: [], origin: '--map', spec: parsed.spec, elements: parsed.elements, notes };
  });
}

/**
 * The maps of a bpftool dump: their layouts, and for maps whose memory follows their contents,
 * the entries their memlock shows, read under the dump's own CPU count (inferred from its
 * per-CPU maps where it has any, else the first profile's).
 */
async function mapsOfDump(path: string, profile: KernelProfile): Promise<PlannedMap[]> {
  // The dump's reader (and its validation library) loads only for --from-bpftool.
  const { parseBpftoolMaps, readBpftoolFile } = await import('../inspect/bpftool.js');
  const raw = rawMapsOf(parseBpftoolMaps(await readBpftoolFile(path), path));
  const cpus = inferCpus(raw, { version: profile.release, pageSize: profile.pageSize }) ?? profile.possibleCpus;
  const made = makeProfile({ version: profile.release, cpus, pageSize: profile.pageSize });
  const source = 'ok' in made ? profile : made;
  const out: PlannedMap[] = [];
  for (const m of raw) {
    const spec = specOf(m);
    if (!spec) throw new BpfmemError('input', `${path}: map ${m.id} (${m.name || 'no name'}) has a type bpfmem does not know: ${m.typeName ?? m.type}`);
    const elements = memlockDependsOnContents(spec.type, spec.flags) && m.memlock !== undefined ? elementsFromMemlock(spec, m.memlock, source) : 0;
    out.push({
      name: m.name || `id${m.id}`,
      aliases: [`id${m.id}`],
      origin: path,
      spec,
      elements,
      notes: elements > 0 ? [`${elements} entries, from its memlock on the dump's host (${cpus} CPUs)`] : [],
    });
  }
  return out;
}

/** Whether an estimate fits under a limit, in the regime's own terms. */
interface Fit {
  readonly limit: number;
  readonly regime: Regime;
  /** Bytes counted against the limit: charged (memcg) or memlock (memlock); 0 for none. */
  readonly need: number;
  readonly fits: boolean;
  readonly headroom: number;
}

function fit(e: Estimate, limit: number): Fit {
  const regime = e.profile.regime;
  const progs = e.progs.reduce((s, p) => s + (regime === 'memlock' ? p.memlock : p.charged), 0);
  const need = regime === 'memcg' ? e.total.charged + progs : regime === 'memlock' ? e.total.memlock + progs : 0;
  return { limit, regime, need, fits: need <= limit, headroom: limit - need };
}

const limitJson = (f: Fit): Record<string, unknown> => ({ bytes: f.limit, counted: f.regime === 'memcg' ? 'charged' : f.regime === 'memlock' ? 'memlock' : 'nothing', need: f.need, fits: f.fits, headroom: f.headroom });

function fitText(f: Fit): string {
  const what = f.regime === 'memcg' ? 'memory cgroup limit' : f.regime === 'memlock' ? 'RLIMIT_MEMLOCK' : 'limit';
  if (f.regime === 'none') return `${what} ${formatBytes(f.limit)}: nothing is charged in regime none`;
  return f.fits
    ? `${what} ${formatBytes(f.limit)}: fits, ${formatBytes(f.headroom)} left`
    : `${what} ${formatBytes(f.limit)}: does not fit, needs ${formatBytes(-f.headroom)} more (${formatBytes(f.need)} in all)`;
}

/**
 * `--json`: `{ profile, maps: [{ name, type, max_entries, elements, memlock, charged, uncharged,
 * origin, notes }], progs: [{ insns, memlock, charged[, name, section, origin, notes] }], total }`.
 */
export function estimateJson(e: Estimate, plan: readonly PlannedMap[] = [], progs: readonly PlannedProg[] = []): Record<string, unknown> {
  return {
    profile: profileJson(e.profile),
    maps: e.maps.map((m, i) => {
      const p = plan[i];
      const extra = p ? { origin: p.origin, ...(p.aliases.length ? { symbol: p.aliases[0] } : {}), notes: p.notes } : {};
      return m.ok
        ? { name: m.name, type: m.type, max_entries: m.maxEntries, elements: m.elements, memlock: m.memlock, charged: m.charged, uncharged: m.uncharged, ...extra }
        : { name: m.name, type: m.type, errno: m.errno, reason: m.reason, ...extra };
    }),
    progs: e.progs.map((p, i) => {
      const g = progs[i];
      const extra = g?.name ? { name: g.name, section: g.section, origin: g.origin, notes: g.notes } : {};
      return p.ok ? { insns: p.insns, memlock: p.memlock, charged: p.charged, ...extra } : { insns: p.insns, errno: p.errno, reason: p.reason, ...extra };
    }),
    total: e.total,
  };
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

function estimateText(e: Estimate, plan: readonly PlannedMap[], progs: readonly PlannedProg[], limit: number | undefined, st: Style): string {
  const rows = e.maps;
  const notes = numberNotes([plan], progs);
  let out = `${profileLine(e.profile)}\n\n`;
  type Row = { m: MapEstimate; i: number } | undefined;
  out += table<Row>(
    [...rows.map((m, i) => ({ m, i })), undefined],
    [
      { header: 'MAP', value: (r) => (r ? r.m.name : 'total') },
      { header: 'TYPE', value: (r) => r?.m.type ?? '' },
      { header: 'MAX', value: (r) => (r?.m.ok ? String(r.m.maxEntries) : ''), align: 'right' },
      { header: 'MEMLOCK', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.memlock) : r.m.errno) : cellBytes(e.total.memlock)), align: 'right' },
      { header: 'CHARGED', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.charged) : '') : cellBytes(e.total.charged)), align: 'right' },
      { header: 'UNCHARGED', value: (r) => (r ? (r.m.ok ? cellBytes(r.m.uncharged) : '') : cellBytes(e.total.uncharged)), align: 'right' },
      ...(notes.lines.length ? [{ header: 'NOTE', value: (r: Row) => (r ? notes.mark(r.i) : '') }] : []),
    ],
  );
  if (e.progs.length) {
    const named = progs.some((g) => g.name !== '');
    type ProgRow = { readonly p: (typeof e.progs)[number]; readonly i: number };
    out +=
      '\n' +
      table<ProgRow>(
        e.progs.map((p, i) => ({ p, i })),
        [
          ...(named ? [{ header: 'PROGRAM', value: (r: ProgRow) => progs[r.i]?.name || '--prog' }] : []),
          { header: named ? 'INSNS' : 'PROGRAM INSNS', value: (r) => String(r.p.insns), align: 'right' },
          { header: 'MEMLOCK', value: (r) => (r.p.ok ? cellBytes(r.p.memlock) : (r.p.errno ?? '')), align: 'right' },
          { header: 'CHARGED', value: (r) => (r.p.ok ? cellBytes(r.p.charged) : ''), align: 'right' },
          ...(named && progs.some((_g, i) => notes.progMark(i) !== '') ? [{ header: 'NOTE', value: (r: ProgRow) => notes.progMark(r.i) }] : []),
        ],
      );
  }
  if (progs.some((g) => g.name !== '')) {
    out += st.dim(
      `\n${wrap("INSNS: the program's own instructions in the object, before the verifier. MEMLOCK is whole pages of them (kernel/bpf/core.c: bpf_prog_alloc_no_stats), exact unless the verifier's rewrites cross a page; CHARGED adds struct bpf_prog_aux and the per-CPU stats, not the JIT image.", 80, '')}\n`,
    );
  }
  if (notes.lines.length) out += `\n${st.dim(notes.lines.join('\n'))}\n`;
  for (const m of rows) if (!m.ok) out += `${st.bad(`${m.name}: ${m.errno}`)}: ${m.reason}\n`;
  e.progs.forEach((p, i) => {
    const name = progs[i]?.name;
    const what = name ? `program ${name}` : `program of ${p.insns} insns`;
    if (!p.ok) out += `${st.bad(`${what}: ${p.errno ?? ''}`)}: ${p.reason ?? ''}\n`;
  });
  // Worth a word when it is a real share of the map, not the few bytes of a per-CPU counter.
  if (e.profile.regime === 'memcg' && e.total.uncharged > 0.1 * (e.total.charged + e.total.uncharged)) {
    out += st.dim(
      `\nUNCHARGED: ${formatBytes(e.total.uncharged)} allocated at creation are charged to no memory cgroup:\n` +
        `per-CPU memory made inside map_alloc() escapes memory.max on ${formatVersion(e.profile.version)} (charged to the creator on 5.11–5.19).\n`,
    );
  }
  if (limit !== undefined) {
    const f = fit(e, limit);
    out += `\n${f.fits || f.regime === 'none' ? st.ok(fitText(f)) : st.bad(fitText(f))}\n`;
  }
  return out;
}

/** `--cpus 2,64,192`: each map's memory (charged + uncharged) per CPU count, side by side. */
function compareText(runs: readonly Estimate[], plans: readonly (readonly PlannedMap[])[], progs: readonly PlannedProg[], limit: number | undefined, st: Style): string {
  const first = runs[0];
  if (!first) return '';
  const notes = numberNotes(plans, []);
  const p = first.profile;
  let out = `kernel ${formatVersion(p.version)}, ${formatBytes(p.pageSize).replace('.0 ', ' ')} pages, cgroup v${p.cgroupVersion}, regime ${p.regime}\nmemory by possible CPUs, charged + uncharged:\n\n`;
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
  out += table<Row>(
    [...first.maps.map((_m, i) => ({ prog: false, i })), ...first.progs.map((_p, i) => ({ prog: true, i })), undefined],
    [
      { header: 'MAP', value: nameOf },
      { header: 'TYPE', value: (r) => (r ? (r.prog ? 'program' : (first.maps[r.i]?.type ?? '')) : '') },
      ...runs.map((e) => ({ header: `${e.profile.possibleCpus} CPUS`, value: (r: Row) => cell(e, r), align: 'right' as const })),
      ...(notes.lines.length ? [{ header: 'NOTE', value: (r: Row) => (r && !r.prog ? notes.mark(r.i) : '') }] : []),
    ],
  );
  if (notes.lines.length) out += `\n${st.dim(notes.lines.join('\n'))}\n`;
  const last = runs[runs.length - 1];
  if (last && last.profile.regime === 'memcg' && last.total.uncharged > 0.1 * (last.total.charged + last.total.uncharged)) {
    out += st.dim(
      `\n${wrap(`Of ${formatBytes(last.total.charged + last.total.uncharged)} on ${last.profile.possibleCpus} CPUs, ${formatBytes(last.total.uncharged)} is per-CPU memory made at creation that no memory cgroup is charged for on ${formatVersion(p.version)}: it escapes memory.max, and a limit counts only the rest.`, 80, '')}\n`,
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
