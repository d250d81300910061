/**
 * What a cgroup path says about the workload in it, in the words its owner uses: Kubernetes
 * pods and containers (both cgroup drivers), systemd units.
 */
export interface CgroupLabel {
  readonly kind: 'pod' | 'container' | 'service' | 'scope' | 'slice' | 'other';
  /** `pod 0f1c…` (the pod UID), `container 3a9d2c1b5e07`, `service sshd`. */
  readonly text: string;
}

const POD = /(?:^|[-/])pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/;
const CONTAINER = /(?:^|[-/])(?:cri-containerd|crio|docker|containerd)?-?([0-9a-f]{64})(?:\.scope)?$/;

/** The label of the last component of a cgroup path, or `other`. */
export function labelOf(path: string): CgroupLabel {
  const last = path.slice(path.lastIndexOf('/') + 1);
  const pod = POD.exec(last);
  if (pod?.[1]) return { kind: 'pod', text: `pod ${pod[1].replaceAll('_', '-')}` };
  const container = CONTAINER.exec(last);
  if (container?.[1] && path.includes('kubepods')) return { kind: 'container', text: `container ${container[1].slice(0, 12)}` };
  const unit = /^(.+)\.(service|scope|slice)$/.exec(last);
  if (unit?.[1] && unit[2]) {
    const kind = unit[2] as 'service' | 'scope' | 'slice';
    return { kind, text: `${kind} ${unit[1]}` };
  }
  return { kind: 'other', text: '' };
}
