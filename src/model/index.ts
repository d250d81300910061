/**
 * The accounting model: pure, deterministic, no I/O. Importable on its own
 * (`bpfmem/model`), in Node or a browser.
 */
export { ModelKernel } from './kernel.js';
export { ModelBackend } from './backend.js';
export { makeProfile, profileOf, erasFor, defaultRegime, DEFAULT_RELEASE, DEFAULT_CGROUP_VERSION } from './profile.js';
export type { KernelProfile, ProfileInput, Eras, Regime, CgroupVersion } from './profile.js';
export { STRUCT_SIZES_6_18, defaultStructSizes } from './structs.js';
export type { StructSizes } from './structs.js';
export { parseKernelVersion, compareVersions, formatVersion } from './version.js';
export type { KernelVersion } from './version.js';
export { MAP_TYPES, MAP_TYPE_NAMES, isMapType, mapTypeById } from './maptypes.js';
export type { MapType } from './maptypes.js';
export { MAP_FLAGS, parseFlags, formatFlags, hasFlag } from './flags.js';
export type { MapFlag } from './flags.js';
export { mapSpec } from './maps/spec.js';
export type { MapSpec } from './maps/spec.js';
export { mapTypeModel, checkMapCreate, fdinfoMemlock } from './maps/index.js';
export type { MapTypeModel, Alloc, ElementModel, MemAllocUnit } from './maps/index.js';
export { progMemlock } from './prog.js';
export { ERRNO, errnoName, isErrno } from './errno.js';
export type { Errno, Failure } from './errno.js';
export { parseSize, formatBytes, UNLIMITED } from './units.js';
export type { Bytes, Pages } from './units.js';
