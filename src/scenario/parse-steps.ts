import type { MapSpec } from '../vocab/map-spec.js';
import type { ScenarioCgroup, ScenarioKernel, ScenarioTask, Step, UpdateContext } from './types.js';
import { describeValue, didYouMean, quote, SIZE_MAX } from '../vocab/fields.js';
import { formatBytes } from '../vocab/units.js';
import { parentOf } from '../vocab/cgroup-path.js';
import { SCENARIO_LIMITS } from '../vocab/limits.js';
import type { Err, Result } from '../vocab/result.js';
import {
  STEP_ARGS,
  STEP_OPS,
  isMapping,
  isStepOp,
  validate,
  type SchemaIssue,
  type StepArgs,
  type StepOpName,
} from './parse-schema.js';
import type { PathSegment } from './parse-yaml.js';
import type { CgroupVersion } from '../vocab/profile.js';

/**
 * The `steps` of a scenario file: each step's shape (parse-schema.ts), then, in file order,
 * whether the names it uses exist at that point. Cgroups are created and removed, tasks move,
 * maps and programs are created and closed; the checks follow them so that every step the
 * parser accepts refers to things that exist when it runs.
 */

/**
 * The kernel a scenario runs on, as far as the parser can know it: what its steps may ask of it
 * (a CPU below its possible CPUs, `memory.high` on cgroup v2 only).
 */
export interface RunsOn {
  readonly cpus: number;
  readonly cgroup: CgroupVersion;
  /** Where those come from, for messages: the file, the defaults of a named version, this machine, or the model's default kernel. */
  readonly basis: 'file' | 'version' | 'host' | 'model';
}

/** What the steps start from: the sections above them, already validated. */
export interface StepsContext {
  readonly kernel: ScenarioKernel;
  /** What the steps may ask of the kernel they run on (its CPUs, its cgroup version). */
  readonly runsOn: RunsOn;
  readonly cgroups: readonly ScenarioCgroup[];
  readonly tasks: readonly ScenarioTask[];
  /** The values of `keys` of a mapping that YAML read as numbers or booleans, as written (`007`). */
  readonly asWritten: (input: Readonly<Record<string, unknown>>, at: readonly PathSegment[], keys: readonly string[]) => Record<string, unknown>;
}

/** The arguments that name a task, map or program: a name written `007` or `1.50` is that text. */
const NAME_KEYS = ['task', 'name', 'map', 'prog', 'context'] as const;

const issue = (path: readonly PathSegment[], message: string): Err<SchemaIssue> => ({
  ok: false,
  error: { path, message },
});

/** A map or program as the steps have made it so far. */
interface BpfObject {
  /** The task that created it (maps) or loaded it (programs). */
  readonly owner: string;
  readonly createdBy: number;
  closedBy?: number;
}

/** The state the checks follow through the steps. */
class World {
  readonly cgroups = new Set<string>(['/']);
  /** Task name → its cgroup now. */
  readonly tasks = new Map<string, string>();
  readonly maps = new Map<string, BpfObject>();
  readonly progs = new Map<string, BpfObject>();
  /** Bytes the alloc and mlock steps so far take, frees not taken off: at most {@link SIZE_MAX}. */
  taken = 0;
  /** Live child cgroups of each cgroup: rmdir of a cgroup with children fails (EBUSY). */
  private readonly children = new Map<string, Set<string>>();
  /** The tasks in each cgroup now: rmdir of a cgroup with tasks fails (EBUSY). */
  private readonly members = new Map<string, Set<string>>();

  constructor(ctx: StepsContext) {
    for (const c of ctx.cgroups) this.addCgroup(c.path);
    for (const t of ctx.tasks) this.moveTask(t.name, t.cgroup);
  }

  addCgroup(path: string): void {
    this.cgroups.add(path);
    setOf(this.children, parentOf(path)).add(path);
  }

  removeCgroup(path: string): void {
    this.cgroups.delete(path);
    this.children.get(parentOf(path))?.delete(path);
  }

  moveTask(name: string, cgroup: string): void {
    const from = this.tasks.get(name);
    if (from !== undefined) this.members.get(from)?.delete(name);
    this.tasks.set(name, cgroup);
    setOf(this.members, cgroup).add(name);
  }

