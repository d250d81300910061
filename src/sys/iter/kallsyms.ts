import { readFile } from 'node:fs/promises';
import { errnoCode } from '../proc/text.js';

/**
 * Kernel symbol addresses from `/proc/kallsyms`, for the `ld_imm64` constants of the holder
 * program: bpftool's pid_iter.bpf.c declares `extern const void bpf_map_fops __ksym;` and
 * libbpf resolves such a typeless ksym from /proc/kallsyms the same way.
 *
 * Two ways it comes back empty, both common: a kernel built without CONFIG_KALLSYMS_ALL lists
 * text symbols only (no `bpf_map_fops`, which is data), and `kernel.kptr_restrict` or a reader
 * without CAP_SYSLOG sees every address as 0 (kernel/kallsyms.c `kallsyms_show_value`).
 */

/** What /proc/kallsyms says about one symbol. */
export type KallsymsLookup =
  | { readonly ok: true; readonly address: bigint }
  | { readonly ok: false; readonly reason: 'absent' | 'hidden' | 'ambiguous' };

/**
 * Finds `names` in the text of /proc/kallsyms (`ADDRESS TYPE NAME[\t[MODULE]]` per line;
 * kernel/kallsyms.c `s_show`). Only vmlinux symbols count (a line with a module suffix does
 * not). A symbol listed twice with different addresses is `ambiguous`; an address of 0
 * is `hidden`. Never throws.
 */
export function parseKallsyms(text: string, names: readonly string[]): Map<string, KallsymsLookup> {
  const out = new Map<string, KallsymsLookup>();
  for (const name of names) {
    const addresses = new Set<bigint>();
    const needle = ` ${name}`;
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
      const end = at + needle.length;
      // The name must end the line (a module symbol is followed by a tab).
      if (end < text.length && text[end] !== '\n') continue;
      const start = text.lastIndexOf('\n', at) + 1;
      const m = /^([0-9a-fA-F]{1,16}) [A-Za-z]$/.exec(text.slice(start, at));
      if (m?.[1] === undefined) continue;
      addresses.add(BigInt(`0x${m[1]}`));
    }
    if (addresses.size === 0) out.set(name, { ok: false, reason: 'absent' });
    else if (addresses.size > 1) out.set(name, { ok: false, reason: 'ambiguous' });
    else {
      const [address] = addresses;
      out.set(name, address === undefined || address === 0n ? { ok: false, reason: 'hidden' } : { ok: true, address });
    }
  }
  return out;
}

/** Why {@link readKallsyms} could not read the file, or its lookups. */
export type KallsymsRead = { readonly ok: true; readonly symbols: Map<string, KallsymsLookup> } | { readonly ok: false; readonly reason: string };

/** Reads `path` (/proc/kallsyms) and looks up `names`. Never throws. */
export async function readKallsyms(names: readonly string[], path = '/proc/kallsyms'): Promise<KallsymsRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, reason: `reading ${path}: ${errnoCode(error) ?? String(error)}` };
  }
  return { ok: true, symbols: parseKallsyms(text, names) };
}
