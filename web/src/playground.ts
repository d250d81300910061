import type { KnownCgroupState, KnownSnapshot } from '../../src/vocab/backend.js';
import { labelOf } from '../../src/inspect/labels.js';
import { archText, type KernelProfile } from '../../src/vocab/profile.js';
import { formatVersion } from '../../src/vocab/kernel-version.js';
import type { StepResult } from '../../src/scenario/run.js';
import { byId, byTag, h, replace } from './dom.js';
import { bytes, limit, plural } from './format.js';
import type { SimRegimes, SimResult, SimRun } from './sim-run.js';
import type { SimRequest, SimResponse } from './sim-worker.js';
import { buildTree, rollUp } from './tree.js';
import { treemapView, type TreemapView } from './treemap.js';

/**
 * The simulator playground: a scenario in a text editor, run on the model in a Web Worker under
 * memcg, memlock or both (sim-run.ts), then played step by step: the outcome of every step
 * (✓, or the errno and the reason, as `bpfmem simulate` prints them) and, side by side for the
 * regimes, the cgroup treemap, cgroups, users' locked_vm and maps after the chosen step.
 */

/** The example scenarios (scenarios/*.yaml), built into the page. */
const FILES = import.meta.glob<string>('../../scenarios/*.yaml', { query: '?raw', import: 'default', eager: true });

/** The scenarios offered, the format's example first. */
export const SCENARIOS: readonly { readonly name: string; readonly text: string }[] = Object.entries(FILES)
  .map(([path, text]) => ({ name: path.slice(path.lastIndexOf('/') + 1), text }))
  .sort((a, b) => (a.name === 'example.yaml' ? -1 : b.name === 'example.yaml' ? 1 : a.name < b.name ? -1 : 1));

/** How long a run may take before the worker is stopped. */
const RUN_LIMIT_MS = 10_000;
/** Time per step when playing. */
const PLAY_STEP_MS = 900;

type PanelRegime = 'memcg' | 'memlock';

interface Panel {
  readonly regime: PanelRegime;
  readonly root: HTMLElement;
  readonly heading: HTMLElement;
  readonly outcome: HTMLElement;
  readonly tree: TreemapView;
  readonly tables: HTMLElement;
}

/** Runs a scenario in a fresh worker, stopped after {@link RUN_LIMIT_MS}. */
function runInWorker(request: Omit<SimRequest, 'id'>, onWorker: (w: Worker) => void): Promise<SimResult> {
  const worker = new Worker(new URL('./sim-worker.ts', import.meta.url), { type: 'module' });
  onWorker(worker);
  return new Promise((resolve) => {
    const done = (result: SimResult): void => {
      clearTimeout(timer);
      worker.terminate();
      resolve(result);
    };
    const timer = setTimeout(() => {
      done({ ok: false, message: `the scenario ran for more than ${RUN_LIMIT_MS / 1000} s and was stopped` });
    }, RUN_LIMIT_MS);
    worker.onmessage = (event: MessageEvent<SimResponse>) => {
      done(event.data.result);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      done({ ok: false, message: `the simulator failed: ${event.message || 'its worker did not start'}` });
    };
    worker.postMessage({ id: 1, ...request } satisfies SimRequest);
  });
}

/** `kernel 6.18 · 64 CPUs · 4 KiB pages · cgroup v1`; the architecture where it changes a number (`· arm64 (kmalloc from 128 B)`). */
const profileText = (p: KernelProfile): string =>
  `kernel ${formatVersion(p.version)} · ${plural(p.possibleCpus, 'CPU')} · ${bytes(p.pageSize)} pages` +
  `${archText(p) && ` · ${archText(p)}`} · cgroup v${p.cgroupVersion}`;

