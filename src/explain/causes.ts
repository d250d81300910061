import { describeErrno, type LinuxErrno } from '../vocab/errno.js';
import { formatBytes } from '../vocab/units.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { bpfCapable, capNames, hasCap } from '../vocab/caps.js';
import type { ExplainFacts, ExplainRequest } from './facts.js';
import type { Need } from './need.js';
import { maxFile, type LevelView } from './verdict.js';

/**
 * The causes of a failure that already happened (`--errno`): every cause bpfmem knows for that
 * errno, each marked by how well it fits the evidence. Pure.
 */

/** How well a cause fits the evidence. */
export type CauseStatus = 'likely' | 'possible' | 'ruled out';

/** Which kind of cause. */
export type CauseKind =
  | 'spec'
  | 'other-attributes'
  | 'memcg-max'
  | 'memcg-root'
  | 'rlimit-memlock'
  | 'permission'
  | 'bpf-jit-limit'
  | 'program-size'
  | 'allocator'
  | 'lsm'
  | 'attr-size'
  | 'rlimit-nofile'
  | 'file-max'
  | 'unknown-errno';

/** One cause, with the evidence for or against it. */
export interface Cause {
  readonly kind: CauseKind;
  readonly status: CauseStatus;
  /** One line: what the cause is, in the kernel's terms, naming the limit or cgroup. */
  readonly text: string;
  /** The numbers and files that support or rule out the cause. */
  readonly evidence: readonly string[];
  /** What to change, where the cause is likely or possible. */
  readonly fix?: string;
}

/** The inputs the causes are judged from. */
export interface CauseInput {
  readonly facts: ExplainFacts;
  readonly request: ExplainRequest;
  readonly need: Need;
  readonly levels: readonly LevelView[];
  /** Why the task's privileges refuse the request (caps.ts), if they do. */
  readonly permission: string | undefined;
}

/** Every cause bpfmem knows for `errno`, likeliest first. */
export function causesOf(errno: LinuxErrno, input: CauseInput): Cause[] {
  const out: Cause[] = [];
  out.push(...specCauses(errno, input));
  if (errno === 'ENOMEM') {
    out.push(...memcgCauses(input), memlockNotEnomem(input), allocatorCause(input));
  } else if (errno === 'EPERM') {
    out.push(memlockCause(input), permissionCause(input));
    if (input.request.progs.length > 0) out.push(jitLimitCause(input, 'EPERM'));
    out.push(lsmCause());
  } else if (errno === 'E2BIG') {
    out.push(programSizeCause(input), attrSizeCause());
  } else if (errno === 'ENOTSUPP') {
    if (input.request.progs.length > 0) out.push(jitLimitCause(input, 'ENOTSUPP'));
  } else if (errno === 'EMFILE') {
    out.push(nofileCause(input));
  } else if (errno === 'ENFILE') {
    out.push(fileMaxCause(input));
  } else if (errno !== 'EINVAL') {
    out.push({
      kind: 'unknown-errno',
      status: 'possible',
      text: `bpf(2) failed with ${describeErrno(errno)}: bpfmem has no specific explanation of it from BPF_MAP_CREATE or BPF_PROG_LOAD`,
      evidence: [],
    });
  }
  const rank: Record<CauseStatus, number> = { likely: 0, possible: 1, 'ruled out': 2 };
  return out.map((c, i) => ({ c, i })).sort((a, b) => rank[a.c.status] - rank[b.c.status] || a.i - b.i).map(({ c }) => c);
}

