import { describe, expect, it } from 'vitest';
import { parseKallsyms } from './kallsyms.js';

/** Lines as kernel/kallsyms.c `s_show` prints them (`%px %c %s` and a tab and `[module]` for modules). */
const KALLSYMS = [
  'ffffffff81000000 T _text',
  'ffffffff814d0ec0 t bpf_map_mmap_open',
  'ffffffff82a1c2a0 R bpf_map_fops',
  'ffffffff82a1c3c0 R bpf_prog_fops',
  'ffffffff82a1c4e0 r bpf_map_fops_extra',
  'ffffffffc0a01000 d bpf_link_fops\t[some_module]',
  'ffffffff82a1d000 r dup_symbol',
  'ffffffff82a1d100 r dup_symbol',
  'ffffffff82a1d200 r same_twice',
  'ffffffff82a1d200 r same_twice',
  '',
].join('\n');

describe('parseKallsyms', () => {
  it.each([
    ['bpf_map_fops', { ok: true, address: 0xffff_ffff_82a1_c2a0n }],
    ['bpf_prog_fops', { ok: true, address: 0xffff_ffff_82a1_c3c0n }],
    // A prefix of a longer name does not match, nor does a module's symbol.
    ['bpf_map', { ok: false, reason: 'absent' }],
    ['bpf_link_fops', { ok: false, reason: 'absent' }],
    ['dup_symbol', { ok: false, reason: 'ambiguous' }],
    ['same_twice', { ok: true, address: 0xffff_ffff_82a1_d200n }],
    ['no_such', { ok: false, reason: 'absent' }],
  ])('%s', (name, expected) => {
    expect(parseKallsyms(KALLSYMS, [name]).get(name)).toEqual(expected);
  });

  it('says hidden where kptr_restrict shows every address as 0', () => {
    const hidden = KALLSYMS.replace(/^[0-9a-f]{16}/gm, '0000000000000000');
    expect(parseKallsyms(hidden, ['bpf_map_fops']).get('bpf_map_fops')).toEqual({ ok: false, reason: 'hidden' });
  });

  it('finds a symbol on the last line without a newline', () => {
    expect(parseKallsyms('ffffffff81000000 T _text\nffffffff82000000 D last', ['last']).get('last')).toEqual({ ok: true, address: 0xffff_ffff_8200_0000n });
  });

  it('answers absent for text that is not kallsyms', () => {
    expect(parseKallsyms('bpf_map_fops bpf_map_fops\n bpf_map_fops\n', ['bpf_map_fops']).get('bpf_map_fops')).toEqual({ ok: false, reason: 'absent' });
  });
});
