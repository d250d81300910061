/**
 * explain: does a set of maps and programs fit under the limits of a task and its memory
 * cgroups, which limit stops it, and why a creation failed. Pure (src/model and src/estimate
 * only): the facts come from src/live/probe.ts `readExplainFacts()` or from a test.
 */
export { explain, exitStatusOf, type Explanation } from './explain.js';
export type { CgroupLevel, ExplainFacts, ExplainRequest, TaskFacts } from './facts.js';
export type { Rlimit } from '../vocab/rlimit.js';
export { needOf, type Need, type Refused } from './need.js';
export { judge, levelsFor, maxFile, type Judgement, type LevelView, type LimitName, type Verdict } from './verdict.js';
export { causesOf, type Cause, type CauseKind, type CauseStatus } from './causes.js';
export { CAP, capNames, hasCap, bpfCapable, mapPermission, mapPrivilege, progPermission, type CapName, type MapPrivilege } from '../vocab/caps.js';
export { parseErrnoArg, parsePidArg, parseCgroupArg, parseNeedArg } from './args.js';
