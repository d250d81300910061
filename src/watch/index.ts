/**
 * watch: the map updates the kernel refuses, which map and memory cgroup, which limit stopped
 * them, and when each paying cgroup runs out (issue 16; docs/watch.md). The CLI (`bpfmem watch`)
 * and the server (`bpfmem serve`) both say what this module computes.
 */
export { WatchSession, MAX_FRAME_EVENTS, type FailureRow, type PayerRow, type WatchFrame, type WatchOptions } from './session.js';
export { forecast, limitOnPath, slope, ForecastHistory, type Forecast, type ForecastPoint, type CgroupPoint } from './forecast.js';
export { coverage, blindSpots, type Coverage } from './coverage.js';
export { frameJson, summaryJson, failureJson, payerJson, tracingJson, verdictJson, forecastJson } from './json.js';
export { runWatchBench, UPDATES_PER_RUN, type WatchBench, type BenchResult, type BenchCase } from './bench.js';