  /** A child cgroup of `path`, if any. */
  childOf(path: string): string | undefined {
    return first(this.children.get(path));
  }

  /** A task in `path`, if any. */
  taskIn(path: string): string | undefined {
    return first(this.members.get(path));
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (set === undefined) map.set(key, (set = new Set()));
  return set;
}

function first<T>(set: ReadonlySet<T> | undefined): T | undefined {
  if (set) for (const item of set) return item;
  return undefined;
}

/**
 * cgroup v2's "no internal processes" rule (Documentation/admin-guide/cgroup-v2.rst): a cgroup
 * other than the root that has child cgroups (with the memory controller, which bpfmem's
 * cgroups all have) may hold no task. The kernel refuses the write to `cgroup.procs`, or to the
 * parent's `cgroup.subtree_control`, with EBUSY; the model does as much (model/kernel.ts). Every
 * message ends in this.
 */
export function noInternalProcesses(runsOn: RunsOn, kernel: ScenarioKernel): string {
  const where = kernel.cgroup === undefined && runsOn.basis === 'host' ? "; the scenario runs on this machine's kernel, whose memory controller is on cgroup v2" : '';
  return `cgroup v2 allows tasks only in cgroups without children ("no internal processes"; the kernel refuses with EBUSY)${where}`;
}

/** Reads `steps`. `input` is the raw value of the key (undefined when absent). */
export function readSteps(input: unknown, ctx: StepsContext): Result<Step[], SchemaIssue> {
  if (input === undefined || input === null) return { ok: true, value: [] };
  if (!Array.isArray(input)) return issue(['steps'], `expected a list of steps; got ${describeValue(input)}`);
  if (input.length > SCENARIO_LIMITS.steps) {
    return issue(['steps'], `${input.length} steps; a scenario has at most ${SCENARIO_LIMITS.steps}`);
  }
  const world = new World(ctx);
  const steps: Step[] = [];
  for (const [index, item] of input.entries()) {
    const step = readStep(item, index, world, ctx);
    if (!step.ok) return step;
    steps.push(step.value);
  }
  return { ok: true, value: steps };
}

/** One step: `{ OP: { ...args } }`. */
function readStep(item: unknown, index: number, world: World, ctx: StepsContext): Result<Step, SchemaIssue> {
  const at: PathSegment[] = ['steps', index];
  if (!isMapping(item)) return issue(at, `expected a step such as { create_map: { ... } }; got ${describeValue(item)}`);
  const keys = Object.keys(item);
  const [op] = keys;
  if (op === undefined) return issue(at, `empty step; expected one operation: ${STEP_OPS.join(', ')}`);
  if (keys.length > 1) {
    return issue(at, `a step has one operation; got ${keys.length} keys: ${keys.slice(0, 4).map(quote).join(', ')}`);
  }
  if (!isStepOp(op)) return issue([...at, op], `unknown operation${didYouMean(op, STEP_OPS)}; expected one of ${STEP_OPS.join(', ')}`);
  const args = item[op];
  const input = isMapping(args) ? { ...args, ...ctx.asWritten(args, [...at, op], NAME_KEYS) } : args;
  return new StepReader(world, ctx, index, op).read(input);
}

/** Reads the arguments of one step and checks them against the world. */
class StepReader {
  private readonly at: readonly PathSegment[];

  constructor(
    private readonly world: World,
    private readonly ctx: StepsContext,
    private readonly index: number,
    private readonly op: StepOpName,
  ) {
    this.at = ['steps', index, op];
  }

  private args<K extends StepOpName>(op: K, input: unknown): Result<StepArgs<K>, SchemaIssue> {
    const r = validate(STEP_ARGS[op], input, this.at);
    return r.ok ? { ok: true, value: r.value } : r;
  }

  private fail(key: string | undefined, message: string): Err<SchemaIssue> {
    return issue(key === undefined ? this.at : [...this.at, key], message);
  }

