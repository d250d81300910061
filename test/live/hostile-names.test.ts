import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMemoryHierarchy } from '../../src/sys/cgroup/mount.js';
import { cli } from '../cli/run.js';
import { liveEnv } from './env.js';

/**
 * Names this machine's processes and cgroups give themselves reach the terminal escaped
 * (issue 14, item 2): a process renames itself to an escape sequence (its comm, 15 bytes), a
 * cgroup is named with one, and `explain` and `cgroups --all` print them as escapes, while
 * `--json` keeps them exact.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
/** Sets the terminal's title and clears the screen: 14 bytes, within comm's 15. */
const COMM = '\u001b]0;pwn\u0007\u001b[2J';
const CGROUP = 'bpfmem-evil-\u001b[2J\u001b]0;x\u0007';

describe.skipIf(!liveEnv.ok)('hostile names on this machine (live)', () => {
  let child: ChildProcess;
  let own = '';
  beforeAll(async () => {
    const found = await readMemoryHierarchy();
    if (!found.ok) throw new Error(found.reason);
    own = found.hierarchy.ownDir;
    // Only a process itself may set its comm (proc_pid_comm write: same thread group): a shell
    // renames itself, says so, and waits on its stdin.
    child = spawn('bash', ['-c', 'printf "%s" "$1" > /proc/$$/comm && echo renamed && read -r _', 'bash', COMM], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => {
        resolve();
      });
      child.once('exit', (code) => {
        reject(new Error(`the renaming shell exited (${code ?? '?'})`));
      });
    });
    mkdirSync(`${own}/${CGROUP}`);
  });
  afterAll(() => {
    child.kill('SIGKILL');
    try {
      rmdirSync(`${own}/${CGROUP}`);
    } catch {
      // not made
    }
  });

  it('explain --pid shows the renamed process escaped', async () => {
    const run = await cli(['explain', '--pid', String(child.pid), '--map', 'type=hash,key=4,value=8,max_entries=10']);
    expect(run.stderr).toBe('');
    expect(UNSAFE.test(run.stdout)).toBe(false);
    expect(run.stdout).toContain(`process ${child.pid} (\\x1b]0;pwn\\x07\\x1b[2J)`);
    const json = await cli(['explain', '--json', '--pid', String(child.pid), '--map', 'type=hash,key=4,value=8,max_entries=10']);
    expect(json.stdout).toContain(JSON.stringify(COMM).slice(1, -1));
  });

  it('cgroups --all shows the cgroup name escaped, one row for it', async () => {
    const run = await cli(['cgroups', '--all']);
    expect(run.status).toBe(0);
    expect(UNSAFE.test(run.stdout)).toBe(false);
    expect(run.stdout.split('\n').filter((l) => l.includes('bpfmem-evil-\\x1b[2J\\x1b]0;x\\x07'))).toHaveLength(1);
    const json = JSON.parse((await cli(['cgroups', '--json'])).stdout) as { cgroups: { path: string }[] };
    expect(json.cgroups.some((c) => c.path.endsWith(`/${CGROUP}`))).toBe(true);
  });
});
