/**
 * A reader of compiled BPF objects (`clang -target bpf -c prog.bpf.c`): {@link parseBpfObject}
 * gives every map libbpf will create from the object, with the fields of BPF_MAP_CREATE, and
 * every program. Pure: no Node built-ins, runs in a browser too.
 */
export { parseBpfObject, type ParseObjectOptions } from './object.js';
export { internalMapName, kernelName, kernelNameRefusal, objectName } from './names.js';
export type { BpfObject, LibbpfGeneration, ObjectMap, ObjectMapSource, ObjectProg } from './types.js';
