import { DEFAULT_RELEASE, makeProfile } from '../model/profile.js';
import { formatBytes } from '../vocab/units.js';
import { describeValue, didYouMean, parseCgroupPath, parseRelease, parseTaskName, quote } from '../vocab/fields.js';
import { parentOf } from '../vocab/cgroup-path.js';
import { SCENARIO_LIMITS } from '../vocab/limits.js';
import { CGROUP, FILE, KERNEL, TASK, isMapping, notAScenario, readsAsScenario, TOP_KEYS, validate, type SchemaIssue } from './parse-schema.js';
import { highOnV1, noInternalProcesses, readSteps, type RunsOn } from './parse-steps.js';
import { readYaml, type PathSegment, type YamlTree } from './parse-yaml.js';
import type { Scenario, ScenarioCgroup, ScenarioKernel, ScenarioTask } from './types.js';
import type { KernelProfile } from '../vocab/profile.js';
import type { Err, Result } from '../vocab/result.js';

/**
 * The scenario file parser: YAML or JSON text to a validated {@link Scenario}, or one error that
 * names the file, the line, the key and what is wrong. Pure (no I/O): the caller reads the file,
 * so this runs in the CLI, the server and the browser alike. The format is docs/scenarios.md.
 */

export { SCENARIO_LIMITS } from '../vocab/limits.js';

/** Why a scenario file was refused. {@link formatScenarioError} makes it one line. */
export interface ScenarioError {
  /** The file, as the caller named it (`scenarios/demo.yaml`). */
  readonly source: string;
  /** 1-based line of the offending key or value, when there is one. */
  readonly line?: number;
  /** Where in the document, like `steps[3].create_map.max_entries`; empty for the whole file. */
  readonly path: string;
  readonly message: string;
}

/**
 * What the parser may know of the machine the scenario will run on. A file that names no kernel
 * version runs on the kernel of the machine that runs it (docs/scenarios.md, `kernel`): its
 * possible CPUs and cgroup version decide whether a step's `cpu` exists and whether `high` is
 * a file there.
 */
export interface ParseOptions {
  /**
   * This machine's kernel (`bpfmem simulate`: `hostProfile()`), asked only for a file that names
   * no kernel version. Without it (a browser), such a file runs on the model's default kernel.
   */
  readonly host?: () => Pick<KernelProfile, 'release' | 'possibleCpus' | 'cgroupVersion'> | undefined;
}

/** The outcome of {@link parseScenario}. */
export type ParseScenarioResult =
  | { readonly ok: true; readonly scenario: Scenario }
  | { readonly ok: false; readonly error: ScenarioError };

/**
 * Parses and validates a scenario file. Never throws: every problem, from bytes that are not
 * YAML to a step naming a map that was closed, is an error value.
 *
 * @param text - the file's contents
 * @param source - the file's name, for messages and for {@link Scenario.source}
 */
export function parseScenario(text: string, source: string, options: ParseOptions = {}): ParseScenarioResult {
  if (typeof text !== 'string') return { ok: false, error: { source, path: '', message: `expected the scenario's text (YAML or JSON), got ${describeValue(text)}` } };
  const size = utf8Length(text);
  if (size > SCENARIO_LIMITS.fileBytes) {
    const limit = SCENARIO_LIMITS.fileBytes;
    const message = `the file has ${size} bytes; scenario files are limited to ${formatBytes(limit)} (${limit} bytes)`;
    return { ok: false, error: { source, path: '', message } };
  }
  const read = readYaml(text, (keys) => keys !== undefined && keys.length > 0 && readsAsScenario(keys));
  if (!read.ok) {
    const e = read.error;
    // A file that is not a scenario: what it says is not repeated (docs/cli.md).
    if (e.kind === 'foreign') return { ok: false, error: errorAt(source, [], e.line, notAScenario(e.yaml)) };
    return { ok: false, error: errorAt(source, e.path, e.line, e.message) };
  }
  const { tree } = read;
  const scenario = buildScenario(tree, source, options);
  if (!scenario.ok) {
    const { path, message } = scenario.error;
    return { ok: false, error: errorAt(source, path, tree.lineOf(path), message) };
  }
  return { ok: true, scenario: scenario.value };
}

