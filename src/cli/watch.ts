import { Command, Option } from 'commander';
import { track, untrack, type Disposable } from '../live/cleanup.js';
import { BpfmemError } from '../vocab/errors.js';
import { formatDuration } from '../vocab/duration.js';
import { formatBytes } from '../vocab/units.js';
import { describeArming } from '../watch/arming.js';
import { WatchSession, frameJson, summaryJson, type FailureRow, type PayerRow, type WatchFrame } from '../watch/index.js';
import { redrawsInPlace, styleFor, type Style, type TerminalSize } from './io.js';
import { durationArg, jsonOption, sizeArg, type CommandContext } from './context.js';
import { table } from './table.js';
import { escapeText } from './escape.js';
import { cutLine, fitHeight, foldLine, joinLines, screenLines } from './render/screen.js';

/**
 * `bpfmem watch`: the map updates the kernel refuses, as they happen (src/watch/), refreshed in
 * place on a terminal, one JSON object per line with `--json`; `--for 30s` ends with a summary.
 * Runs until Ctrl-C or SIGTERM otherwise: src/bin/bpfmem.ts disposes what `track()` holds, which
 * detaches every hook and frees its maps, and then ends the process.
 */

const CLEAR = '\u001b[H\u001b[2J';

const cellBytes = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '-' : formatBytes(n));

/** Seconds as a person reads them (`42s`, `17m`, `3.2h`, `5.0d`). */
export function formatEta(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-';
  // Each unit from where the one below would round to its end: 119.6 s is 2m, not 120s.
  if (Math.round(s) < 120) return `${Math.max(0, Math.round(s))}s`;
  if (Math.round(s / 60) < 120) return `${Math.round(s / 60)}m`;
  if (Number((s / 3600).toFixed(1)) < 48) return `${(s / 3600).toFixed(1)}h`;
  return `${(s / 86_400).toFixed(1)}d`;
}

function stoppedBy(r: FailureRow): string {
  const v = r.verdict;
  if (!v) return r.cgroup ? '-' : 'charged to no known cgroup';
  if (v.kind === 'short') return `${v.cgroup ?? '?'} ${v.limit} (${formatBytes(v.headroom)} left)`;
  if (v.kind === 'fits') return `room left (${v.cgroup ?? 'no limit'}): not the memcg`;
  return v.reason;
}

function failuresText(rows: readonly FailureRow[], st: Style, summary: boolean, maxWidth?: number): string {
  if (rows.length === 0) return `${st.dim('no refused map update seen')}\n`;
  return table(rows, [
    { header: 'MAP', value: (r) => String(r.map.id), align: 'right' },
    { header: 'NAME', value: (r) => r.map.name || '-' },
    { header: 'TYPE', value: (r) => r.map.type },
    { header: 'ERRNO', value: (r) => r.errno + (r.seenBy === 'syscall' ? '*' : '') },
    { header: summary ? 'TOTAL' : 'NEW', value: (r) => String(summary ? r.count : r.recent), align: 'right' },
    ...(summary ? [] : [{ header: 'TOTAL', value: (r: FailureRow) => String(r.count), align: 'right' as const }]),
    { header: 'CGROUP', value: (r) => r.cgroup?.path ?? '-', elide: 'middle' },
    { header: 'USAGE/LIMIT', value: (r) => (r.cgroup ? `${cellBytes(r.cgroup.usage)}/${cellBytes(r.cgroup.limit)}` : '-') },
    { header: 'STOPPED BY', value: stoppedBy, elide: 'end' },
    { header: 'HOLDERS', value: (r) => r.map.holders.map((h) => `${h.comm}(${h.pid})`).join(',') || '-', elide: 'end' },
  ], { maxWidth });
}

