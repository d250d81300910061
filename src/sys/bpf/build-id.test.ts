import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gnuBuildId, KERNEL_NOTES_PATH, VMLINUX_BTF_PATH, vmlinuxBtfIdentity } from './vmlinux.js';

/**
 * The kernel's GNU build ID, which names its BTF in the struct-size and iterator-layout caches:
 * the ELF notes parser on notes made here, on random bytes, and on the running kernel's.
 */

/** One `Elf_Nhdr` with its name and description, each padded to 4 bytes. */
function note(name: string, type: number, desc: number[]): number[] {
  const nameBytes = [...Buffer.from(`${name}\0`, 'latin1')];
  const pad = (b: number[]): number[] => [...b, ...new Array<number>((4 - (b.length % 4)) % 4).fill(0)];
  const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return [...u32(nameBytes.length), ...u32(desc.length), ...u32(type), ...pad(nameBytes), ...pad(desc)];
}

describe('gnuBuildId', () => {
  const id = Array.from({ length: 20 }, (_, i) => i * 13);
  const hex = Buffer.from(id).toString('hex');

  it('finds the GNU note of type 3 among others, as /sys/kernel/notes lists them', () => {
    const notes = new Uint8Array([...note('Xen', 3, [1, 2, 3, 4]), ...note('Linux', 0x100, [6, 1, 0, 0, 9]), ...note('GNU', 3, id)]);
    expect(gnuBuildId(notes)).toBe(hex);
  });

  it('passes over a GNU note of another type and an other name of type 3', () => {
    expect(gnuBuildId(new Uint8Array([...note('GNU', 1, [0, 0, 0, 0]), ...note('GNUX', 3, id)]))).toBeUndefined();
  });

  it('says nothing for notes cut short or sizes past the end', () => {
    const whole = note('GNU', 3, id);
    for (let cut = 0; cut < whole.length; cut++) expect(gnuBuildId(new Uint8Array(whole.slice(0, cut)))).toBeUndefined();
    const huge = note('GNU', 3, id);
    huge[4] = 0xff; // descsz 255 in 36 bytes
    expect(gnuBuildId(new Uint8Array(huge))).toBeUndefined();
  });

  it('never throws, and any ID it finds is hex of 1 to 64 bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.uint8Array({ maxLength: 64 }), (junk, prefix) => {
        for (const bytes of [junk, new Uint8Array([...prefix, ...junk]), new Uint8Array([...note('GNU', 3, [...prefix]), ...junk])]) {
          const r = gnuBuildId(bytes);
          if (r !== undefined) expect(r).toMatch(/^([0-9a-f]{2}){1,64}$/);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

const hasNotes = existsSync(KERNEL_NOTES_PATH) && existsSync(VMLINUX_BTF_PATH);
if (!hasNotes) console.warn(`the running kernel's build ID test skipped: no ${KERNEL_NOTES_PATH} or no ${VMLINUX_BTF_PATH}`);

describe.skipIf(!hasNotes)("the running kernel's", () => {
  it('BTF is named by its build ID where the kernel shows one', () => {
    const id = gnuBuildId(new Uint8Array(readFileSync(KERNEL_NOTES_PATH)));
    const identity = vmlinuxBtfIdentity();
    if (id === undefined) {
      console.warn(`${KERNEL_NOTES_PATH} has no GNU build ID on this kernel: the identity hashes the BTF instead`);
      expect(identity).toMatch(/\|[0-9a-f]{16}$/);
    } else expect(identity?.endsWith(`|build-id:${id}`)).toBe(true);
  });
});
