import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { cli } from '../cli/run.js';
import { until } from '../server/helpers.js';
import { liveEnv } from './env.js';

/**
 * How runs end (issue 14, item 7): Ctrl-C during `conformance` prints no stack trace and no
 * "internal error", and leaves no cgroup; `top` on Ctrl-C claims to remove nothing it did not
 * make; cgroups that killed runs left are removed by the next command that owns cgroups, which
 * says so in one line.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}src/bin/bpfmem.ts`;

/** A pid that no process has now: one that has just exited. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

/** Runs bpfmem in its own process group, sends SIGINT to the group (as a terminal's Ctrl-C does) once `ready` holds. */
async function interrupted(args: string[], ready: (out: { stdout: string; stderr: string; pid: number }) => boolean): Promise<{ stdout: string; stderr: string; status: number | null; signal: NodeJS.Signals | null; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '', pid: child.pid ?? 0 };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => { resolve([code, signal]); }));
  await until(() => ready(out), `bpfmem ${args.join(' ')} to be under way`, 3000, 20);
  process.kill(-out.pid, 'SIGINT');
  const [status, signal] = await exited;
  return { ...out, status, signal };
}

describe.skipIf(!liveEnv.ok)('ends of runs (live)', async () => {
  const found = await readMemoryHierarchy();
  const own = found.ok ? found.hierarchy.ownDir : '';
  const mine = (pid: number): string[] => readdirSync(own).filter((n) => n.startsWith('bpfmem-') && n.includes(`-${pid}-`));

  it('top, Ctrl-C: ends by the signal itself (a shell says 130), with no claim to remove anything', async () => {
    // top holds nothing to remove, so no handler stands between the signal and its default.
    const run = await interrupted(['top', '-d', '1'], (o) => o.stdout.includes('More: bpfmem'));
    expect(run.stderr).toBe('');
    expect(run.signal).toBe('SIGINT');
  });

  it.each([
    ['top', ['top', '-d', '200ms']],
    ['watch', ['watch', '--no-trace', '--json', '-d', '200ms']],
  ])('%s ends when the reader of its output goes away (`| head -1`): status 0, nothing said', async (_name, args) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // The first frame read, then the pipe closed: the next frame's write meets EPIPE.
    child.stdout.once('data', () => {
      child.stdout.destroy();
    });
    const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve([code, signal]);
      });
    });
    const outcome = await Promise.race([ended, new Promise<'still running'>((resolve) => setTimeout(() => { resolve('still running'); }, 30_000))]);
    if (outcome === 'still running') child.kill('SIGKILL');
    expect(outcome).toEqual([0, null]);
    expect(stderr).toBe('');
  }, 60_000);

  /** Whether `n` cgroups have been seen below the run's owned roots so far: its cases are under way. */
  const cases = (n: number) => {
    const seen = new Set<string>();
    return (pid: number): boolean => {
      for (const root of mine(pid)) {
        try {
          for (const e of readdirSync(`${own}/${root}`, { withFileTypes: true })) if (e.isDirectory()) seen.add(`${root}/${e.name}`);
        } catch {
          // removed meanwhile
        }
      }
      return seen.size >= n;
    };
  };

  it.each([
    ['as it starts', (pid: number) => mine(pid).length > 0],
    ['in its first case', cases(1)],
    ['cases later', cases(3)],
  ])('conformance, Ctrl-C %s: no stack trace, no internal error, nothing left', async (_when, ready) => {
    const run = await interrupted(['conformance', '--quick', '--no-scenarios'], (o) => ready(o.pid));
    expect(run.stderr).not.toMatch(/internal error|EPIPE|^\s+at /m);
    // (A line about cgroups of other dead runs may come first on a shared machine.)
    // The signal line is said when the run had tracked what it made; a signal that lands between
    // a child's mkdir and the parent hearing of it ends with a bare newline, and the owned root
    // is removed all the same (checked below).
    expect(run.stderr).toMatch(/^(bpfmem: removed \d+ cgroups? that runs which died had left: [^\n]+\n)?\n(bpfmem: SIGINT: removing what this run created\n)?$/);
    expect(run.status).toBe(130);
    expect(mine(run.pid)).toEqual([]);
  }, 60_000);

  it('conformance, Ctrl-C with its stderr\'s reader gone (`2>&1 | tee log`, tee ended by the same Ctrl-C): status 130, nothing left', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'conformance', '--quick', '--no-scenarios'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const pid = child.pid ?? 0;
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => { resolve([code, signal]); }));
    try {
      await until(() => cases(1)(pid), 'conformance to be in its first case', 30_000, 20);
      // The signal line then meets EPIPE; before, it ended the process with status 1 and no cleanup.
      child.stderr.destroy();
      process.kill(pid, 'SIGINT');
      expect(await exited).toEqual([130, null]);
      expect(mine(pid)).toEqual([]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('serve: started again in place with its memory settings; SIGUSR1 opens no inspector; SIGHUP (the session closed) ends it as SIGTERM does, status 129', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'serve', '--port', '0', '--interval', '1s'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => { resolve([code, signal]); }));
    try {
      await until(() => stderr.includes('serving http://'), 'serve to be serving', 30_000, 20);
      // execve in place (src/sys/proc/restart.ts): the pid the caller knows runs the tuned node.
      const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      expect(cmdline.slice(0, 4)).toEqual([process.execPath, '--max-semi-space-size=4', '--import', 'tsx']);
      expect(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=1');
      expect(stderr.match(/serving http:/g)).toHaveLength(1);
      child.kill('SIGUSR1');
      // Node's default for SIGUSR1 prints "Debugger listening on ws://127.0.0.1:9229/…" at once.
      await new Promise((r) => setTimeout(r, 500));
      expect(child.exitCode).toBeNull();
      expect(stderr).not.toMatch(/Debugger listening/);
      child.kill('SIGHUP');
      expect(await exited).toEqual([129, null]);
      expect(stderr).toContain('\nbpfmem: SIGHUP: removing what this run created\n');
    } finally {
      // A failed check leaves no server running (it would hold its map iterator for the next files).
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);

  it('cgroups that runs which died left are removed by probe, which says so in one line', async () => {
    const pid = deadPid();
    const names = [`bpfmem-conformance-${pid}-0badf00d`, `bpfmem-live-${pid}-0badf00d`];
    for (const n of names) mkdirSync(`${own}/${n}`);
    mkdirSync(`${own}/${names[0]}/inner`);
    const run = await cli(['probe', '--json']);
    // Other dead runs' leftovers may be removed too (a shared machine): ours are among those named.
    const said = /^bpfmem: removed (\d+) cgroups that runs which died had left: ([^\n]+)\n$/.exec(run.stderr);
    expect(Number(said?.[1])).toBeGreaterThanOrEqual(2);
    const listed = said?.[2]?.split(', ') ?? [];
    if (Number(said?.[1]) <= 3) expect(listed).toEqual(expect.arrayContaining(names));
    for (const n of names) expect(existsSync(`${own}/${n}`)).toBe(false);
  }, 60_000);
});
