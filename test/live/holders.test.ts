import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemble, exit, mov64Imm, R0 } from '../../src/asm/index.js';
import {
  closeFd,
  findBtfTypeId,
  linkCreate,
  mapCreate,
  mapId,
  mapInfo,
  objPin,
  progId,
  progInfo,
  progLoad,
  readVmlinuxBtf,
} from '../../src/sys/bpf/index.js';
import { scanHolders, type Holder, type HolderScan } from '../../src/sys/iter/holders.js';
import { holderIterSetup, scanHolderIterator } from '../../src/sys/iter/holders-iter.js';
import { parseKallsyms } from '../../src/sys/iter/kallsyms.js';
import { listFdLinks } from '../../src/sys/proc/fd.js';
import { parseFdinfo } from '../../src/sys/proc/fdinfo.js';
import { scanPins } from '../../src/sys/bpf/pins.js';
import { liveEnv } from './env.js';
import { missingTool } from '../tools.js';

/**
 * Holders and pins against the running kernel: child processes that hold maps and programs,
 * found by the task_file iterator and by /proc, compared with each other and with bpftool; a
 * private bpffs with pins; and scans under churn. Every child is killed, every fd closed and the
 * bpffs unmounted afterwards.
 */

/**
 * The children: plain ESM run by `node --input-type=module -e`, with bpf(2) through koffi as
 * test/live/env.ts calls it (no tsx: a child starts in about 50 ms). Modes:
 * - `hold`: a map with two fds and a program; prints `{pid, mapId, progId, mapFds, progFd}` and
 *   waits for its stdin to close.
 * - `churn`: creates and closes maps in a loop until its stdin closes (prints `ready`).
 * - `blink`: creates a map, prints `{pid}`, and exits 20 ms later.
 * Each sets its comm (`process.title` is `prctl(PR_SET_NAME)` on the main thread).
 */
const CHILD = String.raw`
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/package.json');
const koffi = require('koffi');
const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long, ...)');
const close = libc.func('int close(int)');
const bpf = (cmd, attr) => {
  const r = syscall(321, 'int', cmd, 'void *', attr, 'uint', attr.length);
  if (r < 0) throw new Error('bpf(' + cmd + '): errno ' + koffi.errno());
  return r;
};
const mapCreate = () => {
  const a = Buffer.alloc(72);
  a.writeUInt32LE(2, 0); a.writeUInt32LE(4, 4); a.writeUInt32LE(8, 8); a.writeUInt32LE(4, 12); a.write('live_holder', 28);
  return bpf(0, a);
};
const infoId = (fd) => {
  const info = Buffer.alloc(256);
  const a = Buffer.alloc(16);
  a.writeUInt32LE(fd, 0); a.writeUInt32LE(info.length, 4); a.writeBigUInt64LE(BigInt(koffi.address(info)), 8);
  bpf(15, a);
  return info.readUInt32LE(4);
};
const mapFdById = (id) => { const a = Buffer.alloc(12); a.writeUInt32LE(id, 0); return bpf(14, a); };
const progLoad = () => {
  const insn = (code, imm) => { const b = Buffer.alloc(8); b.writeUInt8(code, 0); b.writeInt32LE(imm, 4); return b; };
  const code = Buffer.concat([insn(0xb7, 0), insn(0x95, 0)]);
  const license = Buffer.from('GPL\0');
  const a = Buffer.alloc(128);
  a.writeUInt32LE(1, 0); a.writeUInt32LE(2, 4);
  a.writeBigUInt64LE(BigInt(koffi.address(code)), 8); a.writeBigUInt64LE(BigInt(koffi.address(license)), 16);
  a.write('live_holder', 48);
  return bpf(5, a);
};
const mode = process.argv[1];
const waitStdin = (then) => { process.stdin.resume(); process.stdin.on('end', then); };
if (mode === 'hold') {
  process.title = 'bpfmem-holder';
  const map = mapCreate();
  const id = infoId(map);
  const again = mapFdById(id);
  const prog = progLoad();
  console.log(JSON.stringify({ pid: process.pid, mapId: id, progId: infoId(prog), mapFds: [map, again], progFd: prog }));
  waitStdin(() => { close(map); close(again); close(prog); process.exit(0); });
} else if (mode === 'churn') {
  process.title = 'bpfmem-churn';
  let stop = false;
  waitStdin(() => { stop = true; });
  const tick = () => {
    if (stop) process.exit(0);
    const fds = Array.from({ length: 20 }, mapCreate);
    for (const fd of fds) close(fd);
    setImmediate(tick);
  };
  console.log('ready');
  tick();
} else if (mode === 'blink') {
  process.title = 'bpfmem-blink';
  mapCreate();
  console.log(JSON.stringify({ pid: process.pid }));
  setTimeout(() => process.exit(0), 20);
}
`;

