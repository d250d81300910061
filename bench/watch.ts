/**
 * bench/watch.ts: map updates per second from a BPF program with and without `bpfmem watch`'s
 * hooks attached, in the same run (src/watch/bench.ts): a socket filter run by BPF_PROG_TEST_RUN
 * makes 32 updates per run of a hash, either of one existing key of a preallocated hash
 * (`in-place`, the cheapest update there is) or a new key of a no-prealloc hash, deleted again
 * (`insert-delete`, the allocating path where memory refusals happen), and one update per
 * loopback packet (`per-packet`). Rounds alternate: unwatched; a watch session running as by
 * default (arming on headroom: idle, hooks detached where no cgroup is near a limit); the same
 * with every hook attached (`--always`: armed). Each ratio is its median over the unwatched
 * median. The target is 0.9.
 *
 * On a kernel that refuses fexit programs (this host) only the unwatched rate can be measured: it
 * is printed with the kernel's reason. `--vm VMLINUZ` runs the same bench inside the kernel lab
 * (qemu, TCG: every rate there is emulated and noisy, the ratio is what to read).
 *
 * Needs root. Run: `npm run bench:watch` or `node --import tsx bench/watch.ts [--vm VMLINUZ] [--rounds N]`.
 */
import { readKernelProfile } from '../src/live/machine.js';
import { labCacheDir } from '../src/lab/run.js';
import { runWatchLab } from '../src/lab/watch-check.js';
import { median, runWatchBench, type WatchBench } from '../src/watch/bench.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const vm = flag('--vm');
const rounds = Number(flag('--rounds') ?? 7);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
  console.error('bench/watch: --rounds expects a whole number from 1 to 100');
  process.exit(2);
}

const million = (n: number): string => `${(n / 1e6).toPrecision(3)} M/s`;

function print(where: string, b: WatchBench): void {
  console.log(`bench/watch on ${where}`);
  console.log(`  idle:  watch running, arming on headroom (default --arm-below 64MiB): ${b.idleHooks === 0 ? 'no cgroup near a limit: hooks detached' : `${b.idleHooks} hooks attached (a cgroup here is near a limit)`} [${b.idleArming}]`);
  console.log(`  armed: watch running with --always: ${b.notAttached === undefined ? `${b.armedHooks} hooks attached` : `hooks NOT attached: ${b.notAttached}`}`);
  const label = (ratio: number): string => `${ratio.toFixed(3)}${ratio >= 0.9 ? '' : ' < 0.9'}`;
  for (const r of b.results) {
    const row = (name: string, xs: readonly number[], ratio?: number): string =>
      `  ${name.padEnd(30)} ${million(median(xs))} (${xs.map(million).join(', ')})${ratio === undefined ? '' : `  ratio ${label(ratio)}`}`;
    console.log(`${r.case}:`);
    console.log(row('unwatched', r.unwatched));
    console.log(row(b.idleHooks === 0 ? 'idle (hooks detached)' : `idle (${b.idleHooks} hooks attached)`, r.idle, r.idleRatio));
    if (r.armed.length > 0) console.log(row('armed (hooks attached)', r.armed, r.armedRatio));
  }
}

if (vm === undefined) {
  const profile = await readKernelProfile();
  print(`this machine (${profile.release})`, await runWatchBench({ profile, rounds }));
} else {
  const { guest } = await runWatchLab({ vmlinuz: vm, cacheDir: labCacheDir(process.env), timeoutSeconds: 1800, benchRounds: rounds });
  if (!guest.bench) {
    console.error(`bench/watch: the guest ran no bench: ${guest.error ?? 'unknown'}`);
    process.exit(1);
  }
  print(`${guest.release} in the kernel lab (qemu TCG, 2 vCPUs)`, guest.bench);
  const failed = guest.lines.filter((l) => !l.ok);
  console.log(`lab watch check: ${guest.lines.length - failed.length} of ${guest.lines.length} lines ok${failed.map((l) => `\n  FAILED ${l.what}: kernel ${String(l.kernel)}, expected ${String(l.model)}`).join('')}`);
}
