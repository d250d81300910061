/**
 * The process of a live task (src/live/worker.ts): answers its parent over the IPC channel and
 * exits when asked or when the channel closes, so a crashed parent leaves no worker behind.
 */
import type { Envelope, WorkerRequest } from '../live/protocol.js';
import { configureWorker, handleRequest } from '../live/worker.js';

configureWorker(Number(process.env['BPFMEM_POSSIBLE_CPUS'] ?? '1'));

process.on('message', (msg: Envelope<WorkerRequest>) => {
  void handleRequest(msg.body).then((body) => {
    process.send?.({ seq: msg.seq, body }, () => {
      if (msg.body.op === 'exit') process.exit(0);
    });
  });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ seq: 0, body: { ok: true, value: { kind: 'none' } } });
