import { runWatchLab } from './src/lab/watch-check.js';
const k = process.argv[2]!;
const r = await runWatchLab({ vmlinuz: `/var/cache/bpfmem-lab/kernels/${k}/vmlinuz`, cacheDir: '/tmp/bpfmem-lab-issue16', timeoutSeconds: 500, onOutput: (t) => process.stderr.write(t) });
console.log(JSON.stringify(r, null, 1));
