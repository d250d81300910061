/**
 * The only bpf(2) binding of bpfmem (like cilium/ebpf's internal/sys): attribute layouts,
 * the system call through koffi, errno translated into {@link SyscallError}, and the commands.
 */
export * from './types.js';
export { SyscallError, describeErrno, hasErrno, type LibcCall } from './error.js';
export { PROT_READ, PROT_WRITE, type MappedMemory } from './libc.js';
export { bpfSyscall, tryBpfSyscall, closeFd, type SyscallResult } from './syscall.js';
export * from './commands.js';
export { parseMapInfo, parseProgInfo, decodeObjName, type MapInfo, type ProgInfo } from './info.js';
export { findBtfTypeId, findBtfMemberOffset, readVmlinuxBtf, BTF_KINDS, type BtfKind } from './btf.js';
export { progLoadAttr } from './attr.js';
export { addressOf, lastErrno, libc } from './libc.js';
export { type MapObject, type ProgObject, listMaps, listProgs, progIds, readMap, readMapMemlock, readProg } from './objects.js';
export { PinScanner } from './pins.js';
export { VMLINUX_BTF_PATH, readBtfFile, readBtfFileSync, readVmlinuxBtfBytes, vmlinuxBtf, vmlinuxBtfIdentity } from './vmlinux.js';
