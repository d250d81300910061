/**
 * The conformance report: per case, what the kernel and the model said, and whether they agree
 * within the stated tolerance. Its JSON is `bpfmem conformance --json`.
 */

/** A number both sides measured, and whether they agree. */
export interface Compared {
  readonly kernel: number;
  readonly model: number;
  /** `kernel - model`. */
  readonly diff: number;
  readonly ok: boolean;
}

/** One grid case: a map created (and maybe filled) on both sides. */
export interface GridResult {
  readonly kind: 'grid';
  readonly id: string;
  readonly type: string;
  /** `ok` or the errno, on each side, of creating the map. */
  readonly outcome: { readonly kernel: string; readonly model: string; readonly ok: boolean };
  /**
   * Before 5.11: the RLIMIT_MEMLOCK the case ran under (the model's precharge, for a fresh uid),
   * and the outcome of the same creation one page below it (EPERM on both sides).
   */
  readonly rlimit?: { readonly limit: number; readonly below: { readonly kernel: string; readonly model: string; readonly ok: boolean } };
  /** fdinfo `memlock` after creation: must be exact. */
  readonly memlock?: Compared;
  /** Kernel memory charged to the creator's cgroup by the creation (absent where the kernel does not show it: {@link ConformanceReport.chargesUnmeasured}). */
  readonly createCharge?: Compared;
  /** For cases with inserts: inserts done, memlock after, and the charge of the inserts. */
  readonly inserts?: {
    readonly context: 'task' | 'softirq';
    /**
     * Inserts the kernel refused with ENOMEM and that were retried: per-CPU refills fail while
     * the per-CPU allocator has no populated space (a timing the model does not play).
     */
    readonly retried: number;
    readonly applied: Compared;
    readonly memlock: Compared;
    /** Absent, as {@link createCharge} and `bystander`, where the kernel shows no kernel memory per cgroup. */
    readonly charge?: Compared;
    /** What the cgroup of the task that sent the packets (or ran the syscalls) was charged. */
    readonly bystander?: Compared;
  };
  /** A case the harness could not run, and why. */
  readonly error?: string;
}

/** A cgroup's counters, bytes (`null` where the backend cannot read one). */
export interface RefusalCounters {
  readonly usage: number | null;
  readonly kernel: number | null;
  readonly slab: number | null;
  readonly percpu: number | null;
  readonly anon: number | null;
}

/** An insert refused before the map was full: the cgroup's counters before the map was created and at the refusal. */
export interface InsertRefusal {
  readonly before: RefusalCounters;
  readonly at: RefusalCounters;
}

/** One limit-boundary case: the largest size that fits under a limit. */
export interface BoundaryResult {
  readonly kind: 'boundary';
  readonly id: string;
  readonly type: string;
  readonly max: number;
  readonly grows: 'max_entries' | 'inserts';
  /**
   * The largest size that fits: the kernel's, and the model's with `base` bytes already in the
   * cgroup; `ok` when the model predicted every probe's outcome.
   */
  readonly largest: Compared;
  /**
   * The most a probe's cgroup held besides the map (its task's own pages), in bytes: before the
   * probe, and for inserts with what the task's pages grew by until the refusal.
   */
  readonly base: number;
  /**
   * The kernel probes made: the size (inserts done, for `inserts`), the kernel's result (ok or
   * errno), the model's for the same probe, and the bytes the cgroup held before it.
   */
  readonly probes: readonly {
    readonly size: number;
    readonly result: string;
    readonly model: string;
    readonly base: number;
    /** A creation probe made twice: what the first try gave (this record is the second's). */
    readonly firstTry?: string;
    /** An inserts probe refused before the map was full: the cgroup before the map and then. */
    readonly refusedAt?: InsertRefusal;
    /**
     * Of that probe, the bytes the probe task's own anonymous pages grew by until the refusal:
     * headroom they took as the base did, so the model is given `base + taskGrowth`.
     */
    readonly taskGrowth?: number;
  }[];
  readonly error?: string;
}

