/**
 * bench/held-progs.ts: BPF programs held open for the benches of listings and rescans
 * (one-instruction socket filters, as many as an agent might load). They go when the holding
 * process exits.
 *
 * As a command, it runs another while it holds them: `node --import tsx bench/held-progs.ts
 * 1000 -- CMD [ARGS…]` (as root); inside bench/pinned-maps.ts for maps too: `node --import tsx
 * bench/pinned-maps.ts with 10000 1000 -- node --import tsx bench/held-progs.ts 1000 -- env
 * OBJECTS=progs node --import tsx bench/cold-ab.ts OLD/dist/bin/bpfmem.js dist/bin/bpfmem.js`.
 * bench/inventory.ts holds PROGS of them itself.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assemble, exit, mov64Imm, R0 } from '../src/asm/index.js';
import { progLoad } from '../src/sys/bpf/index.js';

/** The most programs a bench holds. */
export const MAX_HELD_PROGS = 100_000;

/** Loads `count` programs into this process and returns their fds. */
export function holdPrograms(count: number): number[] {
  const insns = assemble([mov64Imm(R0, 0), exit()]);
  const fds: number[] = [];
  for (let i = 0; i < count; i++) fds.push(progLoad({ type: 'socket_filter', insns, license: 'GPL', name: `bench_p${i}` }));
  return fds;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = Number(process.argv[2]);
  const sep = process.argv.indexOf('--');
  const cmd = sep > 0 ? process.argv[sep + 1] : undefined;
  if (!Number.isInteger(count) || count < 0 || count > MAX_HELD_PROGS || cmd === undefined) {
    console.error(`usage: node --import tsx bench/held-progs.ts N -- CMD [ARGS…] (N from 0 to ${MAX_HELD_PROGS}, as root)`);
    process.exit(2);
  }
  holdPrograms(count);
  console.error(`holding ${count} programs`);
  const r = spawnSync(cmd, process.argv.slice(sep + 2), { stdio: 'inherit' });
  if (r.error) {
    console.error(`bench: ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  process.exit(r.status ?? 1);
}
