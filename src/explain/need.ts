import { estimateMaps, type Estimate } from '../estimate/maps.js';
import type { Errno } from '../vocab/errno.js';
import type { KernelProfile } from '../vocab/profile.js';
import type { ExplainRequest } from './facts.js';

/** A map or program the kernel would refuse before memory is counted. */
export interface Refused {
  /** `map NAME` or `program of N insns`. */
  readonly what: string;
  readonly errno: Errno;
  readonly reason: string;
}

/** What a request needs, in the regime's own terms. */
export interface Need {
  /** The model's estimate of each map and program on this kernel. */
  readonly estimate: Estimate;
  /**
   * Bytes counted against the regime's limit: the memory-cgroup charge (`memcg`), the
   * RLIMIT_MEMLOCK precharge (`memlock`), nothing (`none`); extra bytes included.
   */
  readonly counted: number;
  /** Bytes charged to the creator's memory cgroup (maps, programs, their fds) plus the extra bytes. */
  readonly charged: number;
  /** fdinfo `memlock` of the maps and programs plus the extra bytes (the precharge in `memlock`). */
  readonly memlock: number;
  /** Bytes allocated that no memory cgroup pays for (made at creation: per-CPU memory on 6.0+, allocations without __GFP_ACCOUNT). */
  readonly uncharged: number;
  /** The extra bytes of the request. */
  readonly extra: number;
  /** What the kernel would refuse for its attributes (the model's `checkMapCreate`, program size). */
  readonly refused: readonly Refused[];
}

/**
 * What the request needs on this kernel: each map and program created in the model (the same
 * numbers as `bpfmem estimate`), and the bytes its regime counts against a limit.
 */
export function needOf(request: ExplainRequest, profile: KernelProfile): Need {
  const estimate = estimateMaps(request.maps, profile, request.progs);
  const extra = request.extraBytes;
  const refused: Refused[] = [];
  for (const m of estimate.maps) if (!m.ok) refused.push({ what: `map ${m.name}`, errno: m.errno, reason: m.reason });
  for (const p of estimate.progs) {
    if (!p.ok) refused.push({ what: `program of ${p.insns} insns`, errno: p.errno ?? 'EINVAL', reason: p.reason ?? 'refused' });
  }
  const charged = estimate.total.charged + extra;
  const memlock = estimate.total.memlock + extra;
  const regime = profile.regime;
  const counted = regime === 'memcg' ? charged : regime === 'memlock' ? memlock : 0;
  return { estimate, counted, charged, memlock, uncharged: estimate.total.uncharged, extra, refused };
}
