import { Command } from 'commander';
import { capNames, hasCap } from '../vocab/caps.js';
import type { Regime } from '../vocab/profile.js';
import { formatBytes } from '../vocab/units.js';
import { formatVersion } from '../vocab/kernel-version.js';
import { runProbe, type ChargeProbe, type FeatureProbe, type LibraryProbe, type PrechargeProbe, type ProbeReport } from '../live/probe.js';
import { styleFor, type Style } from './io.js';
import { jsonOption, type CommandContext } from './context.js';
import { json, wrap, wrapStyled } from './render/common.js';

/** What `probe` runs; tests pass a report made by hand. */
export interface ProbeDeps {
  readonly run: () => Promise<ProbeReport>;
}

/**
 * `bpfmem probe`: how this kernel accounts BPF memory, decided three ways (the kernel's, by a
 * map's charge; libbpf's; cilium/ebpf's), and the settings around it. Exit status 0 when the
 * kernel's way decided and RLIMIT_MEMLOCK is as it was, 1 otherwise (no bpf(), no cgroup to
 * measure, a limit not restored).
 */
export function probeCommand(ctx: CommandContext, deps: ProbeDeps = { run: runProbe }): Command {
  return new Command('probe')
    .description('how this kernel accounts BPF memory: the kernel\'s, libbpf\'s and cilium/ebpf\'s way to decide, and the settings that matter (root)')
    .addOption(jsonOption())
    .action(async (opts: { json?: boolean }) => {
      const r = await deps.run();
      ctx.io.stdout(opts.json ? json(probeJson(r)) : probeText(r, styleFor(ctx.io)));
      ctx.exit(probeStatus(r));
    });
}

/** 0 when the kernel's way decided and every probe put RLIMIT_MEMLOCK back; 1 otherwise. */
export function probeStatus(r: ProbeReport): 0 | 1 {
  return r.measuredRegime !== undefined && restored(r) ? 0 : 1;
}

const restored = (r: ProbeReport): boolean => r.memlockBefore.soft === r.memlockAfter.soft && r.memlockBefore.hard === r.memlockAfter.hard;

/** The regime that decides RLIMIT_MEMLOCK's relevance: measured where it could be, else by version. */
const regimeOf = (r: ProbeReport): Regime => r.measuredRegime ?? r.machine.regime;

function chargeJson(c: ChargeProbe): Record<string, unknown> {
  return c.ok
    ? { ok: true, charged: c.charged ?? null, counter: c.counter, delta: c.delta, expected: c.expected, cgroup: c.cgroup, private: c.private }
    : { ok: false, reason: c.reason, errno: c.errno ?? null };
}

function prechargeJson(p: PrechargeProbe): Record<string, unknown> {
  return p.ok ? { ok: true, precharged: p.precharged, limit: p.limit, detail: p.detail } : { ok: false, reason: p.reason, errno: p.errno ?? null };
}

const libraryJson = (l: LibraryProbe): Record<string, unknown> => ({ memcg: l.memcg, detail: l.detail, would_raise: l.wouldRaise, errno: l.errno ?? null });

const featureJson = (f: FeatureProbe): Record<string, unknown> => ({ state: f.state, errno: f.errno ?? null, detail: f.detail });

/** `--json` of probe (docs/explain.md). */
export function probeJson(r: ProbeReport): Record<string, unknown> {
  const m = r.machine;
  return {
    kernel: {
      release: m.release,
      version: m.version ? formatVersion(m.version) : null,
      possible_cpus: m.possibleCpus ?? null,
      online_cpus: r.onlineCpus ?? null,
      page_size: m.pageSize ?? null,
      arch: m.arch ?? null,
      kmalloc_min_size: m.kmallocMinSize ?? null,
    },
    cgroup: m.memory.ok
      ? { version: m.memory.hierarchy.version, mount: m.memory.hierarchy.mountPoint, own: m.memory.hierarchy.ownPath, error: null }
      : { version: m.cgroupVersion, mount: null, own: null, error: m.memory.reason },
    regime: {
      by_version: m.regime,
      reason: m.regimeReason,
      measured: r.measuredRegime ?? null,
      measured_reason: r.measuredReason,
      libbpf: r.libbpf.memcg ? 'memcg' : 'memlock',
      cilium: r.cilium.memcg ? 'memcg' : r.cilium.errno === 'EPERM' ? 'memlock' : null,
    },
    kernel_way: { charge: chargeJson(r.charge), precharge: prechargeJson(r.precharge) },
    libbpf: libraryJson(r.libbpf),
    cilium: libraryJson(r.cilium),
    features: Object.fromEntries(r.features.map((f) => [f.feature, featureJson(f)])),
    memlock: { soft: r.memlockBefore.soft, hard: r.memlockBefore.hard, matters: regimeOf(r) === 'memlock', restored: restored(r) },
    cmdline: m.cmdline
      ? { cgroup_memory: m.cmdline.memory.options, cgroup_disable: m.cmdline.cgroupDisable, cgroup_no_v1: m.cmdline.cgroupNoV1 }
      : null,
    jit: { enable: m.bpfJitEnable ?? null, harden: r.bpfJitHarden ?? null, limit: m.bpfJitLimit ?? null },
    unprivileged_bpf_disabled: m.unprivilegedBpfDisabled ?? null,
    btf: { path: '/sys/kernel/btf/vmlinux', bytes: r.btfBytes ?? null },
    capabilities: r.capEff === undefined ? null : { eff: `0x${r.capEff.toString(16)}`, names: capNames(r.capEff) },
  };
}

