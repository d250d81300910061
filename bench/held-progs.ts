/**
 * bench/held-progs.ts: runs a command while this process holds N BPF programs (one-instruction
 * socket filters, as many as an agent might load), for benches of the program listings. The
 * programs go when this process exits, whatever the command did.
 *
 * Run (as root): `node --import tsx bench/held-progs.ts 1000 -- CMD [ARGS…]`; inside
 * bench/pinned-maps.ts for maps too: `node --import tsx bench/pinned-maps.ts with 10000 1000 --
 * node --import tsx bench/held-progs.ts 1000 -- env OBJECTS=progs node --import tsx
 * bench/cold-ab.ts OLD/dist/bin/bpfmem.js dist/bin/bpfmem.js`.
 */
import { spawnSync } from 'node:child_process';
import { assemble, exit, mov64Imm, R0 } from '../src/asm/index.js';
import { progLoad } from '../src/sys/bpf/index.js';

const count = Number(process.argv[2]);
const sep = process.argv.indexOf('--');
const cmd = sep > 0 ? process.argv[sep + 1] : undefined;
if (!Number.isInteger(count) || count < 0 || count > 100_000 || cmd === undefined) {
  console.error('usage: node --import tsx bench/held-progs.ts N -- CMD [ARGS…] (N from 0 to 100000, as root)');
  process.exit(2);
}
const insns = assemble([mov64Imm(R0, 0), exit()]);
for (let i = 0; i < count; i++) progLoad({ type: 'socket_filter', insns, license: 'GPL', name: `bench_p${i}` });
console.error(`holding ${count} programs`);
const r = spawnSync(cmd, process.argv.slice(sep + 2), { stdio: 'inherit' });
if (r.error) {
  console.error(`bench: ${cmd}: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
