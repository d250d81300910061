import { spawn } from 'node:child_process';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readKernelProfile } from '../live/machine.js';
import { RefusalLab } from '../live/refusals.js';
import { listProgs } from '../sys/bpf/index.js';
import { BpfmemError } from '../vocab/errors.js';
import { parseConsole } from './console.js';
import { buildInitramfs } from './initramfs.js';
import { bootGuest, noResult, PROJECT_ROOT } from './run.js';
import type { CheckLine } from './checks.js';
import { runWatchBench, type WatchBench } from '../watch/bench.js';
import { WatchSession } from '../watch/session.js';

/**
 * The kernel lab's proof of `bpfmem watch` (issue 16): inside a VM of a Debian kernel, on cgroup
 * v2, a no-prealloc hash in a 4 MiB memory cgroup is filled by bpf(2) and from softirq
 * (src/live/refusals.ts, whose own counts are the ground truth), while the failure tracer is
 * attached; every count the tracer gives for that map must equal the ground truth, errno by
 * errno. Then the tracer is closed and none of its programs may be left; `bpfmem watch` is
 * started as a process, sent SIGTERM, and must leave none either; and the bench measures map
 * updates per second with and without the hooks.
 *
 * The guest runs it when the kernel command line says `bpfmem.watch=1` (src/bin/lab-guest.ts);
 * {@link runWatchLab} boots a kernel so.
 */

/** The word of the kernel command line that asks the guest for this check. */
export const WATCH_CMDLINE = 'bpfmem.watch=1';

/** Whether a kernel command line asks for the watch check. */
export const wantsWatch = (cmdline: string): boolean => cmdline.split(/\s+/).includes(WATCH_CMDLINE);

/** Rounds of the bench a kernel command line asks for (`bpfmem.benchrounds=N`, default 3; 0: no bench). */
export function benchRoundsOf(cmdline: string): number {
  const m = /(?:^|\s)bpfmem\.benchrounds=([0-9]{1,3})(?:\s|$)/.exec(cmdline);
  return m ? Number(m[1]) : 3;
}

/** What the guest reports. */
export interface WatchGuestResult {
  readonly version: 1;
  readonly release: string;
  readonly cgroup: 1 | 2;
  readonly regime: string;
  /** Every hook: attached, absent or refused, and why. */
  readonly hooks: readonly { fn: string; state: string; reason?: string }[];
  readonly refusedAll?: string;
  /** The ground truth of each phase, by outcome (`ok`, `ENOMEM` …). */
  readonly truth: { readonly syscall: Record<string, number>; readonly softirq: Record<string, number> };
  /** What the tracer counted for the map, by errno (type hooks, and bpf_map_update_value). */
  readonly traced: { readonly type: Record<string, number>; readonly sys: Record<string, number> };
  readonly events: Record<string, number>;
  readonly lines: readonly CheckLine[];
  readonly ok: boolean;
  readonly bench?: WatchBench;
  readonly error?: string;
  readonly seconds: number;
}

