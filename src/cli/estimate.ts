import { Command, Option } from 'commander';
import { BpfmemError } from '../errors.js';
import { estimateMaps, type Estimate, type NamedSpec } from '../estimate/maps.js';
import { parseMapSpec } from '../estimate/spec.js';
import { DEFAULT_RELEASE, makeProfile, type Regime } from '../model/profile.js';
import { parseSize } from '../model/units.js';
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
    .addOption(new Option('--cpus <n>', 'possible CPUs (default: this machine\'s)').argParser(positiveInt('--cpus')))
    .addOption(new Option('--kernel <version>', 'kernel version').default(DEFAULT_RELEASE))
    .addOption(new Option('--page-size <bytes>', 'page size (default: this machine\'s)').argParser(positiveInt('--page-size')))
    .addOption(new Option('--regime <regime>', 'accounting regime (default: the kernel\'s)').choices(['memcg', 'memlock', 'none']))
    .addOption(jsonOption())
    .action(async (opts: { map: string[]; cpus?: number; kernel: string; pageSize?: number; regime?: Regime; json?: boolean }) => {
      if (opts.map.length === 0) throw new BpfmemError('usage', 'estimate: give at least one --map SPEC (e.g. --map type=hash,key=4,value=8,max_entries=1000)');
      const specs: NamedSpec[] = opts.map.map((text, i) => {
        const parsed = parseMapSpec(text, `map${i}`);
        if (!parsed.ok) throw new BpfmemError('input', parsed.message);
        return { name: parsed.name, spec: parsed.spec };
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
      const estimate = estimateMaps(specs, profile);
      ctx.io.stdout(opts.json ? json(estimateJson(estimate)) : estimateText(estimate, styleFor(ctx.io)));
      if (estimate.maps.some((m) => !m.ok)) ctx.exit(1);
    });
}

/** `--json`: `{ profile, maps: [{ name, type, memlock, charged }], total }`. */
export function estimateJson(e: Estimate): Record<string, unknown> {
  return {
    profile: profileJson(e.profile),
    maps: e.maps.map((m) =>
      m.ok
        ? { name: m.name, type: m.type, max_entries: m.maxEntries, memlock: m.memlock, charged: m.charged, uncharged: m.uncharged }
        : { name: m.name, type: m.type, errno: m.errno, reason: m.reason },
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
      { header: 'MEMLOCK', value: (m) => (m ? (m.ok ? cellBytes(m.memlock) : m.errno) : cellBytes(e.total.memlock)), align: 'right' },
      { header: 'CHARGED', value: (m) => (m ? (m.ok ? cellBytes(m.charged) : '') : cellBytes(e.total.charged)), align: 'right' },
      { header: 'UNCHARGED', value: (m) => (m ? (m.ok ? cellBytes(m.uncharged) : '') : cellBytes(e.total.uncharged)), align: 'right' },
    ],
  );
  for (const m of rows) if (!m.ok) out += `${st.bad(`${m.name}: ${m.errno}`)}: ${m.reason}\n`;
  if (e.total.uncharged > 0 && e.profile.regime === 'memcg') {
    out += st.dim(
      `\nUNCHARGED: allocated at creation but charged to no memory cgroup (per-CPU memory made inside map_alloc() on ${e.profile.version.major}.${e.profile.version.minor}); it escapes memory.max.\n`,
    );
  }
  return out;
}

