/**
 * Refused BPF map updates, counted in the kernel: fexit programs on the functions each map type's
 * updates return through (hooks.ts), assembled at run time (program.ts) into counters bpfmem
 * reads through mmap (layout.ts) and a ring buffer of events (ringbuf.ts); tracer.ts loads,
 * attaches, reads and detaches them. docs/watch.md says what is hooked on which kernels.
 */
export { HOOKS, hookSees, PROG_UPDATABLE, planHooks, type HookPlan, type HookSpec, type HookTarget, type UpdatePath } from './hooks.js';
export { BUCKETS, ERRNO_BUCKETS, OTHER_BUCKET, SLOTS, bucketName, type BucketName, type FailureEvent, type SlotCounts } from './layout.js';
export { buildHookProgram } from './program.js';
export { UpdateTracer, DEFAULT_EVENT_BYTES, trampolinesRefused, type HookStatus, type TracerOptions } from './tracer.js';
