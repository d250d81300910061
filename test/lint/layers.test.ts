import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/*
 * The floor plan (docs/architecture.md) is enforced by eslint.config.js: each layer imports only
 * the layers below it, pure layers touch no Node, koffi stays in src/sys/bpf, no face imports
 * another, and no file is in an import cycle. Each case lints a line of code as if it were a file
 * of a layer, and proves the rule bites (or lets a legal import through).
 */
const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function problems(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

const use = (spec: string): string => `import * as m from '${spec}';\nexport const x = m;\n`;

describe('the layers of src/', () => {
  it.each([
    // The vocabulary is the bottom: nothing above it, no Node.
    ['src/vocab/units.ts', use('../model/profile.js'), /src\/vocab is the bottom layer/],
    ['src/vocab/units.ts', use('../sys/proc/host.js'), /src\/vocab is the bottom layer/],
    ['src/vocab/units.ts', use('node:fs'), /no Node built-ins/],
    ['src/vocab/units.ts', 'export const cpus = process.env.CPUS;\n', /no-restricted-globals: Unexpected use of 'process'/],
    // The libraries are pure.
    ['src/btf/parse.ts', use('../sys/bpf/vmlinux.js'), /the libraries \(btf, asm, elf\) are pure/],
    ['src/elf/elf.ts', use('../model/kernel.js'), /the libraries \(btf, asm, elf\) are pure/],
    ['src/asm/insn.ts', use('fs'), /'fs' import is restricted/],
    // The model is pure.
    ['src/model/slab.ts', use('node:fs'), /no Node built-ins/],
    ['src/model/slab.ts', use('os'), /'os' import is restricted/],
    ['src/model/kernel.ts', use('../sys/proc/host.js'), /src\/model is pure/],
    ['src/model/kernel.ts', use('../live/machine.js'), /src\/model is pure/],
    ['src/model/maps/hash.ts', use('../../estimate/maps.js'), /src\/model is pure/],
    ['src/model/kernel.ts', use('../cli/main.js'), /src\/model is pure/],
    ['src/model/kernel.ts', 'export const b = Buffer.alloc(1);\n', /no-restricted-globals: Unexpected use of 'Buffer'/],
    // The model and scenarios are deterministic: no clock, timer or randomness, not even through globalThis.
    ['src/model/kernel.ts', 'export const t = Date.now();\n', /no-restricted-globals: Unexpected use of 'Date'\. the model is deterministic/],
    ['src/scenario/run.ts', 'export const t = performance.now();\n', /no-restricted-globals: Unexpected use of 'performance'/],
    ['src/model/slab.ts', 'export const r = Math.random();\n', /no-restricted-properties: 'Math\.random' is restricted/],
    ['src/scenario/parse.ts', 'export const e = globalThis.process;\n', /no-restricted-properties: 'globalThis\.process' is restricted/],
    ['src/model/kernel.ts', 'export const f = (): void => { setTimeout(() => undefined, 1); };\n', /Unexpected use of 'setTimeout'/],
    ['src/model/kernel.ts', 'export const f = (): void => { process.exit(1); };\n', /no-restricted-globals: Unexpected use of 'process'/],
    // The kernel door knows nothing above it; koffi only in sys/bpf.
    ['src/sys/cgroup/cgroupfs.ts', use('../../model/profile.js'), /src\/sys is a dumb door/],
    ['src/sys/proc/procfs.ts', use('../../live/machine.js'), /src\/sys is a dumb door/],
    ['src/sys/iter/mapiter.ts', use('../../explain/facts.js'), /src\/sys is a dumb door/],
    ['src/sys/bpf/commands.ts', use('../../inspect/inventory.js'), /src\/sys is a dumb door/],
    ['src/sys/proc/sched.ts', use('koffi'), /koffi \(FFI\) is imported only in src\/sys\/bpf/],
    ['src/live/worker.ts', use('koffi'), /koffi \(FFI\) is imported only in src\/sys\/bpf/],
    // live/ imports no use case and no face.
    ['src/live/probe.ts', use('../explain/facts.js'), /src\/live composes sys/],
    ['src/live/collect.ts', use('../inspect/inventory.js'), /src\/live composes sys/],
    ['src/live/backend.ts', use('../cli/io.js'), /src\/live composes sys/],
    // Above src/sys, each part of the door is entered through its index.ts.
    ['src/live/collect.ts', use('../sys/iter/mapiter.js'), /through its index\.ts/],
    ['src/estimate/run.ts', use('../sys/bpf/vmlinux.js'), /through its index\.ts/],
    ['src/cli/probe.ts', use('../sys/proc/host.js'), /through its index\.ts/],
    // A use case imports no face.
    ['src/estimate/run.ts', use('../cli/io.js'), /a use case may not import a face/],
    ['src/inspect/json.ts', use('../server/metrics.js'), /a use case may not import a face/],
    ['src/demo/chapters.ts', use('../cli/context.js'), /a use case may not import a face/],
    // No face imports another.
    ['src/cli/serve.ts', use('../server/index.js'), /no face imports another face/],
    ['src/server/app.ts', use('../cli/main.js'), /no face imports another face/],
    ['web/src/api.ts', use('../../src/sys/proc/host.js'), /the dashboard runs in a browser/],
    ['web/src/api.ts', use('../../src/server/metrics.js'), /the dashboard runs in a browser/],
    // No import cycle: src/vocab/json.ts imports ./kernel-version.js, so this closes a loop.
    ['src/vocab/kernel-version.ts', "import { json } from './json.js';\nexport const x = json;\n", /import-x\/no-cycle/],
  ])('%s: refuses %j', async (file, code, message) => {
    expect((await problems(code, file)).join('\n')).toMatch(message);
  });

  it.each([
    ['src/sys/bpf/libc.ts', use('koffi')],
    ['src/sys/cgroup/cgroupfs.ts', use('../../vocab/profile.js')],
    ['src/sys/iter/mapiter.ts', use('../../asm/index.js')],
    ['src/model/slab.ts', use('../vocab/units.js')],
    ['src/live/collect.ts', use('../model/maps/memlock.js')],
    ['src/live/collect.ts', use('../sys/iter/index.js')],
    ['src/sys/iter/holders.ts', use('./holders-proc.js')],
    ['src/explain/read-facts.ts', use('../live/machine.js')],
    ['src/cli/estimate.ts', use('../estimate/run.js')],
    ['src/run.ts', use('./server/index.js')],
    ['src/sys/proc/host.ts', use('node:fs')],
  ])('%s: allows %j', async (file, code) => {
    const found = await problems(code, file);
    expect(found.filter((m) => /^(no-restricted|import-x)/.test(m))).toEqual([]);
  });
});
