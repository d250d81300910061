import { readdir } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import { runConformance } from '../conformance/run.js';
import type { ConformanceReport, GridResult } from '../conformance/report.js';
import { BpfmemError } from '../vocab/errors.js';
import { LiveBackend } from '../live/backend.js';
import { probeFeatures } from '../live/probe.js';
import { kernelStructOpsOf } from '../live/struct-ops.js';
import { formatBytes } from '../vocab/units.js';
import { SCENARIOS_DIR } from './demo.js';
import { styleFor, type Style } from './io.js';
import { jsonOption, type CommandContext } from './context.js';
import { json, wrap, wrapStyled } from './render/common.js';
import { labCacheDir, runLab, type LabRun } from '../lab/run.js';
import { parseProgress } from '../lab/console.js';
import type { CheckResult } from '../lab/checks.js';
import { table } from './table.js';

export function conformanceCommand(ctx: CommandContext): Command {
  return new Command('conformance')
    .description('run the model and this kernel side by side: memlock, charges, limits, scenarios')
    .option('--quick', 'a smaller grid that still covers every map type (under a minute)')
    .option('--no-scenarios', 'skip the scenario files')
    .option('--vm <vmlinuz>', 'run it all inside a VM booted from this kernel image (qemu, cgroup v2; see docs/kernel-lab.md)')
    .addOption(new Option('--timeout <seconds>', 'with --vm: stop the VM after this long (default: 900)').argParser(seconds))
    .addOption(jsonOption())
    .action(async (opts: { quick?: boolean; scenarios: boolean; json?: boolean; vm?: string; timeout?: number }) => {
      if (opts.vm !== undefined) {
        await vmAction(ctx, { vmlinuz: opts.vm, quick: opts.quick ?? false, scenarios: opts.scenarios, json: opts.json ?? false, timeout: opts.timeout ?? 900 });
        return;
      }
      // Without --vm the run is on this kernel, live: a --timeout meant for a VM must not start it.
      if (opts.timeout !== undefined) throw new BpfmemError('usage', '--timeout bounds a VM: give it with --vm VMLINUZ');
      if (process.getuid?.() !== 0) {
        throw new BpfmemError('system', 'conformance needs root: it creates memory cgroups and BPF maps on this kernel (try sudo)');
      }
      const st = styleFor(ctx.io);
      const kernel = await LiveBackend.create({ prefix: 'conformance' });
      const scenarios = opts.scenarios ? await readScenarios(ctx) : [];
      const refusedTypes = await refusedMapTypes();
      const structOps = await kernelStructOpsOf();
      const progress = ctx.io.isTTY && !opts.json;
      let report: ConformanceReport;
      try {
        report = await runConformance({
          kernel,
          profile: kernel.profile,
          quick: opts.quick ?? false,
          scenarios,
          freshKernel: () => LiveBackend.create({ prefix: 'conformance', profile: kernel.profile }),
          refusedTypes,
          ...(structOps ? { structOps } : {}),
          ...(progress
            ? {
                onCase: (done: number, total: number, id: string) => {
                  ctx.io.stderr(`\r${bar(done, total)} ${done}/${total} ${id}`.slice(0, 79).padEnd(79));
                },
              }
            : {}),
        });
      } finally {
        if (progress) ctx.io.stderr('\r' + ' '.repeat(79) + '\r');
        await kernel.dispose();
      }
      ctx.io.stdout(opts.json ? json(report) : reportText(report, st));
      const t = report.totals;
      if (t.errors > 0 || t.memlockExact < t.memlockChecked || t.boundaryAgree < t.boundaryChecked || t.outcomesAgree < t.outcomesChecked) ctx.exit(1);
    });
}

/**
 * Map types this kernel refuses to root although it has them (src/live/probe.ts: EPERM where a
 * plain array was created), with the probe's reason. Measured on this project's 6.18.44
 * Firecracker host: every arena map EPERM; the full grid then failed on it.
 */
