import { describe, expect, it } from 'vitest';
import { summarizeLog } from './commands.js';

describe('summarizeLog', () => {
  it('keeps a short log whole, one line per entry', () => {
    expect(summarizeLog('0: R1=ctx() R10=fp0\n0: (95) exit\nR0 !read_ok\nprocessed 1 insns\n')).toBe('0: R1=ctx() R10=fp0 | 0: (95) exit | R0 !read_ok | processed 1 insns');
  });

  it('keeps the first and last three lines of a long log, where the verifier says why', () => {
    const log = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n');
    expect(summarizeLog(log)).toBe('line 0 | line 1 | line 2 | … 4 lines … | line 7 | line 8 | line 9');
  });

  it('is empty for an empty log', () => {
    expect(summarizeLog('')).toBe('');
  });
});
