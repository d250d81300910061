/** A resource limit in bytes, soft and hard; `Infinity` for unlimited (getrlimit(2), /proc/PID/limits). */
export interface Rlimit {
  readonly soft: number;
  readonly hard: number;
}
