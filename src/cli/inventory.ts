import { Command, Option } from 'commander';
import { BpfmemError } from '../vocab/errors.js';
import type { InventoryInput } from '../vocab/inventory.js';
import { collectCgroupsOnly, Collector, NEEDS_ROOT, type CollectOptions } from '../live/collect.js';
import { inputFromBpftool, rawMapsOf, readDumpAs } from '../inspect/from-bpftool.js';
import { buildInventory, InventoryBuilder, type Inventory } from '../inspect/inventory.js';
import { filterInventory, typeFilterProblem, MAP_SORT_KEYS, PROG_SORT_KEYS, sortMaps, sortProgs, type Filter, type MapSortKey, type ProgSortKey } from '../inspect/query.js';
import { needsPins, summarize } from '../inspect/summary.js';
import { MAP_TYPE_NAMES } from '../vocab/maptypes.js';
import { hostProfile } from '../live/host-profile.js';
import { quote } from '../vocab/fields.js';
import { formatDuration } from '../vocab/duration.js';
import { PROG_TYPES } from '../vocab/progtypes.js';
import { redrawsInPlace, styleFor } from './io.js';
import { inputName } from '../sys/file/index.js';
import { readStatus } from '../sys/proc/index.js';
import { durationArg, jsonOption, type CommandContext } from './context.js';
import { json } from './render/common.js';
import { cgroupsText, cgroupsToShow, listView, mapsText, progsText, summaryText, topScreen } from './render/inventory.js';
import { cgroupsJson, progsJson, summaryJson, writeMapsJson } from '../inspect/json.js';

/**
 * `bpfmem maps`, `progs`, `cgroups`, `top` and the summary of `bpfmem` alone: this machine's
 * BPF objects and who pays for them (src/inspect/).
 */

/** Reads the machine once and assembles the inventory. */
async function inventoryOf(options: CollectOptions, cgroup?: string): Promise<{ inv: Inventory; regimeReason: string }> {
  const c = await Collector.open(options);
  try {
    // `--cgroup /typo` is a cgroup that does not exist, not a cgroup without maps.
    if (cgroup !== undefined && (await c.hasCgroup(cgroup)) === false) {
      throw new BpfmemError('system', `--cgroup ${quote(cgroup)}: no such memory cgroup on this machine`);
    }
    return { inv: buildInventory(await c.collect(options)), regimeReason: c.regimeReason };
  } finally {
    c.close();
  }
}

interface DumpOptions {
  fromBpftool?: string;
  kernel?: string;
  cpus?: number;
}

/**
 * The inventory of a bpftool dump, read as kernel `--kernel` (default: the one its maps' memlock
 * fits, this machine's first) with `--cpus` CPUs (default: what its maps' memlock says, else this
 * machine's).
 */
async function inventoryOfDump(o: DumpOptions & { fromBpftool: string }, kind: 'maps' | 'progs'): Promise<Inventory> {
  // Loaded only for a dump: its parser and valibot are 2–3 ms of every `bpfmem maps` otherwise.
  const { parseBpftoolMaps, parseBpftoolProgs, readBpftoolFile } = await import('../inspect/bpftool.js');
  const bytes = await readBpftoolFile(o.fromBpftool);
  const name = inputName(o.fromBpftool);
  const maps = kind === 'maps' ? parseBpftoolMaps(bytes, name) : [];
  const progs = kind === 'progs' ? parseBpftoolProgs(bytes, name) : [];
  // The dump's kernel: --kernel, else the one its maps' memlock fits, this machine's first.
  const machine = hostProfile({ kernel: o.kernel });
  const read = readDumpAs(rawMapsOf(maps), name, {
    machine: machine.profile,
    kernel: o.kernel === undefined ? undefined : machine.profile,
    cpus: o.cpus,
    options: { kernel: '--kernel', cpus: '--cpus' },
  });
  if (!read.ok) throw new BpfmemError('usage', read.error);
  const { profile, kernelBasis, cpusBasis } = read.value;
  // A program's memlock is the dump's own: the kernel and CPU count it is read as change nothing.
  const line = kind === 'progs' ? `${name} (each program's memlock as the dump gives it)` : read.value.line;
  const dump = { source: name, kernel: profile.release, cpus: profile.possibleCpus, kernelBasis, cpusBasis };
  return buildInventory({ ...inputFromBpftool(maps, progs, profile, name), source: line, dump });
}

