import type { MapSpec } from '../vocab/map-spec.js';

/**
 * What the live backend asks its workers to do, and what they answer. A worker is a child
 * process placed in a real memory cgroup; it makes the bpf() calls of one scenario task, so the
 * kernel charges them to that cgroup, as it would charge the task.
 */
export type WorkerRequest =
  /** Warms the worker up, then sets its credentials as `credentials` does. */
  | {
      readonly op: 'setup';
      readonly memlock: number | null;
      readonly uid: number | null;
      /** Make the map-in-map inner template now, before the task's credentials (before 5.11: its precharge). */
      readonly innerTemplate?: boolean;
    }
  /**
   * Sets the real uid (`null`: unchanged) and RLIMIT_MEMLOCK, soft and hard (`null`: unchanged;
   * `Infinity`: unlimited). Answers the RLIMIT_MEMLOCK now in force (-1 unchanged, -2 unlimited).
   */
  | { readonly op: 'credentials'; readonly memlock: number | null; readonly uid: number | null }
  | { readonly op: 'createMap'; readonly spec: MapSpec; readonly name: string; readonly innerMapFd?: number; readonly vmlinuxValueTypeId?: number }
  | { readonly op: 'openMap'; readonly id: number }
  | {
      readonly op: 'insert';
      readonly id: number;
      readonly spec: MapSpec;
      /** First key number; keys are firstKey, firstKey+1, … (encoded per map type). */
      readonly firstKey: number;
      readonly count: number;
      readonly cpu: number;
      /** Retries ENOMEM for up to this many milliseconds in all (0: none). */
      readonly retryEnomemMs?: number;
    }
  | { readonly op: 'remove'; readonly id: number; readonly spec: MapSpec; readonly firstKey: number; readonly count: number; readonly cpu: number }
  | { readonly op: 'closeMap'; readonly id: number }
  | { readonly op: 'loadProg'; readonly name: string; readonly insns: number }
  | { readonly op: 'closeProg'; readonly id: number }
  | { readonly op: 'alloc'; readonly bytes: number }
  /** Faults `bytes` of anonymous memory in and unmaps them at once (memory statistics updates). */
  | { readonly op: 'touch'; readonly bytes: number }
  | { readonly op: 'mlock'; readonly bytes: number }
  | { readonly op: 'fds' }
  | { readonly op: 'softirqArm'; readonly targetId: number; readonly spec: MapSpec; readonly firstKey: number }
  | { readonly op: 'softirqSend'; readonly targetId: number; readonly count: number; readonly cpu: number; readonly firstKey: number }
  | { readonly op: 'exit' };

/** A successful answer: the value an operation returns. */
export interface WorkerOk {
  readonly ok: true;
  readonly value: WorkerValue;
}

/** A refused operation: the errno of the failing syscall and its message. */
export interface WorkerError {
  readonly ok: false;
  /** The errno name (`ENOMEM`), or `ERROR` for a failure that is not a syscall's. */
  readonly errno: string;
  readonly message: string;
  /** For counted operations: how many were done before the failure. */
  readonly applied?: number;
}

export type WorkerValue =
  | { readonly kind: 'none' }
  | { readonly kind: 'map'; readonly id: number; readonly fd: number }
  | { readonly kind: 'prog'; readonly id: number; readonly fd: number }
  | { readonly kind: 'count'; readonly applied: number; readonly retried?: number }
  | { readonly kind: 'softirq'; readonly applied: number; readonly failed: number; readonly lastError: number };

/** One message on the worker channel. */
export interface Envelope<T> {
  readonly seq: number;
  readonly body: T;
}
