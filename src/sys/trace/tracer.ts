import { existsSync } from 'node:fs';
import { assemble } from '../../asm/index.js';
import type { Btf } from '../../btf/index.js';
import { ERRNO } from '../../vocab/errno.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import {
  closeFd,
  mapCreate,
  mapInfo,
  mapMmap,
  progInfo,
  progLoad,
  rawTracepointOpen,
  SyscallError,
  VerifierError,
  type MappedMemory,
} from '../bpf/index.js';
import { HOOKS, planHooks, type HookSpec, type HookTarget } from './hooks.js';
import { decodeEvent, HOOK, MAX_HOOKS, readHookCounts, readSlots, SLOT, SLOTS, type FailureEvent, type SlotCounts } from './layout.js';
import { buildHookProgram } from './program.js';
import { RingReader } from './ringbuf.js';

/**
 * The failure tracer: one fexit program per hook this kernel has (hooks.ts), the counter tables
 * they share (layout.ts), and a ring buffer of events. Opening never throws for a refusal of the
 * kernel: each hook says whether it is attached and, if not, why. Closing detaches every program
 * (closing the link fds detaches them) and frees the maps (their last fds).
 */

/** What became of one hook. */
export interface HookStatus {
  readonly fn: string;
  readonly types: HookSpec['types'];
  readonly paths: HookSpec['paths'];
  readonly table: HookSpec['table'];
  /** `attached`; `absent` from BTF; `refused` by the kernel at load or attach; `off` (not asked for). */
  readonly state: 'attached' | 'absent' | 'refused' | 'off';
  readonly reason?: string;
  /** Index in the hooks table and in events (attached hooks only). */
  readonly index?: number;
  /** Whether its program is attached now (a hook that works here may be disarmed: UpdateTracer.arm). */
  readonly armed?: boolean;
  /** The program's id while armed. */
  readonly progId?: number;
  /** Why the last arming failed. */
  readonly armError?: string;
}

/** Options of {@link UpdateTracer.open}. */
export interface TracerOptions {
  /** The running kernel's BTF. */
  readonly btf: Btf;
  /** Claim slots with BPF_CMPXCHG (the kernel is 5.12+); without, a plain store. */
  readonly cmpxchg: boolean;
  /** Also the hooks off by default (array updates). */
  readonly all?: boolean;
  /** Bytes of the event ring buffer (a power of two, at least a page); 0: no events. */
  readonly eventBytes?: number;
  readonly pageSize: number;
  /** Which hooks stay attached after open (default: all); the others are proven and detached. */
  readonly armed?: (spec: HookSpec) => boolean;
}

/** Default size of the event ring: 8192 events of 32 bytes (with headers: 40). */
export const DEFAULT_EVENT_BYTES = 256 * 1024;

/** Whether this kernel has kprobes (said when fexit is refused: nothing else can hook a return). */
const hasKprobes = (): boolean => existsSync('/sys/bus/event_source/devices/kprobe');