const obj = (m: ReadonlyMap<string, number>): Record<string, number> => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
const failuresOf = (m: ReadonlyMap<string, number>): Map<string, number> => new Map([...m].filter(([k]) => k !== 'ok'));
const addInto = (a: Map<string, number>, b: ReadonlyMap<string, number>): Map<string, number> => {
  for (const [k, v] of b) a.set(k, (a.get(k) ?? 0) + v);
  return a;
};
const same = (a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean =>
  JSON.stringify(obj(new Map([...a].filter(([, v]) => v > 0)))) === JSON.stringify(obj(new Map([...b].filter(([, v]) => v > 0))));

/** The watcher's programs that are loaded now (by name: `bpfmem_w_…`). */
const watcherProgs = (): string[] => listProgs().filter((p) => p.info.name.startsWith('bpfmem_w_')).map((p) => `${p.info.id}:${p.info.name}`);

/** Runs `bpfmem watch --json` as a process, waits for its first frame, sends SIGTERM, and lists what it left. */
async function signalCheck(lines: CheckLine[], hooksExpected: boolean): Promise<void> {
  const cli = fileURLToPath(new URL('../../dist/bin/bpfmem.js', import.meta.url));
  // --always: nothing here is near a limit, and the check is that attached programs are detached on SIGTERM.
  const child = spawn(process.execPath, [cli, 'watch', '--json', '--interval', '1s', '--always'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise<number | string>((resolve) => {
    child.once('close', (c, s) => {
      resolve(s ?? c ?? -1);
    });
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const deadline = Date.now() + 120_000;
  while (!out.includes('\n') && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const during = watcherProgs();
  child.kill('SIGTERM');
  const code = await closed;
  const after = watcherProgs();
  lines.push({ what: 'bpfmem watch printed a frame before SIGTERM', kernel: out.includes('\n') ? 'yes' : `no: ${err.trim().split('\n').pop() ?? ''}`, model: 'yes', ok: out.includes('\n') });
  if (hooksExpected) lines.push({ what: 'bpfmem watch had its programs attached while running', kernel: during.length, model: '> 0', ok: during.length > 0 });
  lines.push({ what: 'bpfmem watch ended on SIGTERM with status 143', kernel: String(code), model: '143', ok: code === 143 });
  lines.push({ what: 'programs of bpfmem watch left after SIGTERM', kernel: after.join(' ') || 'none', model: 'none', ok: after.length === 0 });
}

/** The guest side. */
export async function runWatchGuest(options: { readonly benchRounds?: number } = {}): Promise<WatchGuestResult> {
  const started = Date.now();
  const profile = await readKernelProfile();
  const lines: CheckLine[] = [];
  const base = { version: 1 as const, release: release(), cgroup: profile.cgroupVersion, regime: profile.regime };
  let hooks: WatchGuestResult['hooks'] = [];
  let refusedAll: string | undefined;
  const truth = { syscall: new Map<string, number>(), softirq: new Map<string, number>() };
  const traced = { type: new Map<string, number>(), sys: new Map<string, number>() };
  const events = new Map<string, number>();
  let bench: WatchBench | undefined;
  let failure: string | undefined;
  try {
    // What `bpfmem watch` runs: the session (tracer, inventory, cgroup chains, verdicts).
    const watch = await WatchSession.open();
    try {
      const first = (await watch.frame()).frame;
      hooks = first.hooks.map((h) => ({ fn: h.fn, state: h.state, ...(h.reason !== undefined && { reason: h.reason }) }));
      refusedAll = first.refusedAll;
      // Arming on headroom (src/watch/arming.ts): nothing in the VM is near a limit yet, so no
      // hook is attached (the memlock regime keeps them all attached: nothing to arm on there).
      const armedFns = (f: typeof first): string[] => f.hooks.filter((h) => h.armed === true).map((h) => h.fn);
      const memlock = profile.regime === 'memlock';
      const idleArmed = armedFns(first);
      lines.push({
        what: memlock ? 'arming: every hook attached from the start (memlock regime)' : 'arming: no hook attached while no paying cgroup is near a limit',
        kernel: `${first.arming?.mode ?? 'none'}: ${idleArmed.length} attached`,
        model: `${memlock ? 'memlock' : 'headroom'}: ${memlock ? first.hooks.filter((h) => h.state === 'attached').length : 0} attached`,
        ok: memlock ? idleArmed.length === first.hooks.filter((h) => h.state === 'attached').length : idleArmed.length === 0 && first.arming?.mode === 'headroom',
      });
      const lab = await RefusalLab.open({ limitBytes: 4 * 1024 * 1024 });
      try {
        // The frame after the map appears in its 4 MiB cgroup arms the hash's hook, before the first refused update.
        const before = (await watch.frame()).frame;
        const rel = lab.cgroupDir.slice('/sys/fs/cgroup'.length);
        const htabArmed = before.hooks.find((h) => h.fn === 'htab_map_update_elem')?.armed === true;
        if (!memlock) {
          const cg = before.arming?.cgroups.find((c) => c.path === rel);
          lines.push({
            what: 'arming: htab_map_update_elem attached for the 4 MiB cgroup before the first refused update',
            kernel: `${htabArmed ? 'attached' : 'detached'}; ${cg ? `${cg.path} ${cg.why} [${cg.types.join(',')}]` : 'cgroup not armed'}`,
            model: `attached; ${rel} headroom [hash]`,
            ok: htabArmed && cg?.why === 'headroom' && cg.types.join(',') === 'hash',
          });
        }
        truth.syscall = lab.fillBySyscall(300);
        truth.softirq = await lab.fillBySoftirq(3000);
        const { frame } = await watch.frame();
        const s = watch.lastSample;
        const mine = s?.maps.find((m) => m.mapId === lab.mapId);
        traced.type = new Map(mine?.byErrno ?? []);
        traced.sys = new Map(mine?.syscallByErrno ?? []);
        for (const e of [...first.events, ...(s?.events ?? [])]) if (e.mapId === lab.mapId) addInto(events, new Map([[String(e.errno), 1]]));
        const all = addInto(failuresOf(truth.syscall), failuresOf(truth.softirq));
        const attached = new Set(first.hooks.filter((h) => h.state === 'attached').map((h) => h.fn));
        if (attached.has('htab_map_update_elem')) {
          lines.push({ what: 'fexit htab_map_update_elem: failures of the map by errno = bpf(2) and softirq ground truth', kernel: JSON.stringify(obj(traced.type)), model: JSON.stringify(obj(all)), ok: same(traced.type, all) });
          // The rows `bpfmem watch` prints for the map: its counts, the cgroup charged, the limit that stops it.
          const rows = frame.failures.filter((r) => r.map.id === lab.mapId);
          const shown = new Map(rows.map((r) => [r.errno as string, r.count]));
          lines.push({ what: 'bpfmem watch rows of the map: count by errno', kernel: JSON.stringify(obj(shown)), model: JSON.stringify(obj(all)), ok: same(shown, all) });
          if (profile.regime !== 'memcg') {
            lines.push({ what: 'bpfmem watch: who pays (this kernel charges no memory cgroup)', kernel: [...new Set(rows.map((r) => r.cgroup?.path ?? 'unknown'))].join(' '), model: 'unknown', ok: rows.every((r) => r.cgroup === undefined) });
          } else {
            const cg = [...new Set(rows.map((r) => r.cgroup?.path ?? 'none'))].join(' ');
            lines.push({ what: 'bpfmem watch: the cgroup charged for the map', kernel: cg, model: rel, ok: cg === rel });
            const verdicts = [...new Set(rows.map((r) => (r.verdict?.kind === 'short' ? `short at ${r.verdict.cgroup ?? '?'} (${r.verdict.limit})` : (r.verdict?.kind ?? 'none'))))].join(' ');
            lines.push({ what: "bpfmem watch: explain's verdict names the cgroup's own limit", kernel: verdicts, model: `short at ${rel} (memory.max)`, ok: verdicts === `short at ${rel} (memory.max)` });
          }
        } else {
          lines.push({ what: 'htab_map_update_elem could not be hooked here', kernel: hooks.find((h) => h.fn === 'htab_map_update_elem')?.reason ?? 'absent', model: 'attached', ok: false });
        }
        if (attached.has('bpf_map_update_value')) {
          lines.push({ what: 'fexit bpf_map_update_value: failures of the map by errno = bpf(2) ground truth', kernel: JSON.stringify(obj(traced.sys)), model: JSON.stringify(obj(failuresOf(truth.syscall))), ok: same(traced.sys, failuresOf(truth.syscall)) });
        }
        // Each hook that sees a failure sends an event: a refused bpf(2) update is seen twice on
        // 6.12+ (the type's function and bpf_map_update_value).
        const total = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
        const evTotal = total(events);
        lines.push({ what: 'ring buffer: one event per failure a hook saw (it holds 6553)', kernel: evTotal, model: total(traced.type) + total(traced.sys), ok: evTotal === total(traced.type) + total(traced.sys) && evTotal > 0 });
        lines.push({ what: 'ring buffer: events dropped', kernel: frame.dropped, model: 0, ok: frame.dropped === 0 });
        lines.push({ what: 'recursion misses of the hooks', kernel: frame.recursionMisses, model: 0, ok: frame.recursionMisses === 0 });
      } finally {
        await lab.dispose();
      }
      if (!memlock) {
        // The cgroup is gone: its hooks are detached again at the next frame.
        const after = (await watch.frame()).frame;
        lines.push({ what: 'arming: hooks detached again once the 4 MiB cgroup is gone', kernel: `${armedFns(after).length} attached`, model: '0 attached', ok: armedFns(after).length === 0 });
      }
    } finally {
      watch.close();
    }
    const left = watcherProgs();
    lines.push({ what: 'programs left after the tracer closed', kernel: left.join(' ') || 'none', model: 'none', ok: left.length === 0 });
    await signalCheck(lines, hooks.some((h) => h.state === 'attached'));
    const rounds = options.benchRounds ?? 3;
    if (rounds > 0) bench = await runWatchBench({ profile, rounds });
  } catch (error) {
    failure = error instanceof Error ? error.message : String(error);
  }
  return {
    ...base,
    hooks,
    ...(refusedAll !== undefined && { refusedAll }),
    truth: { syscall: obj(truth.syscall), softirq: obj(truth.softirq) },
    traced: { type: obj(traced.type), sys: obj(traced.sys) },
    events: obj(events),
    lines,
    ok: failure === undefined && lines.length > 0 && lines.every((l) => l.ok),
    ...(bench && { bench }),
    ...(failure !== undefined && { error: failure }),
    seconds: (Date.now() - started) / 1000,
  };
}

/** Options of {@link runWatchLab}. */
export interface WatchLabOptions {
  readonly vmlinuz: string;
  readonly cacheDir: string;
  readonly timeoutSeconds: number;
  readonly onOutput?: (text: string) => void;
  /** Rounds of the bench in the guest (default 3; 0 runs none). */
  readonly benchRounds?: number;
}

/** Boots `vmlinuz` with bpfmem inside and returns the guest's watch check. */
export async function runWatchLab(o: WatchLabOptions): Promise<{ vmSeconds: number; guest: WatchGuestResult }> {
  const image = await buildInitramfs({ projectRoot: PROJECT_ROOT }, o.cacheDir);
  const { booted, failedBoots } = await bootGuest({
    vmlinuz: o.vmlinuz,
    initrd: image.path,
    append: `${WATCH_CMDLINE}${o.benchRounds === undefined ? '' : ` bpfmem.benchrounds=${o.benchRounds}`}`,
    cpus: 2,
    memoryMiB: 2048,
    timeoutSeconds: o.timeoutSeconds,
    ...(o.onOutput && { onOutput: o.onOutput }),
  });
  const found = parseConsole(booted.console);
  if (found.kind === 'error') throw new BpfmemError('system', `the guest failed: ${found.message}`);
  if (found.kind === 'none') throw noResult(booted, failedBoots, o.timeoutSeconds);
  return { vmSeconds: booted.seconds, guest: JSON.parse(found.payload) as WatchGuestResult };
}