  read(input: unknown): Result<Step, SchemaIssue> {
    const index = this.index;
    switch (this.op) {
      case 'create_map': {
        const a = this.args('create_map', input);
        if (!a.ok) return a;
        return this.createMap(a.value);
      }
      case 'update': {
        const a = this.args('update', input);
        if (!a.ok) return a;
        const map = this.openMap(a.value.map);
        if (!map.ok) return map;
        const context = this.context(a.value.context, map.value.owner);
        if (!context.ok) return context;
        const cpu = this.cpu(a.value.cpu);
        if (!cpu.ok) return cpu;
        const { map: name, count = 1 } = a.value;
        return { ok: true, value: { op: 'update', index, map: name, count, context: context.value, cpu: cpu.value } };
      }
      case 'delete': {
        const a = this.args('delete', input);
        if (!a.ok) return a;
        const map = this.openMap(a.value.map);
        if (!map.ok) return map;
        const cpu = this.cpu(a.value.cpu);
        if (!cpu.ok) return cpu;
        return { ok: true, value: { op: 'delete', index, map: a.value.map, count: a.value.count ?? 1, cpu: cpu.value } };
      }
      case 'close': {
        const a = this.args('close', input);
        if (!a.ok) return a;
        const { map, prog } = a.value;
        if ((map === undefined) === (prog === undefined)) {
          return this.fail(undefined, map === undefined ? 'give the map or the prog to close' : 'give map or prog, not both');
        }
        const kind = map === undefined ? 'prog' : 'map';
        const name = map ?? prog ?? '';
        const found = kind === 'map' ? this.openMap(name) : this.openProg(name);
        if (!found.ok) return found;
        found.value.closedBy = index;
        return { ok: true, value: { op: 'close', index, kind, name } };
      }
      case 'load_prog': {
        const a = this.args('load_prog', input);
        if (!a.ok) return a;
        const task = this.task(a.value.task);
        if (!task.ok) return task;
        const previous = this.world.progs.get(a.value.name);
        if (previous) return this.fail('name', `duplicate prog name ${quote(a.value.name)} (steps[${previous.createdBy}] loaded it)`);
        this.world.progs.set(a.value.name, { owner: a.value.task, createdBy: index });
        return { ok: true, value: { op: 'load_prog', index, task: a.value.task, name: a.value.name, insns: a.value.insns } };
      }
      case 'move_task': {
        const a = this.args('move_task', input);
        if (!a.ok) return a;
        const task = this.task(a.value.task);
        if (!task.ok) return task;
        const cgroup = this.cgroup(a.value.cgroup, { root: true });
        if (!cgroup.ok) return cgroup;
        const child = this.world.childOf(a.value.cgroup);
        if (this.ctx.runsOn.cgroup === 2 && a.value.cgroup !== '/' && child !== undefined) {
          const why = noInternalProcesses(this.ctx.runsOn, this.ctx.kernel);
          return this.fail('cgroup', `cannot move task ${quote(a.value.task)} into ${a.value.cgroup}, which has the child cgroup ${child}: ${why}`);
        }
        this.world.moveTask(a.value.task, a.value.cgroup);
        return { ok: true, value: { op: 'move_task', index, task: a.value.task, cgroup: a.value.cgroup } };
      }
      case 'create_cgroup': {
        const a = this.args('create_cgroup', input);
        if (!a.ok) return a;
        const path = a.value.cgroup;
        if (this.world.cgroups.has(path)) {
          return this.fail('cgroup', path === '/' ? 'the root cgroup / always exists' : `cgroup ${path} already exists at this step`);
        }
        const parent = parentOf(path);
        if (!this.world.cgroups.has(parent)) {
          return this.fail('cgroup', `parent cgroup ${parent} does not exist at this step (create it first)`);
        }
        const task = this.world.taskIn(parent);
        if (this.ctx.runsOn.cgroup === 2 && parent !== '/' && task !== undefined) {
          const why = noInternalProcesses(this.ctx.runsOn, this.ctx.kernel);
          return this.fail('cgroup', `cannot create ${path}: its parent ${parent} has task ${quote(task)}, and ${why}`);
        }
        const high = this.high(a.value.high);
        if (!high.ok) return high;
        this.world.addCgroup(path);
        const max = a.value.max ?? Infinity;
        return { ok: true, value: { op: 'create_cgroup', index, cgroup: path, max, high: high.value ?? Infinity } };
      }
      case 'remove_cgroup': {
        const a = this.args('remove_cgroup', input);
        if (!a.ok) return a;
        const path = a.value.cgroup;
        const cgroup = this.cgroup(path, { root: false });
        if (!cgroup.ok) return cgroup;
        if (this.world.childOf(path) !== undefined) {
          return this.fail('cgroup', `cgroup ${path} still has child cgroups (remove them first; rmdir fails with EBUSY)`);
        }
        const task = this.world.taskIn(path);
        if (task !== undefined) {
          return this.fail('cgroup', `cgroup ${path} still has task ${quote(task)} (move it out first; rmdir fails with EBUSY)`);
        }
        this.world.removeCgroup(path);
        return { ok: true, value: { op: 'remove_cgroup', index, cgroup: path } };
      }
      case 'set_limit': {
        const a = this.args('set_limit', input);
        if (!a.ok) return a;
        const cgroup = this.cgroup(a.value.cgroup, { root: false });
        if (!cgroup.ok) return cgroup;
        const { max } = a.value;
        const high = this.high(a.value.high);
        if (!high.ok) return high;
        if (max === undefined && high.value === undefined) return this.fail(undefined, 'give max, high or both');
        return {
          ok: true,
          value: {
            op: 'set_limit',
            index,
            cgroup: a.value.cgroup,
            ...(max === undefined ? {} : { max }),
            ...(high.value === undefined ? {} : { high: high.value }),
          },
        };
      }
      case 'alloc':
      case 'free': {
        const op = this.op;
        const a = this.args(op, input);
        if (!a.ok) return a;
        const task = this.task(a.value.task);
        if (!task.ok) return task;
        if (op === 'alloc') {
          const taken = this.take(a.value.bytes);
          if (!taken.ok) return taken;
        }
        return { ok: true, value: { op, index, task: a.value.task, bytes: a.value.bytes } };
      }
      case 'mlock': {
        const a = this.args('mlock', input);
        if (!a.ok) return a;
        const task = this.task(a.value.task);
        if (!task.ok) return task;
        const taken = this.take(a.value.bytes);
        if (!taken.ok) return taken;
        return { ok: true, value: { op: 'mlock', index, task: a.value.task, bytes: a.value.bytes, via: a.value.via ?? 'mlock' } };
      }
    }
  }

