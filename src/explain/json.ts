import type { Explanation } from './explain.js';
import type { Verdict } from './verdict.js';
import { profileJson } from '../vocab/json.js';

/** The JSON of `bpfmem explain --json` (docs/explain.md). */

const hex = (n: bigint | undefined): string | null => (n === undefined ? null : `0x${n.toString(16)}`);
const orNull = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

function verdictJson(v: Verdict): Record<string, unknown> {
  switch (v.kind) {
    case 'fits':
      return { kind: 'fits', limit: orNull(v.limit), cgroup: orNull(v.cgroup), headroom: v.headroom, reclaim: v.reclaim };
    case 'short':
      return { kind: 'short', limit: v.limit, cgroup: orNull(v.cgroup), headroom: v.headroom, short: v.short };
    case 'refused':
      return { kind: 'refused', errno: v.errno, reason: v.reason };
    case 'unknown':
      return { kind: 'unknown', reason: v.reason };
  }
}

/** `--json` of explain (docs/explain.md). */
export function explanationJson(e: Explanation, progNames: readonly string[] = []): Record<string, unknown> {
  const { facts, need } = e;
  const task = facts.task;
  return {
    // The profile as every command gives it, and why its regime.
    kernel: { ...profileJson(facts.profile), regime_reason: facts.regimeReason },
    task: task
      ? { pid: task.pid, comm: orNull(task.comm), uid: orNull(task.uid), memlock: task.memlock ? { soft: task.memlock.soft, hard: task.memlock.hard } : null, cap_eff: hex(task.capEff) }
      : null,
    need: {
      counted: need.counted,
      charged: need.charged,
      memlock: need.memlock,
      uncharged: need.uncharged,
      extra: need.extra,
      maps: need.estimate.maps.map((m) =>
        m.ok
          ? { name: m.name, type: m.type, memlock: m.memlock, charged: m.charged, uncharged: m.uncharged }
          : { name: m.name, type: m.type, errno: m.errno, reason: m.reason },
      ),
      progs: need.estimate.progs.map((p, i) => ({
        ...(progNames[i] ? { name: progNames[i] } : {}),
        ...(p.ok ? { insns: p.insns, memlock: p.memlock, charged: p.charged } : { insns: p.insns, errno: p.errno ?? null, reason: p.reason ?? null }),
      })),
    },
    cgroups: e.levels.map((l) => ({
      path: l.path,
      usage: orNull(l.usage),
      max: l.max,
      headroom: orNull(l.headroom),
      high: orNull(l.high),
      reclaimable: orNull(l.reclaimable),
      failcnt: orNull(l.failcnt),
      max_events: orNull(l.maxEvents),
      short: l.short,
    })),
    cgroups_missing: orNull(facts.chainMissing),
    verdict: verdictJson(e.verdict),
    advice: e.advice,
    notes: e.notes,
    errno: orNull(e.request.errno),
    causes: e.causes.map((c) => ({ kind: c.kind, status: c.status, text: c.text, evidence: c.evidence, fix: orNull(c.fix) })),
  };
}
