import { describe, expect, it } from 'vitest';
import { mapId, progId } from '../bpf/types.js';
import { groupHolders } from './holders.js';
import type { HolderRecord } from './holders-record.js';

const rec = (tgid: number, fd: number, kind: 'map' | 'prog', id: number, comm = `p${tgid}`): HolderRecord => ({ tgid, fd, kind, id, comm });

describe('groupHolders', () => {
  it('gives one holder per (object, process), keeping every fd, like bpftool pids.c add_ref', () => {
    const { maps, progs } = groupHolders([rec(20, 7, 'map', 5), rec(20, 3, 'map', 5), rec(10, 4, 'map', 5), rec(20, 9, 'prog', 5)]);
    expect(maps).toEqual(
      new Map([
        [
          mapId(5),
          [
            { pid: 10, comm: 'p10', fd: 4, fds: [4] },
            { pid: 20, comm: 'p20', fd: 3, fds: [3, 7] },
          ],
        ],
      ]),
    );
    // Map and program ids are separate spaces: prog 5 is not map 5.
    expect(progs).toEqual(new Map([[progId(5), [{ pid: 20, comm: 'p20', fd: 9, fds: [9] }]]]));
  });

  it('counts an fd once when a thread with its own fd table reports the same number', () => {
    const { maps } = groupHolders([rec(30, 4, 'map', 1), rec(30, 4, 'map', 1)]);
    expect(maps.get(mapId(1))).toEqual([{ pid: 30, comm: 'p30', fd: 4, fds: [4] }]);
  });

  it('drops id 0 (an object torn down while the iterator read it)', () => {
    const { maps, progs } = groupHolders([rec(1, 3, 'map', 0), rec(1, 4, 'prog', 0)]);
    expect(maps.size + progs.size).toBe(0);
  });

  it('orders objects by id and holders by pid', () => {
    const { maps } = groupHolders([rec(9, 3, 'map', 30), rec(2, 3, 'map', 10), rec(5, 3, 'map', 20), rec(1, 3, 'map', 30)]);
    expect([...maps.keys()]).toEqual([10, 20, 30]);
    expect(maps.get(mapId(30))?.map((h) => h.pid)).toEqual([1, 9]);
  });

  it('keeps the first comm seen for a process', () => {
    const { maps } = groupHolders([rec(7, 3, 'map', 1, 'before'), rec(7, 4, 'map', 1, 'after')]);
    expect(maps.get(mapId(1))?.[0]?.comm).toBe('before');
  });
});
