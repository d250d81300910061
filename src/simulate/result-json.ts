import type { KnownSnapshot, Snapshot } from '../vocab/backend.js';
import type { Btf } from '../btf/index.js';
import { profileWithBtf } from '../vocab/btf-sizes.js';
import { BpfmemError } from '../vocab/errors.js';
import { json, profileJson } from '../vocab/json.js';
import { ModelBackend } from '../model/backend.js';
import type { KernelProfile, Regime } from '../vocab/profile.js';
import { formatScenarioError, parseScenario } from '../scenario/parse.js';
import { runScenario, scenarioProfile, type RunResult } from '../scenario/run.js';
import type { Scenario } from '../scenario/types.js';

/**
 * What `bpfmem simulate FILE --json` prints, shared by the CLI and `bpfmem serve`
 * (`POST /api/v1/simulate`). The shape is documented in docs/cli.md ("simulate").
 */

/**
 * Runs a scenario on the model under a regime (the scenario's own when undefined), on `host`
 * where the scenario names no kernel, with the struct sizes of a kernel's BTF when one is given
 * (`simulate --btf`, src/vocab/btf-sizes.ts).
 */
export async function simulate(scenario: Scenario, regime?: Regime, btf?: Btf, host?: KernelProfile): Promise<RunResult<KnownSnapshot>> {
  const profile = scenarioProfile(scenario, regime, host);
  if (typeof profile === 'string') throw new BpfmemError('input', profile);
  return runScenario(scenario, new ModelBackend(btf ? profileWithBtf(profile, btf) : profile));
}

/** The `--json` of one run. */
export function runJson(run: RunResult): Record<string, unknown> {
  const f = run.final;
  return {
    regime: run.regime,
    kernel: profileJson(run.profile),
    steps: run.steps.map((s) => ({
      index: s.index,
      op: s.op,
      // A setup result says what it set up: every one has the index -1.
      ...(s.op === 'setup' ? { summary: s.summary, ...(s.target === undefined ? {} : { target: s.target }) } : {}),
      ok: s.ok,
      ...(s.errno === undefined ? {} : { errno: s.errno }),
      ...(s.reason === undefined ? {} : { reason: s.reason }),
      ...(s.applied === undefined ? {} : { applied: s.applied }),
      ...(s.detail === undefined ? {} : { detail: s.detail }),
    })),
    cgroups: Object.fromEntries(
      f.cgroups.map((c) => [
        c.path,
        {
          usage: c.usage,
          stock: c.stock,
          max: c.max,
          high: c.high,
          peak: c.peak,
          failcnt: c.failcnt,
          events: c.events,
          kernel: c.kernel,
          stat: c.stat,
          bpf: c.bpf,
          bpf_objects: c.bpfObjects,
          dying_descendants: c.dyingDescendants,
        },
      ]),
    ),
    users: usersOf(f),
    tasks: Object.fromEntries(f.tasks.map((t) => [t.name, { cgroup: t.cgroup, uid: t.uid, memlock: t.memlock, mlocked: t.mlocked, anon: t.anon }])),
    maps: Object.fromEntries(
      f.maps.map((m) => [
        m.name,
        {
          id: m.id,
          type: m.type,
          key: m.keySize,
          value: m.valueSize,
          max_entries: m.maxEntries,
          flags: m.flags,
          elements: m.elements,
          memlock: m.memlock,
          charged: m.charged,
          uncharged: m.uncharged,
          charged_to: m.chargedTo,
          charged_to_removed: m.chargedToRemoved,
          creator: m.creator,
        },
      ]),
    ),
    progs: Object.fromEntries(
      f.progs.map((p) => [p.name, { id: p.id, insns: p.insns, memlock: p.memlock, charged: p.charged, charged_to: p.chargedTo, loader: p.loader }]),
    ),
  };
}

/** Every uid with a task or locked memory, with its `locked_vm`. */
export function usersOf(f: Snapshot): Record<string, { locked_vm: number }> {
  const uids = new Set<number>([...f.tasks.map((t) => t.uid), ...f.users.map((u) => u.uid)]);
  return Object.fromEntries(
    [...uids].sort((a, b) => a - b).map((uid) => [String(uid), { locked_vm: f.users.find((u) => u.uid === uid)?.lockedVm ?? 0 }]),
  );
}

/** A regime to simulate under: one of the three, `both` side by side, or undefined for the scenario's own. */
export type SimulateRegime = Regime | 'both';

/**
 * The text `bpfmem simulate FILE --json [--regime R]` prints for a scenario file's contents.
 * Throws a `BpfmemError` (`input`) with the parser's one line when the file is not a valid
 * scenario, or when its kernel cannot run under the regime.
 *
 * @param text - the file's contents (YAML or JSON)
 * @param source - the file's name, as messages and `source` show it
 */
export async function simulateJsonText(text: string, source: string, regime?: SimulateRegime, host?: KernelProfile): Promise<string> {
  const parsed = parseScenario(text, source, { host: () => host });
  if (!parsed.ok) throw new BpfmemError('input', formatScenarioError(parsed.error));
  const scenario = parsed.scenario;
  if (regime === 'both') {
    const memcg = await simulate(scenario, 'memcg', undefined, host);
    const memlock = await simulate(scenario, 'memlock', undefined, host);
    return json({ source, regime: 'both', runs: { memcg: runJson(memcg), memlock: runJson(memlock) } });
  }
  return json({ source, ...runJson(await simulate(scenario, regime, undefined, host)) });
}