async function refusedMapTypes(): Promise<Map<string, string>> {
  const [arena] = await probeFeatures(['arena']);
  return new Map(arena?.state === 'refused' ? [['arena', `not run: ${arena.detail}`]] : []);
}

/** `--timeout`: whole seconds, 1 to a day. */
function seconds(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > 86400) throw new InvalidArgumentError(`"${text}" is not a number of seconds from 1 to 86400`);
  return n;
}

/** `--vm VMLINUZ`: the same conformance, and the cgroup v2 checks, inside a VM of that kernel. */
async function vmAction(ctx: CommandContext, o: { vmlinuz: string; quick: boolean; scenarios: boolean; json: boolean; timeout: number }): Promise<void> {
  const st = styleFor(ctx.io);
  const progress = ctx.io.isTTY && !o.json;
  let line = '';
  const run = await runLab({
    vmlinuz: o.vmlinuz,
    quick: o.quick,
    scenarios: o.scenarios,
    checks: true,
    timeoutSeconds: o.timeout,
    cacheDir: labCacheDir(ctx.io.env),
    ...(progress
      ? {
          onOutput: (chunk: string) => {
            line += chunk;
            for (const p of parseProgress(line)) {
              ctx.io.stderr(`\r${bar(p.done, p.total)} ${p.done}/${p.total}${p.phase === 'check' ? ' checks' : ''} in the VM`.padEnd(79));
            }
            line = line.slice(Math.max(0, line.lastIndexOf('\n')));
          },
        }
      : {}),
  }).finally(() => {
    if (progress) ctx.io.stderr('\r' + ' '.repeat(79) + '\r');
  });
  ctx.io.stdout(o.json ? json(run) : vmText(run, st));
  const t = run.guest.conformance.totals;
  const failed = t.errors > 0 || t.memlockExact < t.memlockChecked || t.boundaryAgree < t.boundaryChecked || t.outcomesAgree < t.outcomesChecked || t.chargeOk < t.chargeChecked || run.guest.checks.some((c) => !c.ok);
  if (failed) ctx.exit(1);
}

/** The report of a VM run: where it ran, the conformance report, the v2 checks. */
export function vmText(run: LabRun, st: Style): string {
  const g = run.guest;
  const out: string[] = [];
  out.push(
    `${st.bold('in a VM')}: ${run.vm.emulator} (${run.vm.accel.toUpperCase()}, ${run.vm.cpus} CPUs, ${run.vm.memoryMiB} MiB) booted ${run.vmlinuz}: ` +
      `kernel ${g.kernel.release}, cgroup v${g.kernel.cgroup}, struct sizes from ${g.kernel.btf ? "the kernel's BTF" : 'the version (no BTF)'}\n`,
  );
  out.push(reportText(g.conformance, st));
  if (g.checks.length) {
    out.push(`\n${st.bold(`cgroup v${g.kernel.cgroup} checks`)} (kernel vs model)\n`);
    for (const c of g.checks) out.push(checkText(c, st));
  }
  out.push(st.dim(`VM ${run.vmSeconds.toFixed(1)} s (boot and guest), initramfs ${run.initramfs.cached ? 'from the cache' : `built in ${run.initramfs.seconds.toFixed(1)} s`}`) + '\n');
  for (const f of run.failedBoots) out.push(st.warn(`an earlier boot died before bpfmem's guest started, and the VM was booted again: ${f}`) + '\n');
  return out.join('');
}

function checkText(c: CheckResult, st: Style): string {
  const mark = (ok: boolean): string => (ok ? st.ok('✓') : st.bad('✗'));
  const lines = [`${mark(c.ok)} ${c.title}\n`];
  for (const l of c.lines) lines.push(wrapStyled(l.ok ? '✓' : '✗', l.ok ? st.ok : st.bad, ` ${l.what}: kernel ${l.kernel}, model ${l.model}`, 80, '    ', '      ') + '\n');
  if (c.error !== undefined) lines.push(wrapStyled('error', st.bad, `: ${c.error}`, 80, '    ', '      ') + '\n');
  return lines.join('');
}

