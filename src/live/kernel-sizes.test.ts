import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBtf, type BtfTypeSpec } from '../btf/index.js';
import { readKernelSizes, sizesFromCache } from './kernel-sizes.js';

/**
 * The running kernel's struct sizes, cached under its BTF's identity. Here a hand-made BTF file
 * stands for /sys/kernel/btf/vmlinux and a temporary directory for the cache.
 */
const tmp = mkdtempSync(join(tmpdir(), 'bpfmem-sizes-test-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const struct = (name: string, size: number): BtfTypeSpec => ({ kind: 'struct', name, size, kindFlag: false, members: [] });
const btfFile = (htab: number): string => {
  const path = join(tmp, `vmlinux-${htab}`);
  writeFileSync(path, encodeBtf([struct('bpf_map', 296), struct('bpf_htab', htab)]));
  return path;
};

describe('the running kernel\'s struct sizes', () => {
  it('are read from the BTF the first time, and from the cache after', () => {
    const dir = join(tmp, 'cache1');
    const first = readKernelSizes(4096, btfFile(896), dir);
    expect(first).toEqual({ ok: true, value: { bpf_map: 296, bpf_htab: 896, pointer: 8 } });
    const cached = JSON.parse(readFileSync(join(dir, 'btf-sizes-v2-4096.json'), 'utf8')) as { identity: string; sizes: unknown };
    expect(cached.sizes).toEqual({ bpf_map: 296, bpf_htab: 896, pointer: 8 });
    // Rewrite the cached numbers: a second read takes them, so it did read the cache.
    writeFileSync(join(dir, 'btf-sizes-v2-4096.json'), JSON.stringify({ identity: cached.identity, sizes: { bpf_htab: 1 } }));
    expect(readKernelSizes(4096, btfFile(896), dir)).toEqual({ ok: true, value: { bpf_htab: 1 } });
  });

  it('are read again for another BTF (another identity), and for a corrupt cache', () => {
    const dir = join(tmp, 'cache2');
    readKernelSizes(4096, btfFile(896), dir);
    expect(readKernelSizes(4096, btfFile(832), dir)).toEqual({ ok: true, value: { bpf_map: 296, bpf_htab: 832, pointer: 8 } });
    writeFileSync(join(dir, 'btf-sizes-v2-4096.json'), '{"identity": "x", "sizes": ');
    expect(readKernelSizes(4096, btfFile(832), dir)).toMatchObject({ ok: true, value: { bpf_htab: 832 } });
  });

  it('say why where there is no BTF or it is not BTF', () => {
    expect(readKernelSizes(4096, join(tmp, 'none'), join(tmp, 'c3'))).toEqual({ ok: false, error: expect.stringMatching(/^no .*none \(a kernel built without CONFIG_DEBUG_INFO_BTF/) as unknown });
    const junk = join(tmp, 'junk');
    writeFileSync(junk, 'not btf');
    expect(readKernelSizes(4096, junk, join(tmp, 'c4'))).toEqual({ ok: false, error: expect.stringMatching(/junk: not BTF/) as unknown });
  });

  it('take only well-formed cache entries of known sizes', () => {
    expect(sizesFromCache('{"identity":"a","sizes":{"bpf_htab":896}}', 'a')).toEqual({ bpf_htab: 896 });
    expect(sizesFromCache('{"identity":"a","sizes":{"bpf_htab":896}}', 'b')).toBeUndefined();
    expect(sizesFromCache('{"identity":"a","sizes":{"__proto__":1}}', 'a')).toBeUndefined();
    expect(sizesFromCache('{"identity":"a","sizes":{"bpf_htab":-1}}', 'a')).toBeUndefined();
    expect(sizesFromCache('{"identity":"a","sizes":{"nope":1}}', 'a')).toBeUndefined();
    expect(sizesFromCache('[]', 'a')).toBeUndefined();
    expect(sizesFromCache(undefined, 'a')).toBeUndefined();
  });
});
