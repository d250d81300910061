/**
 * Scenarios: pure, like the model (`bpfmem/scenario`), in Node or a browser. A scenario's text
 * is parsed into steps ({@link parseScenario}) and run against any Backend
 * ({@link runScenario}): the model's, or the live kernel's through the main entry.
 */
export { parseScenario, formatScenarioError, SCENARIO_LIMITS } from './parse.js';
export type { ScenarioError, ParseScenarioResult } from './parse.js';
export { runScenario, scenarioProfile } from './run.js';
export type { RunResult, SetupTarget, StepResult } from './run.js';
export type { Scenario, Step, ScenarioTask, ScenarioCgroup, ScenarioKernel } from './types.js';
export { withKernel } from './overrides.js';
