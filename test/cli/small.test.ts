import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './run.js';

/**
 * What a new user types first (issue 14, item 8): `bpfmem help`, bpftool's `-j`, kubectl's
 * `-o json`; long arguments are not echoed whole; a file that is no input is never quoted.
 * `--cgroup /nonexistent` and `cgroups` without root are live (test/live/inventory.test.ts).
 */

const DUMP = ['--from-bpftool', 'test/fixtures/bpftool/map-show.json', '--kernel', '6.18'];

describe('help', () => {
  it('bpfmem help is bpfmem --help', async () => {
    const [help, flag] = await Promise.all([cli(['help']), cli(['--help'])]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: bpfmem [options] [command]');
    expect(help.stdout).toBe(flag.stdout);
  });

  it('bpfmem help maps is bpfmem maps --help', async () => {
    const [help, flag] = await Promise.all([cli(['help', 'maps']), cli(['maps', '--help'])]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: bpfmem maps [options]');
    expect(help.stdout).toBe(flag.stdout);
  });

  it('an unknown option with commander\'s suggestion is one line: no \\n shown', async () => {
    const run = await cli(['estimate', '--limt', '5']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe("bpfmem: unknown option '--limt' (did you mean --limit?)\n");
  });

  it('a repeatable option shows no "(default: [])", and help keeps to 80 columns but for words longer than a line', async () => {
    for (const command of ['estimate', 'explain']) {
      const run = await cli([command, '--help']);
      expect(run.status).toBe(0);
      expect(run.stdout).toContain('(repeatable');
      expect(run.stdout).not.toContain('default: []');
      for (const line of run.stdout.split('\n')) if (line.length > 80) expect(line.trim()).not.toContain(' ');
    }
  });

  it('bpfmem help help is bpfmem --help', async () => {
    const [help, flag] = await Promise.all([cli(['help', 'help']), cli(['--help'])]);
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(flag.stdout);
  });

  it('bpfmem help mpas names the command it may mean, exit 2', async () => {
    const run = await cli(['help', 'mpas']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bpfmem: help "mpas": no such command \(did you mean maps\?\); commands are maps, [^\n]*\n$/);
  });
});

describe('JSON as bpftool and kubectl ask for it', () => {
  it.each([[['-j']], [['-o', 'json']], [['-ojson']], [['--output', 'json']], [['--output=json']]])('maps %j is maps --json', async (flag) => {
    const [run, json] = await Promise.all([cli(['maps', ...flag, ...DUMP]), cli(['maps', '--json', ...DUMP])]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(json.stdout);
    expect(() => JSON.parse(run.stdout) as unknown).not.toThrow();
  });

  it.each([[['-j']], [['--json']], [['-o', 'json']], [['--output=json']]])('%j before the command is the command\'s: maps and demo print JSON', async (flag) => {
    const [run, json] = await Promise.all([cli([...flag, 'maps', ...DUMP]), cli(['maps', '--json', ...DUMP])]);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(json.stdout);
    const demo = await cli([...flag, 'demo']);
    expect(demo.stderr).toBe('');
    expect(demo.status).toBe(0);
    expect(() => JSON.parse(demo.stdout) as unknown).not.toThrow();
  });

  it('-o yaml is refused in one line, exit 2', async () => {
    const run = await cli(['maps', '-o', 'yaml', ...DUMP]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('bpfmem: -o "yaml": the one format is json (-o json is --json; text is the default)\n');
  });

  it("kubectl's -o wide points at --wide", async () => {
    const run = await cli(['maps', '-o', 'wide', ...DUMP]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('bpfmem: -o "wide": the one format is json; for more columns, --wide (-o json is --json; text is the default)\n');
  });

  it('--regime none before 5.11 says why there is none, not that memcg is missing', async () => {
    const run = await cli(['estimate', '--kernel', '5.10', '--regime', 'none', '--map', 'type=hash,key=4,value=8,max_entries=1']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bpfmem: --kernel "5\.10": kernel 5\.10 has no regime none: it precharges BPF to RLIMIT_MEMLOCK whatever the memory cgroups .*; its regime is memlock\n$/);
  });
});

describe('long arguments are cut in errors', () => {
  const long = Array.from({ length: 2000 }, (_, i) => String(i + 1)).join(',');
  it('a 2,000-entry --cpus list', async () => {
    const run = await cli(['estimate', '--kernel', '6.18', '--cpus', long, '--map', 'type=hash,key=4,value=8,max_entries=1']);
    expect(run.status).toBe(2);
    expect(run.stderr.length).toBeLessThan(200);
    expect(run.stderr).toMatch(/^bpfmem: --cpus "1,2,3,[^"]*…": at most 16 counts to compare\n$/);
  });

  it.each([['maps'], ['progs']])('%s --pid of no process says so, exit 1, as --cgroup of no cgroup does', async (command) => {
    const run = await cli([command, '--pid', '999999999']);
    expect(run.stderr).toBe('bpfmem: --pid 999999999: no such process on this machine\n');
    expect(run.status).toBe(1);
  });

  it('a long unknown command', async () => {
    const run = await cli(['x'.repeat(5000)]);
    expect(run.status).toBe(2);
    expect(run.stderr.length).toBeLessThan(300);
    expect(run.stderr).toMatch(new RegExp(`^bpfmem: unknown command "${'x'.repeat(40)}…"; commands are maps, `));
  });

  it('a long value commander refuses', async () => {
    const run = await cli(['maps', '--sort', 'x'.repeat(5000), ...DUMP]);
    expect(run.status).toBe(2);
    expect(run.stderr.length).toBeLessThan(300);
    expect(run.stderr).toContain(`"${'x'.repeat(40)}…"`);
  });

  it('a long option commander does not know is cut in its own message', async () => {
    const run = await cli(['maps', `--${'x'.repeat(5000)}`]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(`bpfmem: unknown option '--${'x'.repeat(38)}…'\n`);
  });
});

describe('a file that is not the input is never quoted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmem-small-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const SECRET = 'root:$y$j9T$Secr3tHashPrefix:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n';
  const shadow = join(dir, 'shadow');
  writeFileSync(shadow, SECRET);

  it.each([
    [['simulate', shadow]],
    [['maps', '--from-bpftool', shadow, '--kernel', '6.18']],
    [['progs', '--from-bpftool', shadow, '--kernel', '6.18']],
    [['estimate', '--kernel', '6.18', '--cpus', '2', '--from-bpftool', shadow]],
  ])('%j', async (args) => {
    const run = await cli(args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^bpfmem: [^\n]+\n$/);
    for (const piece of ['root', 'j9T', 'Secr3t', '19000', 'daemon']) expect(run.stderr.replace(shadow, '')).not.toContain(piece);
  });
});

describe('an input past its size limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpfmem-small-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a scenario 24 bytes over 1 MiB says both sizes in bytes (both would read 1.0 MiB)', async () => {
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '#'.repeat(1_048_600));
    const run = await cli(['simulate', big]);
    expect(run.status).toBe(2);
    // The CLI's bounded reader refuses it before the parser sees it (the parser's own limit is for the library).
    expect(run.stderr).toBe(`bpfmem: scenario ${big}: 1,048,600 bytes is more than the 1,048,576 (1.0 MiB) bpfmem reads of a scenario\n`);
  });
});

describe('options that belong to another', () => {
  it('conformance --timeout without --vm is refused before anything starts (it would run live on this kernel)', async () => {
    const run = await cli(['conformance', '--timeout', '5']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('bpfmem: --timeout bounds a VM: give it with --vm VMLINUZ\n');
  });
});
