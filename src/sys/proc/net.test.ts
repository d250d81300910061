import { describe, expect, it } from 'vitest';
import { decodeSockaddrInPort, encodeSockaddrIn } from './net.js';

describe('struct sockaddr_in', () => {
  it('is AF_INET in host order, then port and 127.0.0.1 in network order', () => {
    expect(Array.from(encodeSockaddrIn(0x1234))).toEqual([2, 0, 0x12, 0x34, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('gives back the port', () => {
    expect(decodeSockaddrInPort(encodeSockaddrIn(54321))).toBe(54321);
  });
});
