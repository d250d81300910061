/**
 * The accounting model: pure, deterministic, no I/O. Importable on its own
 * (`bpfmem/model`), in Node or a browser.
 */
export { ModelKernel } from './kernel.js';
export { ModelBackend } from './backend.js';
export type {
  Backend,
  CgroupLimits,
  CgroupState,
  Credentials,
  MapState,
  Outcome,
  ProgState,
  Refusal,
  Snapshot,
  Success,
  TaskSpec,
  TaskState,
  UpdateContext,
  UpdateOptions,
  UserState,
} from '../vocab/backend.js';
export { BpfmemError } from '../vocab/errors.js';
export type { ErrorCode } from '../vocab/errors.js';
export type { Result, Ok, Err } from '../vocab/result.js';
export { makeProfile, profileOf, erasFor, defaultRegime, DEFAULT_RELEASE, DEFAULT_CGROUP_VERSION } from './profile.js';
export type { ProfileInput } from './profile.js';
export type { KernelProfile, Eras, Regime, CgroupVersion } from '../vocab/profile.js';
export { STRUCT_SIZES_6_18, defaultStructSizes } from './structs.js';
export type { StructSizes } from '../vocab/profile.js';
export { parseKernelVersion, compareVersions, formatVersion } from '../vocab/kernel-version.js';
export type { KernelVersion } from '../vocab/kernel-version.js';
export { MAP_TYPES, MAP_TYPE_NAMES, isMapType, mapTypeById } from '../vocab/maptypes.js';
export type { MapType } from '../vocab/maptypes.js';
export { MAP_FLAGS, parseFlags, formatFlags, hasFlag } from '../vocab/flags.js';
export type { MapFlag } from '../vocab/flags.js';
export { mapSpec } from '../vocab/map-spec.js';
export type { MapSpec } from '../vocab/map-spec.js';
export { mapTypeModel, checkMapCreate } from './maps/index.js';
export { fdinfoMemlock } from './maps/memlock.js';
export type { MapTypeModel, Alloc, ElementModel, MemAllocUnit } from './maps/index.js';
export { progMemlock } from './prog.js';
export { ERRNO, errnoName, isErrno } from '../vocab/errno.js';
export type { Errno, Failure } from '../vocab/errno.js';
export { parseSize, formatBytes, UNLIMITED } from '../vocab/units.js';
