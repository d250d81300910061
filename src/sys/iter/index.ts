/** The kernel door's iter side: what the rest of bpfmem uses of src/sys/iter/. */
export { type Holder, scanHolders } from './holders.js';
export { MAP_RECORD, MapIterator, isUnavailable, readCgroupIds } from './mapiter.js';
export { type MapCharge, decodeMapRecord } from './mapiter-record.js';