const children = new Set<ChildProcess>();

/** Starts a child in `mode` and resolves with its first line of output. */
function start(mode: 'hold' | 'churn' | 'blink'): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, mode], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      resolve({ child, line });
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      reject(new Error(`child ${mode} exited (${code}) before it was ready`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
    child.stdin?.end();
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  });
}

afterAll(async () => {
  await Promise.all([...children].map(stopChild));
});

interface Held {
  readonly pid: number;
  readonly mapId: number;
  readonly progId: number;
  readonly mapFds: readonly number[];
  readonly progFd: number;
}

const holdersOf = (scan: HolderScan, kind: 'map' | 'prog', id: number): readonly Holder[] =>
  (kind === 'map' ? scan.maps.get(mapId(id)) : scan.progs.get(progId(id))) ?? [];

/** bpftool is the reference one test compares with: without it that test skips and says so. */
const noBpftool = liveEnv.ok ? missingTool('bpftool') : undefined;

describe.skipIf(!liveEnv.ok)('holders of maps and programs (live)', () => {
  let held: Held;
  let holder: ChildProcess;

  beforeAll(async () => {
    const started = await start('hold');
    holder = started.child;
    held = JSON.parse(started.line) as Held;
  });

  afterAll(async () => {
    await stopChild(holder);
  });

  it('the task_file iterator finds the child by pid and comm, once despite its threads, with both map fds', async () => {
    const scan = await scanHolders({ method: 'iterator' });
    expect(scan.method).toBe('iterator');
    expect(scan.errors).toEqual([]);
    // node runs about ten threads sharing one fd table: one holder, not ten.
    expect(readdirSync(`/proc/${held.pid}/task`).length).toBeGreaterThan(1);
    expect(holdersOf(scan, 'map', held.mapId)).toEqual([{ pid: held.pid, comm: 'bpfmem-holder', fd: Math.min(...held.mapFds), fds: [...held.mapFds].sort((a, b) => a - b) }]);
    expect(holdersOf(scan, 'prog', held.progId)).toEqual([{ pid: held.pid, comm: 'bpfmem-holder', fd: held.progFd, fds: [held.progFd] }]);
  });

  it('/proc finds the same holders for the same objects', async () => {
    const [viaIter, viaProc] = [await scanHolders({ method: 'iterator' }), await scanHolders({ method: 'procfs' })];
    expect(viaProc.method).toBe('procfs');
    for (const [kind, id] of [['map', held.mapId], ['prog', held.progId]] as const) {
      expect(holdersOf(viaProc, kind, id)).toEqual(holdersOf(viaIter, kind, id));
    }
    // Both see the same holders of the child's pid across all objects.
    const byPid = (scan: HolderScan, pid: number): string[] => [
      ...[...scan.maps].flatMap(([id, hs]) => hs.filter((h) => h.pid === pid).map((h) => `map:${id}:${h.fds.join(',')}`)),
      ...[...scan.progs].flatMap(([id, hs]) => hs.filter((h) => h.pid === pid).map((h) => `prog:${id}:${h.fds.join(',')}`)),
    ];
    expect(byPid(viaProc, held.pid)).toEqual(byPid(viaIter, held.pid));
    // What /proc may not read is reported, not thrown (pid 1 of this sandbox refuses even root).
    for (const e of viaProc.errors) expect(e).toMatch(/^\/proc\/\d+\/\S+: E[A-Z]+$/);
  });

  it('auto uses the iterator', async () => {
    const scan = await scanHolders();
    expect(scan.method).toBe('iterator');
    expect(scan.fallbackReason).toBeUndefined();
  });

  it.skipIf(noBpftool !== undefined)('agrees with bpftool, or knows why bpftool has no pids here', async () => {
    const shown = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'id', String(held.mapId)], { encoding: 'utf8' })) as { id: number; pids?: { pid: number; comm: string }[] };
    expect(shown.id).toBe(held.mapId);
    const ours = holdersOf(await scanHolders({ method: 'iterator' }), 'map', held.mapId).map(({ pid, comm }) => ({ pid, comm }));
    if (shown.pids !== undefined) {
      expect(shown.pids).toEqual(ours);
    } else {
      // bpftool's pid_iter.bpf.c resolves `bpf_map_fops` through libbpf from /proc/kallsyms;
      // without CONFIG_KALLSYMS_ALL it is not there, and bpftool prints no pids. bpfmem then
      // calibrates the address from its own fds.
      const kallsyms = parseKallsyms(readFileSync('/proc/kallsyms', 'utf8'), ['bpf_map_fops']);
      expect(kallsyms.get('bpf_map_fops')?.ok).toBe(false);
      expect((await holderIterSetup()).fopsSource).toBe('calibrated');
      console.warn('bpftool printed no pids (no bpf_map_fops in /proc/kallsyms); compared with /proc instead');
    }
  });

  it('leaves its own iterator program out, and nothing of its own open afterwards', async () => {
    const before = readdirSync('/proc/self/fd').length;
    const scan = await scanHolderIterator();
    expect(scan.records.some((r) => r.kind === 'prog' && r.id === scan.ownProgId)).toBe(false);
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });

  it('calibrated addresses are the kernel symbols where kallsyms lists them', async () => {
    const setup = await holderIterSetup();
    const listed = parseKallsyms(readFileSync('/proc/kallsyms', 'utf8'), ['bpf_map_fops', 'bpf_prog_fops']);
    const map = listed.get('bpf_map_fops');
    if (map?.ok === true) expect(setup.fops.map).toBe(map.address);
    expect(setup.fops.map).not.toBe(setup.fops.prog);
    // Kernel text and data live in the top 2 GiB on x86-64 (Documentation/arch/x86/x86_64/mm.rst).
    if (process.arch === 'x64') expect(setup.fops.map >= 0xffff_ffff_8000_0000n).toBe(true);
  });

  it('sees the holder gone once it exits', async () => {
    const { child, line } = await start('hold');
    const other = JSON.parse(line) as Held;
    expect(holdersOf(await scanHolders({ method: 'iterator' }), 'map', other.mapId)).toHaveLength(1);
    await stopChild(child);
    for (const method of ['iterator', 'procfs'] as const) {
      expect(holdersOf(await scanHolders({ method }), 'map', other.mapId)).toEqual([]);
    }
  });
});

