import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { readVmlinuxBtf, VMLINUX_BTF_PATH } from '../bpf/vmlinux.js';
import { iterLayoutsOf, layoutCacheText, parseLayoutCache } from './layout-cache.js';
import type { MapIterLayout } from './mapiter-layout.js';
import type { TaskFileLayout } from './holders-prog.js';

/** The iterators' layouts as cached: what is written is read back, and anything doubtful is a miss. */

const MAP: MapIterLayout = {
  attachBtfId: 64130,
  ctxMeta: 0,
  ctxMap: 8,
  metaSeq: 0,
  map: { id: { offset: 92, size: 4 }, type: { offset: 64, size: 4 }, keySize: { offset: 68, size: 4 }, valueSize: { offset: 72, size: 4 }, maxEntries: { offset: 76, size: 4 }, flags: { offset: 88, size: 4 }, name: 136, mapExtra: 80 },
  charge: { via: 'objcg', hops: [128, 16, 0, 256], id: { offset: 96, size: 8 } },
  counts: { sumElemCount: 64522, fields: [{ mapTypes: [11], offset: 384, size: 8, what: 'lpm_trie.n_entries' }] },
};
const TASK: TaskFileLayout = {
  attachBtfId: 64131,
  file: { f_op: 40, private_data: 200 },
  task: { tgid: 1500, group_leader: 1600, comm: 2000 },
  bpfMap: { id: 92 },
  bpfProg: { aux: 56 },
  bpfProgAux: { id: 24 },
};
const ID = '6.18.44|#1 SMP|5481434|8f6d40ba';
const BOTH = { map: { ok: true as const, value: MAP }, taskFile: { ok: true as const, value: TASK } };

describe('parseLayoutCache', () => {
  it('reads back what was written, failures included', () => {
    expect(parseLayoutCache(layoutCacheText(ID, BOTH), ID)).toEqual(BOTH);
    const failed = { map: { ok: false as const, error: 'no bpf_iter_bpf_map' }, taskFile: { ok: true as const, value: TASK } };
    expect(parseLayoutCache(layoutCacheText(ID, failed), ID)).toEqual(failed);
    // A kernel before 5.16 (no map_extra) and 5.11 (no charge pointer), without counters.
    const { mapExtra: _, ...noExtra } = MAP.map;
    const older = { ...BOTH, map: { ok: true as const, value: { ...MAP, map: noExtra, charge: { via: 'none' as const, reason: 'old' }, counts: { fields: [] } } } };
    expect(parseLayoutCache(layoutCacheText(ID, older), ID)).toEqual(older);
  });

  it('misses for another kernel, a broken file, and values no layout holds', () => {
    const text = layoutCacheText(ID, BOTH);
    expect(parseLayoutCache(text, `${ID}x`)).toBeUndefined();
    expect(parseLayoutCache(undefined, ID)).toBeUndefined();
    expect(parseLayoutCache(text.slice(0, -20), ID)).toBeUndefined();
    const edits: ((v: { identity: string; map: { value: MapIterLayout }; taskFile: { value: TaskFileLayout } }) => void)[] = [
      (v) => ((v.map.value.map.id as { size: number }).size = 3),
      (v) => ((v.map.value as { attachBtfId: number }).attachBtfId = -1),
      (v) => ((v.map.value.map as { name: number | string }).name = '136'),
      (v) => ((v.map.value.charge as { via: string }).via = 'cgroup'),
      (v) => ((v.map.value.counts.fields[0] as { size: number }).size = 2),
      (v) => ((v.taskFile.value.file as { f_op: number }).f_op = 1.5),
      (v) => ((v.taskFile.value as unknown as Record<string, unknown>)['extra'] = 1),
      (v) => delete (v.taskFile.value as unknown as Record<string, unknown>)['bpfMap'],
    ];
    for (const edit of edits) {
      const v = JSON.parse(text) as Parameters<(typeof edits)[number]>[0];
      edit(v);
      expect(parseLayoutCache(JSON.stringify(v), ID)).toBeUndefined();
    }
  });
});

describe.skipIf(!existsSync(VMLINUX_BTF_PATH) || !release().startsWith('6.18.'))('iterLayoutsOf the running 6.18 kernel', () => {
  it('finds the element counters and map_extra, and both layouts survive the cache', async () => {
    const layouts = iterLayoutsOf(await readVmlinuxBtf());
    expect(layouts.map).toMatchObject({
      ok: true,
      value: {
        map: { mapExtra: 80 },
        counts: { sumElemCount: expect.any(Number) as unknown, fields: expect.arrayContaining([expect.objectContaining({ what: 'lpm_trie.n_entries', mapTypes: [11] })]) as unknown },
      },
    });
    expect(layouts.taskFile.ok).toBe(true);
    expect(parseLayoutCache(layoutCacheText(ID, layouts), ID)).toEqual(layouts);
  });
});