/**
 * One line for people: `scenarios/x.yaml:14: steps[3].create_map.max_entries: expected a size
 * (bytes or 64Ki/8Mi), got -5`. Control characters (a file name or key with a newline) are
 * escaped, so the result is always exactly one line.
 */
export function formatScenarioError(error: ScenarioError): string {
  const where = error.line === undefined ? error.source : `${error.source}:${error.line}`;
  const parts = [where, error.path, error.message].filter((part) => part !== '');
  return escapeControls(parts.join(': '));
}

/** A path for people: `steps[3].create_map.max_entries`, `cgroups["/pods/agent"].max`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]{0,39}$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${quote(segment)}]`;
  }
  return out;
}

function errorAt(source: string, path: readonly PathSegment[], line: number | undefined, message: string): ScenarioError {
  return { source, ...(line === undefined ? {} : { line }), path: formatPath(path), message };
}

/** C0 and C1 controls and the Unicode line and paragraph separators, as `\uXXXX`. */
function escapeControls(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
    out += control ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}

/**
 * The UTF-8 size of a string, without an encoder (this module runs anywhere): a surrogate pair is
 * 4 bytes, and a lone surrogate 3, as the U+FFFD that TextEncoder writes for it.
 */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

const isLowSurrogate = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

const issue = (path: readonly PathSegment[], message: string): Err<SchemaIssue> => ({
  ok: false,
  error: { path, message },
});

function buildScenario(tree: YamlTree, source: string, options: ParseOptions): Result<Scenario, SchemaIssue> {
  if (tree.value === null) {
    return issue([], 'the file has no scenario in it; expected a mapping with keys description, kernel, cgroups, tasks, steps');
  }
  // A description written as a number or true is the text it was written as; a section with
  // nothing after it (`kernel:`, `description:`, `description: null`) is the same as none.
  const top = isMapping(tree.value) ? withoutNulls({ ...tree.value, ...asWrittenAt(tree, tree.value, [], ['description'], false) }) : tree.value;
  const file = validate(FILE, top, []);
  if (!file.ok) return file;
  const { description } = file.value;

  const kernel = readKernel(file.value.kernel, tree, options);
  if (!kernel.ok) return kernel;
  const cgroups = readCgroups(file.value.cgroups, kernel.value);
  if (!cgroups.ok) return cgroups;
  const tasks = readTasks(file.value.tasks, cgroups.value, kernel.value);
  if (!tasks.ok) return tasks;
  const steps = readSteps(file.value.steps, {
    kernel: kernel.value.kernel,
    runsOn: kernel.value.runsOn,
    cgroups: cgroups.value,
    tasks: tasks.value,
    asWritten: (input, at, keys) => asWrittenAt(tree, input, at, keys),
  });
  if (!steps.ok) return steps;

  return {
    ok: true,
    value: {
      source,
      ...(description === undefined ? {} : { description: description.trim() }),
      kernel: kernel.value.kernel,
      cgroups: cgroups.value,
      tasks: tasks.value,
      steps: steps.value,
    },
  };
}

/**
 * The values of `keys` in the mapping `input` at `at` that YAML read as a number or boolean (and
 * with `nulls`, as null), as the text they were written as: a name `007`, `1.50` or `null` is
 * that name, not 7, 1.5 or nothing (keys are read so too, parse-yaml.ts). A key with nothing
 * after it stays null.
 */