/** A step's outcome as a table cell: ✓ (and what is worth knowing), or ✗ errno and the reason. */
function outcomeCell(r: StepResult | undefined, regime: PanelRegime): HTMLElement {
  if (!r) return h('td', { 'data-regime': regime, 'data-label': regime, class: 'outcome' }, '–');
  const attrs = { 'data-regime': regime, 'data-label': regime, 'data-ok': String(r.ok), 'data-errno': r.errno ?? '', class: `outcome ${r.ok ? 'ok' : 'failed'}` };
  if (r.ok) {
    return h(
      'td',
      attrs,
      h('span', { class: 'mark', 'aria-label': 'succeeded' }, '✓'),
      r.applied === undefined ? null : ` ${r.applied.toLocaleString('en')} applied`,
      r.detail ? h('div', { class: 'why' }, r.detail) : null,
    );
  }
  return h(
    'td',
    attrs,
    h('span', { class: 'mark', 'aria-label': 'failed' }, '✗'),
    ' ',
    h('strong', { class: 'errno' }, r.errno ?? 'error'),
    h('div', { class: 'why reason' }, `${r.reason ?? ''}${r.applied ? ` (after ${r.applied.toLocaleString('en')})` : ''}`),
  );
}

/** A step's outcome in one line: `Step 3: ✓ charges of maps ct now go to /pods`, `Step 0: ✗ EPERM: …`. */
function stepLine(r: StepResult): string {
  if (r.ok) return `Step ${r.index}: ✓${r.detail ? ` ${r.detail}` : ''}`;
  return `Step ${r.index}: ✗ ${r.errno ?? 'error'}: ${r.reason ?? ''}`;
}

/** The cgroups of a snapshot as the treemap takes them. */
function treeOf(s: KnownSnapshot): ReturnType<typeof buildTree> {
  return buildTree(
    rollUp(
      s.cgroups.map((c) => {
        const label = labelOf(c.path);
        return {
          path: c.path,
          label: label.kind === 'other' ? null : label.text,
          usage: c.usage,
          max: c.max,
          bpfOwn: c.bpf,
          objectsOwn: Object.keys(c.bpfObjects).length,
        };
      }),
    ),
  );
}

function signed(n: number): string {
  return n === 0 ? '' : `${n > 0 ? '+' : '−'}${bytes(Math.abs(n))}`;
}

/** The tables of a panel: cgroups (with the change since the previous step), users, maps. */
function stateTables(now: KnownSnapshot, before: KnownSnapshot | undefined): HTMLElement {
  const prev = new Map<string, KnownCgroupState>((before?.cgroups ?? []).map((c) => [c.path, c]));
  const removed = [...prev.values()].filter((c) => !now.cgroups.some((n) => n.path === c.path));
  const th = (t: string, num = false): HTMLElement => h('th', { scope: 'col', class: num ? 'num' : undefined }, t);
  const cgroups = h(
    'table',
    { class: 'state sim-cgroups' },
    h('caption', {}, 'Memory cgroups (usage counts the cgroup and below)'),
    h('thead', {}, h('tr', {}, th('Cgroup'), th('Usage', true), th('Change', true), th('Limit', true), th('BPF own', true))),
    h(
      'tbody',
      {},
      ...now.cgroups.map((c) => {
        const was = prev.get(c.path);
        const change = before === undefined ? '' : was === undefined ? 'new' : signed(c.usage - was.usage);
        return h(
          'tr',
          { 'data-path': c.path, class: change && change !== 'new' ? 'changed' : undefined },
          h('td', {}, h('code', {}, c.path)),
          h('td', { class: 'num' }, bytes(c.usage)),
          h('td', { class: 'num delta' }, change),
          h('td', { class: 'num' }, limit(c.max)),
          h('td', { class: 'num' }, bytes(c.bpf)),
        );
      }),
      ...removed.map((c) =>
        h('tr', { class: 'removed' }, h('td', {}, h('code', {}, c.path)), h('td', { class: 'num', colspan: 4 }, 'removed; what was charged to it is now charged to its parent')),
      ),
    ),
  );
  const users = h(
    'table',
    { class: 'state sim-users' },
    h('caption', {}, "Users' locked_vm (RLIMIT_MEMLOCK's counter)"),
    h('thead', {}, h('tr', {}, th('UID'), th('locked_vm', true))),
    h(
      'tbody',
      {},
      ...(now.users.length ? now.users : [...new Set(now.tasks.map((t) => t.uid))].map((uid) => ({ uid, lockedVm: 0 }))).map((u) =>
        h('tr', {}, h('td', {}, String(u.uid)), h('td', { class: 'num' }, bytes(u.lockedVm))),
      ),
    ),
  );
  const maps = now.maps.length
    ? h(
        'table',
        { class: 'state sim-maps' },
        h('caption', {}, 'Maps'),
        h('thead', {}, h('tr', {}, th('Map'), th('Elements', true), th('Memlock', true), th('Charged', true), th('Uncharged', true), th('Charged to'))),
        h(
          'tbody',
          {},
          ...now.maps.map((m) =>
            h(
              'tr',
              { 'data-map': m.name },
              h('td', {}, h('code', {}, m.name), ` ${m.type}`),
              h('td', { class: 'num' }, m.elements.toLocaleString('en')),
              h('td', { class: 'num' }, bytes(m.memlock)),
              h('td', { class: 'num' }, bytes(m.charged)),
              h('td', { class: 'num' }, bytes(m.uncharged)),
              h('td', {}, m.chargedTo === null ? 'nobody' : h('code', {}, m.chargedTo), m.chargedToRemoved ? ' (removed)' : ''),
            ),
          ),
        ),
      )
    : h('p', { class: 'muted' }, 'No maps at this step.');
  const scroll = (el: HTMLElement): HTMLElement => h('div', { class: 'scroll' }, el);
  return h('div', { class: 'state-tables' }, scroll(cgroups), scroll(users), scroll(maps));
}

