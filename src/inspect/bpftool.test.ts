import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpfmemError } from '../vocab/errors.js';
import { BPFTOOL_INPUT_LIMIT, describeJsonError, parseBpftoolMaps, parseBpftoolProgs, readBpftoolFile } from './bpftool.js';

/** Output of Debian's bpftool 7.1 on Linux 6.18, captured by test/fixtures/bpftool/capture.sh. */
const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '../../test/fixtures/bpftool', name), 'utf8');

describe('parseBpftoolMaps on captured output', () => {
  const maps = parseBpftoolMaps(fixture('map-show.json'), 'map-show.json');

  it('reads every map of bpftool -j map show, typed', () => {
    expect(maps.map((m) => [m.name, m.mapType, m.bytesKey, m.bytesValue, m.maxEntries, m.flags, m.bytesMemlock, m.frozen])).toEqual([
      ['x', 'hash', 4, 8, 16, 0, 2320, false],
      ['fx_array', 'array', 4, 64, 128, 0, 8504, true],
      ['fx_pcpu_hash', 'percpu_hash', 8, 16, 1024, 0, 115584, false],
      ['fx_lpm', 'lpm_trie', 8, 8, 512, 1, 0, false],
      ['fx_ringbuf', 'ringbuf', 0, 0, 65536, 0, 78408, false],
      ['fx_used', 'array', 4, 8, 4, 0, 344, false],
      ['fx_lpm_held', 'lpm_trie', 8, 8, 256, 1, 0, false],
    ]);
    expect(new Set(maps.map((m) => m.id)).size).toBe(7);
  });

  it('reads the same from -p (pretty) output', () => {
    expect(parseBpftoolMaps(fixture('map-show-pretty.json'), 'x')).toEqual(maps);
  });

  it('reads pinned paths from -f output', () => {
    const pinned = parseBpftoolMaps(fixture('map-show-pinned.json'), 'x');
    expect(pinned.map((m) => m.pinned?.length)).toEqual([1, 1, 1, 1, 1, 0, 0]);
    expect(pinned[0]?.pinned?.[0]).toMatch(/\/x$/);
    // Without -f there is no pinned list: unknown, not "pinned nowhere".
    expect(parseBpftoolMaps(fixture('map-show.json'), 'x').map((m) => m.pinned)).toEqual(Array(7).fill(undefined));
  });

  it('reads a single object (bpftool -j map show id N)', () => {
    expect(parseBpftoolMaps(fixture('map-show-one.json'), 'x')).toEqual([maps[0]]);
  });

  it('reads JSON Lines (several runs appended)', () => {
    const lines = `${fixture('map-show-one.json').trim()}\n\n${fixture('map-show.json').trim()}\n`;
    expect(parseBpftoolMaps(lines, 'x')).toEqual([maps[0], ...maps]);
  });

  it('reads bytes as well as text', () => {
    expect(parseBpftoolMaps(new TextEncoder().encode(fixture('map-show.json')), 'x')).toEqual(maps);
  });
});

describe('parseBpftoolProgs on captured output', () => {
  const progs = parseBpftoolProgs(fixture('prog-show.json'), 'prog-show.json');

  it('reads every program, its tag, sizes, memlock and map ids', () => {
    expect(progs.map((p) => [p.name, p.progType, p.tag, p.bytesXlated, p.jited, p.bytesMemlock, p.gplCompatible])).toEqual([
      ['fx_filter', 'socket_filter', '59f4a931744dcdc6', 16, true, 4096, true],
      ['fx_uses_map', 'socket_filter', '0bd0168676c7c779', 32, true, 4096, true],
      ['fx_iter', 'tracing', '59f4a931744dcdc6', 16, true, 4096, true],
    ]);
    const used = parseBpftoolMaps(fixture('map-show.json'), 'x').find((m) => m.name === 'fx_used');
    expect(progs[1]?.mapIds).toEqual([used?.id]);
  });

  it('reads -p, -f and a single object', () => {
    expect(parseBpftoolProgs(fixture('prog-show-pretty.json'), 'x')).toEqual(progs);
    expect(parseBpftoolProgs(fixture('prog-show-pinned.json'), 'x').map((p) => p.pinned?.length)).toEqual([1, 0, 0]);
    expect(parseBpftoolProgs(fixture('prog-show-one.json'), 'x')).toEqual([progs[0]]);
  });
});