/** One scenario file run on both sides. */
export interface ScenarioResult {
  readonly kind: 'scenario';
  readonly id: string;
  /** Steps whose outcome (ok or errno) differs. */
  readonly outcomeMismatches: readonly { readonly index: number; readonly kernel: string; readonly model: string }[];
  /** After each step, every cgroup's kernel memory: the worst difference. */
  readonly worstCharge: { readonly index: number; readonly cgroup: string; readonly compared: Compared } | undefined;
  readonly steps: number;
  readonly ok: boolean;
  readonly error?: string;
}

export type CaseResult = GridResult | BoundaryResult | ScenarioResult;

/** Totals per map type. */
export interface TypeSummary {
  readonly type: string;
  readonly cases: number;
  readonly memlockExact: number;
  readonly memlockChecked: number;
  readonly chargeOk: number;
  readonly chargeChecked: number;
}

export interface ConformanceReport {
  readonly kernel: { readonly release: string; readonly cgroup: 1 | 2; readonly cpus: number; readonly pageSize: number; readonly regime: string };
  readonly quick: boolean;
  /** The charge tolerance in bytes, and why it is that. */
  readonly tolerance: { readonly bytes: number; readonly why: string };
  readonly cases: readonly CaseResult[];
  /** Why the grid's charges were not compared, where the kernel did not show them. */
  readonly chargesUnmeasured?: string;
  /** Cases not run, and why (a map type this kernel refuses to root). */
  readonly skipped: readonly { readonly id: string; readonly why: string }[];
  readonly byType: readonly TypeSummary[];
  readonly totals: {
    readonly memlockExact: number;
    readonly memlockChecked: number;
    readonly chargeOk: number;
    readonly chargeChecked: number;
    readonly boundaryAgree: number;
    readonly boundaryChecked: number;
    /** Grid creations (and, before 5.11, the creation one page under RLIMIT_MEMLOCK) with the same outcome on both sides. */
    readonly outcomesAgree: number;
    readonly outcomesChecked: number;
    readonly scenariosOk: number;
    readonly scenariosChecked: number;
    readonly errors: number;
  };
  readonly seconds: number;
}

/** Per-type and overall totals of grid and boundary results. */
export function summarize(cases: readonly CaseResult[]): Pick<ConformanceReport, 'byType' | 'totals'> {
  const byType = new Map<string, { cases: number; memlockExact: number; memlockChecked: number; chargeOk: number; chargeChecked: number }>();
  const t = { memlockExact: 0, memlockChecked: 0, chargeOk: 0, chargeChecked: 0, boundaryAgree: 0, boundaryChecked: 0, outcomesAgree: 0, outcomesChecked: 0, scenariosOk: 0, scenariosChecked: 0, errors: 0 };
  for (const c of cases) {
    if (c.error !== undefined) t.errors++;
    if (c.kind === 'scenario') {
      if (c.error === undefined) {
        t.scenariosChecked++;
        if (c.ok) t.scenariosOk++;
      }
      continue;
    }
    if (c.kind === 'boundary') {
      if (c.error === undefined) {
        t.boundaryChecked++;
        if (c.largest.ok) t.boundaryAgree++;
      }
      continue;
    }
    if (c.error === undefined) {
      for (const o of [c.outcome, c.rlimit?.below]) {
        if (o === undefined) continue;
        t.outcomesChecked++;
        if (o.ok) t.outcomesAgree++;
      }
    }
    const s = byType.get(c.type) ?? { cases: 0, memlockExact: 0, memlockChecked: 0, chargeOk: 0, chargeChecked: 0 };
    s.cases++;
    const memlocks = [c.memlock, c.inserts?.memlock].filter((x): x is Compared => x !== undefined);
    const charges = [c.createCharge, c.inserts?.charge, c.inserts?.bystander].filter((x): x is Compared => x !== undefined);
    for (const m of memlocks) {
      s.memlockChecked++;
      if (m.ok) s.memlockExact++;
    }
    for (const ch of charges) {
      s.chargeChecked++;
      if (ch.ok) s.chargeOk++;
    }
    byType.set(c.type, s);
  }
  for (const s of byType.values()) {
    t.memlockExact += s.memlockExact;
    t.memlockChecked += s.memlockChecked;
    t.chargeOk += s.chargeOk;
    t.chargeChecked += s.chargeChecked;
  }
  return { byType: [...byType].map(([type, s]) => ({ type, ...s })), totals: t };
}
