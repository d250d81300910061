import { parseBpfObject, type BpfObject, type LibbpfGeneration } from '../elf/index.js';
import { inputName, readInputFileAsync } from '../sys/file/index.js';
import { BpfmemError } from '../vocab/errors.js';

/** Largest object file read: far above any real BPF object (the kernel's own BTF is 6 MB). */
const OBJECT_LIMIT = 256 * 1024 * 1024;

/**
 * Reads and parses a compiled BPF object a person named. Anything wrong with it is one line
 * naming the file (`BpfmemError('input')`, exit 2): cannot read, not a regular file, too big, not
 * an ELF BPF object, or what libbpf would refuse in it. `libbpf`: which generation reads it
 * (src/estimate/loaders.ts). With `special`, a FIFO, pipe or character device too
 * (`--special-files`: `bpfmem estimate <(cat prog.o)`), read on the event loop with the same
 * cap, so that Ctrl-C ends a read that waits on a writer. `-` is standard input (`cat prog.o |
 * bpfmem estimate -`), read so with or without `special`. `fifoHint`: what the command offers
 * for a FIFO it refused (its option, or standard input), added to the message.
 */
export async function readBpfObjectFile(path: string, libbpf: LibbpfGeneration = '1.1+', special = false, fifoHint?: string): Promise<BpfObject> {
  const bytes = await readInputFileAsync(path, { limit: OBJECT_LIMIT, what: 'BPF object', special, ...(fifoHint !== undefined && { fifoHint }) });
  return parseObjectBytes(bytes, inputName(path), libbpf);
}

function parseObjectBytes(bytes: Uint8Array, path: string, libbpf: LibbpfGeneration): BpfObject {
  try {
    return parseBpfObject(bytes, path, { libbpf });
  } catch (error) {
    if (error instanceof BpfmemError) throw error;
    // The parser refuses what it cannot read with BpfmemError; anything else is still one line.
    throw new BpfmemError('input', `${path}: not a BPF object bpfmem can read (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}