/** The model's validation of each map (kernel/bpf/syscall.c `map_create()` and the type's checks). */
function specCauses(errno: LinuxErrno, { request, need, facts }: CauseInput): Cause[] {
  const v = formatVersion(facts.profile.version);
  const refused = need.refused;
  const matching = refused.filter((r) => r.errno === errno);
  const out: Cause[] = matching.map((r) => ({
    kind: 'spec',
    status: 'likely',
    text: `${r.what}: the kernel refuses it with ${r.errno}: ${r.reason}`,
    evidence: [`bpfmem's model of kernel ${v} runs the checks of map_create() and of the map type`],
    fix: 'change the attributes the reason names',
  }));
  for (const r of refused.filter((x) => x.errno !== errno)) {
    out.push({
      kind: 'spec',
      status: 'possible',
      text: `${r.what}: kernel ${v} would refuse it with ${r.errno}, not ${errno}: ${r.reason}`,
      evidence: ['is the spec the one the loader used?'],
    });
  }
  if (errno !== 'EINVAL' && errno !== 'E2BIG' && errno !== 'ENOTSUPP') return out;
  if (request.maps.length === 0 && request.progs.length === 0) {
    out.push({
      kind: 'spec',
      status: 'possible',
      text: `the attributes of the map or program: no --map given, so they were not checked`,
      evidence: [],
      fix: 'give the map with --map type=…,key=…,value=…,max_entries=…[,flags=…]',
    });
    return out;
  }
  if (matching.length === 0) {
    out.push({
      kind: 'spec',
      status: 'ruled out',
      text: `the attributes the model checks: kernel ${v} takes ${request.maps.length === 1 ? 'this map' : 'these maps'} as given`,
      evidence: [],
    });
    if (errno === 'EINVAL' || errno === 'E2BIG') {
      out.push({
        kind: 'other-attributes',
        status: 'possible',
        text: `an attribute bpfmem does not model: BTF key/value types that do not match the sizes, an inner map (map-in-map), map_ifindex (offload), numa_node, a name with characters other than A-Z a-z 0-9 _ .`,
        evidence: ['libbpf prints the kernel\'s verifier or BTF log with LIBBPF_LOG_LEVEL=debug; bpftool -d too'],
      });
    }
  }
  return out;
}

/** ENOMEM from a memory cgroup limit (mm/page_counter.c `page_counter_try_charge()`). */
function memcgCauses({ facts, need, levels }: CauseInput): Cause[] {
  const file = maxFile(facts.profile.cgroupVersion);
  if (facts.profile.regime !== 'memcg') {
    return [
      {
        kind: 'memcg-max',
        status: 'ruled out',
        text: `a memory cgroup limit: BPF is not charged to memory cgroups here (regime ${facts.profile.regime})`,
        evidence: [facts.regimeReason],
      },
    ];
  }
  if (levels.length === 0) {
    return [{ kind: 'memcg-max', status: 'possible', text: 'a memory cgroup limit: the task\'s cgroups could not be read', evidence: [facts.chainMissing ?? ''] }];
  }
  if (levels[0]?.path === '/') {
    return [{ kind: 'memcg-root', status: 'ruled out', text: 'a memory cgroup limit: the task is in the root memory cgroup, which is never charged', evidence: [] }];
  }
  const out: Cause[] = [];
  const hit = (l: LevelView): string | undefined =>
    l.failcnt !== undefined && l.failcnt > 0
      ? `memory.failcnt of ${l.path} is ${l.failcnt}: charges have hit its limit`
      : l.maxEvents !== undefined && l.maxEvents > 0
        ? `memory.events${facts.profile.cgroupVersion === 2 ? '.local' : ''} max of ${l.path} is ${l.maxEvents}: usage has reached its limit`
        : undefined;
  for (const l of levels) {
    if (l.path === '/' || !Number.isFinite(l.max)) continue;
    const events = hit(l);
    const where = `at ${formatBytes(l.usage ?? 0)} of ${formatBytes(l.max)} (${formatBytes(Math.max(0, l.headroom ?? 0))} free)`;
    if (l.short > 0 && !l.reclaimCovers) {
      out.push({
        kind: 'memcg-max',
        status: 'likely',
        text: `${file} of ${l.path}: ${where}; the ${formatBytes(need.counted)} charged does not fit by ${formatBytes(l.short)}`,
        evidence: [
          events ?? 'no charge has hit this limit yet (failcnt and max events 0)',
          'BPF_MAP_CREATE fails with ENOMEM there, without the OOM killer (__GFP_NORETRY / __GFP_RETRY_MAYFAIL)',
        ],
        fix: `raise its ${file} by ${formatBytes(l.short)}, or free ${formatBytes(l.short)} in or below it`,
      });
    } else if (events !== undefined) {
      out.push({
        kind: 'memcg-max',
        status: 'possible',
        text: `${file} of ${l.path}: it has hit its limit before, though it is ${where} now`,
        evidence: [events, 'usage may have been higher when the call failed (other tasks, page cache, BPF inserts)'],
        fix: `watch ${l.path}'s usage when the loader runs, or raise its ${file}`,
      });
    }
  }
  if (out.length === 0) {
    const limited = levels.filter((l) => l.path !== '/' && Number.isFinite(l.max));
    out.push({
      kind: 'memcg-max',
      status: 'ruled out',
      text:
        limited.length === 0
          ? `a memory cgroup limit: no cgroup from ${levels[0]?.path ?? '?'} to the root has one`
          : `a memory cgroup limit: every cgroup on the way has room for ${formatBytes(need.counted)} and none has hit its limit`,
      evidence: limited.map((l) => `${l.path}: ${formatBytes(Math.max(0, l.headroom ?? 0))} free of ${formatBytes(l.max)}${l.failcnt !== undefined ? `, failcnt ${l.failcnt}` : ''}${l.maxEvents !== undefined ? `, max events ${l.maxEvents}` : ''}`),
    });
  }
  return out;
}

