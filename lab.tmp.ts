import { runWatchLab } from './src/lab/watch-check.js';
const k = process.argv[2]!;
const r = await runWatchLab({ vmlinuz: `/var/cache/bpfmem-lab/kernels/${k}/vmlinuz`, cacheDir: '/tmp/bpfmem-lab-issue16', timeoutSeconds: 500 });
const g = r.guest;
console.log(r.vmSeconds, g.release, g.regime, g.error ?? '', JSON.stringify(g.truth), JSON.stringify(g.traced));
for (const h of g.hooks) if (h.state !== 'attached' && h.state !== 'off') console.log('  ', h.fn, h.state, h.reason);
for (const l of g.lines) console.log(l.ok ? 'ok ' : 'BAD', l.what, '|', l.kernel, '|', l.model);
console.log(JSON.stringify(g.bench?.results.map(x => [x.case, x.ratio.toFixed(3), x.unwatched.map(Math.round), x.watched.map(Math.round)])));
