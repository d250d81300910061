import {
  Composer,
  LineCounter,
  Parser,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type Alias,
  type CST,
  type Node as YamlNode,
} from 'yaml';
import { SCENARIO_LIMITS } from '../vocab/limits.js';

/**
 * YAML (and so JSON) text to plain values, with the line of every value, for the scenario
 * parser. The `yaml` package builds the document; this walks it instead of calling `toJS()` so
 * that it can refuse what `toJS()` would accept or choke on: nesting deeper than
 * {@link SCENARIO_LIMITS.depth} (checked on the token tree before the recursive composer
 * runs), alias cycles and alias bombs, duplicate keys after conversion to text (`1` and `"1"`),
 * keys that are not text, and tags the core schema does not know.
 */

/** A step on the way to a value: a mapping key or a list index. */
export type PathSegment = string | number;

/** A parsed document: plain values (mappings are null-prototype objects) and where they are. */
export interface YamlTree {
  readonly value: unknown;
  /** The 1-based line of the value at `path`, or of its nearest ancestor that exists. */
  lineOf(path: readonly PathSegment[]): number | undefined;
  /**
   * How a number or boolean at `path` was written (`6.10` is the number 6.1, but the kernel
   * 6.10; `007` is the number 7, but the name 007).
   */
  scalarSourceOf(path: readonly PathSegment[]): string | undefined;
}

/** Why the text is not a document bpfmem reads. */
export interface YamlFailure {
  readonly path: readonly PathSegment[];
  readonly line: number | undefined;
  readonly message: string;
}

/** Reads YAML or JSON text. Never throws. */
export function readYaml(text: string): { ok: true; tree: YamlTree } | { ok: false; error: YamlFailure } {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(text));

  // The composer recurses once per level. It catches its own stack overflow, but on Node 20 a
  // later parse in the same process then died in V8's regular expression compiler (a fatal
  // out-of-memory), so deep input never reaches the composer.
  const deep = tooDeepAt(tokens, SCENARIO_LIMITS.depth);
  if (deep !== undefined) {
    return { ok: false, error: { path: [], line: lineAt(deep), message: `nested deeper than ${SCENARIO_LIMITS.depth} levels` } };
  }

  // Duplicate keys are found after keys become text (see Walker); `<<` is an ordinary key.
  const composer = new Composer({ uniqueKeys: false, merge: false });
  const docs = composer.compose(tokens, true, text.length);
  const first = docs.next();
  if (first.done) return { ok: false, error: { path: [], line: 1, message: 'not valid YAML' } };
  const doc = first.value;
  const second = docs.next();
  if (!second.done) {
    const message = 'not valid YAML: more than one document (---) in the file';
    return { ok: false, error: { path: [], line: lineAt(second.value.range[0]), message } };
  }
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const what = doc.errors.length > 0 ? 'not valid YAML' : 'unsupported YAML';
    const message = problem.message.split('\n')[0] ?? problem.code;
    return { ok: false, error: { path: [], line: lineAt(problem.pos[0]), message: `${what}: ${message}` } };
  }

  const walker = new Walker(lineAt);
  try {
    const value = walker.walk(doc.contents, [], 0, undefined);
    return { ok: true, tree: walker.tree(value) };
  } catch (e) {
    if (e instanceof WalkError) return { ok: false, error: { path: e.path, line: e.line, message: e.message } };
    throw e;
  }
}

