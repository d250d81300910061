import fc from 'fast-check';
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { listenHost } from './listen-host.js';

const ip = { isIPv4, isIPv6 };

describe('listenHost', () => {
  it('never throws; what it takes is an IP address, or a name of letters, digits, - and _ between dots', () => {
    const hostish = fc.stringMatching(/^[\w.:[\]%/ -]{0,40}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string(), hostish), (value) => {
        const r = listenHost(value, ip);
        if (!r.ok) {
          expect(r.error).not.toContain('\n');
          return;
        }
        if (isIP(r.value) === 0) expect(r.value).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
        expect(r.value === value || `[${r.value}]` === value).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('unwraps a bracketed IPv6 address, keeps zones, and refuses a port', () => {
    expect(listenHost('[fe80::1%eth0]', ip)).toEqual({ ok: true, value: 'fe80::1%eth0' });
    expect(listenHost('0.0.0.0', ip)).toEqual({ ok: true, value: '0.0.0.0' });
    expect(listenHost('node-1.example.', ip)).toEqual({ ok: true, value: 'node-1.example.' });
    expect(listenHost('[::1]:9464', ip)).toEqual({ ok: false, error: 'give the port apart: { host: "[::1]", port: 9464 }' });
    const cli = { givePortApart: (h: string, p: string) => `--host ${h} --port ${p}` };
    expect(listenHost('127.0.0.1:9100', ip, cli)).toEqual({ ok: false, error: '--host 127.0.0.1 --port 9100' });
  });
});