  private createMap(a: StepArgs<'create_map'>): Result<Step, SchemaIssue> {
    const task = this.task(a.task);
    if (!task.ok) return task;
    const previous = this.world.maps.get(a.name);
    if (previous) return this.fail('name', `duplicate map name ${quote(a.name)} (steps[${previous.createdBy}] created it)`);
    for (const key of ['struct_ops_funcs', 'struct_ops_members'] as const) {
      if (a[key] !== undefined && a.type !== 'struct_ops') return this.fail(key, `${key} applies only to type struct_ops, not ${a.type}`);
    }
    const spec: MapSpec = {
      type: a.type,
      keySize: a.key ?? 0,
      valueSize: a.value ?? 0,
      maxEntries: a.max_entries ?? 0,
      flags: a.flags ?? 0,
      mapExtra: a.map_extra ?? 0,
      ...(a.struct_ops_funcs === undefined ? {} : { structOpsFuncs: a.struct_ops_funcs }),
      ...(a.struct_ops_members === undefined ? {} : { structOpsMembers: a.struct_ops_members }),
    };
    this.world.maps.set(a.name, { owner: a.task, createdBy: this.index });
    return { ok: true, value: { op: 'create_map', index: this.index, task: a.task, name: a.name, spec } };
  }

  /**
   * Memory an alloc or mlock step takes: all of them together at most {@link SIZE_MAX}, whatever
   * free gives back (a task's locked memory is never given back), so that the model's totals
   * in bytes stay exact.
   */
  private take(bytes: number): Result<number, SchemaIssue> {
    const taken = this.world.taken + bytes;
    if (taken > SIZE_MAX) {
      const before = formatBytes(this.world.taken);
      return this.fail('bytes', `the alloc and mlock steps before take ${before}, and with this one more than 2^50 bytes (1 PiB), the most they may take together (free does not count)`);
    }
    this.world.taken = taken;
    return { ok: true, value: taken };
  }

  private task(name: string): Result<string, SchemaIssue> {
    if (this.world.tasks.has(name)) return { ok: true, value: name };
    return this.fail('task', `no task ${quote(name)} in tasks${didYouMean(name, [...this.world.tasks.keys()])}`);
  }

