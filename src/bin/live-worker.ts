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
// The parent decides when this worker ends (it asks, or kills it, or its channel closes), so that
// a cleanup in progress can still ask it to close what it holds. The worker runs in a session of
// its own (src/live/pool.ts), out of reach of a terminal's Ctrl-C; a SIGINT sent to it by pid is
// ignored all the same.
process.on('SIGINT', () => undefined);
// No inspector on SIGUSR1 for any local user to run code in (src/bin/cli.ts).
process.on('SIGUSR1', () => undefined);
// A parent gone meanwhile is no error to print (EPIPE): the 'disconnect' above ends the worker.
process.send?.({ seq: 0, body: { ok: true, value: { kind: 'none' } } }, () => undefined);
