import { Command, Option } from 'commander';
import { BpfmemError } from '../errors.js';
import { estimateMaps, type Estimate, type MapEstimate, type NamedSpec } from '../estimate/maps.js';
import { parseMapSpec } from '../estimate/spec.js';
import { DEFAULT_RELEASE, makeProfile, type Regime } from '../model/profile.js';
import { formatBytes, parseSize } from '../model/units.js';
import { formatVersion } from '../model/version.js';
import { readPageSize, readPossibleCpus } from '../sys/host.js';
import { styleFor } from './io.js';
import { jsonOption, type CommandContext } from './main.js';
import { cellBytes, json, profileJson, profileLine } from './render/common.js';
import { table } from './table.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = parseSize(value);
    if (n === undefined || n < 1 || !Number.isFinite(n)) {
      throw new BpfmemError('usage', `${flag} ${JSON.stringify(value)}: expected a positive whole number`);
    }
    return n;
  };
}

export function estimateCommand(ctx: CommandContext): Command {
  return new Command('estimate')
    .description('what maps cost: fdinfo memlock and the memcg charge, for any kernel and CPU count')
    .addOption(
      new Option('--map <spec>', 'a map: type=hash,key=4,value=8,max_entries=1000[,flags=no_prealloc+numa][,map_extra=N][,name=x] (repeatable)')
        .argParser(collect)
        .default([]),
    )
    .addOption(
      new Option('--prog <insns>', 'a program of this many instructions (after the verifier; repeatable)')
        .argParser((v: string, prev: number[]) => [...prev, positiveInt('--prog')(v)])
        .default([]),
    )
    .addOption(new Option('--cpus <n>', 'possible CPUs (default: this machine\'s)').argParser(positiveInt('--cpus')))
    .addOption(new Option('--kernel <version>', 'kernel version').default(DEFAULT_RELEASE))
    .addOption(new Option('--page-size <bytes>', 'page size (default: this machine\'s)').argParser(positiveInt('--page-size')))
    .addOption(new Option('--regime <regime>', 'accounting regime (default: the kernel\'s)').choices(['memcg', 'memlock', 'none']))
    .addOption(jsonOption())
    .action(async (opts: { map: string[]; prog: number[]; cpus?: number; kernel: string; pageSize?: number; regime?: Regime; json?: boolean }) => {
      if (opts.map.length === 0 && opts.prog.length === 0) {
        throw new BpfmemError('usage', 'estimate: give at least one --map SPEC (e.g. --map type=hash,key=4,value=8,max_entries=1000) or --prog INSNS');
      }
      const specs: NamedSpec[] = opts.map.map((text, i) => {
        const parsed = parseMapSpec(text, `map${i}`);
        if (!parsed.ok) throw new BpfmemError('input', parsed.message);
        return { name: parsed.name, spec: parsed.spec, elements: parsed.elements };
      });
      const cpus = opts.cpus ?? (await readPossibleCpus()) ?? 2;
      const pageSize = opts.pageSize ?? (await readPageSize()) ?? 4096;
      const profile = makeProfile({
        version: opts.kernel,
        cpus,
        pageSize,
        ...(opts.regime ? { regime: opts.regime } : {}),
      });
      if ('ok' in profile) throw new BpfmemError('usage', profile.reason);
      const estimate = estimateMaps(specs, profile, opts.prog);
      ctx.io.stdout(opts.json ? json(estimateJson(estimate)) : estimateText(estimate, styleFor(ctx.io)));
      // The kernel would refuse one of them: say so in the status too (like a failed bpf()).
      if (estimate.maps.some((m) => !m.ok) || estimate.progs.some((p) => !p.ok)) ctx.exit(1);
    });
}

/** `--json`: `{ profile, maps: [{ name, type, memlock, charged }], total }`. */
export function estimateJson(e: Estimate): Record<string, unknown> {
  return {
    profile: profileJson(e.profile),
    maps: e.maps.map((m) =>
      m.ok
        ? { name: m.name, type: m.type, max_entries: m.maxEntries, elements: m.elements, memlock: m.memlock, charged: m.charged, uncharged: m.uncharged }
        : { name: m.name, type: m.type, errno: m.errno, reason: m.reason },
    ),
    progs: e.progs.map((p) =>
      p.ok ? { insns: p.insns, memlock: p.memlock, charged: p.charged } : { insns: p.insns, errno: p.errno, reason: p.reason },
    ),
    total: e.total,
  };
}

function estimateText(e: Estimate, st: ReturnType<typeof styleFor>): string {
  const rows = e.maps;
  let out = `${profileLine(e.profile)}\n\n`;
  out += table(
    [...rows, undefined],
    [
      { header: 'MAP', value: (m) => (m ? m.name : 'total') },
      { header: 'TYPE', value: (m) => m?.type ?? '' },
      { header: 'MAX_ENTRIES', value: (m) => (m?.ok ? String(m.maxEntries) : ''), align: 'right' },
      ...(rows.some((m) => m.ok && m.elements > 0)
        ? [{ header: 'ELEMENTS', value: (m: MapEstimate | undefined) => (m?.ok ? String(m.elements) : ''), align: 'right' as const }]
        : []),
      { header: 'MEMLOCK', value: (m) => (m ? (m.ok ? cellBytes(m.memlock) : m.errno) : cellBytes(e.total.memlock)), align: 'right' },
      { header: 'CHARGED', value: (m) => (m ? (m.ok ? cellBytes(m.charged) : '') : cellBytes(e.total.charged)), align: 'right' },
      { header: 'UNCHARGED', value: (m) => (m ? (m.ok ? cellBytes(m.uncharged) : '') : cellBytes(e.total.uncharged)), align: 'right' },
    ],
  );
  if (e.progs.length) {
    out += '\n' + table(e.progs, [
      { header: 'PROGRAM INSNS', value: (p) => String(p.insns), align: 'right' },
      { header: 'MEMLOCK', value: (p) => (p.ok ? cellBytes(p.memlock) : (p.errno ?? '')), align: 'right' },
      { header: 'CHARGED', value: (p) => (p.ok ? cellBytes(p.charged) : ''), align: 'right' },
    ]);
  }
  for (const m of rows) if (!m.ok) out += `${st.bad(`${m.name}: ${m.errno}`)}: ${m.reason}\n`;
  for (const p of e.progs) if (!p.ok) out += `${st.bad(`program of ${p.insns} insns: ${p.errno ?? ''}`)}: ${p.reason ?? ''}\n`;
  // Worth a word when it is a real share of the map, not the few bytes of a per-CPU counter.
  if (e.profile.regime === 'memcg' && e.total.uncharged > 0.1 * (e.total.charged + e.total.uncharged)) {
    out += st.dim(
      `\nUNCHARGED: ${formatBytes(e.total.uncharged)} allocated at creation are charged to no memory cgroup:\n` +
        `per-CPU memory made inside map_alloc() escapes memory.max on ${formatVersion(e.profile.version)} (charged to the creator on 5.11–5.19).\n`,
    );
  }
  return out;
}

