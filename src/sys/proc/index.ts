/** The kernel door's proc side: what the rest of bpfmem uses of src/sys/proc/. */
export { type KernelCmdline, parseCmdline } from './cmdline.js';
export { readFdinfo } from './fdinfo.js';
export { countOpenFds } from './fd.js';
export { readKmallocMinSize, readPageSize, readPossibleCpus } from './host.js';
export { attachSocketFilter, closeSocket, udpSocket } from './net.js';
export { readLimits, readNumberFile, readProcCgroup, readStatus } from './procfs.js';
export { getRlimitMemlock, setRlimitMemlock } from './rlimit.js';
export { setRealUid } from './cred.js';
export { setAffinity } from './sched.js';
export { errnoCode, parseSigned } from './text.js';
export { noHugePages, releaseMemory, type Released } from './memory.js';
export { restartTunedForServing } from './restart.js';
