/**
 * `enum bpf_prog_type`, by the names bpftool prints (`prog_type_name[]` in libbpf):
 * `socket_filter` 1, `tracing` 26, ….
 */
export const PROG_TYPES = {
  socket_filter: 1,
  kprobe: 2,
  sched_cls: 3,
  sched_act: 4,
  tracepoint: 5,
  xdp: 6,
  perf_event: 7,
  cgroup_skb: 8,
  cgroup_sock: 9,
  lwt_in: 10,
  lwt_out: 11,
  lwt_xmit: 12,
  sock_ops: 13,
  sk_skb: 14,
  cgroup_device: 15,
  sk_msg: 16,
  raw_tracepoint: 17,
  cgroup_sock_addr: 18,
  lwt_seg6local: 19,
  lirc_mode2: 20,
  sk_reuseport: 21,
  flow_dissector: 22,
  cgroup_sysctl: 23,
  raw_tracepoint_writable: 24,
  cgroup_sockopt: 25,
  tracing: 26,
  struct_ops: 27,
  ext: 28,
  lsm: 29,
  sk_lookup: 30,
  syscall: 31,
  netfilter: 32,
} as const;

/** A program type by bpftool's name. */
export type ProgType = keyof typeof PROG_TYPES;

const PROG_TYPE_BY_ID: readonly (ProgType | undefined)[] = (() => {
  const out: (ProgType | undefined)[] = [];
  for (const name of Object.keys(PROG_TYPES) as ProgType[]) out[PROG_TYPES[name]] = name;
  return out;
})();

/** The program type name of a kernel `enum bpf_prog_type` value. */
export function progTypeById(id: number): ProgType | undefined {
  return PROG_TYPE_BY_ID[id];
}