/** The smallest map bpftool prints, with fields to override. */
const map = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 1, type: 'hash', flags: 0, bytes_key: 4, bytes_value: 8, max_entries: 16, ...extra });
const json = (v: unknown): string => JSON.stringify(v);

describe('fields bpftool prints on some machines only', () => {
  it('reads pids (bpftool pids.c: [{pid, comm}]) and btf_id', () => {
    const [m] = parseBpftoolMaps(json([map({ btf_id: 88, pids: [{ pid: 812, comm: 'cilium-agent' }] })]), 'x');
    expect(m?.pids).toEqual([{ pid: 812, comm: 'cilium-agent' }]);
    expect(m?.btfId).toBe(88);
  });

  it('keeps a type bpftool could not name as its number, with no bpfmem type', () => {
    const [m] = parseBpftoolMaps(json([map({ type: 99, owner_prog_type: 'xdp', owner_jited: true })]), 'x');
    expect([m?.type, m?.mapType, m?.ownerProgType, m?.ownerJited]).toEqual([99, undefined, 'xdp', true]);
  });

  it('allows fields it does not know (a newer bpftool), and a name-less map', () => {
    const [m] = parseBpftoolMaps(json([map({ map_extra: 3, dev: { ifindex: 4 }, something_new: [1, 2] })]), 'x');
    expect(m?.name).toBe('');
  });

  it('reads prog run statistics and orphaned', () => {
    const [p] = parseBpftoolProgs(json({ id: 3, type: 'xdp', run_time_ns: 1500, run_cnt: 3, recursion_misses: 0, orphaned: false, btf_id: 5 }), 'x');
    expect([p?.runTimeNs, p?.runCnt, p?.recursionMisses, p?.orphaned, p?.btfId, p?.mapIds, p?.tag]).toEqual([1500, 3, 0, false, 5, [], undefined]);
  });
});

