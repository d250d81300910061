import { lastErrno, libc } from '../bpf/libc.js';
import { describeErrno } from '../bpf/error.js';

/**
 * What a long-running bpfmem (`serve`) needs of its process that only a new process can take:
 * V8 sizes its young generation and glibc makes its malloc arenas before any of bpfmem's code
 * runs. So `bpfmem serve` starts itself again, once, in place (execve: the same pid, which
 * systemd, Kubernetes and a shell's job control keep following), with
 *
 * - `--max-semi-space-size=4` (MiB): V8 grows the young generation to 2 × 16 MiB while a scan of
 *   100,000 maps allocates, and keeps it; 4 MiB semi-spaces took serve's RSS there from 192 to
 *   166 MiB, and its rescan stayed at 151–163 ms;
 * - `MALLOC_ARENA_MAX=1`: glibc gives a thread that meets contention an arena of its own, and
 *   V8's helper threads kept 4 of them with 24 MiB resident that `malloc_trim` did not give back;
 *   one arena took the RSS to 165 MiB. Set at run time (`mallopt`) it changed nothing: the
 *   helper threads have their arenas by then.
 *
 * Both: 150 against 192 MiB, 744 against 1,165 bytes a map beyond the base (bench:inventory,
 * docs/performance.md). Either one set already (in NODE_OPTIONS, node's own options or the
 * environment) is kept as given.
 */

/** Set in the environment of the process started again: it is not started a third time. */
export const RESTARTED = 'BPFMEM_SERVE_RESTARTED';
/** The young generation's semi-space size, in MiB. */
export const SEMI_SPACE_MIB = 4;

/** What this process was started with. */
export interface ProcessStart {
  readonly execPath: string;
  readonly execArgv: readonly string[];
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** An execve(2) call: the program, its argv (argv[0] included) and its environment as `NAME=value`. */
export interface Exec {
  readonly path: string;
  readonly argv: readonly string[];
  readonly env: readonly string[];
}

/** The execve that starts this process again tuned for serving, or undefined when it already is. */
export function restartForServing(p: ProcessStart): Exec | undefined {
  if (p.env[RESTARTED] !== undefined) return undefined;
  const options = [...p.execArgv, ...(p.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  const semi = options.some((o) => /^--max[-_]semi[-_]space[-_]size(=|$)/.test(o));
  const arenas = p.env['MALLOC_ARENA_MAX'] !== undefined;
  if (semi && arenas) return undefined;
  const env: Record<string, string | undefined> = { ...p.env, [RESTARTED]: '1', ...(!arenas && { MALLOC_ARENA_MAX: '1' }) };
  return {
    path: p.execPath,
    argv: [p.execPath, ...(semi ? [] : [`--max-semi-space-size=${SEMI_SPACE_MIB}`]), ...p.execArgv, ...p.argv.slice(1)],
    env: Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])),
  };
}

/** `F_GETFD`, `F_SETFD`, `FD_CLOEXEC` (include/uapi/asm-generic/fcntl.h). */
const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/**
 * Starts this process again as {@link restartForServing} says, keeping stdin, stdout and stderr
 * (Node opens them close-on-exec). Returns only when it did not: undefined when there was
 * nothing to do, else why (execve failed, no libc here), and this process goes on as it is.
 * Call it before anything is written or opened that the new image would lose.
 */
export function restartTunedForServing(start: ProcessStart = process): string | undefined {
  const exec = restartForServing(start);
  if (exec === undefined) return undefined;
  let c;
  try {
    c = libc();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const flags = [0, 1, 2].map((fd) => c.fcntl(fd, F_GETFD, 0));
  flags.forEach((f, fd) => {
    if (f >= 0 && (f & FD_CLOEXEC) !== 0) c.fcntl(fd, F_SETFD, f & ~FD_CLOEXEC);
  });
  c.execve(exec.path, exec.argv, exec.env);
  const why = `execve ${exec.path}: ${describeErrno(lastErrno())}`;
  flags.forEach((f, fd) => {
    if (f >= 0) c.fcntl(fd, F_SETFD, f);
  });
  return why;
}