const dumpOptions = (cmd: Command, what: string): Command =>
  cmd
    .addOption(new Option('--from-bpftool <file>', `read \`bpftool -j ${what} show\` output instead of this machine (- for standard input)`))
    .addOption(
      new Option(
        '--kernel <version>',
        what === 'map'
          ? "with --from-bpftool: the kernel the dump came from (default: the one its maps' memlock fits, this machine's first)"
          : "with --from-bpftool: the kernel the dump came from, for the JSON's kernel (a program's memlock is the dump's own; default: this machine's)",
      ),
    )
    .addOption(
      new Option(
        '--cpus <n>',
        what === 'map' ? "with --from-bpftool: its possible CPUs (default: what its maps' memlock says, else this machine's)" : "with --from-bpftool: its possible CPUs, for the JSON's kernel (default: this machine's)",
      ).argParser(cpusArg),
    );

function cpusArg(value: string): number {
  if (!/^[1-9][0-9]{0,3}$/.test(value) || Number(value) > 8192) throw new BpfmemError('usage', `--cpus ${quote(value)}: expected a number of CPUs from 1 to 8192`);
  return Number(value);
}

/**
 * The inventory a listing command shows: this machine, or a dump. It reads the objects it lists
 * (`maps` no programs, `progs` no maps), and no memory cgroup counters. Pins are looked for only
 * when shown (`--pins`, `--wide`): opening every pinned object took 50 µs a pin here, seconds for
 * a node with 100,000 pinned maps, where `bpftool map show` looks for none without `-f`.
 */
async function listedInventory(o: DumpOptions & { pins?: boolean; wide?: boolean; cgroup?: string; pid?: number }, kind: 'maps' | 'progs'): Promise<Inventory> {
  const { fromBpftool } = o;
  if (fromBpftool === undefined) {
    if (o.kernel !== undefined || o.cpus !== undefined) throw new BpfmemError('usage', '--kernel and --cpus describe a dump: give them with --from-bpftool FILE');
    // `--pid 4000000` is a process that does not exist, not one that holds nothing (as --cgroup).
    if (o.pid !== undefined && (await readStatus(o.pid)) === undefined) throw new BpfmemError('system', `--pid ${o.pid}: no such process on this machine`);
    return (await inventoryOf({ maps: kind === 'maps', progs: kind === 'progs', cgroups: false, pins: o.pins === true || o.wide === true }, o.cgroup)).inv;
  }
  // bpftool's output names no memory cgroup: a filter on one would match nothing, silently.
  if (o.cgroup !== undefined) throw new BpfmemError('usage', '--cgroup: a bpftool dump names no memory cgroups; filter this machine (without --from-bpftool), or by --pid or --type');
  const inv = await inventoryOfDump({ ...o, fromBpftool }, kind);
  // Likewise a dump with no `pids` anywhere (a bpftool built without them, or nothing held).
  if (o.pid !== undefined && !inv.maps.some((m) => m.holders.length > 0) && !inv.progs.some((p) => p.holders.length > 0)) {
    throw new BpfmemError('usage', `--pid: ${inputName(fromBpftool)} lists no holders (bpftool gives "pids" where its build can read them); filter by --type`);
  }
  return inv;
}

function pidArg(value: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(value)) throw new BpfmemError('usage', `--pid ${quote(value)}: expected a process id (a positive whole number)`);
  return Number(value);
}

