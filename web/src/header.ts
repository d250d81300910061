import type { SummaryDoc } from './decode.js';
import { h, replace, setText } from './dom.js';
import { bytes, clock, plural } from './format.js';

/** The header: the kernel and its regime with the reason, totals, and warnings worth acting on. */
export function showSummary(facts: HTMLElement, reason: HTMLElement, warnings: HTMLElement, s: SummaryDoc, at: Date): void {
  const k = s.kernel;
  const fact = (name: string, value: string, id: string): HTMLElement =>
    h('div', { class: 'fact', 'data-fact': id }, h('dt', {}, name), h('dd', {}, value));
  replace(
    facts,
    fact('kernel', `${k.release} · ${plural(k.cpus, 'CPU')} · cgroup v${k.cgroup}`, 'kernel'),
    fact('regime', k.regime, 'regime'),
    fact('objects', `${plural(s.maps, 'map')}, ${plural(s.progs, 'program')}`, 'objects'),
    fact('memlock', bytes(s.memlock), 'memlock'),
    fact('charged', bytes(s.charged), 'charged'),
    fact('uncharged', bytes(s.uncharged), 'uncharged'),
    fact('read at', clock(at), 'updated'),
  );
  setText(reason, [s.regime_reason, s.source === null ? null : `read from ${s.source}`].filter((x) => x !== null).join(' · '));
  reason.hidden = reason.textContent === '';
  const items = [
    ...s.warnings.map((w) => h('li', { 'data-kind': w.kind }, w.text)),
    ...s.errors.map((e) => h('li', { 'data-kind': 'error' }, `could not read: ${e}`)),
  ];
  replace(warnings, ...items);
  warnings.hidden = items.length === 0;
}