const yesNo = (b: boolean | undefined): string => (b === undefined ? '?' : b ? 'yes' : 'no');
const limitText = (n: number): string => (Number.isFinite(n) ? formatBytes(n) : 'unlimited');

function chargeRow(c: ChargeProbe): { memcg: string; how: string } {
  if (!c.ok) return { memcg: '?', how: c.reason };
  const where = c.private ? 'a cgroup made for it' : 'this process\'s own cgroup (shared: approximate)';
  return { memcg: yesNo(c.charged), how: `${c.counter} of ${where} grew by ${formatBytes(c.delta)} for a map of ${formatBytes(c.expected)}` };
}

function prechargeRow(p: PrechargeProbe): { memcg: string; how: string } {
  if (!p.ok) return { memcg: '?', how: p.reason };
  return { memcg: p.precharged ? 'no' : '-', how: p.precharged ? `refused under RLIMIT_MEMLOCK ${formatBytes(p.limit)}: precharged (pre-5.11)` : `created under RLIMIT_MEMLOCK ${formatBytes(p.limit)}: not precharged` };
}

/** What the kernel lets objects use: one line per feature it refuses or lacks, one for those it allows. */
export function featureLines(features: readonly FeatureProbe[], st: Style): string[] {
  const lines: string[] = [];
  const allowed = features.filter((f) => f.state === 'ok').map((f) => f.what);
  for (const f of features) {
    if (f.state === 'refused') lines.push(wrapStyled(`${f.what}: refused by this kernel`, st.warn, ` (${f.detail})`, 80, '', '  '));
    else if (f.state !== 'ok') lines.push(wrap(`${f.what}: ${f.state === 'missing' ? 'not available' : 'cannot tell'} (${f.detail})`, 80, '', '  '));
  }
  if (allowed.length) lines.push(wrap(`allowed: ${allowed.join(', ')}`, 80, '', '  '));
  return lines;
}

