import type { ChargedTo, MapRow } from './decode.js';
import { h, replace } from './dom.js';
import { bytes } from './format.js';

/** How many rows the table shows; the rest are a filter away. */
export const MAX_ROWS = 200;

/** A long path shortened in the middle, keeping its start and its informative end. */
export function shortPath(path: string, max = 64): string {
  if (path.length <= max) return path;
  const head = Math.floor(max / 3);
  return `${path.slice(0, head)}…${path.slice(path.length - (max - head - 1))}`;
}

function chargedToCell(c: ChargedTo): HTMLElement {
  switch (c.kind) {
    case 'cgroup':
      return h(
        'td',
        { class: 'cgroup', 'data-label': 'Charged to', title: c.path },
        c.label ? h('span', { class: 'label' }, c.label) : null,
        h('code', {}, shortPath(c.path)),
      );
    case 'removed':
      return h('td', { class: 'cgroup muted', 'data-label': 'Charged to', title: 'a removed cgroup, kept alive by its charges (a dying memcg)' }, `removed cgroup (id ${c.cgroup_id})`);
    case 'nobody':
      return h('td', { class: 'cgroup muted', 'data-label': 'Charged to', title: 'the root memory cgroup, or kmem accounting off' }, 'nobody');
    case 'unknown':
      return h('td', { class: 'cgroup muted', 'data-label': 'Charged to' }, 'unknown');
  }
}

/** Up to three holders, `comm(pid)`, and how many more; `pinned` or `–` for none. */
function holdersText(holders: readonly string[], pinned: boolean): string {
  if (holders.length === 0) return pinned ? 'pinned' : '–';
  const more = holders.length > 3 ? ` +${holders.length - 3}` : '';
  return `${holders.slice(0, 3).join(', ')}${more}`;
}

/**
 * Fills the maps table (rows in the server's order: by charge). `matched`: how many maps the
 * server had when it sent only the first (`?limit=`); else all were sent.
 */
export function showMaps(table: HTMLTableElement, note: HTMLElement, maps: readonly MapRow[], matched = maps.length): void {
  const shown = maps.slice(0, MAX_ROWS);
  const body = h(
    'tbody',
    {},
    ...shown.map((m) => {
      const holders = m.pids.map((p) => `${p.comm}(${p.pid})`);
      return h(
        'tr',
        { 'data-id': m.id },
        h('td', { class: 'num', 'data-label': 'ID' }, String(m.id)),
        h('td', { 'data-label': 'Type' }, m.type),
        h('td', { 'data-label': 'Name' }, h('code', {}, m.name)),
        h('td', { class: 'num', 'data-label': 'Memlock', title: m.memlock_source === 'model' ? 'computed by the model from the layout' : 'read from fdinfo' }, bytes(m.bytes_memlock)),
        h('td', { class: 'num', 'data-label': 'Charge', title: m.uncharged ? `${bytes(m.uncharged)} charged to no cgroup` : undefined }, bytes(m.charge)),
        chargedToCell(m.charged_to),
        h('td', { class: 'holders', 'data-label': 'Holders', title: holders.join(', ') || undefined }, holdersText(holders, m.pinned !== null && m.pinned.length > 0)),
      );
    }),
  );
  const head = h(
    'thead',
    {},
    h(
      'tr',
      {},
      ...['ID', 'Type', 'Name', 'Memlock', 'Charge', 'Charged to', 'Holders'].map((t, i) => h('th', { scope: 'col', class: i === 0 || i === 3 || i === 4 ? 'num' : undefined }, t)),
    ),
  );
  replace(table, head, body);
  note.textContent =
    matched === 0 ? 'No maps.' : matched > shown.length ? `The ${shown.length} largest of ${matched.toLocaleString('en')} maps.` : '';
}