function payersText(rows: readonly PayerRow[], summary: boolean, maxWidth?: number): string {
  if (rows.length === 0) return 'no memory cgroup pays for BPF maps\n';
  return table(rows, [
    { header: 'CGROUP', value: (r) => r.path, elide: 'middle' },
    { header: 'BPF', value: (r) => cellBytes(r.bpf), align: 'right' },
    { header: 'USAGE', value: (r) => cellBytes(r.usage), align: 'right' },
    { header: 'LIMIT', value: (r) => cellBytes(r.limit), align: 'right' },
    { header: 'HEADROOM', value: (r) => cellBytes(r.headroom), align: 'right' },
    {
      header: `${r0(rows) ? 'FAILCNT' : 'MAX EVENTS'}(+${summary ? 'RUN' : 'NEW'})`,
      value: (r) => counterCell(r0(rows) ? r.failcnt : r.maxEvents, r0(rows) ? (summary ? r.failcntRun : r.failcntRecent) : summary ? r.maxEventsRun : r.maxEventsRecent),
      align: 'right',
    },
    { header: 'BPF GROWTH', value: (r) => (r.forecast && r.forecast.windowSeconds > 0 ? `${cellBytes(r.forecast.ratePerSecond * 3600)}/h` : '-'), align: 'right' },
    { header: 'ETA', value: (r) => (r.forecast?.etaSeconds === undefined ? '-' : `${formatEta(r.forecast.etaSeconds)} (${r.forecast.limitCgroup ?? '?'})`), elide: 'middle' },
  ], { maxWidth });
}

/** Whether the rows carry v1's failcnt (else v2's max events). */
const r0 = (rows: readonly PayerRow[]): boolean => rows.some((r) => r.failcnt !== undefined);
const counterCell = (n: number | undefined, d: number | undefined): string => (n === undefined ? '-' : `${n}${d === undefined ? '' : `(+${d})`}`);

