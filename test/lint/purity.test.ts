import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/*
 * The model stays pure (DESIGN.md): src/model imports nothing from Node, sys/, live/ or a face.
 * ESLint enforces it; this proves the rule bites, on text linted as if it were a model file.
 */
const eslint = new ESLint({ cwd: new URL('../..', import.meta.url).pathname });

async function problems(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

describe('the model-purity lint rule', () => {
  it.each([
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", /no-restricted-imports: 'node:fs' import is restricted/],
    ["import os from 'os';\nexport const x = os;\n", /no-restricted-imports: 'os' import is restricted/],
    ["import { x } from '../sys/host.js';\nexport const y = x;\n", /no-restricted-imports: '..\/sys\/host.js' import is restricted/],
    ["import { x } from '../cli/main.js';\nexport const y = x;\n", /may not depend on the kernel door, the live backend or a face/],
    ['export const cpus = process.env.CPUS;\n', /no-restricted-globals: Unexpected use of 'process'/],
  ])('refuses %j in src/model', async (code, message) => {
    expect((await problems(code, 'src/vocab/units.ts')).join('\n')).toMatch(message);
  });

  it('allows the same import outside src/model', async () => {
    const found = await problems("import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'src/sys/proc/host.ts');
    expect(found.filter((m) => m.startsWith('no-restricted'))).toEqual([]);
  });

  it('allows pure imports inside src/model', async () => {
    const found = await problems("import { roundUp } from './units.js';\nexport const x = roundUp;\n", 'src/model/slab.ts');
    expect(found.filter((m) => m.startsWith('no-restricted'))).toEqual([]);
  });
});