describe.skipIf(!liveEnv.ok)('pins in a private bpffs (live)', () => {
  let dir: string;
  const fds: number[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bpfmem-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpffs', dir]);
  });

  afterAll(() => {
    try {
      for (const fd of fds.splice(0)) closeFd(fd);
      // The pins this test made (a bpffs also holds the kernel's own `maps.debug` and
      // `progs.debug`, bpf_preload's iterator links, which cannot be removed and go with the mount).
      rmSync(join(dir, 'x'), { recursive: true, force: true });
      for (const name of ['map-again', 'prog']) rmSync(join(dir, name), { force: true });
    } finally {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
  });

  it('finds a pinned map, program and link at their paths, by id', async () => {
    const map = mapCreate({ type: 'hash', keySize: 4, valueSize: 8, maxEntries: 16, name: 'live_pin' });
    fds.push(map);
    const prog = progLoad({ type: 'socket_filter', insns: assemble([mov64Imm(R0, 0), exit()]), license: 'GPL', name: 'live_pin' });
    fds.push(prog);
    const btf = await readVmlinuxBtf();
    const iterProg = progLoad({ type: 'tracing', insns: assemble([mov64Imm(R0, 0), exit()]), license: 'GPL', name: 'live_pin_it', expectedAttachType: 'trace_iter', attachBtfId: findBtfTypeId(btf, 'bpf_iter_bpf_map', 'func')! });
    fds.push(iterProg);
    const link = linkCreate({ progFd: iterProg, attachType: 'trace_iter' });
    fds.push(link);
    mkdirSync(join(dir, 'x', 'y'), { recursive: true });
    objPin(map, join(dir, 'x', 'y', 'map'));
    objPin(map, join(dir, 'map-again'));
    objPin(prog, join(dir, 'prog'));
    objPin(link, join(dir, 'x', 'link'));
    const linkInfo = parseFdinfo(readFileSync(`/proc/self/fdinfo/${link}`, 'utf8'));
    const linkId = linkInfo.ok && linkInfo.value.kind === 'link' ? linkInfo.value.linkId : -1;

    const scan = await scanPins();
    expect(scan.roots).toContain(dir);
    expect(scan).toMatchObject({ cut: [], errors: [] });
    expect(scan.pins.maps.get(mapInfo(map).id)).toEqual([join(dir, 'map-again'), join(dir, 'x', 'y', 'map')]);
    expect(scan.pins.progs.get(progInfo(prog).id)).toEqual([join(dir, 'prog')]);
    expect(scan.pins.links.get(linkId)).toEqual([join(dir, 'x', 'link')]);
    // Looking opened nothing it did not close.
    const bpfFds = (await listFdLinks('self')).filter((l) => l.target.startsWith('anon_inode:bpf'));
    expect(bpfFds.length).toBe(fds.length);
  });

  it('says when the depth bound cut the walk of a real bpffs', async () => {
    const scan = await scanPins({ maxDepth: 1 });
    // Only this test's bpffs: the machine's own (/sys/fs/bpf) may hold deep directories too.
    expect(scan.cut.filter((line) => line.startsWith(`${dir}/`))).toEqual([`${join(dir, 'x', 'y')}: deeper than 1 directories, not walked`]);
  });
});

