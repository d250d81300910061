import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildFixture } from '../fixtures/bpf/build.js';

/*
 * `-` for standard input, where a command reads a file a person names: a bpftool dump
 * (`ssh node bpftool -j map show | bpfmem maps --from-bpftool -`), a scenario, a BPF object. The
 * CLI runs as a process, so that its standard input is a real pipe, file or terminal.
 */

const BIN = fileURLToPath(new URL('../../src/bin/bpfmem.ts', import.meta.url));
const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/bpftool/${name}`, import.meta.url));
const SCENARIO = fileURLToPath(new URL('../../scenarios/example.yaml', import.meta.url));

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function bpfmem(args: readonly string[], stdin: { input: string | Uint8Array } | { fd: number }): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', BIN, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...('input' in stdin ? { input: stdin.input } : { stdio: [stdin.fd, 'pipe', 'pipe'] }),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs with standard input the file at `path` (`< path`). */
function fromFile(args: readonly string[], path: string): Run {
  const fd = openSync(path, 'r');
  try {
    return bpfmem(args, { fd });
  } finally {
    closeSync(fd);
  }
}

describe('- reads standard input', () => {
  it('maps and progs --from-bpftool -: a pipe and a file, named <stdin>', () => {
    const maps = bpfmem(['maps', '--json', '--from-bpftool', '-'], { input: readFileSync(fixture('map-show.json')) });
    expect(maps.stderr).toBe('');
    const out = JSON.parse(maps.stdout) as { source: string; maps: unknown[] };
    expect(out.maps).toHaveLength(7);
    expect(out.source).toMatch(/^<stdin>, read as kernel /);
    const progs = fromFile(['progs', '--json', '--from-bpftool', '-'], fixture('prog-show.json'));
    expect(progs.stderr).toBe('');
    expect((JSON.parse(progs.stdout) as { progs: unknown[] }).progs.length).toBeGreaterThan(0);
  });

  it('a bad dump on standard input is one line that names <stdin>', () => {
    const r = bpfmem(['maps', '--from-bpftool', '-'], { input: '[{"id": 1,' });
    expect(r.stderr).toMatch(/^bpfmem: <stdin>: not JSON/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.status).toBe(2);
  });

  it('simulate -: the scenario from a pipe; its errors name <stdin> and the line', () => {
    const ok = bpfmem(['simulate', '--json', '-'], { input: readFileSync(SCENARIO) });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    const file = bpfmem(['simulate', '--json', SCENARIO], { input: '' });
    // The same run as from the file, but for the name of its source.
    expect(JSON.parse(ok.stdout)).toEqual({ ...(JSON.parse(file.stdout) as object), source: '<stdin>' });
    const bad = bpfmem(['simulate', '-'], { input: 'kernel: {}\nsteps:\n  - bogus: 1\n' });
    expect(bad.stderr).toMatch(/^bpfmem: <stdin>:3: /);
    expect(bad.status).toBe(2);
  });

  it('is bounded: a scenario past its cap is refused, however it arrives', () => {
    const r = bpfmem(['simulate', '-'], { input: `# ${'x'.repeat(1024 * 1024)}\n` });
    expect(r.stderr).toBe('bpfmem: scenario <stdin>: more than the 1.0 MiB bpfmem reads of a scenario\n');
    expect(r.status).toBe(2);
  });

  it('estimate -: an object from a pipe; standard input given twice is refused', () => {
    const obj = readFileSync(buildFixture('names'));
    const r = bpfmem(['estimate', '--kernel', '6.18', '--cpus', '4', '--json', '-'], { input: obj });
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as { maps: unknown[] }).maps).toHaveLength(4);
    const twice = bpfmem(['estimate', '--kernel', '6.18', '-', '--from-bpftool', '-'], { input: obj });
    expect(twice.stderr).toBe('bpfmem: standard input (-) is read once: give it for one object or for --from-bpftool, and files for the others\n');
    expect(twice.status).toBe(2);
    const junk = bpfmem(['estimate', '-'], { input: 'not an object' });
    expect(junk.stderr).toMatch(/^bpfmem: <stdin>: /);
    expect(junk.status).toBe(2);
  });

  it('explain --object -: an object from a pipe, once', () => {
    const obj = readFileSync(buildFixture('names'));
    const r = bpfmem(['explain', '--need', '1Ki', '--object', '-', '--json'], { input: obj });
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as { need: { maps: unknown[] } }).need.maps).toHaveLength(4);
    const twice = bpfmem(['explain', '--object', '-', '--object', '-'], { input: obj });
    expect(twice.stderr).toBe('bpfmem: standard input (-) is read once: give it for one --object, and files for the others\n');
    expect(twice.status).toBe(2);
  });
});

// `script` (util-linux) runs the command on a pseudo-terminal: its standard input is one.
const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
const haveScript = script.status === 0;
if (!haveScript) console.warn('stdin terminal test skipped: no script(1) from util-linux to make a pseudo-terminal');

describe.skipIf(!haveScript)('- on a terminal', () => {
  it('is refused at once, not waited on', () => {
    const r = spawnSync('script', ['-qec', `"${process.execPath}" --import tsx "${BIN}" maps --from-bpftool -`, '/dev/null'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    expect(r.stdout).toContain('bpfmem: bpftool dump <stdin>: standard input is a terminal: pipe the input in, or give a file instead of -');
    expect(r.status).toBe(2);
  });
});
