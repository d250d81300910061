import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RESTARTED, restartForServing, restartTunedForServing, SEMI_SPACE_MIB } from './restart.js';

const start = { execPath: '/usr/bin/node', execArgv: ['--import', 'tsx'], argv: ['/usr/bin/node', '/opt/bpfmem/bpfmem.js', 'serve', '--port', '0'], env: { PATH: '/usr/bin', HOME: '/root' } };

describe('restartForServing', () => {
  it('starts node again with a 4 MiB semi-space before its own options, the same script and arguments, one malloc arena and the mark', () => {
    expect(restartForServing(start)).toEqual({
      path: '/usr/bin/node',
      argv: ['/usr/bin/node', `--max-semi-space-size=${SEMI_SPACE_MIB}`, '--import', 'tsx', '/opt/bpfmem/bpfmem.js', 'serve', '--port', '0'],
      env: ['PATH=/usr/bin', 'HOME=/root', `${RESTARTED}=1`, 'MALLOC_ARENA_MAX=1'],
    });
  });

  it('does nothing in the process it started (the mark), nor where both settings are given', () => {
    expect(restartForServing({ ...start, env: { ...start.env, [RESTARTED]: '1' } })).toBeUndefined();
    expect(restartForServing({ ...start, execArgv: ['--max-semi-space-size=16'], env: { MALLOC_ARENA_MAX: '4' } })).toBeUndefined();
    expect(restartForServing({ ...start, env: { NODE_OPTIONS: '--max_semi_space_size=2 --trace-warnings', MALLOC_ARENA_MAX: '2' } })).toBeUndefined();
  });

  it('keeps a setting given and adds only the other', () => {
    const semi = restartForServing({ ...start, env: { NODE_OPTIONS: '--max-semi-space-size=8' } });
    expect(semi?.argv).toEqual(['/usr/bin/node', '--import', 'tsx', '/opt/bpfmem/bpfmem.js', 'serve', '--port', '0']);
    expect(semi?.env).toEqual(['NODE_OPTIONS=--max-semi-space-size=8', `${RESTARTED}=1`, 'MALLOC_ARENA_MAX=1']);
    const arenas = restartForServing({ ...start, env: { MALLOC_ARENA_MAX: '8' } });
    expect(arenas?.argv[1]).toBe(`--max-semi-space-size=${SEMI_SPACE_MIB}`);
    expect(arenas?.env).toEqual(['MALLOC_ARENA_MAX=8', `${RESTARTED}=1`]);
  });

  it('leaves out variables that are unset, and passes odd values through as they are', () => {
    const r = restartForServing({ ...start, env: { GONE: undefined, ODD: 'a=b c\n' } });
    expect(r?.env).toEqual(['ODD=a=b c\n', `${RESTARTED}=1`, 'MALLOC_ARENA_MAX=1']);
  });
});

describe('restartTunedForServing', () => {
  /** The fd flags of stdin, stdout and stderr (fdinfo `flags`, O_CLOEXEC among them). */
  const stdioFlags = (): string[] => [0, 1, 2].map((fd) => /^flags:\s*(\S+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '');

  it('says why when execve fails, and leaves this process as it was (its stdio close-on-exec flags too)', () => {
    const before = stdioFlags();
    const why = restartTunedForServing({ ...start, execPath: '/nonexistent/node', env: {} });
    expect(why).toBe('execve /nonexistent/node: ENOENT (No such file or directory)');
    expect(stdioFlags()).toEqual(before);
  });

  it('does nothing, and says nothing, when there is nothing to do', () => {
    expect(restartTunedForServing({ ...start, execPath: '/nonexistent/node', env: { [RESTARTED]: '1' } })).toBeUndefined();
  });
});
