import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findTool, missingTool } from './tools.js';

const dir = mkdtempSync(join(tmpdir(), 'bpfmem-tools-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('test/tools.ts: which programs the tests can use', () => {
  it('finds an executable file on PATH, not a plain file or a directory', () => {
    writeFileSync(join(dir, 'runme'), '#!/bin/sh\n');
    chmodSync(join(dir, 'runme'), 0o755);
    writeFileSync(join(dir, 'plain'), 'x');
    expect(findTool('runme', `/nonexistent:${dir}`)).toBe(join(dir, 'runme'));
    expect(findTool('plain', dir)).toBeUndefined();
    expect(findTool('runme', '')).toBeUndefined();
    expect(findTool(process.platform === 'linux' ? 'sh' : 'node')).toBeDefined();
  });

  it('names the missing program and its package', () => {
    expect(missingTool('sh')).toBeUndefined();
    expect(missingTool('sh', 'bpfmem-no-such-tool')).toBe('no bpfmem-no-such-tool on PATH');
    const saved = process.env['PATH'];
    process.env['PATH'] = dir;
    try {
      expect(missingTool('bpftool')).toBe('no bpftool on PATH (apt-get install bpftool; .ci/run installs it)');
    } finally {
      process.env['PATH'] = saved;
    }
  });
});