/** Why the kernel refused a load or attach, for a person. */
function refusal(doing: 'load' | 'attach', error: unknown): string {
  if (error instanceof VerifierError) return `the verifier refused the program: ${error.message}`;
  if (error instanceof SyscallError) {
    if (doing === 'attach' && error.errno === ERRNO.EBUSY) {
      return 'EBUSY at attach: the function has no ftrace site (its file is built without ftrace, as lpm_trie.c and queue_stack_maps.c are since 6.14, or it is notrace)';
    }
    if (doing === 'load' && error.errno === ERRNO.ENOTSUPP) return 'ENOTSUPP at load: the trampoline cannot take this function (too many arguments for this kernel)';
    return `${doing === 'load' ? 'BPF_PROG_LOAD' : 'BPF_RAW_TRACEPOINT_OPEN'}: ${error.message.replace(/^[A-Z_]+: /, '')}`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The reason every hook shares when the kernel refuses trampolines altogether (EPERM at load, as root). */
export function trampolinesRefused(kprobes: boolean): string {
  return (
    'this kernel refuses fentry/fexit programs: BPF_PROG_LOAD of an fexit program answers EPERM before the verifier runs, as root ' +
    '(mainline has no such refusal: a vendor restriction)' +
    (kprobes ? '' : '; it has no kprobes either (no /sys/bus/event_source/devices/kprobe), so no function return can be hooked')
  );
}

/** A hook proven attachable at open: its program and link while armed. */
interface Hook {
  readonly target: HookTarget;
  /** Its index in the hooks table and in events: fixed for the tracer's life. */
  readonly index: number;
  /** The program's instructions (rebuilt programs are identical). */
  readonly insns: Uint8Array;
  readonly cmpxchg: boolean;
  prog: number | undefined;
  link: number | undefined;
  progId: number | undefined;
  /** Recursion misses of the programs loaded before the current one (each disarm closes one). */
  retiredMisses: bigint;
  /** Why the last arming failed (the hook stays disarmed). */
  armError: string | undefined;
}

/**
 * The id of an attached hook's program, or undefined where it cannot be read: the id only names
 * the program to listings (which leave bpfmem's own out), so a failed read must not leave an
 * attached program untracked (an exception between attach and keeping the hook would).
 */
function progIdOf(prog: number): number | undefined {
  try {
    return progInfo(prog).id;
  } catch {
    return undefined;
  }
}

export class UpdateTracer {
  readonly #maps: number[];
  readonly #hooks: Hook[];
  readonly #statuses: readonly HookStatus[];
  readonly #slotsMem: MappedMemory | undefined;
  readonly #hooksMem: MappedMemory | undefined;
  readonly #slotWords: BigUint64Array | undefined;
  readonly #hookWords: BigUint64Array | undefined;
  readonly #ring: RingReader | undefined;
  #closed = false;

  private constructor(
    statuses: readonly HookStatus[],
    /** Set when no hook could be attached for one reason shared by all (trampolines refused). */
    readonly refusedAll: string | undefined,
    parts: { maps: number[]; hooks: Hook[]; slots?: MappedMemory; hooksMem?: MappedMemory; ring?: RingReader },
  ) {
    this.#statuses = statuses;
    this.#maps = parts.maps;
    this.#hooks = parts.hooks;
    this.#slotsMem = parts.slots;
    this.#hooksMem = parts.hooksMem;
    this.#ring = parts.ring;
    this.#slotWords = parts.slots && new BigUint64Array(parts.slots.buffer, 0, (SLOTS * SLOT.size) / 8);
    this.#hookWords = parts.hooksMem && new BigUint64Array(parts.hooksMem.buffer, 0, (MAX_HOOKS * HOOK.size) / 8);
  }

  /**
   * Builds, loads and attaches every hook this kernel's BTF has: an attach proves the hook works
   * here (or says why not). Hooks for which `armed` (default: every hook) says no are detached
   * again at once, their programs closed; {@link arm} attaches them when asked. Throws only when
   * the counter maps cannot be made (not root, no memory); every refusal of a hook is in
   * {@link hooks}.
   */
  static open(o: TracerOptions): UpdateTracer {
    const plan = planHooks(o.btf, o.all === true ? 'all' : 'default');
    if ('error' in plan) {
      return new UpdateTracer(
        HOOKS.map((spec) => status(spec, 'absent', plan.error)),
        plan.error,
        { maps: [], hooks: [] },
      );
    }
    const maps: number[] = [];
    const hooks: Hook[] = [];
    const mems: MappedMemory[] = [];
    let ring: RingReader | undefined;
    const release = (): void => {
      for (const h of hooks) disarmHook(h);
      ring?.close();
      for (const m of mems) m.unmap();
      for (const fd of maps) closeFd(fd);
    };
    try {
      const slots = mapCreate({ type: 'array', keySize: 4, valueSize: SLOT.size, maxEntries: SLOTS, flags: MAP_FLAGS.mmapable, name: 'bpfmem_wslots' });
      maps.push(slots);
      const hooksMap = mapCreate({ type: 'array', keySize: 4, valueSize: HOOK.size, maxEntries: MAX_HOOKS, flags: MAP_FLAGS.mmapable, name: 'bpfmem_whooks' });
      maps.push(hooksMap);
      const eventBytes = o.eventBytes ?? DEFAULT_EVENT_BYTES;
      let events: number | undefined;
      if (eventBytes > 0) {
        events = mapCreate({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: eventBytes, name: 'bpfmem_wevents' });
        maps.push(events);
      }
      const slotsMem = mapMmap(slots, 0, roundUp(SLOTS * SLOT.size, o.pageSize), true);
      mems.push(slotsMem);
      const hooksMem = mapMmap(hooksMap, 0, roundUp(MAX_HOOKS * HOOK.size, o.pageSize), true);
      mems.push(hooksMem);
      if (events !== undefined) ring = new RingReader(events, eventBytes, o.pageSize);

      const statuses = new Map<string, HookStatus>();
      for (const spec of HOOKS) if (o.all !== true && !spec.byDefault) statuses.set(spec.fn, status(spec, 'off', 'off by default: arrays never fail for memory, and every array update would pay for the hook (--all-hooks attaches it)'));
      for (const a of plan.absent) statuses.set(a.spec.fn, status(a.spec, 'absent', a.reason));
      let cmpxchg = o.cmpxchg;
      let refusedAll: string | undefined;
      for (const target of plan.targets) {
        if (refusedAll !== undefined) {
          statuses.set(target.spec.fn, status(target.spec, 'refused', refusedAll));
          continue;
        }
        if (hooks.length >= MAX_HOOKS) {
          statuses.set(target.spec.fn, status(target.spec, 'refused', `more than ${MAX_HOOKS} hooks`));
          continue;
        }
        const index = hooks.length;
        const build = (withCmpxchg: boolean): Uint8Array => assemble(buildHookProgram(target, index, { slots, hooks: hooksMap, events }, { cmpxchg: withCmpxchg }));
        const h: Hook = { target, index, insns: build(cmpxchg), cmpxchg, prog: undefined, link: undefined, progId: undefined, retiredMisses: 0n, armError: undefined };
        let prog: number;
        try {
          try {
            prog = loadHook(h);
          } catch (error) {
            // A verifier without BPF_CMPXCHG (before 5.12) refuses the instruction: fall back to a plain claim.
            if (!(cmpxchg && error instanceof SyscallError && error.errno === ERRNO.EINVAL)) throw error;
            cmpxchg = false;
            Object.assign(h, { insns: build(false), cmpxchg: false });
            prog = loadHook(h);
          }
        } catch (error) {
          if (error instanceof SyscallError && error.errno === ERRNO.EPERM) {
            refusedAll = trampolinesRefused(hasKprobes());
            statuses.set(target.spec.fn, status(target.spec, 'refused', refusedAll));
          } else {
            statuses.set(target.spec.fn, status(target.spec, 'refused', refusal('load', error)));
          }
          continue;
        }
        try {
          h.link = rawTracepointOpen(prog);
        } catch (error) {
          closeFd(prog);
          statuses.set(target.spec.fn, status(target.spec, 'refused', refusal('attach', error)));
          continue;
        }
        h.prog = prog;
        h.progId = progIdOf(prog);
        hooks.push(h);
        statuses.set(target.spec.fn, { ...status(target.spec, 'attached'), index });
        if (o.armed !== undefined && !o.armed(target.spec)) disarmHook(h);
      }
      const ordered = HOOKS.map((spec) => statuses.get(spec.fn) ?? status(spec, 'absent', 'not planned'));
      if (hooks.length === 0) {
        release();
        return new UpdateTracer(ordered, refusedAll ?? 'no hook could be attached on this kernel', { maps: [], hooks: [] });
      }
      return new UpdateTracer(ordered, undefined, { maps, hooks, slots: slotsMem, hooksMem, ...(ring && { ring }) });
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Every hook of the catalog and what became of it. `attached`: it attached at open, so it works
   * here; `armed` says whether its program is attached now (see {@link arm}).
   */
  get hooks(): readonly HookStatus[] {
    const live = new Map(this.#hooks.map((h) => [h.target.spec.fn, h]));
    return this.#statuses.map((s) => {
      const h = live.get(s.fn);
      if (!h) return s;
      const armed = h.link !== undefined && !this.#closed;
      return { ...s, armed, ...(armed && h.progId !== undefined && { progId: h.progId }), ...(h.armError !== undefined && { armError: h.armError }) };
    });
  }

  /** Whether any hook works here (attached at open; it may be disarmed now). */
  get attached(): boolean {
    return this.#hooks.length > 0 && !this.#closed;
  }

  /** Whether any hook's program is attached now. */
  get armed(): boolean {
    return !this.#closed && this.#hooks.some((h) => h.link !== undefined);
  }

  /**
   * Attaches the hooks `want` says yes to and detaches the others: arming loads the hook's
   * program again and attaches it (a detached tracing program cannot be re-attached before 5.13:
   * kernel/bpf/syscall.c `bpf_tracing_prog_attach`); disarming closes its link and program (the
   * kernel restores the function: kernel/bpf/trampoline.c `bpf_trampoline_unlink_prog`). The
   * counters stay. Returns the functions whose state changed; a hook that fails to arm stays
   * disarmed with its reason in {@link hooks} (`armError`).
   */
  arm(want: (spec: HookSpec) => boolean): { armed: string[]; disarmed: string[] } {
    const out = { armed: [] as string[], disarmed: [] as string[] };
    if (this.#closed) return out;
    for (const h of this.#hooks) {
      const yes = want(h.target.spec);
      if (yes && h.link === undefined) {
        let prog: number | undefined;
        try {
          prog = loadHook(h);
          h.link = rawTracepointOpen(prog);
          h.prog = prog;
          h.progId = progIdOf(prog);
          h.armError = undefined;
          out.armed.push(h.target.spec.fn);
        } catch (error) {
          if (prog !== undefined && h.link === undefined) closeFd(prog);
          h.armError = refusal(prog === undefined ? 'load' : 'attach', error);
        }
      } else if (!yes && h.link !== undefined) {
        disarmHook(h);
        out.disarmed.push(h.target.spec.fn);
      }
    }
    return out;
  }

  /** Ids of the programs attached now (bpfmem's own: listings leave them out). */
  get progIds(): number[] {
    return this.#hooks.flatMap((h) => (h.progId === undefined || h.link === undefined ? [] : [h.progId]));
  }

  /** Ids of its own maps (slots, hook counters, events: bpfmem's own, which listings leave out); none once closed. */
  get mapIds(): number[] {
    return this.#closed ? [] : this.#maps.map((fd) => mapInfo(fd).id);
  }

  /** The claimed slots: failures per map and errno bucket since the tracer opened (or the slot was recycled). */
  slots(): SlotCounts[] {
    return this.#slotWords && !this.#closed ? readSlots(this.#slotWords) : [];
  }

  /** Per hook that works here: its failures, those not counted per map, events dropped, and its programs' recursion misses. */
  hookCounts(): { fn: string; fails: number; unslotted: number; dropped: number; recursionMisses: number }[] {
    if (!this.#hookWords || this.#closed) return [];
    const counts = readHookCounts(this.#hookWords, this.#hooks.length);
    return this.#hooks.map((h) => ({
      fn: h.target.spec.fn,
      ...(counts[h.index] ?? { fails: 0, unslotted: 0, dropped: 0 }),
      recursionMisses: Number(h.retiredMisses + (h.prog === undefined ? 0n : progInfo(h.prog).recursionMisses)),
    }));
  }

  /** Events the ring buffer holds, oldest first, at most `max`. */
  events(max = 10_000): FailureEvent[] {
    const out: FailureEvent[] = [];
    if (this.#closed) return out;
    this.#ring?.consume((view, offset) => out.push(decodeEvent(view, offset)), max);
    return out;
  }

  /**
   * Frees the slots of maps that no longer exist (ids are not reused until the idr wraps), so
   * that new maps find room: the caller keeps what they counted.
   */
  recycle(deadIds: ReadonlySet<number>): void {
    const words = this.#slotWords;
    if (!words || this.#closed) return;
    const per = SLOT.size / 8;
    for (let s = 0; s < SLOTS; s++) {
      const id = Number(Atomics.load(words, s * per) & 0xffff_ffffn);
      if (id === 0 || !deadIds.has(id)) continue;
      // Counts first, the owner last: a new claim can only follow a zeroed slot.
      for (let w = 1; w < per; w++) Atomics.store(words, s * per + w, 0n);
      Atomics.store(words, s * per, 0n);
    }
  }

  /** Detaches every program and frees the maps. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    const attempt = (f: () => void): void => {
      try {
        f();
      } catch (error) {
        errors.push(error);
      }
    };
    for (const h of this.#hooks) attempt(() => { disarmHook(h, false); });
    attempt(() => this.#ring?.close());
    attempt(() => this.#slotsMem?.unmap());
    attempt(() => this.#hooksMem?.unmap());
    for (const fd of this.#maps) attempt(() => { closeFd(fd); });
    if (errors.length > 0) throw errors[0];
  }
}

/** Loads a hook's program (its instructions were built at open). */
function loadHook(h: Hook): number {
  return progLoad({
    type: 'tracing',
    expectedAttachType: 'trace_fexit',
    attachBtfId: h.target.btfId,
    license: 'GPL',
    name: `bpfmem_w_${h.target.spec.short}`,
    insns: h.insns,
  });
}

/** Detaches a hook: closes its link, then its program, keeping the program's recursion misses. */
function disarmHook(h: Hook, keepMisses = true): void {
  const { link, prog } = h;
  h.link = undefined;
  h.prog = undefined;
  h.progId = undefined;
  if (link !== undefined) closeFd(link);
  if (prog !== undefined) {
    if (keepMisses) {
      try {
        h.retiredMisses += progInfo(prog).recursionMisses;
      } catch {
        // The count is lost, not the detach.
      }
    }
    closeFd(prog);
  }
}

function status(spec: HookSpec, state: HookStatus['state'], reason?: string): HookStatus {
  return { fn: spec.fn, types: spec.types, paths: spec.paths, table: spec.table, state, ...(reason !== undefined && { reason }) };
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;