function asWrittenAt(
  tree: YamlTree,
  input: Readonly<Record<string, unknown>>,
  at: readonly PathSegment[],
  keys: readonly string[],
  nulls = true,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const value = Object.hasOwn(input, key) ? input[key] : undefined;
    if (typeof value === 'number' || typeof value === 'boolean') out[key] = tree.scalarSourceOf([...at, key]) ?? String(value);
    else if (value === null && nulls) {
      const written = tree.scalarSourceOf([...at, key]);
      if (written !== undefined) out[key] = written;
    }
  }
  return out;
}

/** The top level without its known sections that are null, which are as if left out. */
function withoutNulls(top: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(top)) {
    if (value === null && TOP_KEYS.includes(key)) continue;
    out[key] = value;
  }
  return out;
}

/**
 * `kernel`: a version, or a mapping. A version written as a bare number (`kernel: 6.10`) is read
 * as written, not as the number YAML makes of it (6.1).
 */
function readKernel(input: unknown, tree: YamlTree, options: ParseOptions): Result<{ kernel: ScenarioKernel; runsOn: RunsOn }, SchemaIssue> {
  const asWritten = (value: unknown, path: readonly PathSegment[]): unknown =>
    typeof value === 'number' ? (tree.scalarSourceOf(path) ?? String(value)) : value;

  let kernel: ScenarioKernel;
  if (input === undefined) {
    kernel = {};
  } else if (typeof input === 'string' || typeof input === 'number') {
    const version = parseRelease(asWritten(input, ['kernel']));
    if (!version.ok) return issue(['kernel'], version.error);
    kernel = { version: version.value };
  } else if (isMapping(input)) {
    const withVersion = { ...input, ...('version' in input ? { version: asWritten(input['version'], ['kernel', 'version']) } : {}) };
    const k = validate(KERNEL, withVersion, ['kernel']);
    if (!k.ok) return k;
    const { version, cpus, page_size: pageSize, regime, cgroup, arch } = k.value;
    kernel = {
      ...(version === undefined ? {} : { version }),
      ...(cpus === undefined ? {} : { cpus }),
      ...(pageSize === undefined ? {} : { pageSize }),
      ...(regime === undefined ? {} : { regime }),
      ...(cgroup === undefined ? {} : { cgroup }),
      ...(arch === undefined ? {} : { arch }),
    };
  } else {
    const expected = 'expected a kernel version such as "6.18" or a mapping with keys version, cpus, page_size, regime, cgroup, arch';
    return issue(['kernel'], `${expected}; got ${describeValue(input)}`);
  }
  // Without a version the scenario runs on this machine's kernel (src/scenario/run.ts
  // scenarioProfile), with what the file says laid over it; where there is none, on the model's.
  const host = kernel.version === undefined ? options.host?.() : undefined;
  // The model's own rules on a profile (memcg needs 5.11+, …), with the file's line.
  const profile = makeProfile({
    ...kernel,
    version: kernel.version ?? host?.release ?? DEFAULT_RELEASE,
    ...(kernel.cpus === undefined && host ? { cpus: host.possibleCpus } : {}),
    ...(kernel.cgroup === undefined && host ? { cgroup: host.cgroupVersion } : {}),
  });
  if (!profile.ok) return issue(['kernel'], profile.error);
  const basis = kernel.version !== undefined ? 'version' : host ? 'host' : 'model';
  const runsOn: RunsOn = { cpus: profile.value.possibleCpus, cgroup: profile.value.cgroupVersion, basis };
  return { ok: true, value: { kernel, runsOn } };
}

/** Compares cgroup paths name by name, so that parents come before children. */
function compareCgroupPaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/**
 * `cgroups`: path → limits. Parents not listed are implied, with no limit, and count in the
 * limit of {@link SCENARIO_LIMITS.cgroups}: 10,000 paths 32 levels deep would otherwise make
 * 320,000 cgroups.
 */
