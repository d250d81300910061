import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { cli } from '../cli/run.js';
import { serveCommand } from '../../src/cli/serve.js';
import { BpfmemError } from '../../src/vocab/errors.js';
import type { ServeRequest } from '../../src/cli/context.js';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { parseExposition, type Exposition } from './exposition.js';
import { fixtureInput } from './fixture.js';

/**
 * docs/metrics.md and deploy/ against the real server: every metric `/metrics` serves is in the
 * doc's tables with its type and labels and nothing else is; the Grafana dashboard asks only for
 * metrics and labels that exist; the Prometheus configs pass promtool; the DaemonSet's command
 * is one `bpfmem serve` takes, and its port and labels are the ones the scrape config keeps.
 */

const PROMTOOL = '/usr/bin/promtool';
const DOC = readFileSync('docs/metrics.md', 'utf8');

interface Family {
  readonly type: string;
  readonly labels: readonly string[];
}

/** The families of an exposition, with the labels their samples carry (histograms without `le`: it is listed). */
function families(e: Exposition): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const [name, type] of e.types) {
    const labels = new Set<string>();
    const own = (s: string): boolean => s === name || (type === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(s)?.[1] === name);
    for (const s of e.samples) if (own(s.name)) for (const l of Object.keys(s.labels)) labels.add(l);
    out.set(name, { type, labels: [...labels].sort() });
  }
  return out;
}

