import { readdir, readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runConformance } from '../conformance/run.js';
import type { ConformanceReport } from '../conformance/report.js';
import { LiveBackend } from '../live/backend.js';
import { kernelStructOpsOf } from '../live/struct-ops.js';
import type { KernelProfile } from '../vocab/profile.js';
import { STRUCT_SIZES_6_18 } from '../model/structs.js';
import { type StructSizes } from '../vocab/profile.js';
import { readKernelProfile } from '../live/machine.js';
import { VMLINUX_BTF_PATH } from '../sys/bpf/index.js';
import { runChecks, type CheckResult } from './checks.js';
import { existsSync } from 'node:fs';

/**
 * The guest side of the kernel lab: what src/bin/lab-guest.ts runs inside the VM once init has
 * mounted proc, sysfs and cgroup2 (with `+memory` in the root's `cgroup.subtree_control`). It
 * runs `bpfmem conformance` on this kernel and the v2 checks (checks.ts), and returns one
 * {@link GuestResult}, which the entry prints on the serial console (console.ts).
 */

/** What the host asks of the guest, on the kernel command line (`bpfmem.quick=1 bpfmem.scenarios=0`). */
export interface GuestOptions {
  readonly quick: boolean;
  readonly scenarios: boolean;
  readonly checks: boolean;
}

/** Reads the guest's options from a kernel command line; unknown words are the kernel's. */
export function parseGuestOptions(cmdline: string): GuestOptions {
  const words = new Map<string, string>();
  for (const w of cmdline.trim().split(/\s+/)) {
    const m = /^bpfmem\.([a-z]+)=(.*)$/.exec(w);
    if (m) words.set(m[1] ?? '', m[2] ?? '');
  }
  const flag = (key: string, dflt: boolean): boolean => {
    const v = words.get(key);
    return v === undefined ? dflt : v === '1' || v === 'yes' || v === 'true';
  };
  return { quick: flag('quick', true), scenarios: flag('scenarios', true), checks: flag('checks', true) };
}

/** The kernel command-line words that ask for `options`. */
export function guestCmdline(options: GuestOptions): string {
  const b = (v: boolean): string => (v ? '1' : '0');
  return `bpfmem.quick=${b(options.quick)} bpfmem.scenarios=${b(options.scenarios)} bpfmem.checks=${b(options.checks)}`;
}

/** What the guest reports. */
export interface GuestResult {
  readonly version: 1;
  readonly kernel: {
    /** `uname -r` inside the VM. */
    readonly release: string;
    readonly cgroup: 1 | 2;
    readonly cpus: number;
    readonly pageSize: number;
    readonly regime: string;
    /** Whether the struct sizes came from this kernel's BTF (/sys/kernel/btf/vmlinux). */
    readonly btf: boolean;
    /** The struct sizes that differ from 6.18's, as this kernel's BTF gives them. */
    readonly structsDiffering: Readonly<Partial<StructSizes>>;
  };
  readonly options: GuestOptions;
  readonly conformance: ConformanceReport;
  readonly checks: readonly CheckResult[];
  /** Seconds the guest's work took (conformance and checks, not the boot). */
  readonly seconds: number;
}

/** The package's `scenarios/` beside `dist/` (the initramfs keeps that layout). */
const SCENARIOS_DIR = fileURLToPath(new URL('../../scenarios/', import.meta.url));

async function readScenarios(): Promise<{ source: string; text: string }[]> {
  const names = (await readdir(SCENARIOS_DIR)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
  return Promise.all(names.map(async (n) => ({ source: `scenarios/${n}`, text: await readFile(`${SCENARIOS_DIR}${n}`, 'utf8') })));
}

function differing(profile: KernelProfile): Partial<StructSizes> {
  const out: Partial<Record<keyof StructSizes, number>> = {};
  for (const key of Object.keys(STRUCT_SIZES_6_18) as (keyof StructSizes)[]) {
    if (profile.structs[key] !== STRUCT_SIZES_6_18[key]) out[key] = profile.structs[key];
  }
  return out;
}

/** Runs conformance and the checks on this kernel. */
export async function runGuest(
  options: GuestOptions,
  onCase?: (done: number, total: number, id: string) => void,
  onCheck?: (done: number, total: number, id: string) => void,
): Promise<GuestResult> {
  const started = Date.now();
  const profile = await readKernelProfile();
  const fresh = (): Promise<LiveBackend> => LiveBackend.create({ prefix: 'lab', profile });
  const kernel = await fresh();
  const structOps = await kernelStructOpsOf();
  let conformance: ConformanceReport;
  try {
    conformance = await runConformance({
      kernel,
      profile,
      quick: options.quick,
      scenarios: options.scenarios ? await readScenarios() : [],
      freshKernel: fresh,
      ...(structOps ? { structOps } : {}),
      ...(onCase ? { onCase } : {}),
    });
  } finally {
    await kernel.dispose();
  }
  const checks = options.checks ? await runChecks(profile, fresh, onCheck) : [];
  return {
    version: 1,
    kernel: {
      release: release(),
      cgroup: profile.cgroupVersion,
      cpus: profile.possibleCpus,
      pageSize: profile.pageSize,
      regime: profile.regime,
      btf: existsSync(VMLINUX_BTF_PATH),
      structsDiffering: differing(profile),
    },
    options,
    conformance,
    checks,
    seconds: (Date.now() - started) / 1000,
  };
}