/** `bpfmem probe` for people. */
export function probeText(r: ProbeReport, st: Style): string {
  const m = r.machine;
  const lines: string[] = [];
  const cpus = `${m.possibleCpus ?? '?'} possible CPUs${r.onlineCpus === undefined ? '' : `, ${r.onlineCpus} online`}`;
  lines.push(`kernel ${m.release} ${m.arch ?? process.arch}, ${cpus}, ${m.pageSize === undefined ? '?' : formatBytes(m.pageSize).replace('.0 ', ' ')} pages`);
  lines.push(
    wrap(
      m.memory.ok
        ? `memory cgroup v${m.memory.hierarchy.version} at ${m.memory.hierarchy.mountPoint}; this process in ${m.memory.hierarchy.ownPath}`
        : `memory cgroup: ${m.memory.reason}`,
      80,
      '',
      '  ',
    ),
  );
  const measured = r.measuredRegime;
  const agree = measured === undefined || measured === m.regime;
  lines.push('');
  const head =
    measured === undefined
      ? `regime ${st.warn('unknown')} by the kernel's way (${r.measuredReason}); by the version and command line: ${m.regime} (${m.regimeReason})`
      : `regime ${st.bold(measured)} by the kernel's way; ${agree ? 'the version and command line say the same' : st.warn(`the version and command line say ${m.regime}`)} (${m.regimeReason})`;
  lines.push(wrap(head, 80, ''));
  if (!r.charge.ok && r.charge.errno === 'EPERM') lines.push(wrap('the probes need bpf(): run bpfmem probe as root (or with CAP_BPF and a memory cgroup it may create children in)', 80, ''));
  lines.push('');
  const rows = [
    { who: 'kernel: a map\'s charge', ...chargeRow(r.charge) },
    { who: 'kernel: RLIMIT_MEMLOCK', ...prechargeRow(r.precharge) },
    { who: 'libbpf', memcg: yesNo(r.libbpf.memcg), how: `${r.libbpf.detail}; ${r.libbpf.wouldRaise ? 'would raise RLIMIT_MEMLOCK to unlimited' : 'leaves RLIMIT_MEMLOCK alone'}` },
    { who: 'cilium/ebpf', memcg: yesNo(r.cilium.memcg), how: `${r.cilium.detail}; RemoveMemlock() ${r.cilium.wouldRaise ? 'would set it to unlimited' : 'does nothing'}` },
  ];
  const WHO = 24;
  lines.push(`${'DECIDED BY'.padEnd(WHO)}${'MEMCG'.padEnd(7)}WHAT IT SAW`);
  for (const x of rows) lines.push(wrap(x.how, 80, `${x.who.padEnd(WHO)}${x.memcg.padEnd(7)}`, ' '.repeat(WHO + 7)));
  lines.push('');
  const rl = r.memlockBefore;
  const matters = regimeOf(r) === 'memlock';
  lines.push(
    wrap(
      `RLIMIT_MEMLOCK ${limitText(rl.soft)} soft, ${limitText(rl.hard)} hard: ${matters ? st.warn('limits BPF maps and programs here') : 'does not limit BPF here'}${restored(r) ? '' : st.bad(`; NOT restored: now ${limitText(r.memlockAfter.soft)} / ${limitText(r.memlockAfter.hard)}`)}`,
      80,
      '',
    ),
  );
  if (r.capEff !== undefined) {
    const names = capNames(r.capEff);
    lines.push(
      wrap(
        `capabilities: ${names.length ? names.join(', ') : 'none that matter'}${hasCap(r.capEff, 'CAP_SYS_RESOURCE') ? '' : ' (no CAP_SYS_RESOURCE: the hard RLIMIT_MEMLOCK cannot be raised)'}`,
        80,
        '',
      ),
    );
  }
  lines.push(
    wrap(
      m.kmallocMinSize === undefined
        ? `smallest kmalloc cache unknown (no /sys/kernel/slab): the model takes ${m.arch === 'arm64' ? "arm64's rule for the version" : '8 B'}`
        : `smallest kmalloc cache ${m.kmallocMinSize} B: small allocations round up to it${m.arch === undefined ? ` (${process.arch}: an architecture the model does not know; it takes x86_64's struct sizes)` : ''}`,
      80,
      '',
      '  ',
    ),
  );
  lines.push(`per-CPU maps are sized for ${m.possibleCpus ?? '?'} possible CPUs${r.onlineCpus !== undefined && r.onlineCpus !== m.possibleCpus ? `, not the ${r.onlineCpus} online` : ''}`);
  lines.push(
    wrap(
      `bpf_jit_enable ${m.bpfJitEnable ?? '?'}, bpf_jit_harden ${r.bpfJitHarden ?? '?'}, bpf_jit_limit ${m.bpfJitLimit === undefined ? '?' : formatBytes(m.bpfJitLimit)} (the JIT memory unprivileged programs may hold)`,
      80,
      '',
      '  ',
    ),
  );
  const u = m.unprivilegedBpfDisabled;
  lines.push(wrap(`unprivileged_bpf_disabled ${u ?? '?'}${u === undefined ? '' : u === 0 ? ': anyone may create maps' : ': maps and programs need CAP_BPF or CAP_SYS_ADMIN'}`, 80, '', '  '));
  const opts = m.cmdline ? [...m.cmdline.memory.options.map((o) => `cgroup.memory=${o}`), ...m.cmdline.cgroupDisable.map((o) => `cgroup_disable=${o}`), ...m.cmdline.cgroupNoV1.map((o) => `cgroup_no_v1=${o}`)] : [];
  lines.push(wrap(`kernel command line: ${m.cmdline === undefined ? 'unreadable' : opts.length ? opts.join(' ') : 'no cgroup options'}`, 80, '', '  '));
  lines.push(...featureLines(r.features, st));
  lines.push(`BTF: ${r.btfBytes === undefined ? 'none (/sys/kernel/btf/vmlinux missing)' : `/sys/kernel/btf/vmlinux, ${formatBytes(r.btfBytes)}`}`);
  return lines.join('\n') + '\n';
}
