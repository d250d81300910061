/** A kernel version as `uname -r` starts it: major.minor[.patch]. */
export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/**
 * The largest major and minor: `KERNEL_VERSION(a, b, c)` (include/generated/uapi/linux/version.h)
 * is `(a << 16) + (b << 8) + min(c, 255)`, so a minor past 255 would run into the major.
 */
const MAJOR_MINOR_MAX = 255;
/**
 * The longest patch level read, in digits. KERNEL_VERSION clamps it at 255, but `uname -r` does
 * not: long-term kernels pass 255 (4.9.337, 4.14.336, 4.19.325), so only an absurd length is refused.
 */
const PATCH_DIGITS = 5;

/**
 * Parses a kernel release: `6.18`, `6.18.44`, `6.18.44-fc-v782`, `5.10.0-28-amd64`. Returns
 * `undefined` for anything else, and for parts no kernel has: a major or minor past 255, a patch
 * level of more than 5 digits (`6.18.999999999999999999` is refused, not read as 6.18 and a suffix).
 */
export function parseKernelVersion(release: string): KernelVersion | undefined {
  // Each part takes every digit there is: what follows a part is a separator, never more digits.
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?(?:[-+~_.].*)?$/.exec(release.trim());
  if (!m) return undefined;
  const [major, minor, patch = '0'] = [m[1] ?? '', m[2] ?? '', m[3]];
  if (major.length > 3 || minor.length > 3 || patch.length > PATCH_DIGITS) return undefined;
  const v = { major: Number(major), minor: Number(minor), patch: Number(patch) };
  return v.major > MAJOR_MINOR_MAX || v.minor > MAJOR_MINOR_MAX ? undefined : v;
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: KernelVersion, b: KernelVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Whether `v` is `major.minor` or newer (patch level ignored). */
export function atLeast(v: KernelVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** `major.minor` for people. */
export function formatVersion(v: KernelVersion): string {
  return v.patch ? `${v.major}.${v.minor}.${v.patch}` : `${v.major}.${v.minor}`;
}
