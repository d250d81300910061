/**
 * bench/watch.ts: map updates per second from a BPF program with and without `bpfmem watch`'s
 * hooks attached, in the same run (src/watch/bench.ts): a socket filter run by BPF_PROG_TEST_RUN
 * makes 32 updates per run of a hash, either of one existing key of a preallocated hash
 * (`in-place`, the cheapest update there is) or a new key of a no-prealloc hash, deleted again
 * (`insert-delete`, the allocating path where memory refusals happen). Rounds alternate: unwatched,
 * then the hooks attached and the same measurement; the ratio is median watched / median
 * unwatched. The target is 0.9.
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
import { runWatchBench, type WatchBench } from '../src/watch/bench.js';

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
  console.log(`bench/watch on ${where}: ${b.notAttached === undefined ? `${b.hooks} hooks attached in the watched rounds` : `hooks NOT attached: ${b.notAttached}`}`);
  for (const r of b.results) {
    const med = (xs: readonly number[]): number => [...xs].sort((a, c) => a - c)[xs.length >> 1] ?? Number.NaN;
    console.log(
      `  ${r.case.padEnd(13)} unwatched ${million(med(r.unwatched))} (${r.unwatched.map(million).join(', ')})` +
        (r.watched.length === 0 ? '' : `\n  ${' '.repeat(13)} watched   ${million(med(r.watched))} (${r.watched.map(million).join(', ')})  ratio ${r.ratio.toFixed(3)}${r.ratio >= 0.9 ? '' : ' < 0.9'}`),
    );
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
}
