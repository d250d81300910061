/** The kernel door's cgroup side: what the rest of bpfmem uses of src/sys/cgroup/. */
export { CgroupFs, isProcessAlive, statsFlushOnlyByThreshold } from './cgroupfs.js';
export { type MemoryHierarchy, type MemoryHierarchyResult, readMemoryHierarchy, readMemoryHierarchySync } from './mount.js';
export { type CgroupCounters } from './parse.js';
export { dirOfPath, memoryLine, pathInMount } from './paths.js';
export { freshenMemoryStats, readCgroupCounters, readCgroupCountersIfPresent, readCgroupFile, readChildNames } from './read.js';
export { parseOwnedRootName } from './safety.js';
