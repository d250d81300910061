/**
 * Numbers and names of the bpf(2) interface: commands, program types, attach types, flags,
 * and the branded ids the kernel hands out. Values from include/uapi/linux/bpf.h (libbpf's
 * copy at commit f7081a6b; cross-checked with cilium/ebpf internal/sys/types.go at 5ba0b3b2).
 */

/** `enum bpf_cmd`: the first argument of bpf(2). */
export const BPF_CMD = {
  BPF_MAP_CREATE: 0,
  BPF_MAP_LOOKUP_ELEM: 1,
  BPF_MAP_UPDATE_ELEM: 2,
  BPF_MAP_DELETE_ELEM: 3,
  BPF_MAP_GET_NEXT_KEY: 4,
  BPF_PROG_LOAD: 5,
  BPF_OBJ_PIN: 6,
  BPF_OBJ_GET: 7,
  BPF_PROG_ATTACH: 8,
  BPF_PROG_DETACH: 9,
  BPF_PROG_TEST_RUN: 10,
  BPF_PROG_GET_NEXT_ID: 11,
  BPF_MAP_GET_NEXT_ID: 12,
  BPF_PROG_GET_FD_BY_ID: 13,
  BPF_MAP_GET_FD_BY_ID: 14,
  BPF_OBJ_GET_INFO_BY_FD: 15,
  BPF_PROG_QUERY: 16,
  BPF_RAW_TRACEPOINT_OPEN: 17,
  BPF_BTF_LOAD: 18,
  BPF_BTF_GET_FD_BY_ID: 19,
  BPF_TASK_FD_QUERY: 20,
  BPF_MAP_LOOKUP_AND_DELETE_ELEM: 21,
  BPF_MAP_FREEZE: 22,
  BPF_BTF_GET_NEXT_ID: 23,
  BPF_MAP_LOOKUP_BATCH: 24,
  BPF_MAP_LOOKUP_AND_DELETE_BATCH: 25,
  BPF_MAP_UPDATE_BATCH: 26,
  BPF_MAP_DELETE_BATCH: 27,
  BPF_LINK_CREATE: 28,
  BPF_LINK_UPDATE: 29,
  BPF_LINK_GET_FD_BY_ID: 30,
  BPF_LINK_GET_NEXT_ID: 31,
  BPF_ENABLE_STATS: 32,
  BPF_ITER_CREATE: 33,
  BPF_LINK_DETACH: 34,
  BPF_PROG_BIND_MAP: 35,
  BPF_TOKEN_CREATE: 36,
} as const;

/** A bpf(2) command by its uapi name. */
export type BpfCommand = keyof typeof BPF_CMD;

/**
 * `enum bpf_attach_type` without `BPF_`, lower case (`trace_iter` is `BPF_TRACE_ITER` = 28),
 * through `BPF_TRACE_UPROBE_SESSION`; later values postdate the kernels bpfmem is proven on.
 */
export const ATTACH_TYPES = {
  cgroup_inet_ingress: 0,
  cgroup_inet_egress: 1,
  cgroup_inet_sock_create: 2,
  cgroup_sock_ops: 3,
  sk_skb_stream_parser: 4,
  sk_skb_stream_verdict: 5,
  cgroup_device: 6,
  sk_msg_verdict: 7,
  cgroup_inet4_bind: 8,
  cgroup_inet6_bind: 9,
  cgroup_inet4_connect: 10,
  cgroup_inet6_connect: 11,
  cgroup_inet4_post_bind: 12,
  cgroup_inet6_post_bind: 13,
  cgroup_udp4_sendmsg: 14,
  cgroup_udp6_sendmsg: 15,
  lirc_mode2: 16,
  flow_dissector: 17,
  cgroup_sysctl: 18,
  cgroup_udp4_recvmsg: 19,
  cgroup_udp6_recvmsg: 20,
  cgroup_getsockopt: 21,
  cgroup_setsockopt: 22,
  trace_raw_tp: 23,
  trace_fentry: 24,
  trace_fexit: 25,
  modify_return: 26,
  lsm_mac: 27,
  trace_iter: 28,
  cgroup_inet4_getpeername: 29,
  cgroup_inet6_getpeername: 30,
  cgroup_inet4_getsockname: 31,
  cgroup_inet6_getsockname: 32,
  xdp_devmap: 33,
  cgroup_inet_sock_release: 34,
  xdp_cpumap: 35,
  sk_lookup: 36,
  xdp: 37,
  sk_skb_verdict: 38,
  sk_reuseport_select: 39,
  sk_reuseport_select_or_migrate: 40,
  perf_event: 41,
  trace_kprobe_multi: 42,
  lsm_cgroup: 43,
  struct_ops: 44,
  netfilter: 45,
  tcx_ingress: 46,
  tcx_egress: 47,
  trace_uprobe_multi: 48,
  cgroup_unix_connect: 49,
  cgroup_unix_sendmsg: 50,
  cgroup_unix_recvmsg: 51,
  cgroup_unix_getpeername: 52,
  cgroup_unix_getsockname: 53,
  netkit_primary: 54,
  netkit_peer: 55,
  trace_kprobe_session: 56,
  trace_uprobe_session: 57,
} as const;

/** An attach type by its lower-case uapi name. */
export type AttachType = keyof typeof ATTACH_TYPES;

/** `flags` of BPF_MAP_UPDATE_ELEM: `BPF_ANY` 0, `BPF_NOEXIST` 1, `BPF_EXIST` 2. */
export const UPDATE_FLAGS = { any: 0, noexist: 1, exist: 2 } as const;

/** When an update may happen: always, only for a new key, or only for an existing key. */
export type UpdateFlag = keyof typeof UPDATE_FLAGS;

/** `BPF_OBJ_NAME_LEN`: map and program names hold at most 15 bytes and a NUL. */
export const BPF_OBJ_NAME_LEN = 16;

/** `BPF_TAG_SIZE`: a program tag is 8 bytes (the first 8 of the SHA-1 of its instructions). */
export const BPF_TAG_SIZE = 8;

declare const mapIdBrand: unique symbol;
declare const progIdBrand: unique symbol;
declare const linkIdBrand: unique symbol;

/** A map id (`bpf_map_info.id`): global, never reused while the map lives, not an fd. */
export type MapId = number & { readonly [mapIdBrand]: true };
/** A program id (`bpf_prog_info.id`). */
export type ProgId = number & { readonly [progIdBrand]: true };
/** A link id (`bpf_link_info.id`). */
export type LinkId = number & { readonly [linkIdBrand]: true };

/** Brands a number as a {@link MapId}. */
export const mapId = (n: number): MapId => n as MapId;
/** Brands a number as a {@link ProgId}. */
export const progId = (n: number): ProgId => n as ProgId;
/** Brands a number as a {@link LinkId}. */
export const linkId = (n: number): LinkId => n as LinkId;
