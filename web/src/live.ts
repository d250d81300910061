import { getDocument, messageOf } from './api.js';
import type { CgroupRow } from './decode.js';
import { byId, byTag, h, replace, setText } from './dom.js';
import { bytes, limit, plural } from './format.js';
import { showSummary } from './header.js';
import { historyView } from './history.js';
import { MAX_ROWS, showMaps } from './maps-table.js';
import { buildTree, treeCgroup } from './tree.js';
import { bandLegend, treemapView } from './treemap.js';

/**
 * The live half of the page: the header, the cgroup treemap, the largest maps and the last hour,
 * read from the server every {@link REFRESH_MS} (not while the tab is hidden). A failed read keeps
 * what is shown and says why in one line.
 */

export const REFRESH_MS = 15_000;

export function startLive(): void {
  const status = byId('status');
  let filter: string | null = null;

  const tree = treemapView(byId('tree-chart'), 'tree', (path) => {
    setFilter(path);
  });
  byId('tree-legend').replaceWith(bandLegend());
  const history = historyView(byId('history-chart'));
  const mapsTable = byTag('maps-table', 'table');
  const mapsNote = byId('maps-note');
  const filterLine = byId('maps-filter');

  function showFilter(): void {
    if (filter === null) {
      replace(filterLine, 'All memory cgroups. Click a cgroup in the treemap to see only the maps charged to it and below it.');
      return;
    }
    const clear = h('button', { type: 'button', class: 'link' }, 'show all maps');
    clear.addEventListener('click', () => {
      setFilter(null);
    });
    replace(filterLine, 'Maps charged to ', h('code', {}, filter), ' and below it. ', clear);
  }

  function setFilter(path: string | null): void {
    filter = path;
    showFilter();
    // A failure is said under the table (loadMaps); the next refresh says it in the status line.
    void loadMaps().then(
      () => {
        byId('maps').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      },
      () => undefined,
    );
  }

  /** Reads and shows the maps; a failure is said under the table and rethrown, for the status line too. */
  async function loadMaps(): Promise<void> {
    // Only the rows the table shows: 100,000 maps are 40 MB of JSON, and `matched` counts them.
    const q = new URLSearchParams({ sort: 'charge', limit: String(MAX_ROWS) });
    if (filter !== null) q.set('cgroup', filter);
    try {
      const doc = await getDocument('maps', `api/v1/maps?${q.toString()}`);
      showMaps(mapsTable, mapsNote, doc.maps, doc.matched);
    } catch (error) {
      setText(mapsNote, messageOf(error));
      throw error;
    }
  }

  function showCgroups(cgroups: readonly CgroupRow[]): void {
    const rows = cgroups.map(treeCgroup);
    tree.show(buildTree(rows), 'No BPF bytes are charged to any memory cgroup.');
    const paying = cgroups.filter((c) => c.bpf_subtree > 0);
    const body = h(
      'tbody',
      {},
      ...paying.map((c) => {
        const pick = h('button', { type: 'button', class: 'link', title: `list the maps charged to ${c.path} and below` }, c.path);
        pick.addEventListener('click', () => {
          setFilter(c.path);
        });
        return h(
          'tr',
          { 'data-path': c.path },
          h('td', { class: 'cgroup' }, pick, c.label ? h('span', { class: 'label' }, c.label) : null),
          h('td', { class: 'num' }, bytes(c.usage)),
          h('td', { class: 'num' }, limit(c.max)),
          h('td', { class: 'num' }, c.headroom === null ? '–' : bytes(c.headroom)),
          h('td', { class: 'num' }, bytes(c.bpf_own)),
          h('td', { class: 'num' }, bytes(c.bpf_subtree)),
          h('td', { class: 'num' }, String(c.objects_subtree)),
        );
      }),
    );
    const head = h(
      'thead',
      {},
      h('tr', {}, ...['Cgroup', 'Usage', 'Limit', 'Headroom', 'BPF own', 'BPF subtree', 'Maps'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : undefined }, t))),
    );
    replace(byTag('cgroup-table', 'table'), head, body);
    byId('cgroup-count').textContent = `(${plural(paying.length, 'cgroup')} with BPF)`;
  }

  /** The refresh under way, if any: a tab shown again during one does not start a second. */
  let inFlight: Promise<void> | null = null;
  function refresh(): Promise<void> {
    inFlight ??= readAll().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  async function readAll(): Promise<void> {
    const at = new Date();
    const results = await Promise.allSettled([
      getDocument('summary', 'api/v1/summary').then((s) => {
        showSummary(byId('facts'), byId('regime-reason'), byId('warnings'), s, at);
      }),
      getDocument('cgroups', 'api/v1/cgroups').then((c) => {
        showCgroups(c.cgroups);
      }),
      loadMaps(),
      getDocument('history', 'api/v1/history').then((d) => {
        history.show(d);
      }),
    ]);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [messageOf(r.reason)] : []));
    setText(status, failed.length ? `Could not refresh: ${failed.join('; ')}. Trying again in ${REFRESH_MS / 1000} s.` : '');
    status.hidden = failed.length === 0;
  }

  showFilter();
  void refresh();
  setInterval(() => {
    if (!document.hidden) void refresh();
  }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
}
