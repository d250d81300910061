import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Envelope, WorkerError, WorkerOk, WorkerRequest } from './protocol.js';

/** Where the worker's entry point is: beside this module's build, or its source under tsx. */
function entry(): { path: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return { path: fileURLToPath(new URL('../bin/live-worker.ts', here)), execArgv: ['--import', 'tsx'] };
  }
  return { path: fileURLToPath(new URL('../bin/live-worker.js', here)), execArgv: [] };
}

/** A live task's process, and the channel to ask it things. */
export class LiveWorker {
  private seq = 0;
  private readonly waiting = new Map<number, (answer: WorkerOk | WorkerError) => void>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: Envelope<WorkerOk | WorkerError>) => {
      const resolve = this.waiting.get(msg.seq);
      if (resolve) {
        this.waiting.delete(msg.seq);
        resolve(msg.body);
      }
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const resolve of this.waiting.values()) {
        resolve({ ok: false, errno: 'ESRCH', message: `the worker exited (${signal ?? `status ${code ?? '?'}`})` });
      }
      this.waiting.clear();
    });
  }

  /** Starts a worker and waits until it is ready to answer. */
  static async spawn(possibleCpus: number): Promise<LiveWorker> {
    const { path, execArgv } = entry();
    const child = fork(path, [], {
      // A young generation of fixed size, touched before the worker moves (see warmUp()), so the
      // worker faults no new pages inside its cgroup.
      execArgv: [...execArgv, '--expose-gc', '--min-semi-space-size=4', '--max-semi-space-size=4'],
      env: { ...process.env, BPFMEM_POSSIBLE_CPUS: String(possibleCpus) },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // A session of its own (setsid()): a terminal's Ctrl-C and hangup go to the foreground
      // process group, the parent's, and no longer to the worker, which the parent ends itself
      // (it asks, kills, or closes the channel). The worker's own SIGINT listener came too late
      // for a Ctrl-C while it was still loading: it died of it, and the parent said "internal
      // error: the worker exited (SIGINT)" (a clean-clone CI run, conformance Ctrl-C as it starts).
      detached: true,
    });
    const worker = new LiveWorker(child);
    await new Promise<void>((resolve, reject) => {
      worker.waiting.set(0, (answer) => {
        if (answer.ok) resolve();
        else reject(new Error(answer.message));
      });
      child.once('error', reject);
    });
    return worker;
  }

  /** The worker's pid, to place it in a cgroup. */
  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('worker has no pid');
    return pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Asks the worker to do one thing and waits for the answer. */
  request(body: WorkerRequest): Promise<WorkerOk | WorkerError> {
    if (this.exited) return Promise.resolve({ ok: false, errno: 'ESRCH', message: 'the worker has exited' });
    const seq = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(seq, resolve);
      // A worker gone meanwhile (Ctrl-C reaches the whole process group) is an answer, not an
      // 'error' event: unhandled, that printed `Error: write EPIPE` and a stack (issue 14).
      this.child.send({ seq, body } satisfies Envelope<WorkerRequest>, (error) => {
        if (error === null || !this.waiting.delete(seq)) return;
        resolve({ ok: false, errno: 'ESRCH', message: `the worker is gone: ${error.message}` });
      });
    });
  }

  /** Stops the worker: its fds close, so maps only it held are freed. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => { resolve(); }));
    await this.request({ op: 'exit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(timer);
  }

  /** Kills the worker at once (cleanup on a signal). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