function memlockNotEnomem({ facts }: CauseInput): Cause {
  return {
    kind: 'rlimit-memlock',
    status: 'ruled out',
    text: 'RLIMIT_MEMLOCK: exceeding it fails with EPERM, not ENOMEM' + (facts.profile.regime === 'memlock' ? '' : `, and kernel ${formatVersion(facts.profile.version)} does not count BPF against it`),
    evidence: [],
  };
}

/** The allocation itself failing, whatever the limits. */
function allocatorCause({ need, facts }: CauseInput): Cause {
  const percpu = need.estimate.maps.some((m) => m.ok && /percpu/.test(m.type));
  const perCpu = need.uncharged > 0.1 * need.memlock ? `, of which ${formatBytes(need.uncharged)} per-CPU memory on ${facts.profile.possibleCpus} possible CPUs` : '';
  const evidence = [`${formatBytes(need.memlock)} in all (fdinfo memlock${need.extra > 0 ? ' and --need' : ''})${perCpu}`];
  return {
    kind: 'allocator',
    status: 'possible',
    text: `the allocation itself: vmalloc of a large area, the machine out of memory${percpu ? ', or the per-CPU allocator out of space (per-CPU maps)' : ''}`,
    evidence,
    fix: 'check /proc/meminfo (MemAvailable, VmallocUsed, Percpu) and dmesg for allocation failures',
  };
}

/** EPERM from the pre-5.11 RLIMIT_MEMLOCK precharge (kernel/bpf/syscall.c `bpf_charge_memlock()`). */
function memlockCause({ facts, need }: CauseInput): Cause {
  const v = formatVersion(facts.profile.version);
  if (facts.profile.regime !== 'memlock') {
    return {
      kind: 'rlimit-memlock',
      status: 'ruled out',
      text: `RLIMIT_MEMLOCK: kernel ${v} does not count BPF maps and programs against it (memory cgroups since 5.11)`,
      evidence: [facts.regimeReason],
    };
  }
  const task = facts.task;
  const rl = task?.memlock;
  if (!task || !rl) {
    return {
      kind: 'rlimit-memlock',
      status: 'possible',
      text: `RLIMIT_MEMLOCK: kernel ${v} precharges ${formatBytes(need.memlock)} against the loader's limit, which was not read`,
      evidence: [task ? `/proc/${task.pid}/limits could not be read` : 'no task given: use --pid'],
      fix: 'raise RLIMIT_MEMLOCK of the loader (ulimit -l, LimitMEMLOCK=)',
    };
  }
  const uid = task.uid === undefined ? 'its uid' : `uid ${task.uid}`;
  const lockedVm = `${uid}'s locked_vm (every BPF object and io_uring or perf buffer of every process of ${uid}) cannot be read`;
  if (need.memlock > rl.soft) {
    return {
      kind: 'rlimit-memlock',
      status: 'likely',
      text: `RLIMIT_MEMLOCK of process ${task.pid}: ${formatBytes(rl.soft)}, and the maps precharge ${formatBytes(need.memlock)} (${formatBytes(need.memlock - rl.soft)} over)`,
      evidence: [`kernel ${v} precharges page-rounded estimates to the user's locked_vm and returns EPERM past the limit`],
      fix: `raise RLIMIT_MEMLOCK of the loader to at least ${formatBytes(need.memlock)} (more if ${uid} locks other memory)`,
    };
  }
  return {
    kind: 'rlimit-memlock',
    status: 'possible',
    text: `RLIMIT_MEMLOCK of process ${task.pid}: ${Number.isFinite(rl.soft) ? formatBytes(rl.soft) : 'unlimited'}; the maps precharge ${formatBytes(need.memlock)}, which fits only if ${uid} has at most ${Number.isFinite(rl.soft) ? formatBytes(rl.soft - need.memlock) : 'any amount'} locked already`,
    evidence: [lockedVm],
    ...(Number.isFinite(rl.soft) && { fix: 'raise RLIMIT_MEMLOCK of the loader (libbpf ≥ 0.7 and cilium/ebpf rlimit.RemoveMemlock() set it to unlimited)' }),
  };
}

