import { connect, type Socket } from 'node:net';
import type { InventoryInput } from '../../src/vocab/inventory.js';
import type { InventorySource } from '../../src/server/index.js';
import { fixtureSource } from '../../src/server/index.js';
import { fixtureInput } from './fixture.js';

/** host and port of a server URL. */
export function addressOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

/** What came back on a raw connection. */
export interface RawAnswer {
  /** The status of the first response, or undefined when none came. */
  readonly status: number | undefined;
  readonly text: string;
  /** Whether the server closed the connection (rather than our timeout ending the wait). */
  readonly closedByServer: boolean;
}

/**
 * Sends bytes exactly as given (no client-side URL normalization) and reads until the server
 * closes the connection or `waitMs` passes.
 */
export function rawRequest(url: string, request: string | Uint8Array, waitMs = 10_000): Promise<RawAnswer> {
  const { host, port } = addressOf(url);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    let done = false;
    const finish = (closedByServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m?.[1] ? Number(m[1]) : undefined, text, closedByServer });
    };
    const timer = setTimeout(() => {
      finish(false);
    }, waitMs);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => {
      finish(true);
    });
    socket.on('close', () => {
      finish(true);
    });
    socket.on('error', () => {
      finish(true);
    });
    socket.write(request);
  });
}

/** A GET of exactly `target`, closing after the answer. */
export const rawGet = (url: string, target: string, headers = ''): Promise<RawAnswer> =>
  rawRequest(url, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`);

/** Opens a socket and waits until it is connected. */
export function openSocket(url: string): Promise<Socket> {
  const { host, port } = addressOf(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => {
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Resolves when the server closes the socket (end or close), with whatever it sent first. */
export function closedByServer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      resolve(text);
    });
  });
}

/** A fixture source that counts its reads, and can be told to fail or to switch inputs. */
export class CountingSource implements InventorySource {
  reads = 0;
  closed = false;
  /** Reads from this one on throw. */
  failFrom = Number.POSITIVE_INFINITY;
  /** A read waits for this promise when set (a scan in progress)... */
  gate: Promise<void> | undefined;
  /** ...from this read on (0: every read). */
  gateFrom = 0;
  constructor(private readonly inputs: readonly InventoryInput[] = [fixtureInput()]) {}

  async read(): ReturnType<InventorySource['read']> {
    const n = this.reads++;
    if (this.gate && n >= this.gateFrom) await this.gate;
    if (n >= this.failFrom) throw new Error(`read ${n} failed on purpose`);
    const input = this.inputs[n % this.inputs.length] ?? fixtureInput();
    return fixtureSource(input, 'test regime reason').read();
  }

  close(): void {
    this.closed = true;
  }

  /** Reads done when each afterScan came. */
  readonly afterScans: number[] = [];
  afterScan(): void {
    this.afterScans.push(this.reads);
  }
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    setTimeout(r, ms);
  });

/** Polls `cond` until it holds (or throws after `tries`). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, tries = 500, everyMs = 20): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await sleep(everyMs);
  }
  throw new Error(`gave up waiting for ${what}`);
}