/**
 * The frame to show first: the one with the most BPF memory charged (to cgroups, or to users'
 * locked_vm), the later one on a tie, so that a run whose last step frees everything opens on
 * something to see. The final frame when frames were not kept.
 */
export function peakFrame(r: Extract<SimResult, { ok: true }>): number {
  const last = r.steps.length;
  let best = last;
  let most = -1;
  for (let k = 0; k <= last; k++) {
    let bytes = 0;
    for (const run of r.runs) {
      const f = run.frames?.[k];
      if (!f) return last;
      bytes += f.cgroups.reduce((s, c) => s + c.bpf, 0) + f.users.reduce((s, u) => s + u.lockedVm, 0);
    }
    if (bytes >= most) {
      most = bytes;
      best = k;
    }
  }
  return best;
}

export function startPlayground(): void {
  const select = byTag('sim-file', 'select');
  const editor = byTag('sim-text', 'textarea');
  const error = byId('sim-error');
  const runButton = byTag('sim-run', 'button');
  const status = byId('sim-status');
  const results = byId('sim-results');
  const stepsTable = byTag('sim-steps', 'table');
  const slider = byTag('sim-step', 'input');
  const stepLabel = byId('sim-step-label');
  const play = byTag('sim-play', 'button');
  const regimeInputs = [...document.querySelectorAll<HTMLInputElement>('input[name="sim-regime"]')];

  const panels = new Map<PanelRegime, Panel>();
  const panel = (regime: PanelRegime): Panel => {
    const existing = panels.get(regime);
    if (existing) return existing;
    const root = byId(`sim-panel-${regime}`);
    const heading = h('p', { class: 'profile' });
    const outcome = h('p', { class: 'step-outcome', 'aria-live': 'polite' });
    const chart = h('div', { class: 'chart sim-chart' });
    const tables = h('div', {});
    root.append(heading, outcome, chart, tables);
    const p: Panel = { regime, root, heading, outcome, tree: treemapView(chart, `sim-${regime}`), tables };
    panels.set(regime, p);
    return p;
  };

  let result: Extract<SimResult, { ok: true }> | null = null;
  let frame = 0;
  /** The steps table's rows by step index, its setup row, and the frame they show (see showFrame). */
  let stepRows: HTMLTableRowElement[] = [];
  let setupRow: HTMLTableRowElement | null = null;
  let shownFrame = 0;
  let playing: ReturnType<typeof setInterval> | null = null;
  let running: Worker | null = null;
  let generation = 0;

  for (const s of SCENARIOS) select.append(h('option', { value: s.name }, s.name));

  const regimes = (): SimRegimes => (regimeInputs.find((i) => i.checked)?.value ?? 'both') as SimRegimes;
  const source = (): string => `scenarios/${select.value}`;

  function showError(message: string | null): void {
    error.hidden = message === null;
    editor.setAttribute('aria-invalid', String(message !== null));
    if (message === null) return;
    const line = /^[^:]*:(\d+): /.exec(message)?.[1];
    const go = line === undefined ? null : h('button', { type: 'button', class: 'link' }, `go to line ${line}`);
    go?.addEventListener('click', () => {
      selectLine(Number(line));
    });
    replace(error, h('span', { class: 'message' }, message), go ? ' ' : null, go);
  }

  function selectLine(n: number): void {
    const lines = editor.value.split('\n');
    const start = lines.slice(0, n - 1).reduce((s, l) => s + l.length + 1, 0);
    editor.focus();
    editor.setSelectionRange(start, start + (lines[n - 1]?.length ?? 0));
  }

  function stopPlaying(): void {
    if (playing !== null) clearInterval(playing);
    playing = null;
    play.textContent = '▶ Play';
    play.setAttribute('aria-pressed', 'false');
  }

  function showFrame(k: number): void {
    if (!result) return;
    frame = k;
    slider.value = String(k);
    const step = result.steps[k - 1];
    stepLabel.textContent = k === 0 ? 'after the setup (cgroups and tasks)' : `after step ${k - 1}: ${step?.summary ?? ''}`;
    // Only the rows whose state changes: between the frame shown before and this one.
    const rows = stepRows;
    const from = Math.max(-1, Math.min(shownFrame, k) - 1);
    const to = Math.min(rows.length - 1, Math.max(shownFrame, k));
    for (let index = from; index <= to; index++) {
      const row = index < 0 ? setupRow : rows[index];
      if (!row) continue;
      row.classList.toggle('current', index === k - 1);
      row.classList.toggle('future', index >= k);
      if (index === k - 1) row.setAttribute('aria-current', 'step');
      else row.removeAttribute('aria-current');
    }
    shownFrame = k;
    for (const run of result.runs) {
      const p = panel(run.regime as PanelRegime);
      const now = run.frames?.[k] ?? run.final;
      const before = run.frames && k > 0 ? run.frames[k - 1] : undefined;
      const r = run.steps.find((s) => s.index === k - 1);
      p.outcome.textContent = k === 0 ? (run.steps.some((s) => s.index < 0) ? 'The setup failed in part (see the steps).' : 'Setup done.') : r ? stepLine(r) : '';
      p.outcome.className = `step-outcome ${r && !r.ok ? 'failed' : ''}`;
      const empty =
        run.regime === 'memlock'
          ? 'Nothing is charged to memory cgroups: in the memlock regime BPF memory counts against the user’s locked_vm (below), limited by RLIMIT_MEMLOCK.'
          : 'No BPF bytes are charged to a memory cgroup at this step.';
      p.tree.show(treeOf(now), empty);
      replace(p.tables, run.frames ? null : h('p', { class: 'muted' }, 'The run is too large to keep every step: this is its final state.'), stateTables(now, before));
    }
  }

  function showSteps(r: Extract<SimResult, { ok: true }>): void {
    const runs = r.runs;
    const setup = runs.some((run) => run.steps.some((s) => s.index < 0));
    const setupCell = (run: SimRun): HTMLElement => {
      const failures = run.steps.filter((s) => s.index < 0);
      return failures.length
        ? h('td', { class: 'outcome failed', 'data-regime': run.regime, 'data-label': run.regime }, ...failures.map((f) => h('div', {}, `✗ ${f.errno ?? ''} ${f.summary}: ${f.reason ?? ''}`)))
        : h('td', { class: 'outcome ok', 'data-regime': run.regime, 'data-label': run.regime }, '✓');
    };
    // Each run's results by step index: a find per row was quadratic (10,000 steps froze the page for seconds).
    const byIndex = runs.map((run) => new Map(run.steps.map((x) => [x.index, x])));
    const body = h(
      'tbody',
      {},
      (setupRow = setup ? h('tr', { 'data-index': -1 }, h('td', { class: 'num' }, ''), h('td', {}, 'setup'), ...runs.map(setupCell)) : null),
      ...(stepRows = r.steps.map((s) => {
        const row = h(
          'tr',
          { 'data-index': s.index },
          h('td', { class: 'num', 'data-label': 'Step' }, String(s.index)),
          h('td', {}, h('button', { type: 'button', class: 'link', title: 'show the state after this step' }, s.summary)),
          ...runs.map((run, i) => outcomeCell(byIndex[i]?.get(s.index), run.regime as PanelRegime)),
        );
        row.querySelector('button')?.addEventListener('click', () => {
          stopPlaying();
          showFrame(s.index + 1);
        });
        return row;
      })),
    );
    // New rows are neither current nor future: as if past the last step.
    shownFrame = stepRows.length + 1;
    const head = h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Step'), ...runs.map((run) => h('th', { scope: 'col' }, run.regime))),
    );
    replace(stepsTable, head, body);
  }

  async function run(): Promise<void> {
    stopPlaying();
    running?.terminate();
    const mine = ++generation;
    runButton.disabled = true;
    status.textContent = 'Running…';
    const r = await runInWorker({ text: editor.value, source: source(), regimes: regimes() }, (w) => {
      running = w;
    });
    if (mine !== generation) return; // a newer run replaced this one
    running = null;
    runButton.disabled = false;
    if (!r.ok) {
      showError(r.message);
      status.textContent = 'The scenario did not run; the results below are of the last run that did.';
      results.dataset['stale'] = 'true';
      return;
    }
    showError(null);
    delete results.dataset['stale'];
    result = r;
    const shown = new Set(r.runs.map((x) => x.regime));
    for (const regime of ['memcg', 'memlock'] as const) {
      const root = byId(`sim-panel-${regime}`);
      root.hidden = !shown.has(regime);
    }
    results.classList.toggle('single', r.runs.length === 1);
    const failed = r.runs.map((x) => `${x.regime}: ${x.steps.filter((s) => !s.ok).length} refused`).join(', ');
    status.textContent = `${r.source}${r.description ? ` (${r.description})` : ''}: ${plural(r.steps.length, 'step')}; ${failed}.`;
    results.hidden = false;
    for (const x of r.runs) panel(x.regime as PanelRegime).heading.textContent = profileText(x.profile);
    showSteps(r);
    slider.max = String(r.steps.length);
    showFrame(peakFrame(r));
  }

  select.addEventListener('change', () => {
    editor.value = SCENARIOS.find((s) => s.name === select.value)?.text ?? '';
    void run();
  });
  for (const input of regimeInputs) {
    input.addEventListener('change', () => {
      void run();
    });
  }
  runButton.addEventListener('click', () => {
    void run();
  });
  editor.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void run();
    }
  });
  slider.addEventListener('input', () => {
    stopPlaying();
    showFrame(Number(slider.value));
  });
  play.addEventListener('click', () => {
    if (!result) return;
    if (playing !== null) {
      stopPlaying();
      return;
    }
    const last = result.steps.length;
    if (frame >= last) showFrame(0);
    play.textContent = '❚❚ Pause';
    play.setAttribute('aria-pressed', 'true');
    playing = setInterval(() => {
      if (frame >= last) stopPlaying();
      else showFrame(frame + 1);
    }, PLAY_STEP_MS);
  });

  const first = SCENARIOS[0];
  if (first) {
    select.value = first.name;
    editor.value = first.text;
    void run();
  }
}
