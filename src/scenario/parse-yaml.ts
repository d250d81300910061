import {
  Composer,
  Lexer,
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
import { cut } from '../vocab/fields.js';
import { SCENARIO_LIMITS } from '../vocab/limits.js';

/**
 * YAML (and so JSON) text to plain values, with the line of every value, for the scenario
 * parser. The `yaml` package builds the document; this walks it instead of calling `toJS()` so
 * that it can refuse what `toJS()` would accept or choke on: nesting deeper than
 * {@link SCENARIO_LIMITS.depth} (checked as the parser reads the tokens, before the recursive
 * composer runs), alias cycles and alias bombs, duplicate keys after conversion to text (`1`
 * and `"1"`), keys that are not text, tags the core schema does not know, and YAML 1.1. What
 * it reports of a file that is not the caller's says nothing of its content ({@link IsOurs}).
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

/**
 * Decides whether a document is one the caller reads, from the keys of its top-level mapping
 * (as text; `undefined` when the top is not a mapping). A document that is not one may be any
 * file at all (`bpfmem simulate /etc/shadow`): its errors then name nothing of it.
 */
export type IsOurs = (topKeys: readonly string[] | undefined) => boolean;

/** Why the text is not a document bpfmem reads. */
export type YamlFailure =
  /** A problem in a document the caller reads; its message may quote a little of it (cut at 40 characters). */
  | { readonly kind: 'problem'; readonly path: readonly PathSegment[]; readonly line: number | undefined; readonly message: string }
  /**
   * A problem in a document that is not the caller's ({@link IsOurs}): only its line and, when
   * the text is not (supported) YAML, which of the two, never its content.
   */
  | { readonly kind: 'foreign'; readonly line: number | undefined; readonly yaml?: 'not valid YAML' | 'unsupported YAML' };

/**
 * Reads YAML or JSON text. Never throws. `isOurs` decides whether a problem may be reported with
 * what the document says (its keys, alias names, tags, the text of a YAML error) or only as a
 * document that is not the caller's.
 */
export function readYaml(text: string, isOurs: IsOurs): { ok: true; tree: YamlTree } | { ok: false; error: YamlFailure } {
  const lineCounter = new LineCounter();
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  const problem = (line: number | undefined, message: string, path: readonly PathSegment[] = []) =>
    ({ ok: false, error: { kind: 'problem', path, line, message } }) as const;

  // The composer recurses once per level. It catches its own stack overflow, but on Node 20 a
  // later parse in the same process then died in V8's regular expression compiler (a fatal
  // out-of-memory), so deep input never reaches the composer; and it is refused at the first
  // level too many, as the parser reads it, before the rest of the text is read at all.
  const tokens = tokenTree(text, lineCounter, SCENARIO_LIMITS.depth);
  if ('tooDeepAt' in tokens) return problem(lineAt(tokens.tooDeepAt), `nested deeper than ${SCENARIO_LIMITS.depth} levels`);

  // Duplicate keys are found after keys become text (see Walker); `<<` is an ordinary key.
  const composer = new Composer({ uniqueKeys: false, merge: false });
  const docs = composer.compose(tokens.tokens, true, text.length);
  const first = docs.next();
  if (first.done) return problem(1, 'not valid YAML');
  const doc = first.value;
  const ours = isOurs(topKeysOf(doc.contents));
  const foreign = (line: number | undefined, yaml?: 'not valid YAML' | 'unsupported YAML') =>
    ({ ok: false, error: { kind: 'foreign', line, ...(yaml === undefined ? {} : { yaml }) } }) as const;
  const rootLine = doc.contents?.range ? lineAt(doc.contents.range[0]) : 1;

  // YAML 1.1 reads `010` as 8, `1:00` as 60 and `on` as true: only the core schema of 1.2 is read.
  const version = doc.directives.yaml.version;
  if (version !== '1.2') {
    const directive = tokens.tokens.find((t) => t.type === 'directive' && /^%YAML\s/.test(t.source));
    const line = lineAt(directive?.offset ?? 0);
    const message = `unsupported YAML: %YAML ${version}; a scenario is read as YAML 1.2 (the core schema): remove the directive`;
    return ours ? problem(line, message) : foreign(line, 'unsupported YAML');
  }
  const second = docs.next();
  if (!second.done) {
    const line = lineAt(second.value.range[0]);
    return ours ? problem(line, 'not valid YAML: more than one document (---) in the file') : foreign(line, 'not valid YAML');
  }
  const yamlProblem = doc.errors[0] ?? doc.warnings[0];
  if (yamlProblem) {
    const what = doc.errors.length > 0 ? 'not valid YAML' : 'unsupported YAML';
    const line = lineAt(yamlProblem.pos[0]);
    return ours ? problem(line, `${what}: ${yamlMessage(yamlProblem.message)}`) : foreign(line, what);
  }

  const walker = new Walker(lineAt);
  try {
    const value = walker.walk(doc.contents, [], 0, undefined);
    return { ok: true, tree: walker.tree(value) };
  } catch (e) {
    if (!(e instanceof WalkError)) throw e;
    return ours ? problem(e.line, e.message, e.path) : foreign(rootLine);
  }
}

/** The keys of a top-level mapping as text, as far as they are scalars; `undefined` for any other top. */
function topKeysOf(contents: unknown): string[] | undefined {
  if (!isMap(contents)) return undefined;
  const keys: string[] = [];
  for (const pair of contents.items) {
    if (!isScalar(pair.key)) continue;
    const v = pair.key.value;
    if (typeof v === 'string') keys.push(v);
    else if (typeof pair.key.source === 'string') keys.push(pair.key.source);
  }
  return keys;
}

/**
 * YAML messages that repeat text of the file (`Unresolved tag: !x`, `Not a YAML token: …`): the
 * fixed words before and after it. What stands between is cut at 40 characters.
 */
const QUOTING_MESSAGES: ReadonlyArray<readonly [before: string, after: string]> = [
  ['Not a YAML token: ', ''],
  ['Block scalar header includes extra characters: ', ''],
  ['Unresolved tag: ', ''],
  ['Could not resolve tag: ', ''],
  ['Not a valid tag: ', ''],
  ["Verbatim tags aren't resolved, so ", ' is invalid.'],
  ['The ', ' tag has no suffix'],
  ['Unknown directive ', ''],
  ['Unsupported YAML version ', ''],
  ['Invalid escape sequence ', ''],
  ['Anchor must not contain whitespace or control characters: ', ''],
];

/** The longest YAML message passed on: longer than any of the package's own wordings (97 characters). */
const YAML_MESSAGE_MAX = 120;

/**
 * A message of the `yaml` package for one line of ours: its first line, with any text of the file
 * in it cut at 40 characters (docs/scenarios.md, "Errors"), and never longer than
 * {@link YAML_MESSAGE_MAX} whatever a later version of the package writes.
 */
export function yamlMessage(message: string): string {
  const line = message.split('\n')[0] ?? '';
  for (const [before, after] of QUOTING_MESSAGES) {
    if (line.startsWith(before) && line.endsWith(after) && line.length >= before.length + after.length) {
      return `${before}${cut(line.slice(before.length, line.length - after.length))}${after}`;
    }
  }
  return line.length > YAML_MESSAGE_MAX ? `${line.slice(0, YAML_MESSAGE_MAX)}…` : line;
}

/**
 * The token tree of `text` (yaml's CST), or the offset of the first collection nested deeper
 * than `limit`. The lexer's tokens are fed to the parser one by one, and the collections open on
 * its stack (the path from the document to the token being read) are counted as they open, so
 * that 1 MiB of `[` stops at the 65th instead of building a tree a million levels deep.
 */
function tokenTree(text: string, lineCounter: LineCounter, limit: number): { tokens: CST.Token[] } | { tooDeepAt: number } {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  const tokens: CST.Token[] = [];
  for (const lexeme of new Lexer().lex(text, false)) {
    for (const token of parser.next(lexeme)) tokens.push(token);
    // Every open collection is on the stack, so it is never shorter than the depth.
    if (parser.stack.length > limit) {
      let depth = 0;
      for (const token of parser.stack) {
        if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
          if (++depth > limit) return { tooDeepAt: token.offset };
        }
      }
    }
  }
  for (const token of parser.end()) tokens.push(token);
  return { tokens };
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
      // `null` and `~` too: a name written so is that text (an empty value is nothing).
      if ((typeof v === 'number' || typeof v === 'boolean' || v === null) && typeof node.source === 'string' && node.source !== '') {
        this.scalarSources.set(key, node.source);
      }
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      return this.fail(path, line, `unsupported YAML value${node.tag ? ` (tag ${cut(node.tag)})` : ''}`);
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
    const name = cut(alias.source);
    if (target === undefined) return this.fail(path, line, `alias *${name} has no anchor &${name} before it`);
    this.aliasTargets.set(alias, target);
    if (this.active.has(target)) return this.fail(path, line, `alias *${name} is inside its own anchor (a cycle)`);
    return this.walk(target, path, depth, line, key);
  }

  /**
   * A mapping key as text: scalars only. A number, boolean or null is the text it was written as
   * (`1:` is "1", `1.50:` is "1.50", `007:` is "007", `null:` is "null"), so that a task named
   * `1.50` is the task a step names `1.50`.
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
    const source = isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
    if (typeof v === 'number' || typeof v === 'boolean') return source ?? String(v);
    if (v === null && source !== undefined && source !== '') return source;
    if (v === null) return this.fail(path, aliasLine ?? this.nodeLine(key), 'a mapping key is empty');
    return this.fail(path, aliasLine ?? this.nodeLine(key), 'a mapping key is not text (a list or a mapping as a key)');
  }
}
