import { existsSync } from 'node:fs';
import { assemble } from '../../asm/index.js';
import type { Btf } from '../../btf/index.js';
import { ERRNO } from '../../vocab/errno.js';
import { MAP_FLAGS } from '../../vocab/flags.js';
import {
  closeFd,
  mapCreate,
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
  readonly progId?: number;
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

interface Attached {
  readonly target: HookTarget;
  readonly prog: number;
  readonly link: number;
}

export class UpdateTracer {
  readonly #maps: number[];
  readonly #attached: Attached[];
  readonly #slotsMem: MappedMemory | undefined;
  readonly #hooksMem: MappedMemory | undefined;
  readonly #slotWords: BigUint64Array | undefined;
  readonly #hookWords: BigUint64Array | undefined;
  readonly #ring: RingReader | undefined;
  #closed = false;

  private constructor(
    /** Every hook of the catalog and what became of it. */
    readonly hooks: readonly HookStatus[],
    /** Set when no hook could be attached for one reason shared by all (trampolines refused). */
    readonly refusedAll: string | undefined,
    parts: { maps: number[]; attached: Attached[]; slots?: MappedMemory; hooks?: MappedMemory; ring?: RingReader },
  ) {
    this.#maps = parts.maps;
    this.#attached = parts.attached;
    this.#slotsMem = parts.slots;
    this.#hooksMem = parts.hooks;
    this.#ring = parts.ring;
    this.#slotWords = parts.slots && new BigUint64Array(parts.slots.buffer, 0, (SLOTS * SLOT.size) / 8);
    this.#hookWords = parts.hooks && new BigUint64Array(parts.hooks.buffer, 0, (MAX_HOOKS * HOOK.size) / 8);
  }

  /**
   * Builds, loads and attaches every hook this kernel's BTF has. Throws only when the counter
   * maps cannot be made (not root, no memory); every refusal of a hook is in {@link hooks}.
   */
  static open(o: TracerOptions): UpdateTracer {
    const plan = planHooks(o.btf, o.all === true ? 'all' : 'default');
    if ('error' in plan) {
      return new UpdateTracer(
        HOOKS.map((spec) => status(spec, 'absent', plan.error)),
        plan.error,
        { maps: [], attached: [] },
      );
    }
    const maps: number[] = [];
    const attached: Attached[] = [];
    const mems: MappedMemory[] = [];
    let ring: RingReader | undefined;
    const release = (): void => {
      for (const a of attached) {
        closeFd(a.link);
        closeFd(a.prog);
      }
      ring?.close();
      for (const m of mems) m.unmap();
      for (const fd of maps) closeFd(fd);
    };
    try {
      const slots = mapCreate({ type: 'array', keySize: 4, valueSize: SLOT.size, maxEntries: SLOTS, flags: MAP_FLAGS.mmapable, name: 'bpfmem_wslots' });
      maps.push(slots);
      const hooks = mapCreate({ type: 'array', keySize: 4, valueSize: HOOK.size, maxEntries: MAX_HOOKS, flags: MAP_FLAGS.mmapable, name: 'bpfmem_whooks' });
      maps.push(hooks);
      const eventBytes = o.eventBytes ?? DEFAULT_EVENT_BYTES;
      let events: number | undefined;
      if (eventBytes > 0) {
        events = mapCreate({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: eventBytes, name: 'bpfmem_wevents' });
        maps.push(events);
      }
      const slotsMem = mapMmap(slots, 0, roundUp(SLOTS * SLOT.size, o.pageSize), true);
      mems.push(slotsMem);
      const hooksMem = mapMmap(hooks, 0, roundUp(MAX_HOOKS * HOOK.size, o.pageSize), true);
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
        if (attached.length >= MAX_HOOKS) {
          statuses.set(target.spec.fn, status(target.spec, 'refused', `more than ${MAX_HOOKS} hooks`));
          continue;
        }
        const index = attached.length;
        const load = (withCmpxchg: boolean): number =>
          progLoad({
            type: 'tracing',
            expectedAttachType: 'trace_fexit',
            attachBtfId: target.btfId,
            license: 'GPL',
            name: `bpfmem_w_${target.spec.short}`,
            insns: assemble(buildHookProgram(target, index, { slots, hooks, events }, { cmpxchg: withCmpxchg })),
          });
        let prog: number;
        try {
          try {
            prog = load(cmpxchg);
          } catch (error) {
            // A verifier without BPF_CMPXCHG (before 5.12) refuses the instruction: fall back to a plain claim.
            if (!(cmpxchg && error instanceof SyscallError && error.errno === ERRNO.EINVAL)) throw error;
            prog = load(false);
            cmpxchg = false;
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
        let link: number;
        try {
          link = rawTracepointOpen(prog);
        } catch (error) {
          closeFd(prog);
          statuses.set(target.spec.fn, status(target.spec, 'refused', refusal('attach', error)));
          continue;
        }
        attached.push({ target, prog, link });
        statuses.set(target.spec.fn, { ...status(target.spec, 'attached'), index, progId: progInfo(prog).id });
      }
      const ordered = HOOKS.map((spec) => statuses.get(spec.fn) ?? status(spec, 'absent', 'not planned'));
      if (attached.length === 0) {
        release();
        return new UpdateTracer(ordered, refusedAll ?? 'no hook could be attached on this kernel', { maps: [], attached: [] });
      }
      return new UpdateTracer(ordered, undefined, { maps, attached, slots: slotsMem, hooks: hooksMem, ...(ring && { ring }) });
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Whether any hook is attached. */
  get attached(): boolean {
    return this.#attached.length > 0 && !this.#closed;
  }

  /** Ids of the programs attached (bpfmem's own: listings leave them out). */
  get progIds(): number[] {
    return this.hooks.flatMap((h) => (h.progId === undefined ? [] : [h.progId]));
  }

  /** The claimed slots: failures per map and errno bucket since the tracer opened (or the slot was recycled). */
  slots(): SlotCounts[] {
    return this.#slotWords && !this.#closed ? readSlots(this.#slotWords) : [];
  }

  /** Per attached hook: its failures, those not counted per map, events dropped, and the program's recursion misses. */
  hookCounts(): { fn: string; fails: number; unslotted: number; dropped: number; recursionMisses: number }[] {
    if (!this.#hookWords || this.#closed) return [];
    const counts = readHookCounts(this.#hookWords, this.#attached.length);
    return this.#attached.map((a, i) => ({
      fn: a.target.spec.fn,
      ...(counts[i] ?? { fails: 0, unslotted: 0, dropped: 0 }),
      recursionMisses: Number(progInfo(a.prog).recursionMisses),
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
    for (const a of this.#attached) {
      attempt(() => { closeFd(a.link); });
      attempt(() => { closeFd(a.prog); });
    }
    attempt(() => this.#ring?.close());
    attempt(() => this.#slotsMem?.unmap());
    attempt(() => this.#hooksMem?.unmap());
    for (const fd of this.#maps) attempt(() => { closeFd(fd); });
    if (errors.length > 0) throw errors[0];
  }
}

function status(spec: HookSpec, state: HookStatus['state'], reason?: string): HookStatus {
  return { fn: spec.fn, types: spec.types, paths: spec.paths, table: spec.table, state, ...(reason !== undefined && { reason }) };
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;
