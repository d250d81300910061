import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeFd, mapCreate, mapGetNextKey, mapLookup, mapUpdate, objGet, objPin, mapInfo } from '../../src/sys/bpf/index.js';
import { lastPointeeCount } from '../../src/sys/bpf/syscall.js';
import { liveEnv } from './env.js';

/**
 * The buffers a `union bpf_attr` points to stay alive until the kernel returns
 * (src/sys/bpf/syscall.ts `HELD`). Before that, a path or key whose last JavaScript use was
 * `addressOf()` could be collected by the allocation of the attribute itself: BPF_OBJ_PIN failed
 * with EPERM about once in 5,000 pins here (strace: `pathname="rK\220&"`), at 4,150, 5,567,
 * 23,979, 26,453 and 35,575 pins in five runs. These loops run enough calls that such a bug
 * fails them nearly always, and every allocation is fresh, as in the code that failed.
 */

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

describe.skipIf(!liveEnv.ok)('FFI buffer lifetime (live)', () => {
  if (!liveEnv.ok) console.warn(`live tests skipped: ${liveEnv.reason}`);

  it('pins 20,000 maps in a private bpffs with fresh path buffers, every one found again', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'bpfmem-ffi-'));
    try {
      try {
        execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: 'pipe' });
      } catch (error) {
        const reason = `cannot mount bpffs at ${dir}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
        console.warn(`skipped: ${reason}`);
        ctx.skip(reason);
      }
      try {
        const ids: number[] = [];
        for (let i = 0; i < 20_000; i++) {
          if (i % 1000 === 0) mkdirSync(join(dir, `d${i / 1000}`));
          const fd = mapCreate({ type: 'array', keySize: 4, valueSize: 4, maxEntries: 1, name: `ffi${i}` });
          try {
            objPin(fd, join(dir, `d${Math.floor(i / 1000)}`, `pin-with-a-longish-name-${i}`));
            if (i === 0) expect(lastPointeeCount()).toBe(1); // the path, held through the call
            if (i % 997 === 0) ids.push(mapInfo(fd).id);
          } finally {
            closeFd(fd);
          }
        }
        for (const [k, id] of ids.entries()) {
          const i = k * 997;
          const fd = objGet(join(dir, `d${Math.floor(i / 1000)}`, `pin-with-a-longish-name-${i}`));
          try {
            expect(mapInfo(fd).id).toBe(id);
          } finally {
            closeFd(fd);
          }
        }
      } finally {
        execFileSync('umount', [dir]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('updates and looks up 100,000 elements with fresh key and value buffers, each value its own', () => {
    const fd = mapCreate({ type: 'hash', keySize: 4, valueSize: 4, maxEntries: 100_000, name: 'ffi_hash' });
    try {
      for (let i = 0; i < 100_000; i++) mapUpdate(fd, u32(i), u32(i ^ 0x5a5a5a5a));
      let wrong = 0;
      for (let i = 0; i < 100_000; i++) {
        const v = mapLookup(fd, u32(i), 4);
        if (v === undefined || new DataView(v.buffer, v.byteOffset).getUint32(0, true) !== (i ^ 0x5a5a5a5a) >>> 0) wrong++;
      }
      expect(wrong).toBe(0);
      // A walk with fresh key buffers visits each key once.
      const seen = new Set<number>();
      let key: Uint8Array | undefined;
      for (;;) {
        const next = mapGetNextKey(fd, key, 4);
        if (next === undefined) break;
        seen.add(new DataView(next.buffer, next.byteOffset).getUint32(0, true));
        key = next;
      }
      expect(seen.size).toBe(100_000);
    } finally {
      closeFd(fd);
    }
  });
});
