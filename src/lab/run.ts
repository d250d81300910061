import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { BpfmemError } from '../vocab/errors.js';
import { DATA, GUEST_LINE, parseConsole } from './console.js';
import { guestCmdline, type GuestOptions, type GuestResult } from './guest.js';
import { buildInitramfs, type Initramfs } from './initramfs.js';
import { boot, type BootOptions, type BootResult } from './qemu.js';

/**
 * The kernel lab from the host: build (or take from the cache) the initramfs, boot the kernel
 * under qemu, and read the guest's result from the serial console.
 */

/** Where the lab keeps kernels and initramfs files unless `BPFMEM_LAB_CACHE` says otherwise. */
export const DEFAULT_LAB_CACHE = '/var/cache/bpfmem-lab';

/** The package root (beside `dist/` and `src/`), where the image's bpfmem comes from. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The lab cache directory for an environment. */
export function labCacheDir(env: Readonly<Record<string, string | undefined>>): string {
  return env['BPFMEM_LAB_CACHE'] || DEFAULT_LAB_CACHE;
}

export interface LabOptions extends GuestOptions {
  readonly vmlinuz: string;
  /** The guest's time limit, boot included. */
  readonly timeoutSeconds: number;
  readonly cacheDir: string;
  readonly projectRoot?: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  /** Console output as it comes. */
  readonly onOutput?: (text: string) => void;
}

/** A lab run: the guest's result and how it ran. */
export interface LabRun {
  readonly vmlinuz: string;
  readonly vm: { readonly emulator: 'qemu-system-x86_64'; readonly accel: 'tcg'; readonly cpus: number; readonly memoryMiB: number };
  readonly initramfs: Initramfs & { readonly seconds: number };
  /** Wall time of the boot and the guest's work, until the VM powered off (the last boot). */
  readonly vmSeconds: number;
  /** Boots that died before bpfmem's guest started (see {@link diedBeforeGuest}): their console's last lines. */
  readonly failedBoots: readonly string[];
  readonly guest: GuestResult;
}

/** Terminal escape sequences (SeaBIOS clears the screen). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

const lastLines = (text: string, n: number): string =>
  text
    .split(/\r?\n/)
    .map((l) => l.replace(ANSI, '').trim())
    .filter((l) => l !== '')
    .slice(-n)
    .join(' | ');

/** Checks the shape of the guest's JSON: enough that the report can be rendered. */
export function parseGuestResult(payload: string): GuestResult {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new BpfmemError('system', 'the guest\'s result is not JSON');
  }
  const v = value as Partial<GuestResult> | null;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    v.version === 1 &&
    typeof v.kernel?.release === 'string' &&
    [1, 2].includes(v.kernel.cgroup) &&
    typeof v.conformance?.totals === 'object' &&
    Array.isArray(v.conformance.cases) &&
    Array.isArray(v.conformance.byType) &&
    Array.isArray(v.conformance.skipped) &&
    Array.isArray(v.checks) &&
    typeof v.seconds === 'number';
  if (!ok) throw new BpfmemError('system', 'the guest\'s result does not have the shape of a bpfmem lab result (version 1)');
  return value as GuestResult;
}

/**
 * Whether a boot died before bpfmem's guest program printed anything: a kernel panic with no
 * line of the guest (`bpfmem-lab:` progress, the result markers) on the console. Under TCG a
 * 6.12 boot once panicked 2 s in ("Fatal exception in interrupt") in a CI run, and the same image
 * booted in every run before and after. That says nothing about BPF accounting; the lab boots
 * again, once, and reports the failed boot.
 */
export function diedBeforeGuest(console: string): boolean {
  return console.includes('Kernel panic - not syncing') && !console.includes(GUEST_LINE) && !console.includes(DATA);
}

/** How many times a boot that died or hung before the guest started is tried. */
const MAX_BOOTS = 2;

