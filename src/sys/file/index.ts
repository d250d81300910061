/** Files a person names (bounded reads, ./read.ts) and bpfmem's own cache (./cache.ts). */
export { inputName, readInputFile, readInputFileAsync, readInputText, STDIN_PATH, type ReadInputOptions, type ReadSpecialOptions } from './read.js';
export { cacheDir, cacheEntry, readCacheFile, writeCacheFile } from './cache.js';
export { joinChunks } from './chunks.js';