function tracingText(f: WatchFrame, st: Style): string {
  const attached = f.hooks.filter((h) => h.state === 'attached');
  if (attached.length === 0) {
    return `${st.bold('refused updates: not traced')}: ${escapeText(f.refusedAll ?? 'no hook attached')}\nwhat is shown instead: the memory cgroups paying for BPF maps (failcnt / memory.events, usage against limits) and when each runs out\n`;
  }
  const lines: string[] = [];
  if (f.arming) lines.push(st.bold(describeArming(f.arming, f.arming, formatBytes)));
  const armed = attached.filter((h) => h.armed === true);
  lines.push(`tracing: fexit works on ${attached.length} of ${f.hooks.length} functions; attached now: ${armed.length === 0 ? 'none' : armed.map((h) => h.fn).join(', ')}`);
  for (const h of attached) if (h.armError !== undefined) lines.push(`  could not arm ${h.fn}: ${escapeText(h.armError)}`);
  for (const h of f.hooks.filter((x) => x.state === 'refused' || x.state === 'absent')) lines.push(`  not attached: ${h.fn}: ${escapeText(h.reason ?? h.state)}`);
  for (const b of f.blind) lines.push(`  cannot see: ${b}`);
  if (f.unattributed + f.dropped + f.recursionMisses > 0) {
    lines.push(`  not in a map's row: ${f.unattributed}; events dropped (ring full): ${f.dropped}; recursion misses: ${f.recursionMisses}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A frame as text (80 columns where the rows allow). */
export function frameText(f: WatchFrame, st: Style, summary = false, maxWidth?: number): string {
  const parts = [
    tracingText(f, st),
    `\n${st.bold(summary ? 'REFUSED MAP UPDATES (the whole run)' : 'REFUSED MAP UPDATES')}\n${failuresText(f.failures, st, summary, maxWidth)}`,
  ];
  if (f.failures.some((r) => r.seenBy === 'syscall')) parts.push(st.dim('* counted by bpf_map_update_value (bpf(2)), which saw more than the type\'s own hooks: refusals by BPF programs may be missing\n'));
  parts.push(`\n${st.bold('MEMORY CGROUPS PAYING FOR BPF MAPS')}\n${payersText(f.payers, summary, maxWidth)}`);
  if (!summary && f.events.length > 0) {
    parts.push(`\n${st.bold('LAST EVENTS')}\n${f.events.map((e) => `${e.time.toISOString().slice(11, 23)} map ${e.mapId} errno ${e.errno} cpu ${e.cpu} pid ${e.pid}`).join('\n')}\n`);
  }
  // Notes quote paths and errors from the machine: escaped here, before the styling that bpfmem's own escapes are.
  for (const n of f.notes) parts.push(st.dim(`note: ${escapeText(n)}\n`));
  return parts.join('');
}

/**
 * The time line of a frame: with `--for`, when it ends (`endsInMs`); else "Ctrl-C quits" only
 * where it is worth saying, on a terminal (`tty`), not into a pipe or a file.
 */
export function watchStamp(f: WatchFrame, intervalMs: number, tty: boolean, endsInMs?: number): string {
  const until = endsInMs !== undefined ? `; ends in ${formatDuration(endsInMs)}` : tty ? '; Ctrl-C quits' : '';
  return `bpfmem watch: kernel ${f.release}, ${f.time.toISOString().replace('T', ' ').slice(0, 19)} UTC, every ${formatDuration(intervalMs)}${until}`;
}

/**
 * A frame on a terminal of `size`: `stamp` (its time line), then the frame, in at most
 * `size.rows - 1` lines of at most `size.columns` (each ends with a newline: the cursor is left
 * under the frame, and nothing scrolls off the top). The first line, which says what is traced
 * or why nothing is, is wrapped to the width in at most half of the rows under the stamp (cut
 * with `…` past them); every other line is cut with `…`, and the lines that do not fit are left
 * out with one saying how many.
 */
export function watchScreen(stamp: string, f: WatchFrame, st: Style, size: TerminalSize): string {
  const width = size.columns;
  const rows = Math.max(1, size.rows - 1);
  const [first = '', ...rest] = screenLines(frameText(f, st, false, width));
  let head = foldLine(first, width);
  const cap = Math.max(1, Math.ceil((rows - 1) / 2));
  if (head.length > cap) head = [...head.slice(0, cap - 1), cutLine(head.slice(cap - 1).join(' '), width)];
  const lines = [cutLine(stamp, width), ...head, ...rest.map((l) => cutLine(l, width))];
  const more = (left: number): string => st.dim(`… ${left} more line${left === 1 ? '' : 's'} (a taller terminal, or --json)`);
  return joinLines(fitHeight(lines, rows, width, more));
}

/**
 * The summary `--for` ends with: the last frame's whole-run counts after a title. With `width` (a
 * terminal's columns) it fits the width as a frame does, but not the height (it is the last
 * output, left on the screen): the tables are fitted, and every other line that is wider (what
 * is traced or why nothing is, a note) is wrapped, not cut, since nothing comes to redraw it.
 */
export function watchSummaryText(f: WatchFrame, seconds: number, st: Style, width?: number): string {
  const text = `${st.bold(`bpfmem watch: summary of ${formatDuration(seconds * 1000)} on kernel ${f.release}`)}\n${frameText(f, st, true, width)}`;
  if (width === undefined) return text;
  return joinLines(screenLines(text).flatMap((l) => foldLine(l, width)));
}

interface WatchCliOptions {
  interval: number;
  for?: number;
  json?: boolean;
  allHooks?: boolean;
  trace: boolean;
  always?: boolean;
  armBelow?: number;
}

export function watchCommand(ctx: CommandContext): Command {
  return new Command('watch')
    .description('the map updates the kernel refuses (fexit hooks), the cgroups paying for BPF and when each runs out (root)')
    .addOption(new Option('-d, --interval <duration>', 'time between frames, like 2s, 1.5s or 500ms (a bare number is seconds)').argParser(durationArg('--interval', { min: 200, max: 3_600_000, like: '2s, 1.5s or 500ms', seconds: true })).default(2000, '2s'))
    .addOption(new Option('--for <duration>', 'stop after this long and print a summary, like 30s, 1.5m or 1h').argParser(durationArg('--for', { min: 1000, max: 86_400_000, like: '30s, 1.5m or 1h', seconds: true })))
    .option('--all-hooks', 'also hook array updates (never refused for memory; every array update pays for the hook)')
    .option('--no-trace', 'attach nothing: only the memory cgroups and the forecast')
    .addOption(new Option('--arm-below <size>', "attach a map type's hooks while a cgroup paying for such a map has less room than this on its path").argParser(sizeArg('--arm-below')).default(64 * 1024 * 1024, '64MiB').conflicts('always'))
    .option('--always', 'keep every hook attached, whatever the room (every update of a hooked type pays for it)')
    .addOption(jsonOption())
    .action(async (opts: WatchCliOptions, cmd: Command) => {
      if (!opts.trace) {
        const given = [opts.always === true && '--always', opts.allHooks === true && '--all-hooks', cmd.getOptionValueSource('armBelow') === 'cli' && '--arm-below'].filter((x) => x !== false);
        if (given.length > 0) throw new BpfmemError('usage', `${given.join(' and ')} ${given.length === 1 ? 'is' : 'are'} about the hooks: no use with --no-trace, which attaches none`);
      }
      const st = styleFor(ctx.io);
      const session = await WatchSession.open({ trace: opts.trace, ...(opts.allHooks === true && { allHooks: true }), ...(opts.always === true && { always: true }), ...(opts.armBelow !== undefined && { armBelow: opts.armBelow }) });
      let stop: (() => void) | undefined;
      const state = { stopped: false };
      // Read through a call: the signal sets it while the loop awaits.
      const isStopped = (): boolean => state.stopped;
      const handle: Disposable = {
        dispose: () => {
          state.stopped = true;
          stop?.();
          session.close();
          return Promise.resolve();
        },
      };
      try {
        track(handle);
      } catch (error) {
        session.close();
        throw error;
      }
      // The monotonic clock: a step of the wall clock changes neither --for nor the cadence.
      const started = performance.now();
      const elapsed = (): number => performance.now() - started;
      try {
        let last: WatchFrame | undefined;
        for (;;) {
          const frameStarted = performance.now();
          const { frame } = await session.frame();
          if (isStopped()) break;
          last = frame;
          const done = opts.for !== undefined && elapsed() >= opts.for;
          if (done) break;
          if (opts.json) ctx.io.stdout(`${JSON.stringify(frameJson(frame))}\n`);
          else {
            const stamp = st.dim(watchStamp(frame, opts.interval, redrawsInPlace(ctx.io), opts.for === undefined ? undefined : Math.max(0, opts.for - elapsed())));
            // On a terminal, each frame fits it as it is now (it may be resized).
            const size = ctx.io.terminalSize?.();
            const screen = size ? watchScreen(stamp, frame, st, size) : `${stamp}\n${frameText(frame, st)}`;
            ctx.io.stdout(redrawsInPlace(ctx.io) ? `${CLEAR}${screen}` : `${screen}\n`);
          }
          // Its reader has gone (`bpfmem watch --json | head -1`): detach the hooks and end.
          if (ctx.io.stdoutClosed?.() === true) break;
          // A frame every --interval, its own reading time included (as serve's scans are paced).
          const next = Math.max(0, opts.interval - (performance.now() - frameStarted));
          const wait = opts.for === undefined ? next : Math.min(next, Math.max(0, opts.for - elapsed()));
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, wait);
            stop = () => {
              clearTimeout(t);
              resolve();
            };
          });
          if (isStopped()) break;
        }
        if (last && opts.for !== undefined && !isStopped()) {
          const seconds = elapsed() / 1000;
          if (opts.json) ctx.io.stdout(`${JSON.stringify(summaryJson(last, seconds))}\n`);
          else ctx.io.stdout(`${redrawsInPlace(ctx.io) ? CLEAR : ''}${watchSummaryText(last, seconds, st, ctx.io.terminalSize?.()?.columns)}`);
        }
      } finally {
        untrack(handle);
        session.close();
      }
    });
}
