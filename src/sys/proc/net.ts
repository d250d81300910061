import { SyscallError } from '../bpf/error.js';
import { lastErrno, libc } from '../bpf/libc.js';
import { closeFd } from '../bpf/syscall.js';

/**
 * What a socket-filter program needs from the network: a UDP socket of our own (not one of
 * libuv's, whose fds Node does not expose) bound to loopback, and SO_ATTACH_BPF. Sending can
 * use `node:dgram`. Constants from include/uapi/linux/socket.h, in.h and
 * include/uapi/asm-generic/socket.h (x86-64 and arm64 share them).
 */

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
/** `SO_ATTACH_BPF`: attach an eBPF socket filter program by fd (3.19+). */
const SO_ATTACH_BPF = 50;
const SOCKADDR_IN_SIZE = 16;

/** `struct sockaddr_in` for 127.0.0.1:`port`: family (host order), port and address (network order). */
export function encodeSockaddrIn(port: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_SIZE));
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  view.setUint32(4, 0x7f00_0001, false);
  return out;
}

/** The port of a `struct sockaddr_in`. */
export function decodeSockaddrInPort(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(2, false);
}

/** A UDP socket bound to 127.0.0.1 on an ephemeral port. Close it with {@link closeSocket}. */
export interface UdpSocket {
  readonly fd: number;
  readonly port: number;
}

/** socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC), bind to 127.0.0.1:0, getsockname for the port. */
export function udpSocket(): UdpSocket {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError('socket', lastErrno());
  try {
    if (c.bind(fd, encodeSockaddrIn(0), SOCKADDR_IN_SIZE) < 0) throw new SyscallError('bind', lastErrno());
    const addr = new Uint8Array(new ArrayBuffer(SOCKADDR_IN_SIZE));
    const len = new Uint8Array(new ArrayBuffer(4));
    new DataView(len.buffer).setUint32(0, SOCKADDR_IN_SIZE, true);
    if (c.getsockname(fd, addr, len) < 0) throw new SyscallError('getsockname', lastErrno());
    return { fd, port: decodeSockaddrInPort(addr) };
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

/**
 * setsockopt(SOL_SOCKET, SO_ATTACH_BPF, progFd): every packet the socket receives runs the
 * socket-filter program (in softirq context for loopback traffic), which returns how many bytes
 * to keep (0 drops the packet). The socket holds a reference to the program.
 */
export function attachSocketFilter(sockFd: number, progFd: number): void {
  const value = new Uint8Array(new ArrayBuffer(4));
  new DataView(value.buffer).setInt32(0, progFd, true);
  if (libc().setsockopt(sockFd, SOL_SOCKET, SO_ATTACH_BPF, value, 4) < 0) throw new SyscallError('setsockopt', lastErrno());
}

/** Closes a socket from {@link udpSocket}. */
export function closeSocket(fd: number): void {
  closeFd(fd);
}
