import { readFileSync } from 'node:fs';
import koffi from 'koffi';

/**
 * Whether live tests can run here, and why not. Live tests need root, a working bpf() and the
 * memory controller (cgroup v1 `memory` or v2 with `memory` in cgroup.controllers). Where any is
 * missing they skip, and print the reason: they never pass silently.
 */
export interface LiveEnv {
  readonly ok: boolean;
  /** Why live tests cannot run; undefined when they can. */
  readonly reason?: string;
}

function check(): LiveEnv {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root: live tests create cgroups and BPF maps' };
  try {
    // BPF_MAP_CREATE of a 1-entry array, then close it: does bpf() work at all?
    const libc = koffi.load('libc.so.6');
    const syscall = libc.func('long syscall(long, ...)');
    const close = libc.func('int close(int)');
    const attr = Buffer.alloc(72);
    attr.writeUInt32LE(2, 0);
    attr.writeUInt32LE(4, 4);
    attr.writeUInt32LE(4, 8);
    attr.writeUInt32LE(1, 12);
    const fd = syscall(321, 'int', 0, 'void *', attr, 'uint', attr.length) as number;
    if (fd < 0) return { ok: false, reason: `bpf(BPF_MAP_CREATE) failed with errno ${koffi.errno()}` };
    close(fd);
  } catch (error) {
    return { ok: false, reason: `cannot call bpf(): ${error instanceof Error ? error.message : String(error)}` };
  }
  const cgroups = readFileSync('/proc/self/cgroup', 'utf8');
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const v1 = /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:/m.test(cgroups) && / - cgroup cgroup rw,[^\n]*\bmemory\b/.test(mountinfo);
  let v2 = false;
  const unified = /^\S+ \S+ \S+ \S+ (\S+) \S+ [^\n]*? - cgroup2 /m.exec(mountinfo);
  if (unified?.[1]) {
    try {
      v2 = readFileSync(`${unified[1]}/cgroup.controllers`, 'utf8').split(/\s+/).includes('memory');
    } catch {
      v2 = false;
    }
  }
  if (!v1 && !v2) return { ok: false, reason: 'no memory controller: neither cgroup v1 memory nor cgroup v2 with memory' };
  return { ok: true };
}

export const liveEnv: LiveEnv = check();

if (!liveEnv.ok) {
  // Printed once per test file that imports this module, so a skipped run says why.
  console.warn(`live tests skipped: ${liveEnv.reason ?? 'unknown reason'}`);
}