describe.skipIf(!liveEnv.ok)('holders under churn (live)', () => {
  it('50 scans while maps come and go and processes exit and restart: no throw, no made-up pids', async () => {
    const spawned = new Set<number>();
    const churner = await start('churn');
    spawned.add(churner.child.pid!);
    const state = { stopped: false };
    let blinks = 0;
    // Two loops, each restarting a short-lived holder as soon as the last one exits.
    const blink = async (): Promise<void> => {
      while (!state.stopped) {
        try {
          const { child, line } = await start('blink');
          spawned.add((JSON.parse(line) as { pid: number }).pid);
          blinks++;
          await new Promise((resolve) => child.once('exit', resolve));
        } catch {
          // A child that died before printing: start another.
        }
      }
    };
    const blinking = Promise.all([blink(), blink()]);
    const procPids = (): Set<number> => new Set(readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number));
    try {
      const seen = new Set<number>();
      for (let i = 0; i < 50; i++) {
        const method = i % 2 === 0 ? 'iterator' : 'procfs';
        const before = procPids();
        const scan = await scanHolders({ method });
        const after = procPids();
        expect(scan.method).toBe(method);
        for (const holders of [...scan.maps.values(), ...scan.progs.values()]) {
          for (const h of holders) {
            seen.add(h.pid);
            // Alive at some point: a child we started, or a process listed just before or after.
            expect(spawned.has(h.pid) || before.has(h.pid) || after.has(h.pid), `pid ${h.pid} (${h.comm})`).toBe(true);
            expect(h.fds.length).toBeGreaterThan(0);
          }
        }
        for (const e of scan.errors) expect(e).toMatch(/^\/proc\/\d+\/\S+: E[A-Z]+$/);
        // Time for the children to come and go between scans.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The scans saw the churn, not an idle machine.
      expect(blinks).toBeGreaterThan(3);
      expect([...seen].some((pid) => spawned.has(pid))).toBe(true);
    } finally {
      state.stopped = true;
      await blinking;
      await stopChild(churner.child);
    }
  });
});
