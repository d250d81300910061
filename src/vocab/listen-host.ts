import { err, ok, type Result } from './result.js';

/** How to tell IP addresses apart (node:net's `isIPv4` and `isIPv6`; vocab imports nothing of Node). */
export interface IpChecks {
  readonly isIPv4: (s: string) => boolean;
  readonly isIPv6: (s: string) => boolean;
}

/** A host name as /etc/hosts and DNS write one: labels of letters, digits, `-` and `_`, between dots. */
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** How the caller's options are written, for the advice when a host carries a port. */
export interface HostOptionNames {
  /** The advice for a host written with a port: give them apart, as the caller's options do. */
  readonly givePortApart: (host: string, port: string) => string;
}

/** The library's way (`startServer({ host, port })`); the CLI gives its own (`--host X --port Y`). */
const LIBRARY_NAMES: HostOptionNames = { givePortApart: (host, port) => `give the port apart: { host: ${JSON.stringify(host)}, port: ${port} }` };

/**
 * The address or name a server listens on that `value` writes, or why it is none, in words that
 * follow `--host "VALUE": ` (the CLI) or `host "VALUE": ` (the library). `[::1]`, as URLs and the
 * server's own line write it, is ::1; a port belongs to the port option; a dotted quad must be an
 * IPv4 address, something with a colon an IPv6 one, and anything else a host name: else it would
 * be looked up as a name and fail late as "no such host", after the machine was read.
 */
export function listenHost(value: string, ip: IpChecks, names: HostOptionNames = LIBRARY_NAMES): Result<string> {
  if (value.length === 0 || value.length > 253 || /[\s/]/.test(value)) return err('expected an address to listen on, like 127.0.0.1, 0.0.0.0 or ::');
  const bracketed = /^\[(.*)\]$/.exec(value)?.[1];
  if (bracketed !== undefined) return ip.isIPv6(bracketed) ? ok(bracketed) : err('expected an IPv6 address in the brackets, like [::1]');
  const withPort = /^(\[.*\]|[^:]*):([0-9]+)$/.exec(value);
  if (withPort && !ip.isIPv6(value)) return err(names.givePortApart(withPort[1] ?? '', withPort[2] ?? ''));
  if (/[[\]]/.test(value)) {
    const balanced = value.split('[').length === value.split(']').length;
    return err(balanced ? 'brackets go around a whole IPv6 address and nothing else, like [::1]' : 'unbalanced brackets: write an IPv6 address as [::1] or ::1');
  }
  if (value.includes(':')) return ip.isIPv6(value) ? ok(value) : err('not an IPv6 address (like ::1, :: or fe80::1%eth0)');
  if (/^[0-9.]+$/.test(value) && value.includes('.') && !ip.isIPv4(value) && value.split('.').length === 4) return err('not an IPv4 address (each of its four numbers is 0 to 255)');
  if (!HOST_NAME.test(value)) return err('expected an address to listen on, like 127.0.0.1, 0.0.0.0 or ::, or a host name (letters, digits, - and _, between dots)');
  return ok(value);
}