/** EPERM from capabilities or `unprivileged_bpf_disabled` (kernel/bpf/syscall.c `map_create()`). */
function permissionCause({ facts, permission }: CauseInput): Cause {
  const task = facts.task;
  if (permission !== undefined) {
    return {
      kind: 'permission',
      status: 'likely',
      text: `privileges: ${permission}`,
      evidence: task?.capEff === undefined ? [] : [`CapEff of process ${task.pid}: 0x${task.capEff.toString(16)}`],
      fix: 'run the loader with CAP_BPF (and CAP_NET_ADMIN for network maps, CAP_PERFMON for tracing) or as root',
    };
  }
  if (!task || task.capEff === undefined) {
    return {
      kind: 'permission',
      status: 'possible',
      text: 'privileges: missing CAP_BPF / CAP_SYS_ADMIN, or kernel.unprivileged_bpf_disabled',
      evidence: [task ? `CapEff of process ${task.pid} could not be read` : 'no task given: use --pid'],
    };
  }
  const names = capNames(task.capEff);
  return {
    kind: 'permission',
    status: 'ruled out',
    text: `privileges: process ${task.pid} has what these maps and programs need`,
    evidence: [`CapEff 0x${task.capEff.toString(16)}: ${names.length ? names.join(', ') : 'none that matter'}; kernel.unprivileged_bpf_disabled ${facts.unprivilegedBpfDisabled ?? 'unread'}`],
  };
}

/**
 * The JIT's global budget (kernel/bpf/core.c `bpf_jit_charge_modmem()`): unprivileged tasks may
 * not push `bpf_jit_current` past `bpf_jit_limit`. A program whose image is refused loads
 * interpreted, or fails with ENOTSUPP where the JIT is required (CONFIG_BPF_JIT_ALWAYS_ON:
 * `bpf_prog_select_runtime()`); a trampoline (fentry, struct_ops) gets EPERM.
 */
function jitLimitCause({ facts }: CauseInput, errno: 'EPERM' | 'ENOTSUPP'): Cause {
  const limit = facts.bpfJitLimit === undefined ? 'bpf_jit_limit (unread)' : `bpf_jit_limit ${formatBytes(facts.bpfJitLimit)}`;
  const cap = facts.task?.capEff;
  if (cap !== undefined && bpfCapable(cap, facts.profile.version)) {
    return { kind: 'bpf-jit-limit', status: 'ruled out', text: `${limit}: it does not apply to tasks with CAP_BPF or CAP_SYS_ADMIN`, evidence: [] };
  }
  return {
    kind: 'bpf-jit-limit',
    status: 'possible',
    text: `${limit}: JIT images of unprivileged programs count against it machine-wide${errno === 'ENOTSUPP' ? ' (past it a kernel that requires the JIT fails the load with ENOTSUPP)' : ' (past it trampolines fail with EPERM)'}`,
    evidence: ['the JIT memory in use (bpf_jit_current) cannot be read'],
    fix: 'raise net.core.bpf_jit_limit, or load with CAP_BPF',
  };
}

/** E2BIG for programs: instruction limits of `bpf_prog_load()`. */
function programSizeCause({ facts, request }: CauseInput): Cause {
  const cap = facts.task?.capEff;
  const privileged = cap === undefined ? undefined : bpfCapable(cap, facts.profile.version);
  const biggest = request.progs.reduce((a, b) => Math.max(a, b), 0);
  if (request.progs.length === 0) {
    return { kind: 'program-size', status: 'ruled out', text: 'program size: no program given (--prog)', evidence: [] };
  }
  // BPF_MAXINSNS (4096) for tasks without bpf_capable(), BPF_COMPLEXITY_LIMIT_INSNS (1,000,000) otherwise.
  if (privileged === false && biggest > 4096) {
    return {
      kind: 'program-size',
      status: 'likely',
      text: `program size: ${biggest} instructions, over BPF_MAXINSNS (4096) for a task without CAP_BPF`,
      evidence: [],
      fix: 'load with CAP_BPF (limit 1,000,000) or split the program (tail calls)',
    };
  }
  return { kind: 'program-size', status: biggest > 4096 && privileged === undefined ? 'possible' : 'ruled out', text: `program size: ${biggest} instructions`, evidence: [] };
}

