import type { Backend, Outcome, Snapshot } from '../vocab/backend.js';
import { ModelBackend } from '../model/backend.js';
import type { KernelProfile } from '../vocab/profile.js';
import { runStep } from '../scenario/run.js';
import type { Scenario, Step } from '../scenario/types.js';
import type { Compared, ScenarioResult } from './report.js';
import { caseTolerance, cgroupAllowance } from './tolerance.js';

const outcomeOf = (o: Outcome): string => (o.ok ? 'ok' : o.errno);

/** Steps after which the kernel frees memory asynchronously (RCU, deferred work). */
const FREES: ReadonlySet<Step['op']> = new Set(['close', 'delete', 'remove_cgroup', 'free']);

/**
 * Runs a scenario step by step on the kernel and on the model of this machine, comparing every
 * step's outcome and, after it, every cgroup's kernel memory. The tolerance grows by a
 * kilobyte per BPF object, for the `struct file` each fd costs its holder.
 */
export async function runScenarioSteps(
  scenario: Scenario,
  profile: KernelProfile,
  kernel: Backend,
  tol: number,
  sleep: (ms: number) => Promise<void>,
): Promise<ScenarioResult> {
  const model = new ModelBackend(profile);
  const mismatches: { index: number; kernel: string; model: string }[] = [];
  let worst: ScenarioResult['worstCharge'];
  let objects = 0;
  let slack = 0;
  // Cgroups cost their parents their own structures (cgroupAllowance); on v2 the live backend's
  // `/` also holds the leaf its root tasks live in (src/sys/cgroup/cgroupfs.ts V2_ROOT_TASKS).
  const cgroups = scenario.cgroups.length + (profile.cgroupVersion === 2 ? 1 : 0);
  const allowance = (): number => tol + scenario.tasks.length * 32 * 1024 + objects * 1024 + slack + cgroups * cgroupAllowance(profile);
  const compareAll = (index: number, k: Snapshot, m: Snapshot): void => {
    const allowed = allowance();
    for (const mc of m.cgroups) {
      const kc = k.cgroups.find((c) => c.path === mc.path);
      if (!kc || kc.kernel === null) continue;
      const c: Compared = { kernel: kc.kernel, model: mc.kernel ?? 0, diff: kc.kernel - (mc.kernel ?? 0), ok: Math.abs(kc.kernel - (mc.kernel ?? 0)) <= allowed };
      if (!worst || Math.abs(c.diff) > Math.abs(worst.compared.diff)) worst = { index, cgroup: mc.path, compared: c };
    }
  };
  for (const side of [kernel, model]) {
    for (const c of scenario.cgroups) {
      const o = await side.createCgroup(c.path, { max: c.max, high: c.high });
      if (!o.ok) throw new Error(`setup: cgroup ${c.path}: ${o.reason}`);
    }
    for (const t of scenario.tasks) {
      const o = await side.startTask(t.name, { cgroup: t.cgroup, uid: t.uid, capIpcLock: t.capIpcLock, ...(t.memlock === undefined ? {} : { memlock: t.memlock }) });
      if (!o.ok) throw new Error(`setup: task ${t.name}: ${o.reason}`);
    }
  }
  let skipped = 0;
  for (const step of scenario.steps) {
    const k = await runStep(step, kernel);
    const m = await runStep(step, model);
    if (step.op === 'create_map' || step.op === 'load_prog') objects++;
    if (step.op === 'create_map') slack += caseTolerance(step.spec, profile, 0);
    if (!k.ok && k.errno === 'EOPNOTSUPP') {
      skipped++; // not driven live (mlock, io_uring, inserts into types without a driver)
      continue;
    }
    if (outcomeOf(k) !== outcomeOf(m) || (k.applied ?? -1) !== (m.applied ?? -1)) {
      mismatches.push({ index: step.index, kernel: `${outcomeOf(k)}${k.applied === undefined ? '' : ` ×${k.applied}`}`, model: `${outcomeOf(m)}${m.applied === undefined ? '' : ` ×${m.applied}`}` });
    }
    const ks = FREES.has(step.op) ? await settle(kernel, await model.snapshot(), allowance(), sleep) : await kernel.snapshot();
    compareAll(step.index, ks, await model.snapshot());
  }
  const steps = scenario.steps.length - skipped;
  return {
    kind: 'scenario',
    id: scenario.source,
    outcomeMismatches: mismatches,
    worstCharge: worst,
    steps,
    ok: mismatches.length === 0 && (worst?.compared.ok ?? true),
  };
}

/**
 * Polls the kernel until its kernel counters are within what the step is allowed of the model's
 * (the same bound the comparison uses), for up to ~10 s: frees are asynchronous (an RCU grace
 * period, then `bpf_map_free_deferred()` on a workqueue) and take longer in a VM under TCG on a
 * busy host. A step that agrees returns at its first poll.
 */
async function settle(kernel: Backend, model: Snapshot, bound: number, sleep: (ms: number) => Promise<void>): Promise<Snapshot> {
  let last = await kernel.snapshot();
  for (let i = 0; i < 200; i++) {
    const close = model.cgroups.every((mc) => {
      const kc = last.cgroups.find((c) => c.path === mc.path);
      return kc?.kernel == null || Math.abs(kc.kernel - (mc.kernel ?? 0)) <= bound;
    });
    if (close) return last;
    await sleep(50);
    last = await kernel.snapshot();
  }
  return last;
}