function cgroupArg(value: string): string {
  if (!value.startsWith('/') || value.includes('\0') || value.split('/').some((c) => c === '..' || c === '.')) {
    throw new BpfmemError('usage', `--cgroup ${quote(value)}: expected a cgroup path from the hierarchy's root, like /system.slice or /kubepods`);
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

function typeArg(names: readonly string[], what: string) {
  return (value: string): string => {
    const problem = typeFilterProblem(value, names, what);
    if (problem !== undefined) throw new BpfmemError('usage', `--type ${quote(value)}: ${problem}`);
    return value;
  };
}

function sortOption(keys: readonly string[]): Option {
  return new Option('--sort <key>', 'order of the rows (numbers largest first)').choices(keys).default('id');
}

const cgroupOption = (help: string): Option => new Option('--cgroup <path>', help).argParser(cgroupArg);
const pidOption = (help: string): Option => new Option('--pid <pid>', help).argParser(pidArg);

interface ListOptions extends DumpOptions {
  cgroup?: string;
  pid?: number;
  type?: string;
  sort: string;
  wide?: boolean;
  pins?: boolean;
  json?: boolean;
}

const filterOf = (o: ListOptions): Filter => ({
  ...(o.cgroup !== undefined && { cgroup: o.cgroup }),
  ...(o.pid !== undefined && { pid: o.pid }),
  ...(o.type !== undefined && { type: o.type }),
});

export function mapsCommand(ctx: CommandContext): Command {
  return dumpOptions(new Command('maps'), 'map')
    .description('every BPF map: its memory, the memory cgroup charged for it, holders, pins')
    .addOption(cgroupOption('only maps charged to this memory cgroup or below it'))
    .addOption(pidOption('only maps this process holds an fd on'))
    .addOption(new Option('--type <type>', 'only maps of this type (bpftool\'s names: hash, percpu_array …)').argParser(typeArg(MAP_TYPE_NAMES, 'map')))
    .addOption(sortOption(MAP_SORT_KEYS))
    .option('--wide', 'also key and value sizes, max entries, flags, every holder and pinned paths')
    .option('--pins', 'look for pinned paths in every bpffs (as bpftool -f; --wide does too); else JSON says "pinned": null')
    .addOption(jsonOption())
    .action(async (opts: ListOptions) => {
      const inv = await listedInventory(opts, 'maps');
      const shown = filterInventory(inv, filterOf(opts));
      const maps = sortMaps(shown.maps, opts.sort as MapSortKey);
      if (opts.json) writeMapsJson(inv, maps, ctx.io.stdout);
      else ctx.io.stdout(mapsText(inv, maps, listView(opts), styleFor(ctx.io), ctx.io.terminalSize?.()?.columns));
    });
}

export function progsCommand(ctx: CommandContext): Command {
  const progTypes = Object.keys(PROG_TYPES);
  return dumpOptions(new Command('progs'), 'prog')
    .description('every BPF program: its memory, holders, pins')
    .addOption(cgroupOption('only programs held by a process in this memory cgroup or below it'))
    .addOption(pidOption('only programs this process holds an fd on'))
    .addOption(new Option('--type <type>', 'only programs of this type (bpftool\'s names: xdp, kprobe …)').argParser(typeArg(progTypes, 'program')))
    .addOption(sortOption(PROG_SORT_KEYS))
    .option('--wide', 'also tags, every holder and pinned paths')
    .option('--pins', 'look for pinned paths in every bpffs (as bpftool -f; --wide does too); else JSON says "pinned": null')
    .addOption(jsonOption())
    .action(async (opts: ListOptions) => {
      const inv = await listedInventory(opts, 'progs');
      const shown = filterInventory(inv, filterOf(opts));
      const progs = sortProgs(shown.progs, opts.sort as ProgSortKey);
      ctx.io.stdout(opts.json ? progsJson(inv, progs) : progsText(inv, progs, listView(opts), styleFor(ctx.io), ctx.io.terminalSize?.()?.columns));
    });
}

/** What `bpfmem cgroups` says when it runs without root. */
export const CGROUPS_WITHOUT_ROOT = 'not root: reading BPF maps needs CAP_SYS_ADMIN and CAP_BPF (run it with sudo); the memory counters come from cgroupfs, which anyone may read';

export function cgroupsCommand(ctx: CommandContext): Command {
  return new Command('cgroups')
    .description('the memory cgroup tree: usage, limit, headroom, and the BPF memory charged to each')
    .option('--all', 'every memory cgroup, not only those with BPF memory at or below them')
    .addOption(jsonOption())
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      let inv: Inventory;
      let bpf = true;
      try {
        ({ inv } = await inventoryOf({ progs: false, holders: false, pins: false }));
      } catch (error) {
        // cgroupfs is world-readable; only the BPF objects need root. Without it, the counters.
        if (!(error instanceof BpfmemError && error.message === NEEDS_ROOT)) throw error;
        bpf = false;
        inv = buildInventory((await collectCgroupsOnly(CGROUPS_WITHOUT_ROOT)).input);
      }
      const cgroups = cgroupsToShow(inv.cgroups, (opts.all ?? false) || (opts.json ?? false) || !bpf);
      ctx.io.stdout(opts.json ? cgroupsJson(inv, cgroups, bpf) : cgroupsText(inv, cgroups, styleFor(ctx.io), { bpf, maxWidth: ctx.io.terminalSize?.()?.columns }));
    });
}