/**
 * How long a boot may take to start the guest program before it counts as hung. Under TCG the
 * guest's first line came 7.6–8.6 s after qemu started (5.10, 6.1, 6.12 and 7.2, two VMs at a
 * time, on a day this host started Node slowly); a CI run that day had a 7.2 guest print nothing
 * after the firmware's banner for the whole 600 s of its timeout, at full CPU, and fail the lab.
 */
const START_SECONDS = 180;

/** How long a boot with `timeoutSeconds` in all has to start the guest program. */
const startSeconds = (timeoutSeconds: number): number => Math.min(START_SECONDS, timeoutSeconds);

/**
 * Why a guest printed no result, for both labs: it did not start (twice), ran out of time, or
 * qemu ended; with the boots that died or hung before, and the console's last lines.
 */
export function noResult(booted: BootResult, failedBoots: readonly string[], timeoutSeconds: number): BpfmemError {
  const tail = lastLines(booted.console, 4) || '(nothing)';
  const why = booted.stalled
    ? `the guest did not start within ${startSeconds(timeoutSeconds)} s`
    : booted.timedOut
      ? `the guest did not finish within ${timeoutSeconds} s (--timeout)`
      : `the guest printed no result (qemu ${typeof booted.exit === 'number' ? `status ${booted.exit}` : booted.exit})`;
  const before = failedBoots.length > 0 ? `, after a boot that died or hung before the guest started (${failedBoots.join(' / ')})` : '';
  return new BpfmemError('system', `${why}${before}; its console ended with: ${tail}`);
}

/**
 * Boots, and boots again (once) when the VM died before bpfmem's guest started
 * ({@link diedBeforeGuest}) or hung before it ({@link START_SECONDS}): the boot judged, and the
 * last lines of the failed one. Both labs (the
 * conformance guest and the watch check) boot through here.
 */
export async function bootGuest(o: BootOptions): Promise<{ booted: BootResult; failedBoots: string[] }> {
  const failedBoots: string[] = [];
  for (;;) {
    const start = o.start ?? { marker: GUEST_LINE, seconds: startSeconds(o.timeoutSeconds) };
    const booted = await boot({ ...o, start });
    if (!(booted.stalled || diedBeforeGuest(booted.console)) || failedBoots.length + 1 >= MAX_BOOTS) return { booted, failedBoots };
    failedBoots.push(booted.stalled ? `no guest line within ${start.seconds} s: ${lastLines(booted.console, 2) || '(nothing)'}` : lastLines(booted.console, 4));
  }
}

/** Boots `vmlinuz` with bpfmem inside and returns what it proved. */
export async function runLab(o: LabOptions): Promise<LabRun> {
  try {
    await access(o.vmlinuz, constants.R_OK);
    if (!(await stat(o.vmlinuz)).isFile()) throw new Error('not a file');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BpfmemError('input', `cannot read the kernel image ${o.vmlinuz}: ${code === 'ENOENT' ? 'no such file' : (code ?? 'not a file')}`);
  }
  const cpus = o.cpus ?? 2;
  const memoryMiB = o.memoryMiB ?? 2048;
  const t0 = Date.now();
  const image = await buildInitramfs({ projectRoot: o.projectRoot ?? PROJECT_ROOT }, o.cacheDir);
  const imageSeconds = (Date.now() - t0) / 1000;
  const { booted, failedBoots } = await bootGuest({
    vmlinuz: o.vmlinuz,
    initrd: image.path,
    append: guestCmdline(o),
    cpus,
    memoryMiB,
    timeoutSeconds: o.timeoutSeconds,
    ...(o.onOutput ? { onOutput: o.onOutput } : {}),
  });
  const found = parseConsole(booted.console);
  if (found.kind === 'error') throw new BpfmemError('system', `the guest failed: ${found.message}`);
  if (found.kind === 'none') throw noResult(booted, failedBoots, o.timeoutSeconds);
  return {
    vmlinuz: o.vmlinuz,
    vm: { emulator: 'qemu-system-x86_64', accel: 'tcg', cpus, memoryMiB },
    initramfs: { ...image, seconds: imageSeconds },
    vmSeconds: booted.seconds,
    failedBoots,
    guest: parseGuestResult(found.payload),
  };
}