/** The offset of a collection nested deeper than `limit`, if any; walks the token tree without recursion. */
function tooDeepAt(tokens: readonly CST.Token[], limit: number): number | undefined {
  const stack: Array<{ token: CST.Token; depth: number }> = tokens.map((token) => ({ token, depth: 0 }));
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { token, depth } = top;
    if (token.type === 'document') {
      if (token.value) stack.push({ token: token.value, depth });
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > limit) return token.offset;
      const items: ReadonlyArray<{ key?: CST.Token | null; value?: CST.Token }> = token.items;
      for (const item of items) {
        if (item.key) stack.push({ token: item.key, depth: depth + 1 });
        if (item.value) stack.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** A refusal found while walking; caught in {@link readYaml}, never seen outside. */
class WalkError extends Error {
  constructor(
    readonly path: readonly PathSegment[],
    readonly line: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** A map key for a path, built one segment at a time as the walk goes down. */
const childKey = (parent: string, segment: PathSegment): string => `${parent},${JSON.stringify(segment)}`;
const keyOf = (path: readonly PathSegment[]): string => path.reduce<string>(childKey, '');

/** The line recorded for `path` or for its nearest ancestor. */
function nearestLine(lines: ReadonlyMap<string, number>, path: readonly PathSegment[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const line = lines.get(keyOf(path.slice(0, n)));
    if (line !== undefined) return line;
  }
  return undefined;
}

/** Builds plain values from the document, in document order. */
class Walker {
  private readonly lines = new Map<string, number>();
  /** How numbers and booleans were written, by path. */
  private readonly scalarSources = new Map<string, string>();
  /** The latest node of each anchor name, as reached in document order. */
  private readonly anchors = new Map<string, YamlNode>();
  /** What each alias referred to where it stands in the document. */
  private readonly aliasTargets = new Map<YamlNode, YamlNode>();
  /** Nodes being walked now: an alias to one of them is a cycle. */
  private readonly active = new Set<unknown>();
  private aliasValuesLeft: number = SCENARIO_LIMITS.aliasValues;

  constructor(private readonly lineAt: (offset: number) => number) {}

  tree(value: unknown): YamlTree {
    const lines = this.lines;
    const sources = this.scalarSources;
    return {
      value,
      lineOf: (path) => nearestLine(lines, path),
      scalarSourceOf: (path) => sources.get(keyOf(path)),
    };
  }

  private nodeLine(node: unknown): number | undefined {
    if (isScalar(node) || isMap(node) || isSeq(node) || isAlias(node)) {
      const start = node.range?.[0];
      return start === undefined ? undefined : this.lineAt(start);
    }
    return undefined;
  }

  private fail(path: readonly PathSegment[], line: number | undefined, message: string): never {
    throw new WalkError(path, line ?? nearestLine(this.lines, path), message);
  }

  /**
   * The plain value of `node` at `path`. `aliasLine` is set while copying what an alias refers
   * to: those values are placed at the alias, so errors point there.
   */
  walk(node: unknown, path: readonly PathSegment[], depth: number, aliasLine: number | undefined, key = keyOf(path)): unknown {
    const line = aliasLine ?? this.nodeLine(node);
    if (line !== undefined && !this.lines.has(key)) this.lines.set(key, line);
    if (aliasLine !== undefined && --this.aliasValuesLeft < 0) {
      this.fail(path, line, `aliases copy in more than ${SCENARIO_LIMITS.aliasValues} values (an alias bomb?)`);
    }
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return this.walkAlias(node, path, depth, aliasLine, key);

    if (aliasLine === undefined && (isScalar(node) || isMap(node) || isSeq(node)) && node.anchor) {
      this.anchors.set(node.anchor, node);
    }
    if (isScalar(node)) {
      const v = node.value;
      if ((typeof v === 'number' || typeof v === 'boolean') && typeof node.source === 'string') this.scalarSources.set(key, node.source);
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      return this.fail(path, line, `unsupported YAML value${node.tag ? ` (tag ${node.tag})` : ''}`);
    }
    if (!isMap(node) && !isSeq(node)) return this.fail(path, line, 'unsupported YAML value');
    if (depth + 1 > SCENARIO_LIMITS.depth) this.fail(path, line, `nested deeper than ${SCENARIO_LIMITS.depth} levels`);

    this.active.add(node);
    try {
      if (isSeq(node)) {
        return node.items.map((item, i) => this.walk(item, [...path, i], depth + 1, aliasLine, childKey(key, i)));
      }
      const out = Object.create(null) as Record<string, unknown>;
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const name = this.keyText(pair.key, path, aliasLine);
        const at = [...path, name];
        const atKey = childKey(key, name);
        // A value's line is its key's: `create_map:` with arguments on the lines below.
        const keyLine = aliasLine ?? this.nodeLine(pair.key);
        if (Object.hasOwn(out, name)) {
          const firstLine = this.lines.get(atKey);
          this.fail(at, keyLine, `duplicate key${firstLine === undefined ? '' : ` (first on line ${firstLine})`}`);
        }
        if (keyLine !== undefined) this.lines.set(atKey, keyLine);
        out[name] = this.walk(pair.value, at, depth + 1, aliasLine, atKey);
      }
      return out;
    } finally {
      this.active.delete(node);
    }
  }

  private walkAlias(alias: Alias, path: readonly PathSegment[], depth: number, aliasLine: number | undefined, key: string): unknown {
    const line = aliasLine ?? this.nodeLine(alias);
    const target = this.aliasTargets.get(alias) ?? this.anchors.get(alias.source);
    if (target === undefined) return this.fail(path, line, `alias *${alias.source} has no anchor &${alias.source} before it`);
    this.aliasTargets.set(alias, target);
    if (this.active.has(target)) return this.fail(path, line, `alias *${alias.source} is inside its own anchor (a cycle)`);
    return this.walk(target, path, depth, line, key);
  }

  /**
   * A mapping key as text: scalars only. A number or boolean is the text it was written as
   * (`1:` is "1", `1.50:` is "1.50", `007:` is "007"), so that a task named `1.50` is the task a
   * step names `1.50`.
   */
  private keyText(key: unknown, path: readonly PathSegment[], aliasLine: number | undefined): string {
    let node = key;
    if (isAlias(node)) {
      const target = this.aliasTargets.get(node) ?? this.anchors.get(node.source);
      if (target !== undefined) this.aliasTargets.set(node, target);
      node = target;
    }
    if (isScalar(node) && aliasLine === undefined && node.anchor) this.anchors.set(node.anchor, node);
    const v: unknown = isScalar(node) ? node.value : undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return isScalar(node) && typeof node.source === 'string' ? node.source : String(v);
    // YAML 1.1 makes `<<` a merge symbol even with merges off: keep it as the text it is.
    if (typeof v === 'symbol' && isScalar(node) && typeof node.source === 'string') return node.source;
    return this.fail(path, aliasLine ?? this.nodeLine(key), 'a mapping key is not text (a list, mapping or null as a key)');
  }
}