/**
 * The inventory a summary is made of (`bpfmem`, each frame of `top`): everything, pins only when
 * a warning needs them (summary.ts `needsPins`), since a walk of the bpf filesystems opens every
 * pin.
 */
async function summaryInventory(c: Collector, build: (input: InventoryInput) => Inventory): Promise<Inventory> {
  const input = await c.collect({ pins: false });
  const inv = build(input);
  return needsPins(inv) ? build(await c.withPins(input)) : inv;
}

/** The summary of `bpfmem` with no command. */
export async function summaryAction(ctx: CommandContext, opts: { json?: boolean }): Promise<void> {
  const c = await Collector.open();
  let inv: Inventory;
  try {
    inv = await summaryInventory(c, buildInventory);
  } finally {
    c.close();
  }
  const { regimeReason } = c;
  const s = summarize(inv);
  ctx.io.stdout(opts.json ? json(summaryJson(inv, s, { regimeReason })) : summaryText(inv, s, { regimeReason, width: ctx.io.terminalSize?.()?.columns }, styleFor(ctx.io)));
}

/** The most frames `-n` takes. */
const MAX_ITERATIONS = 9_999_999;

function countArg(value: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(value)) throw new BpfmemError('usage', `--iterations ${quote(value)}: expected a whole number of frames from 1 to ${MAX_ITERATIONS}`);
  return Number(value);
}

const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** Clear the screen and home the cursor (what `top` and `watch` do). */
const CLEAR = '\u001b[H\u001b[2J';

/**
 * The time line of a `top` frame. "Ctrl-C quits" only where it is worth saying: on a terminal
 * (`refreshing`), with frames still to come; not into a pipe, nor on the last frame of `-n`.
 */
export function topStamp(time: Date, intervalMs: number, refreshing: boolean): string {
  return `${time.toISOString().replace('T', ' ').slice(0, 19)} UTC, every ${formatDuration(intervalMs)}${refreshing ? '; Ctrl-C quits' : ''}`;
}

export function topCommand(ctx: CommandContext): Command {
  return new Command('top')
    .description('the summary, refreshed: on a terminal in place, else one frame per interval')
    // `-d 2` as top(1) and watch(1) take it, or a duration as `serve --interval` takes it (`2s`, `500ms`).
    .addOption(new Option('-d, --interval <seconds>', 'time between refreshes: seconds, or a duration like 2s, 1.5s or 500ms').argParser(durationArg('--interval', { min: 100, max: 3_600_000, like: '2s, 1.5s or 500ms', seconds: true })).default(2000, '2s'))
    .addOption(new Option('-n, --iterations <n>', 'stop after this many frames (default: until Ctrl-C)').argParser(countArg))
    .action(async (opts: { interval: number; iterations?: number }) => {
      const st = styleFor(ctx.io);
      const c = await Collector.open();
      const builder = new InventoryBuilder();
      try {
        for (let frame = 1; ; frame++) {
          const inv = await summaryInventory(c, (input) => builder.build(input));
          const last = opts.iterations !== undefined && frame >= opts.iterations;
          const stamp = st.dim(topStamp(new Date(), opts.interval, redrawsInPlace(ctx.io) && !last));
          // On a terminal, each frame fits it as it is now (it may be resized): the header and
          // totals stay, long paths lose their middle, the tables their last rows, long lines their end.
          const size = ctx.io.terminalSize?.();
          const sctx = { regimeReason: c.regimeReason, width: size?.columns };
          const s = summarize(inv, 10);
          const screen = size ? topScreen(stamp, inv, s, sctx, st, size) : `${stamp}\n${summaryText(inv, s, sctx, st)}`;
          ctx.io.stdout(redrawsInPlace(ctx.io) ? `${CLEAR}${screen}` : `${frame > 1 ? '\n' : ''}${screen}`);
          if (last) break;
          // Its reader has gone (`bpfmem top | head`): nobody sees the next frame.
          if (ctx.io.stdoutClosed?.() === true) break;
          await sleep(opts.interval);
        }
      } finally {
        c.close();
      }
    });
}
