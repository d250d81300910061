/** A kernel version as `uname -r` starts it: major.minor[.patch]. */
export interface KernelVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/**
 * Parses a kernel release: `6.18`, `6.18.44`, `6.18.44-fc-v782`, `5.10.0-28-amd64`.
 * Returns `undefined` for anything else.
 */
export function parseKernelVersion(release: string): KernelVersion | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,5}))?(?:[-+~_.].*)?$/.exec(release.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: m[3] === undefined ? 0 : Number(m[3]) };
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