describe('bad input: one line naming the source and the JSON path', () => {
  it.each([
    [json([map(), map(), map(), map({ bytes_memlock: '12k' })]), 'dump.json: [3].bytes_memlock: expected a non-negative integer, got "12k"'],
    [json([map({ bytes_key: undefined })]), 'dump.json: [0].bytes_key: expected a non-negative integer, got nothing (the field is missing)'],
    [json([map({ id: -1 })]), 'dump.json: [0].id: expected a non-negative integer, got -1'],
    [json([map({ id: 1.5 })]), 'dump.json: [0].id: expected a non-negative integer, got 1.5'],
    // Past 2^53 a JSON number is not exact; printed as 8.9e+292 PiB before.
    [json([map({ bytes_memlock: 1e308 })]), 'dump.json: [0].bytes_memlock: expected an integer below 2^53, got 1e+308'],
    // What bpftool -j prints when it fails: its own words, not a missing field.
    [json({ error: "can't get next map: Operation not permitted" }), 'dump.json: bpftool failed: "can\'t get next map: Operation not permitted"'],
    [json([map({ max_entries: 2 ** 32 })]), 'dump.json: [0].max_entries: expected an integer below 2^32, got 4294967296'],
    [json([map({ type: '' })]), 'dump.json: [0].type: expected a type name or number, got ""'],
    [json([map({ type: null })]), 'dump.json: [0].type: expected a type name or number, got null'],
    [json([map({ frozen: 2 })]), 'dump.json: [0].frozen: expected 0 or 1, got 2'],
    [json([map({ name: 7 })]), 'dump.json: [0].name: expected a string, got 7'],
    [json([map({ pinned: '/sys/fs/bpf/x' })]), 'dump.json: [0].pinned: expected an array of strings, got "/sys/fs/bpf/x"'],
    [json([map({ pinned: [1] })]), 'dump.json: [0].pinned[0]: expected a string, got 1'],
    [json([map({ pids: [{ pid: 0, comm: 'x' }] })]), 'dump.json: [0].pids[0].pid: expected a positive integer, got 0'],
    [json([map({ pids: [{ pid: 3 }] })]), 'dump.json: [0].pids[0].comm: expected a string, got nothing (the field is missing)'],
    [json([map({ pids: [5] })]), 'dump.json: [0].pids[0]: expected an object, got 5'],
    [json(map({ owner_jited: 'yes' })), 'dump.json: owner_jited: expected true or false, got "yes"'],
    [json([map(), 7]), 'dump.json: [1]: expected an object, got 7'],
    [json([[map()]]), 'dump.json: [0]: expected an object, got an array'],
    ['null', 'dump.json: expected an object, got null'],
    ['"hello"', 'dump.json: expected an object, got "hello"'],
    ['', 'dump.json: empty: expected the output of bpftool -j'],
    [' \n\t\n', 'dump.json: empty: expected the output of bpftool -j'],
    ['[{"id": 1,', 'dump.json: not JSON: Expected double-quoted property name at line 1, column 11'],
    ['[\n  {"id": 1,\n  }\n]', 'dump.json: not JSON: Expected double-quoted property name at line 3, column 3'],
    ['{"id": 1', "dump.json: not JSON: Expected ',' or '}' after property value at line 1, column 9"],
    [`${json(map())}\n${json(map({ flags: 'x' }))}`, 'dump.json: line 2: flags: expected a non-negative integer, got "x"'],
    [`${json(map())}\n[${json(map())}, ${json(map({ flags: -2 }))}]`, 'dump.json: line 2: [1].flags: expected a non-negative integer, got -2'],
    [`${json(map())}\n{"id":`, 'dump.json: line 2: not JSON: Unexpected end of JSON input'],
    [`${json(map())}\n7`, 'dump.json: line 2: expected an object, got 7'],
  ])('%s', (input, message) => {
    expect(() => parseBpftoolMaps(input, 'dump.json')).toThrow(new BpfmemError('input', message));
  });

  it.each([
    [json([{ id: 1, type: 'xdp', tag: 'abc' }]), 'progs.json: [0].tag: expected 16 hex digits, got "abc"'],
    [json([{ id: 1, type: 'xdp', map_ids: [1, 'two'] }]), 'progs.json: [0].map_ids[1]: expected a non-negative integer, got "two"'],
    [json([{ id: 1, type: 'xdp', jited: 1 }]), 'progs.json: [0].jited: expected true or false, got 1'],
    [json([{ type: 'xdp' }]), 'progs.json: [0].id: expected a non-negative integer, got nothing (the field is missing)'],
  ])('prog %s', (input, message) => {
    expect(() => parseBpftoolProgs(input, 'progs.json')).toThrow(new BpfmemError('input', message));
  });

  it('names the key of a field whose name is not an identifier', () => {
    // Not a known field, so allowed; a known field inside an unknown one is not looked at.
    expect(parseBpftoolMaps(json([map({ 'odd key': { id: 'x' } })]), 'x')).toHaveLength(1);
  });

  it('keeps a JSON syntax error that spans lines on one line', () => {
    let message = '';
    try {
      parseBpftoolMaps('[\n  {"id": 1,\n  }\n]', 'dump.json');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^dump\.json: not JSON: /);
    expect(message).not.toContain('\n');
  });

  it('refuses more than 64 MiB before parsing', () => {
    const big = new Uint8Array(BPFTOOL_INPUT_LIMIT + 1);
    expect(() => parseBpftoolMaps(big, 'huge.json')).toThrow(new BpfmemError('input', 'huge.json: 64.0 MiB is more than the 64 MiB bpfmem reads'));
  });
});

describe('describeJsonError', () => {
  it.each([
    // Node 20 (V8 11.3).
    ['Expected double-quoted property name in JSON at position 10', '[{"id": 1,', 'Expected double-quoted property name at line 1, column 11'],
    // Node 22 adds its own line and column, which are replaced.
    ["Expected ',' or ']' after array element in JSON at position 4 (line 2 column 2)", '[1\n 2]', "Expected ',' or ']' after array element at line 2, column 2"],
    // V8 quotes the input in some messages, newlines included: none of it is repeated.
    ['Unexpected token \'x\', "x\ny" is not valid JSON', 'x\ny', 'Unexpected token'],
    ['Unexpected token \'r\', "root:$y$j9"... is not valid JSON', 'root:$y$j9T$abc', 'Unexpected token'],
    ['"root:$y$j9T$abc" is not valid JSON', 'root:$y$j9T$abc', 'Unexpected input'],
    ['Unexpected end of JSON input', '[', 'Unexpected end of JSON input'],
  ])('%s', (message, text, expected) => {
    expect(describeJsonError(message, text)).toBe(expected);
  });
});