/** The rows of the doc's metric tables: `| \`name\` | type | \`a\`, \`b\` or – | meaning |`. */
function documented(doc: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([a-z_:][a-z0-9_:]*)` \| (gauge|counter|histogram|summary) \| ([^|]*) \|/.exec(line);
    if (!m?.[1] || !m[2] || m[3] === undefined) continue;
    const labels = m[3].trim() === '–' ? [] : m[3].split(',').map((l) => l.trim().replace(/^`|`$/g, ''));
    expect(out.has(m[1]), `${m[1]} is in docs/metrics.md twice`).toBe(false);
    out.set(m[1], { type: m[2], labels: labels.sort() });
  }
  return out;
}

describe('docs/metrics.md and deploy/ against a real /metrics', () => {
  let server: RunningServer;
  let served: Map<string, Family>;
  /** Sample names (histograms' `_bucket`, `_sum`, `_count` included) and their labels. */
  let sampleLabels: Map<string, Set<string>>;

  beforeAll(async () => {
    server = await startServer({ port: 0, source: fixtureSource(fixtureInput()), perMapMetrics: 1000 });
    const e = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    served = families(e);
    sampleLabels = new Map();
    for (const s of e.samples) {
      const set = sampleLabels.get(s.name) ?? new Set<string>();
      for (const l of Object.keys(s.labels)) set.add(l);
      sampleLabels.set(s.name, set);
    }
  });
  afterAll(async () => {
    await server.close();
  });

  it('every metric served is documented with its type and labels, and every documented one is served', () => {
    const doc = documented(DOC);
    expect(served.size).toBeGreaterThan(30);
    expect([...doc.keys()].sort()).toEqual([...served.keys()].sort());
    for (const [name, f] of served) expect(doc.get(name), name).toEqual(f);
  });

  it('the Grafana dashboard is JSON whose queries name only metrics and labels /metrics has', () => {
    const dashboard = JSON.parse(readFileSync('deploy/grafana-dashboard.json', 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[]; panels?: unknown[] }[];
      templating: { list: { definition?: string }[] };
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
      ...dashboard.templating.list.flatMap((v) => (v.definition ? [{ where: 'templating', expr: v.definition }] : [])),
    ];
    expect(exprs.length).toBeGreaterThan(10);
    // Labels every series has once scraped, and those PromQL makes.
    const everywhere = new Set(['instance', 'job', 'le']);
    for (const { where, expr } of exprs) {
      const names = [...expr.matchAll(/\b((?:bpfmem|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? '');
      expect(names.length, `${where}: ${expr} names no metric`).toBeGreaterThan(0);
      const labels = new Set<string>(everywhere);
      for (const n of names) {
        expect(sampleLabels.has(n), `${where}: ${n} is not in /metrics`).toBe(true);
        for (const l of sampleLabels.get(n) ?? []) labels.add(l);
      }
      // Labels in matchers (`{type="hash"}`), `by (…)` and `label_values(…, x)`.
      const used = [
        ...[...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...(m[1] ?? '').matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)].map((x) => x[1] ?? '')),
        ...[...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => (m[1] ?? '').split(',').map((x) => x.trim())),
        ...[...expr.matchAll(/label_values\([^,]+,\s*([a-z_]+)\)/g)].map((m) => m[1] ?? ''),
      ].filter((l) => l !== '');
      for (const l of used) expect(labels.has(l), `${where}: label ${l} is on none of ${names.join(', ')}`).toBe(true);
    }
  });

  it('the PromQL examples of docs/metrics.md name only metrics and labels /metrics has', () => {
    const blocks = [...DOC.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) => (m[1] ?? '').split('\n').filter((l) => l !== '' && !l.startsWith('#')));
    expect(blocks.length).toBeGreaterThan(0);
    for (const expr of blocks) for (const m of expr.matchAll(/\b(bpfmem_[a-z0-9_]+)\b/g)) expect(sampleLabels.has(m[1] ?? ''), `${expr}: ${m[1] ?? ''}`).toBe(true);
  });
});

const promtoolSkip = existsSync(PROMTOOL) ? undefined : `no ${PROMTOOL} (apt-get install prometheus)`;
if (promtoolSkip) console.warn(`promtool checks skipped: ${promtoolSkip}`);

describe('deploy/', () => {
  it.skipIf(promtoolSkip !== undefined)('deploy/prometheus.yml passes promtool check config', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', 'deploy/prometheus.yml'], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.skipIf(promtoolSkip !== undefined)('deploy/prometheus-kubernetes.yml passes promtool, or fails only where this promtool lacks Kubernetes discovery', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', 'deploy/prometheus-kubernetes.yml'], { encoding: 'utf8' });
    if (r.status === 0) return;
    // Debian builds Prometheus without Kubernetes service discovery.
    const errors = (r.stdout + r.stderr).split('\n').filter((l) => /line \d+:/.test(l));
    expect(errors.length, r.stdout + r.stderr).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatch(/field kubernetes_sd_configs not found/);
    console.warn(`${PROMTOOL} has no Kubernetes discovery: deploy/prometheus-kubernetes.yml checked as YAML only`);
  });

  interface Container {
    command: string[];
    args: string[];
    ports: { name: string; containerPort: number }[];
    securityContext: { privileged: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[]; add: string[] } };
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  }
  const daemonset = parseYaml(readFileSync('deploy/daemonset.yaml', 'utf8')) as {
    kind: string;
    spec: { template: { metadata: { labels: Record<string, string> }; spec: { hostPID: boolean; containers: Container[] } } };
  };
  const pod = daemonset.spec.template;
  const container = pod.spec.containers[0] as Container;

  it('the DaemonSet runs a command bpfmem serve takes, on the port it names', async () => {
    expect(daemonset.kind).toBe('DaemonSet');
    const args = [...container.args];
    expect(args.slice(0, 2)).toEqual(['bpfmem', 'serve']);
    const seen: ServeRequest[] = [];
    const run = await cli(args.slice(1), {}, (ctx) => [
      serveCommand(ctx, (o) => (seen.push(o), Promise.reject(new BpfmemError('system', 'stop here')))),
    ]);
    expect(run.stderr).toBe('bpfmem: stop here\n');
    expect(seen[0]).toMatchObject({ host: '0.0.0.0', intervalMs: 15_000 });
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: seen[0]?.port, protocol: 'TCP' }]);
  });

  it('the Kubernetes scrape config keeps the DaemonSet pods by their label and port name', () => {
    const config = parseYaml(readFileSync('deploy/prometheus-kubernetes.yml', 'utf8')) as {
      scrape_configs: { relabel_configs: { source_labels?: string[]; regex?: string; action?: string }[] }[];
    };
    const keeps = config.scrape_configs[0]?.relabel_configs.filter((r) => r.action === 'keep') ?? [];
    const keep = (label: string): string | undefined => keeps.find((r) => r.source_labels?.[0] === label)?.regex;
    expect(keep('__meta_kubernetes_pod_label_app_kubernetes_io_name')).toBe(pod.metadata.labels['app.kubernetes.io/name']);
    expect(keep('__meta_kubernetes_pod_container_port_name')).toBe(container.ports[0]?.name);
  });

  it('the DaemonSet reads only: read-only mounts and root filesystem, not privileged, and every capability it adds is explained in docs/metrics.md', () => {
    expect(pod.spec.hostPID).toBe(true);
    expect(container.securityContext).toMatchObject({ privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(container.volumeMounts.map((v) => v.mountPath).sort()).toEqual(['/sys/fs/bpf', '/sys/fs/cgroup', '/sys/kernel/btf']);
    for (const v of container.volumeMounts) expect(v.readOnly, v.mountPath).toBe(true);
    for (const cap of container.securityContext.capabilities.add) expect(DOC).toContain(`\`CAP_${cap}\``);
    for (const path of container.volumeMounts.map((v) => v.mountPath)) expect(DOC).toContain(`\`${path}\` read-only`);
  });
});