async function readScenarios(ctx: CommandContext): Promise<{ source: string; text: string }[]> {
  const names = (await readdir(SCENARIOS_DIR)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
  return Promise.all(names.map(async (n) => ({ source: `scenarios/${n}`, text: await ctx.io.readFile(`${SCENARIOS_DIR}${n}`, 'scenario') })));
}

function bar(done: number, total: number): string {
  const width = 20;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);

/** The report for people: a summary per map type, boundaries, scenarios, and every exception. */
export function reportText(r: ConformanceReport, st: Style): string {
  const out: string[] = [];
  const k = r.kernel;
  out.push(`${st.bold('bpfmem conformance')}: model vs kernel ${k.release}, cgroup v${k.cgroup}, ${k.cpus} possible CPUs, regime ${k.regime}${r.quick ? ' (quick)' : ''}\n`);
  out.push(`${wrap(`charge tolerance: ${formatBytes(r.tolerance.bytes)}: ${r.tolerance.why}`, 80, '', '  ')}\n\n`);
  out.push(
    table(r.byType, [
      { header: 'MAP TYPE', value: (t) => t.type },
      { header: 'CASES', value: (t) => String(t.cases), align: 'right' },
      { header: 'MEMLOCK EXACT', value: (t) => `${t.memlockExact}/${t.memlockChecked}`, align: 'right' },
      { header: 'CHARGE OK', value: (t) => `${t.chargeOk}/${t.chargeChecked}`, align: 'right' },
    ]),
  );
  const t = r.totals;
  out.push(`\nmemlock exact: ${t.memlockExact}/${t.memlockChecked} (${pct(t.memlockExact, t.memlockChecked)}); charges within tolerance: ${t.chargeOk}/${t.chargeChecked} (${pct(t.chargeOk, t.chargeChecked)})\n`);
  if (r.chargesUnmeasured) out.push(st.dim(`${wrap(`charges: ${r.chargesUnmeasured}`, 80, '', '  ')}\n`));
  out.push(
    `creation outcomes the same: ${t.outcomesAgree}/${t.outcomesChecked} (${pct(t.outcomesAgree, t.outcomesChecked)})` +
      (k.regime === 'memlock' ? ', each case also one page under its RLIMIT_MEMLOCK (EPERM), as a fresh uid' : '') +
      '\n',
  );
  const bounds = r.cases.filter((c) => c.kind === 'boundary');
  if (bounds.length) {
    out.push(`\n${st.bold('limit boundaries')} (largest size that fits)\n`);
    out.push(
      table(bounds, [
        { header: 'CASE', value: (b) => b.id },
        { header: 'KERNEL', value: (b) => (b.error ? 'error' : String(b.largest.kernel)), align: 'right' },
        { header: 'MODEL', value: (b) => (b.error ? '' : String(b.largest.model)), align: 'right' },
        { header: '', value: (b) => (b.error ? '✗' : b.largest.ok ? '✓' : '✗'), format: (c, b) => (b.error === undefined && b.largest.ok ? st.ok(c) : st.bad(c)) },
      ]),
    );
  }
  const scenarios = r.cases.filter((c) => c.kind === 'scenario');
  if (scenarios.length) {
    out.push(`\n${st.bold('scenarios')} (every step's outcome; kernel memory of every cgroup after it)\n`);
    out.push(
      table(scenarios, [
        { header: 'SCENARIO', value: (s) => s.id },
        { header: 'STEPS', value: (s) => String(s.steps), align: 'right' },
        { header: 'OUTCOMES', value: (s) => (s.error ? 'error' : s.outcomeMismatches.length ? `${s.outcomeMismatches.length} differ` : 'same'), align: 'right' },
        { header: 'WORST CHARGE DIFF', value: (s) => (s.worstCharge ? formatBytes(s.worstCharge.compared.diff) : '-'), align: 'right' },
        { header: '', value: (s) => (s.ok ? '✓' : '✗'), format: (c, s) => (s.ok ? st.ok(c) : st.bad(c)) },
      ]),
    );
  }
  if (r.skipped.length) out.push(`\n${st.bold('skipped')}\n${r.skipped.map((x) => `  ${x.id}: ${x.why}`).join('\n')}\n`);
  const exceptions = exceptionLines(r);
  if (exceptions.length) out.push(`\n${st.bold('exceptions and notes')}\n${exceptions.join('\n')}\n`);
  out.push(`\n${st.dim(`${r.cases.length} cases in ${r.seconds.toFixed(1)} s`)}\n`);
  return out.join('');
}

function exceptionLines(r: ConformanceReport): string[] {
  const lines: string[] = [];
  const d = (n: number): string => `${n >= 0 ? '+' : ''}${formatBytes(n)}`;
  for (const c of r.cases) {
    if (c.error !== undefined) {
      lines.push(`  ${c.id}: harness error: ${c.error}`);
      continue;
    }
    if (c.kind === 'grid') lines.push(...gridExceptions(c, d));
    else if (c.kind === 'boundary' && !c.largest.ok) lines.push(`  ${c.id}: kernel ${c.largest.kernel}, model ${c.largest.model}`);
    else if (c.kind === 'scenario') {
      for (const m of c.outcomeMismatches) lines.push(`  ${c.id} step ${m.index}: kernel ${m.kernel}, model ${m.model}`);
      if (c.worstCharge && !c.worstCharge.compared.ok) {
        lines.push(`  ${c.id} step ${c.worstCharge.index} ${c.worstCharge.cgroup}: kernel memory ${d(c.worstCharge.compared.diff)} off the model`);
      }
    }
  }
  return lines;
}

function gridExceptions(c: GridResult, d: (n: number) => string): string[] {
  const lines: string[] = [];
  if (c.rlimit && !c.rlimit.below.ok) lines.push(`  ${c.id}: created one page under RLIMIT_MEMLOCK ${c.rlimit.limit}: kernel ${c.rlimit.below.kernel}, model ${c.rlimit.below.model}`);
  if (!c.outcome.ok) lines.push(`  ${c.id}: created: kernel ${c.outcome.kernel}, model ${c.outcome.model}`);
  if (c.memlock && !c.memlock.ok) lines.push(`  ${c.id}: memlock kernel ${c.memlock.kernel}, model ${c.memlock.model}`);
  if (c.createCharge && !c.createCharge.ok) lines.push(`  ${c.id}: creation charge ${d(c.createCharge.diff)} off the model (kernel ${formatBytes(c.createCharge.kernel)})`);
  const ins = c.inserts;
  if (ins?.retried) {
    lines.push(`  ${c.id}: note: the kernel refused ${ins.retried} inserts with ENOMEM until the per-CPU allocator populated more space; retried`);
  }
  if (ins) {
    if (!ins.applied.ok) lines.push(`  ${c.id}: inserts done: kernel ${ins.applied.kernel}, model ${ins.applied.model}`);
    if (!ins.memlock.ok) lines.push(`  ${c.id}: memlock after inserts: kernel ${ins.memlock.kernel}, model ${ins.memlock.model}`);
    if (ins.charge && !ins.charge.ok) lines.push(`  ${c.id}: insert charge ${d(ins.charge.diff)} off the model (kernel ${formatBytes(ins.charge.kernel)})`);
    if (ins.bystander && !ins.bystander.ok) lines.push(`  ${c.id}: the sender's cgroup was charged ${d(ins.bystander.diff)} off the model`);
  }
  return lines;
}