describe("the other command's dump", () => {
  it('maps refuses prog show output, and progs map show output, saying which it is', () => {
    expect(() => parseBpftoolMaps(fixture('prog-show.json'), 'p.json')).toThrow(/^p\.json: \[0\]: a program \(it has a tag\): this is `bpftool -j prog show` output; bpfmem progs --from-bpftool reads it$/);
    expect(() => parseBpftoolProgs(fixture('map-show.json'), 'm.json')).toThrow(/^m\.json: \[0\]: a map \(it has max_entries\): this is `bpftool -j map show` output; bpfmem maps --from-bpftool reads it$/);
  });
});

describe('readBpftoolFile', () => {
  it('reads a file, and names one it cannot read, a directory and a FIFO (refused before waiting for a writer)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-bpftool-'));
    try {
      writeFileSync(join(dir, 'm.json'), fixture('map-show.json'));
      expect(parseBpftoolMaps(await readBpftoolFile(join(dir, 'm.json')), 'm.json')).toHaveLength(7);
      await expect(readBpftoolFile(join(dir, 'nope.json'))).rejects.toThrow(`bpftool dump ${dir}/nope.json: cannot read (no such file)`);
      // A name whose bytes are not UTF-8 reaches Node as U+FFFD: said, not only "no such file".
      await expect(readBpftoolFile(join(dir, 'b\ufffd.json'))).rejects.toThrow('cannot read (no such file; its name has bytes that are not UTF-8, which Node cannot pass on: rename it, or give it as - (< file))');
      await expect(readBpftoolFile(dir)).rejects.toThrow(`bpftool dump ${dir}: is a directory, not a regular file`);
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      await expect(readBpftoolFile(join(dir, 'fifo'))).rejects.toThrow(`bpftool dump ${dir}/fifo: is a FIFO, not a regular file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses text that is not UTF-8', () => {
    const bytes = new TextEncoder().encode(fixture('map-show.json'));
    const latin1 = Uint8Array.from([...bytes.subarray(0, 10), 0xff, 0xfe, ...bytes.subarray(10)]);
    expect(() => parseBpftoolMaps(latin1, 'm.json')).toThrow('m.json: not UTF-8 text (bpftool writes its JSON in UTF-8)');
  });
});

describe('fuzz: no input makes the parsers throw anything but a one-line BpfmemError', () => {
  const seeds = ['map-show.json', 'map-show-pretty.json', 'map-show-pinned.json', 'map-show-one.json', 'prog-show.json', 'prog-show-pretty.json', 'prog-show-one.json'].map(fixture);

  /** A seed edited at random: characters inserted, deleted or replaced. */
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.record({ at: fc.nat(), remove: fc.nat({ max: 6 }), insert: fc.oneof(fc.constantFrom('', '"', '-', '1', '}', ']', ',', '\n', 'null', '[', '{', 'e9', '"x"'), fc.string({ maxLength: 4 })) }), { maxLength: 6 })).map(([seed, edits]) =>
    edits.reduce((t, e) => {
      const at = e.at % (t.length + 1);
      return t.slice(0, at) + e.insert + t.slice(at + e.remove);
    }, seed),
  );
  /** Valid JSON with the right keys and values of any type. */
  const wrongTypes = fc.array(fc.dictionary(fc.constantFrom('id', 'type', 'name', 'flags', 'bytes_key', 'bytes_value', 'max_entries', 'bytes_memlock', 'frozen', 'pids', 'pinned', 'map_ids', 'tag', '__proto__'), fc.jsonValue()), { maxLength: 4 }).map((v) => JSON.stringify(v));

  const neverThrowsOtherwise = (text: string): void => {
    for (const parse of [parseBpftoolMaps, parseBpftoolProgs]) {
      try {
        parse(text, 'fuzz.json');
      } catch (error) {
        expect(error).toBeInstanceOf(BpfmemError);
        expect((error as BpfmemError).code).toBe('input');
        expect((error as Error).message).toMatch(/^fuzz\.json: /);
        expect((error as Error).message).not.toContain('\n');
      }
    }
  };

  it('mutated captures', () => {
    fc.assert(fc.property(mutated, neverThrowsOtherwise), { numRuns: 2000 });
  });

  it('arbitrary text', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 })), neverThrowsOtherwise), { numRuns: 2000 });
  });

  it('the right keys with values of any type', () => {
    fc.assert(fc.property(wrongTypes, neverThrowsOtherwise), { numRuns: 2000 });
  });
});
