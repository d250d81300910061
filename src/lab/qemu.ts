import { spawn } from 'node:child_process';
import { BpfmemError } from '../vocab/errors.js';

/**
 * Boots a kernel and an initramfs under qemu with TCG (software emulation: `-enable-kvm` exists
 * here but hangs under nested virtualisation) and gives back what the serial console printed.
 * The guest powers itself off (`-no-reboot` turns a reboot or a panic, `panic=-1`, into an
 * exit); a guest that is still running at the time limit is killed.
 */

/** The program run. */
export const QEMU = 'qemu-system-x86_64';

export interface BootOptions {
  readonly vmlinuz: string;
  readonly initrd: string;
  /** Extra words for the kernel command line. */
  readonly append?: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  /** Kill the guest after this long. */
  readonly timeoutSeconds: number;
  /**
   * Kill the guest as stalled when its console has not shown `marker` (the guest program's first
   * line) within `seconds`: a boot that hung, which would otherwise hold the whole timeout.
   */
  readonly start?: { readonly marker: string; readonly seconds: number };
  /** Each piece of console output as it comes (progress for people). */
  readonly onOutput?: (text: string) => void;
  /** The qemu program (default {@link QEMU} on PATH). */
  readonly qemu?: string;
}

export interface BootResult {
  /** Everything the serial console printed (at most the last {@link MAX_CONSOLE} characters). */
  readonly console: string;
  readonly seconds: number;
  /** qemu's exit status, or the signal that ended it. */
  readonly exit: number | string;
  /** Whether the time limit ended it. */
  readonly timedOut: boolean;
  /** Whether it was killed for not starting the guest program in time ({@link BootOptions.start}). */
  readonly stalled: boolean;
}

/** The console kept in memory: a run prints about 40 KB; a runaway guest must not fill memory. */
export const MAX_CONSOLE = 8 * 1024 * 1024;

/** The qemu command line of a boot. */
export function qemuArgs(o: Pick<BootOptions, 'vmlinuz' | 'initrd' | 'append' | 'cpus' | 'memoryMiB'>): string[] {
  const append = ['console=ttyS0', 'quiet', 'loglevel=1', 'panic=-1', 'mitigations=off', ...(o.append ? [o.append] : [])].join(' ');
  return [
    '-accel', 'tcg,thread=multi',
    '-cpu', 'max,la57=off',
    '-smp', String(o.cpus),
    '-m', String(o.memoryMiB),
    '-kernel', o.vmlinuz,
    '-initrd', o.initrd,
    '-append', append,
    '-nographic',
    '-no-reboot',
    // No network card: no option ROM to run, and the guest needs only loopback.
    '-net', 'none',
  ];
}

/** Runs the guest to its end (or the time limit). Throws a {@link BpfmemError} when qemu cannot start. */
export function boot(o: BootOptions): Promise<BootResult> {
  const startedAt = Date.now();
  const program = o.qemu ?? QEMU;
  return new Promise((resolve, reject) => {
    const child = spawn(program, qemuArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const keep = (s: string, add: string): string => {
      const t = s + add;
      return t.length > MAX_CONSOLE ? t.slice(t.length - MAX_CONSOLE) : t;
    };
    let stalled = false;
    let started = o.start === undefined;
    const startTimer =
      o.start === undefined
        ? undefined
        : setTimeout(() => {
            if (started) return;
            stalled = true;
            child.kill('SIGKILL');
          }, o.start.seconds * 1000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out = keep(out, chunk);
      if (!started && o.start !== undefined && out.includes(o.start.marker)) {
        started = true;
        clearTimeout(startTimer);
      }
      o.onOutput?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err = keep(err, chunk);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutSeconds * 1000);
    // Whatever ends this process ends the guest too.
    const killGuest = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killGuest);
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearTimeout(startTimer);
      process.removeListener('exit', killGuest);
      reject(
        new BpfmemError(
          'system',
          error.code === 'ENOENT' ? `${program} is not installed: the kernel lab needs qemu (Debian package qemu-system-x86)` : `starting ${program}: ${error.code ?? error.message}`,
        ),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(startTimer);
      process.removeListener('exit', killGuest);
      if (!timedOut && !stalled && code !== 0 && !/BPFMEM-LAB/.test(out)) {
        const why = err.trim().split('\n').pop() ?? '';
        if (why) {
          reject(new BpfmemError('system', `${program} failed (${signal ?? `status ${code ?? '?'}`}): ${why}`));
          return;
        }
      }
      resolve({ console: out, seconds: (Date.now() - startedAt) / 1000, exit: signal ?? code ?? -1, timedOut, stalled });
    });
  });
}
