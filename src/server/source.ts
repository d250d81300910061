import { buildInventory, type Inventory } from '../inspect/inventory.js';
import { type InventoryInput } from '../vocab/inventory.js';
import { WatchSession, type WatchFrame, type WatchOptions } from '../watch/index.js';
import { releaseMemory } from '../sys/proc/index.js';
import { describeMachine, type MachineDescription } from '../live/machine.js';

/** Where the server's snapshots come from: this machine, or a fixture. */
export interface InventorySource {
  /** One snapshot. The server calls it once per scan interval, never per request. */
  read(): Promise<{ inventory: Inventory; regimeReason: string; watch?: WatchFrame }>;
  /** Releases what the source holds (the map iterator). Idempotent. */
  close(): void;
  /**
   * Called after each scan is published: gives the scan's garbage back to the system (the
   * machine's sources; a fixture has none to speak of).
   */
  afterScan?(): void;
  /**
   * The facts of the machine the inventory is read from, for `/api/v1/probe`: the machine's
   * sources have them; a fixture (or a dump of another machine) describes no machine here, and
   * the server answers 404 rather than give the facts of the host it runs on.
   */
  machine?(): Promise<MachineDescription>;
}

/**
 * This machine through `bpfmem watch`'s session (src/watch/): at each scan everything a
 * Collector (src/live/collect.ts) reads, pins too (serve's maps have their paths, and its
 * summary leaves pinned maps out of the payer-not-holder warning as `bpfmem` does); the refused
 * map updates its hooks counted; and the paying cgroups' forecast. The collector keeps its map
 * iterator loaded between scans, and a rescan makes objects only for what changed. Needs root:
 * rejects with the one-line `BpfmemError` of `Collector.open` otherwise. Closing detaches the
 * hooks.
 */
export async function watchedSource(options: Pick<WatchOptions, 'trace' | 'noTraceOption' | 'always' | 'armBelow'>): Promise<InventorySource> {
  const session = await WatchSession.open({ ...options, pins: true });
  let closed = false;
  return {
    async read() {
      if (closed) throw new Error('the live source is closed');
      const { inventory, frame } = await session.frame();
      return { inventory, regimeReason: session.regimeReason, watch: frame };
    },
    close() {
      closed = true;
      session.close();
    },
    afterScan: releaseMemory,
    machine: describeMachine,
  };
}

/**
 * A fixed input, assembled anew by `buildInventory` at every read (tests, demos). The regime
 * reason defaults to what a 5.11+ kernel's would say.
 */
export function fixtureSource(input: InventoryInput, regimeReason?: string): InventorySource {
  const reason = regimeReason ?? `fixture: kernel ${input.profile.release} as given, regime ${input.profile.regime}`;
  return {
    read() {
      return Promise.resolve({ inventory: buildInventory(input), regimeReason: reason });
    },
    close() {
      // Nothing is held.
    },
  };
}