/**
 * EMFILE: every map and program (and the object's BTF) is a new fd of the loader, and the fd
 * table ends at its RLIMIT_NOFILE (kernel/bpf/syscall.c map_create → bpf_map_new_fd →
 * anon_inode_getfd → get_unused_fd_flags; fs/file.c alloc_fd: EMFILE from `rlimit(RLIMIT_NOFILE)`).
 */
function nofileCause({ facts, request }: CauseInput): Cause {
  const fds = request.maps.length + request.progs.length;
  const takes = fds > 0 ? `; ${fds === 1 ? 'the map or program takes 1 more' : `the maps and programs take ${fds} more, one each`}` : '';
  const fix = "raise the loader's RLIMIT_NOFILE (ulimit -n, LimitNOFILE= of its systemd unit, setrlimit(2)), or close the fds it holds";
  const task = facts.task;
  if (!task) return { kind: 'rlimit-nofile', status: 'possible', text: `RLIMIT_NOFILE of the loader: each new map and program is an fd${takes}`, evidence: ['no task given: use --pid'], fix };
  const rl = task.nofile;
  if (!rl) return { kind: 'rlimit-nofile', status: 'possible', text: `RLIMIT_NOFILE of process ${task.pid}: not read${takes}`, evidence: [`/proc/${task.pid}/limits has no "Max open files"`], fix };
  const limit = Number.isFinite(rl.soft) ? `${rl.soft}` : 'unlimited';
  const hard = Number.isFinite(rl.hard) ? `${rl.hard}` : 'unlimited';
  if (task.openFds === undefined) {
    return { kind: 'rlimit-nofile', status: 'possible', text: `RLIMIT_NOFILE of process ${task.pid}: ${limit} fds (hard ${hard})${takes}`, evidence: [`its open fds (/proc/${task.pid}/fd) could not be listed: root can`], fix };
  }
  const room = rl.soft - task.openFds;
  if (room < Math.max(fds, 1)) {
    return {
      kind: 'rlimit-nofile',
      status: 'likely',
      text: `RLIMIT_NOFILE of process ${task.pid}: ${task.openFds} fds open of ${limit}${takes}`,
      evidence: ['a new fd at or past RLIMIT_NOFILE fails with EMFILE (fs/file.c alloc_fd)'],
      fix: `${fix}; its hard limit is ${hard}`,
    };
  }
  return {
    kind: 'rlimit-nofile',
    status: 'possible',
    text: `RLIMIT_NOFILE of process ${task.pid}: ${task.openFds} fds open of ${limit}, room for ${room} more now${takes}`,
    evidence: ['it may have held more fds when the call failed (other threads, maps of an earlier load)'],
    fix,
  };
}

/**
 * ENFILE: the machine-wide limit on open files, fs.file-max: each map and program is a file
 * (fs/file_table.c alloc_empty_file: ENFILE past `files_stat.max_files` for a task without
 * CAP_SYS_ADMIN).
 */
function fileMaxCause({ facts }: CauseInput): Cause {
  const cap = facts.task?.capEff;
  if (cap !== undefined && hasCap(cap, 'CAP_SYS_ADMIN')) {
    return { kind: 'file-max', status: 'ruled out', text: 'fs.file-max, the machine-wide limit on open files: it does not apply to tasks with CAP_SYS_ADMIN', evidence: [] };
  }
  return {
    kind: 'file-max',
    status: 'possible',
    text: 'fs.file-max, the machine-wide limit on open files: each new map and program is a file',
    evidence: ['/proc/sys/fs/file-nr: the files open machine-wide, then fs.file-max'],
    fix: 'raise fs.file-max (sysctl), or find the process holding most files',
  };
}

function attrSizeCause(): Cause {
  return {
    kind: 'attr-size',
    status: 'possible',
    text: 'a bpf_attr larger than this kernel\'s, with non-zero bytes past its end (a newer loader on an older kernel: bpf_check_uarg_tail_zero())',
    evidence: [],
  };
}

/** Whatever bpfmem cannot see: LSMs, lockdown, seccomp. */
function lsmCause(): Cause {
  return {
    kind: 'lsm',
    status: 'possible',
    text: 'a security module (SELinux, AppArmor, BPF LSM), kernel lockdown or a seccomp filter refusing bpf()',
    evidence: ['bpfmem cannot see these: look in the audit log and dmesg'],
  };
}
