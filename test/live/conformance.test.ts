import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConformance } from '../../src/conformance/run.js';
import type { ConformanceReport } from '../../src/conformance/report.js';
import { LiveBackend } from '../../src/live/backend.js';
import { CgroupFs } from '../../src/sys/cgroup/cgroupfs.js';
import { liveEnv } from './env.js';

const SCENARIOS = join(import.meta.dirname, '../../scenarios');

describe.skipIf(!liveEnv.ok)('conformance of the model against the running kernel (--quick)', () => {
  let report: ConformanceReport;

  beforeAll(async () => {
    const kernel = await LiveBackend.create({ prefix: 'conftest' });
    try {
      const { readFile } = await import('node:fs/promises');
      const scenarios = await Promise.all(
        readdirSync(SCENARIOS)
          .filter((n) => n.endsWith('.yaml'))
          .sort()
          .map(async (n) => ({ source: `scenarios/${n}`, text: await readFile(join(SCENARIOS, n), 'utf8') })),
      );
      report = await runConformance({
        kernel,
        profile: kernel.profile,
        quick: true,
        scenarios,
        freshKernel: () => LiveBackend.create({ prefix: 'conftest', profile: kernel.profile }),
      });
    } finally {
      await kernel.dispose();
    }
  }, 300_000);

  it('ran every case without a harness error', () => {
    expect(report.cases.filter((c) => c.error !== undefined).map((c) => `${c.id}: ${c.error ?? ''}`)).toEqual([]);
    expect(report.totals.memlockChecked).toBeGreaterThan(25);
  });

  it('has fdinfo memlock exact for every case', () => {
    const off = report.cases.flatMap((c) =>
      c.kind !== 'grid'
        ? []
        : [
            ...(c.memlock && !c.memlock.ok ? [`${c.id}: ${c.memlock.kernel} vs ${c.memlock.model}`] : []),
            ...(c.inserts && !c.inserts.memlock.ok ? [`${c.id} after inserts: ${c.inserts.memlock.kernel} vs ${c.inserts.memlock.model} (${c.inserts.applied.kernel} vs ${c.inserts.applied.model} done)`] : []),
          ],
    );
    expect(off).toEqual([]);
    expect(report.totals.memlockExact).toBe(report.totals.memlockChecked);
  });

  it('has every charge delta within the stated tolerance', () => {
    const off = report.cases.flatMap((c) =>
      c.kind !== 'grid'
        ? []
        : [
            ...(c.createCharge && !c.createCharge.ok ? [`${c.id}: created ${c.createCharge.kernel} vs ${c.createCharge.model}`] : []),
            ...(c.inserts?.charge && !c.inserts.charge.ok ? [`${c.id}: inserts ${c.inserts.charge.kernel} vs ${c.inserts.charge.model}`] : []),
            ...(c.inserts?.bystander && !c.inserts.bystander.ok ? [`${c.id}: bystander ${c.inserts.bystander.kernel} vs ${c.inserts.bystander.model}`] : []),
          ],
    );
    expect(off).toEqual([]);
    expect(report.totals.chargeOk).toBe(report.totals.chargeChecked);
    // cgroup v1 counts kernel memory (memory.kmem.usage_in_bytes): every charge is compared.
    expect(report.chargesUnmeasured).toBeUndefined();
    expect(report.totals.chargeChecked).toBeGreaterThan(30);
  });

  it('agrees with the kernel on every limit boundary', () => {
    const bounds = report.cases.filter((c) => c.kind === 'boundary');
    expect(bounds.length).toBeGreaterThanOrEqual(4);
    // A CI log then says why: both sides, the bases and each probe (with the counters at an
    // insert refusal).
    for (const c of bounds.filter((x) => !x.largest.ok)) console.log(`boundary ${c.id}: ${JSON.stringify(c)}`);
    expect(bounds.filter((c) => !c.largest.ok).map((c) => c.id)).toEqual([]);
  });

  it('runs every scenario with the same outcomes on both sides', () => {
    const scenarios = report.cases.filter((c) => c.kind === 'scenario');
    expect(scenarios.length).toBeGreaterThanOrEqual(7);
    expect(scenarios.flatMap((c) => c.outcomeMismatches.map((m) => `${c.id} step ${m.index}: ${m.kernel} vs ${m.model}`))).toEqual([]);
  });
});

describe.skipIf(!liveEnv.ok)('bpfmem conformance and signals', () => {
  afterAll(async () => {
    // Whatever happened, leave nothing of ours behind.
    const fs = await CgroupFs.open();
    await fs.cleanStale('conformance');
  });

  it('removes its cgroups and workers on SIGINT', async () => {
    const bin = join(import.meta.dirname, '../../src/bin/bpfmem.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', bin, 'conformance', '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const fs = await CgroupFs.open();
    const own = fs.hierarchy.ownDir;
    const mine = (): string[] => readdirSync(own).filter((n) => n.startsWith(`bpfmem-conformance-${child.pid ?? 0}-`));
    // Wait until it is at work (its owned root exists), then interrupt it.
    for (let i = 0; i < 200 && mine().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(mine().length).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => { resolve(c); }));
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT: removing what this run created');
    expect(stderr).not.toContain('cleanup:');
    expect(mine(), stderr).toEqual([]);
  }, 60_000);
});
