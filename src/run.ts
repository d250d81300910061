import type { Io } from './cli/io.js';
import { runCli } from './cli/main.js';

/**
 * The composition root: the CLI with the faces it may start. Faces do not import each other
 * (docs/architecture.md); `bpfmem serve` gets the server from here. The server (hono,
 * prom-client, node:http) loads only when `serve` runs: importing it cost every other command
 * about 60 ms (bench/estimate.ts).
 */
export function runBpfmem(argv: readonly string[], io: Io, options: RunOptions = {}): Promise<number> {
  return runCli(argv, io, {
    serve: async (request) => {
      await options.beforeServe?.();
      return (await import('./server/index.js')).serveLive(request);
    },
  });
}

export interface RunOptions {
  /**
   * Called by `bpfmem serve` once its options are checked, before it reads the machine: the
   * process (src/bin/cli.ts) starts itself again tuned for serving (src/sys/proc/restart.ts).
   * Runs inside another program (tests) pass nothing.
   */
  readonly beforeServe?: () => Promise<void>;
}
