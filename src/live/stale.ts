import type { CgroupFs } from '../sys/cgroup/index.js';
import { isProcessAlive } from '../sys/cgroup/index.js';
import { readChildNames } from '../sys/cgroup/index.js';
import { parseOwnedRootName } from '../sys/cgroup/index.js';
import { noteStaleRemoved } from './cleanup.js';

/**
 * Removes the owned roots (`bpfmem-<prefix>-<pid>-<random>`) that runs which died without
 * cleaning up (SIGKILL, a crash, a power cut of the VM) left in this process's own cgroup,
 * whatever command made them: a killed `conformance` once left cgroups that only the next
 * `conformance` removed, silently (issue 14). Each is removed by `CgroupFs.cleanStale`, which
 * checks again that its pid is dead. The names are recorded for the run's one line
 * ({@link noteStaleRemoved}) and returned.
 */
export async function cleanStaleRuns(fs: CgroupFs): Promise<string[]> {
  const prefixes = new Set<string>();
  for (const name of await readChildNames(fs.hierarchy.ownDir)) {
    const parsed = parseOwnedRootName(name);
    if (parsed && !isProcessAlive(parsed.pid)) prefixes.add(parsed.prefix);
  }
  const removed: string[] = [];
  for (const prefix of prefixes) removed.push(...(await fs.cleanStale(prefix)));
  noteStaleRemoved(removed);
  return removed;
}