  /** A map that an earlier step created and no step has closed. */
  private openMap(name: string): Result<BpfObject, SchemaIssue> {
    return this.open(this.world.maps, 'map', name, 'created');
  }

  private openProg(name: string): Result<BpfObject, SchemaIssue> {
    return this.open(this.world.progs, 'prog', name, 'loaded');
  }

  private open(objects: ReadonlyMap<string, BpfObject>, kind: 'map' | 'prog', name: string, verb: string): Result<BpfObject, SchemaIssue> {
    const found = objects.get(name);
    if (found === undefined) {
      return this.fail(kind, `no ${kind} ${quote(name)} was ${verb} before this step${didYouMean(name, [...objects.keys()])}`);
    }
    if (found.closedBy !== undefined) return this.fail(kind, `${kind} ${quote(name)} was closed by steps[${found.closedBy}]`);
    return { ok: true, value: found };
  }

  /** A cgroup that exists at this step; `/` only where `root` allows it. */
  private cgroup(path: string, { root }: { root: boolean }): Result<string, SchemaIssue> {
    if (path === '/' && !root) {
      const why = this.op === 'remove_cgroup' ? 'cannot be removed' : 'has no memory limits';
      return this.fail('cgroup', `the root cgroup / ${why}`);
    }
    if (this.world.cgroups.has(path)) return { ok: true, value: path };
    return this.fail('cgroup', `no cgroup ${path} exists at this step${didYouMean(path, [...this.world.cgroups])}`);
  }

  /** Who runs an update: the map's creator by default. */
  private context(context: string | undefined, creator: string): Result<UpdateContext, SchemaIssue> {
    if (context === undefined) return { ok: true, value: { task: creator } };
    if (context === 'softirq' || context === 'irq') return { ok: true, value: context };
    if (this.world.tasks.has(context)) return { ok: true, value: { task: context } };
    const names = ['softirq', 'irq', ...this.world.tasks.keys()];
    const hint = didYouMean(context, names);
    return this.fail('context', `no task ${quote(context)} in tasks${hint}; a context is a task, softirq or irq`);
  }

  /** A CPU the kernel has: below `kernel.cpus`, or the CPUs of the kernel the scenario runs on. */
  private cpu(cpu: number | undefined): Result<number, SchemaIssue> {
    const { cpus } = this.ctx.runsOn;
    const basis = this.ctx.kernel.cpus !== undefined ? 'file' : this.ctx.runsOn.basis;
    if (cpu !== undefined && cpu >= cpus) {
      const range = `CPUs 0 to ${cpus - 1}`;
      const why = {
        file: `kernel.cpus is ${cpus} (${range})`,
        version: `kernel ${this.ctx.kernel.version ?? ''} has ${cpus} possible CPUs (${range}): kernel.cpus is not given, and ${cpus} is the model's default`,
        host: `this machine has ${cpus} possible CPUs (${range}) and the scenario runs on its kernel; set kernel.cpus for another count`,
        model: `the model's default kernel has ${cpus} possible CPUs (${range}); set kernel.cpus for another count`,
      }[basis];
      return this.fail('cpu', `cpu ${cpu} is not a possible CPU: ${why}`);
    }
    return { ok: true, value: cpu ?? 0 };
  }

  /** `memory.high` exists on cgroup v2 only. */
  private high(high: number | undefined): Result<number | undefined, SchemaIssue> {
    if (high !== undefined && this.ctx.runsOn.cgroup === 1) return this.fail('high', highOnV1(this.ctx.kernel, this.ctx.runsOn));
    return { ok: true, value: high };
  }
}

/** The message for `high` on a cgroup v1 kernel, saying where v1 comes from. */
export function highOnV1(kernel: ScenarioKernel, runsOn: RunsOn): string {
  const where =
    kernel.cgroup !== undefined
      ? 'kernel.cgroup is 1'
      : runsOn.basis === 'host'
        ? "the scenario runs on this machine's kernel, whose memory controller is on cgroup v1; set kernel.cgroup: 2"
        : 'set kernel.cgroup: 2; the default is 1';
  return `memory.high exists only on cgroup v2 (${where})`;
}
