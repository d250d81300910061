/** Files a person names: read whole, bounded, regular files only (./read.ts). */
export { readInputFile, type ReadInputOptions } from './read.js';
