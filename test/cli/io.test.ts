import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fdWriter, redrawsInPlace, styleFor, type Io, type Style } from '../../src/cli/io.js';
import { wrapStyled } from '../../src/cli/render/common.js';
import { featureLines } from '../../src/cli/probe.js';

/*
 * The CLI's stdout writer (src/cli/io.ts) on a non-blocking pipe, the case where a write is cut
 * short and then refused (EAGAIN): a FIFO opened with O_NONBLOCK holds 64 KiB.
 */

const dir = mkdtempSync(join(tmpdir(), 'bpfmem-io-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Reads everything the FIFO holds now. */
function drain(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    try {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw error;
    }
  }
  return Buffer.concat(chunks);
}

describe('fdWriter', () => {
  it('on a full non-blocking pipe: writes what fits, hands the rest and every later text to the stream, in order', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      const streamed: Buffer[] = [];
      const stream = {
        write: (chunk: string | Uint8Array) => streamed.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk)),
        on: () => stream,
      } as unknown as NodeJS.WriteStream;
      const write = fdWriter(writer as 1, () => stream);
      // Multi-byte characters, so that a short write may cut one: the rest must go on from that byte.
      const first = 'é✓'.repeat(30_000);
      write(first);
      write('second\n');
      const piped = drain(reader);
      const total = Buffer.byteLength(first + 'second\n');
      // The pipe took part of the first text (its capacity), the stream the rest of it and the second.
      expect(piped.length).toBeGreaterThan(0);
      expect(piped.length).toBeLessThan(total);
      expect(streamed.length).toBe(2);
      expect(streamed[1]?.toString('utf8')).toBe('second\n');
      // What went down the pipe and what went to the stream are the text, byte for byte.
      expect(Buffer.concat([piped, ...streamed]).equals(Buffer.from(first + 'second\n', 'utf8'))).toBe(true);
    } finally {
      closeSync(writer);
      closeSync(reader);
    }
  });

  it('when the reader has gone (EPIPE): drops the text, throws nothing, and says closed', () => {
    const fifo = join(dir, 'fifo-epipe');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    closeSync(reader);
    try {
      const write = fdWriter(writer as 1, () => {
        throw new Error('no stream after EPIPE');
      });
      expect(write.closed()).toBe(false);
      write('to nobody\n');
      expect(write.closed()).toBe(true);
      write('still nobody\n');
    } finally {
      closeSync(writer);
    }
  });

  it('a device that refuses the output (`> /dev/full`): one line naming the stream and why', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const write = fdWriter(fd as 1, () => {
        throw new Error('no stream for a device');
      });
      expect(() => {
        write('lost\n');
      }).toThrow(/^standard (output|error): cannot write \(ENOSPC: no space left on the device\)$/);
    } finally {
      closeSync(fd);
    }
  });

  it('writes a whole text to a file, and several in order', () => {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    try {
      const write = fdWriter(fd as 1, () => {
        throw new Error('no stream for a file');
      });
      write('one ✓\n');
      write('two\n');
    } finally {
      closeSync(fd);
    }
    const rd = openSync(path, 'r');
    try {
      expect(drain(rd).toString('utf8')).toBe('one ✓\ntwo\n');
    } finally {
      closeSync(rd);
    }
  });
});

describe('colour and redrawing follow the terminal and the environment', () => {
  const io = (env: Record<string, string>, isTTY = true): Io => ({
    stdout: () => undefined,
    stderr: () => undefined,
    isTTY,
    env,
    readFile: () => Promise.reject(new Error('no file')),
  });
  const coloured = (i: Io): boolean => styleFor(i).bold('x') !== 'x';

  it('colour on a terminal; not into a pipe, with NO_COLOR set to any text, or TERM=dumb', () => {
    expect(coloured(io({}))).toBe(true);
    expect(coloured(io({}, false))).toBe(false);
    expect(coloured(io({ NO_COLOR: '1' }))).toBe(false);
    expect(coloured(io({ TERM: 'dumb' }))).toBe(false);
    // no-color.org: an empty NO_COLOR does not turn colour off.
    expect(coloured(io({ NO_COLOR: '' }))).toBe(true);
  });

  it('top and watch redraw in place on a terminal, not on TERM=dumb (which shows the escape as text) or into a pipe', () => {
    expect(redrawsInPlace(io({}))).toBe(true);
    expect(redrawsInPlace(io({ TERM: 'dumb' }))).toBe(false);
    expect(redrawsInPlace(io({}, false))).toBe(false);
  });
});

describe('a coloured word in wrapped text', () => {
  // A colour as a terminal gets it: wrapping must not escape it into text (`\x1b[33m…`).
  const yellow = (s: string): string => `\u001b[33m${s}\u001b[39m`;
  const st: Style = { bold: yellow, dim: yellow, ok: yellow, bad: yellow, warn: yellow };

  it('wrapStyled colours the head after wrapping, and escapes the rest as wrap does', () => {
    expect(wrapStyled('fits', yellow, ': 1.0 MiB left', 80, '')).toBe('\u001b[33mfits\u001b[39m: 1.0 MiB left');
    expect(wrapStyled('error', yellow, ': bad \u001b[2J', 80, '    ')).toBe('    \u001b[33merror\u001b[39m: bad \\x1b[2J');
    const long = wrapStyled('✓', yellow, ` ${'word '.repeat(30)}`, 40, '    ', '      ').split('\n');
    expect(long[0]?.startsWith('    \u001b[33m✓\u001b[39m word')).toBe(true);
    expect(long.length).toBeGreaterThan(1);
  });

  it('probe: a feature the kernel refuses is coloured, not shown as \\x1b text', () => {
    const [line] = featureLines([{ feature: 'arena', what: 'arena maps', state: 'refused', detail: 'EPERM' }], st);
    expect(line).toBe('\u001b[33marena maps: refused by this kernel\u001b[39m (EPERM)');
  });
});
