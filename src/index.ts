/**
 * bpfmem's public API. Everything not exported here is internal and may change.
 *
 * - The model: {@link ModelKernel} (sync) and {@link ModelBackend} (the Backend seam).
 * - Scenarios: {@link parseScenario}, {@link runScenario}.
 * - Estimates: {@link estimateMaps}, {@link parseMapSpec}.
 */
export * from './model/index.js';
export * from './scenario/index.js';
export { estimateMaps } from './estimate/maps.js';
export type { Estimate, MapEstimate, ProgEstimate, NamedSpec } from './estimate/maps.js';
export { parseMapSpec } from './estimate/spec.js';
export { runBpfmem as runCli } from './run.js';
export type { Io } from './cli/io.js';
export { VERSION } from './vocab/bpfmem-version.js';
export { ensureMemlock, planMemlock, memlockRegime } from './live/memlock.js';
export type { EnsureMemlockResult, MemlockPlan, MemlockPlanInput, MemlockRegime } from './live/memlock.js';
export { parseBpfObject } from './elf/index.js';
export { objectSpecs } from './estimate/object.js';
export { objectMaps, objectProgs } from './estimate/object-plan.js';
