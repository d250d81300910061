/**
 * The kernel lab's program inside the VM (src/lab/guest.ts): init has mounted proc, sysfs and
 * cgroup2 and runs `node /app/dist/bin/lab-guest.js`; the options come on the kernel command
 * line. It prints the result on the serial console between marker lines (src/lab/console.ts),
 * or one error line, and exits; init then powers the VM off.
 */
import { readFileSync } from 'node:fs';
import { encodeError, encodeResult, guestLine, progressLine, type GuestPhase } from '../lab/console.js';
import { parseGuestOptions, runGuest } from '../lab/guest.js';
import { benchRoundsOf, runWatchGuest, wantsWatch } from '../lab/watch-check.js';

const write = (text: string): Promise<void> => new Promise((resolve) => process.stdout.write(text, () => { resolve(); }));

// No top-level await: the bundle is CommonJS (scripts/bundle.mjs).
async function main(): Promise<void> {
  try {
    const cmdline = readFileSync('/proc/cmdline', 'utf8');
    // `bpfmem.watch=1`: the watch check alone (src/lab/watch-check.ts, issue 16).
    if (wantsWatch(cmdline)) {
      // A line of the guest's own: a panic after it is the check's, not a failed boot (src/lab/run.ts diedBeforeGuest).
      process.stderr.write(guestLine('watch check'));
      await write(encodeResult(JSON.stringify(await runWatchGuest({ benchRounds: benchRoundsOf(cmdline) }))));
      process.exitCode = 0;
      return;
    }
    // The guest's first line, at once: a boot that shows none in time is retried as hung (src/lab/run.ts bootGuest).
    process.stderr.write(guestLine('conformance starting'));
    const options = parseGuestOptions(cmdline);
    const started = Date.now();
    // A progress line per case and per check, with the time so far, for a person watching the console.
    const progress =
      (phase: GuestPhase) =>
      (done: number, total: number, id: string): void => {
        process.stderr.write(progressLine(phase, done, total, (Date.now() - started) / 1000, id));
      };
    const result = await runGuest(options, progress('conformance'), progress('check'));
    await write(encodeResult(JSON.stringify(result)));
    process.exitCode = 0;
  } catch (error) {
    await write(encodeError(error instanceof Error ? error.message : String(error)));
    process.exitCode = 1;
  }
}

void main();