function readCgroups(input: unknown, kernel: { kernel: ScenarioKernel; runsOn: RunsOn }): Result<ScenarioCgroup[], SchemaIssue> {
  if (input === undefined || input === null) return { ok: true, value: [] };
  if (!isMapping(input)) {
    return issue(['cgroups'], `expected a mapping of cgroup path to { max, high }; got ${describeValue(input)}`);
  }
  const paths = Object.keys(input);
  const limit = SCENARIO_LIMITS.cgroups;
  if (paths.length > limit) return issue(['cgroups'], `${paths.length} cgroups; a scenario has at most ${limit}, implied parents included`);
  const byPath = new Map<string, ScenarioCgroup>();
  for (const path of paths) {
    const at = ['cgroups', path];
    const p = parseCgroupPath(path);
    if (!p.ok) return issue(at, p.error);
    if (path === '/') return issue(at, 'the root cgroup / always exists and has no limits; list only cgroups below it');
    // `/pods/agent:` with nothing after it is a cgroup without limits.
    const limits = validate(CGROUP, input[path] ?? {}, at);
    if (!limits.ok) return limits;
    const { max, high } = limits.value;
    if (high !== undefined && kernel.runsOn.cgroup === 1) return issue([...at, 'high'], highOnV1(kernel.kernel, kernel.runsOn));
    byPath.set(path, { path, max: max ?? Infinity, high: high ?? Infinity });
  }
  for (const path of paths) {
    for (let parent = parentOf(path); parent !== '/' && !byPath.has(parent); parent = parentOf(parent)) {
      if (byPath.size === limit) {
        return issue(['cgroups'], `${paths.length} cgroups and the parents they imply are more than ${limit}; a scenario has at most ${limit}, implied parents included`);
      }
      byPath.set(parent, { path: parent, max: Infinity, high: Infinity });
    }
  }
  const cgroups = [...byPath.values()].sort((a, b) => compareCgroupPaths(a.path, b.path));
  return { ok: true, value: cgroups };
}

/** `tasks`: name → where it runs and its limits. */
function readTasks(input: unknown, cgroups: readonly ScenarioCgroup[], kernel: { kernel: ScenarioKernel; runsOn: RunsOn }): Result<ScenarioTask[], SchemaIssue> {
  if (input === undefined || input === null) return { ok: true, value: [] };
  if (!isMapping(input)) {
    return issue(['tasks'], `expected a mapping of task name to { cgroup, uid, memlock, cap_ipc_lock }; got ${describeValue(input)}`);
  }
  const names = Object.keys(input);
  if (names.length > SCENARIO_LIMITS.tasks) {
    return issue(['tasks'], `${names.length} tasks; a scenario has at most ${SCENARIO_LIMITS.tasks}`);
  }
  const known = new Set(['/', ...cgroups.map((c) => c.path)]);
  // A child of each cgroup that has one: on cgroup v2, no task may start in such a cgroup.
  const childOf = new Map<string, string>();
  for (const c of cgroups) if (!childOf.has(parentOf(c.path))) childOf.set(parentOf(c.path), c.path);
  const tasks: ScenarioTask[] = [];
  for (const name of names) {
    const at = ['tasks', name];
    const n = parseTaskName(name);
    if (!n.ok) return issue(at, n.error);
    const t = validate(TASK, input[name] ?? {}, at);
    if (!t.ok) return t;
    const { cgroup = '/', uid = 0, memlock, cap_ipc_lock: capIpcLock = false } = t.value;
    if (!known.has(cgroup)) {
      return issue([...at, 'cgroup'], `no cgroup ${cgroup} in cgroups${didYouMean(cgroup, [...known])}`);
    }
    const child = childOf.get(cgroup);
    if (kernel.runsOn.cgroup === 2 && cgroup !== '/' && child !== undefined) {
      const why = noInternalProcesses(kernel.runsOn, kernel.kernel);
      return issue([...at, 'cgroup'], `task ${quote(name)} cannot start in ${cgroup}, which has the child cgroup ${child}: ${why}`);
    }
    tasks.push({ name, cgroup, uid, ...(memlock === undefined ? {} : { memlock }), capIpcLock });
  }
  return { ok: true, value: tasks };
}
