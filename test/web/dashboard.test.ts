import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildInventory } from '../../src/inspect/inventory.js';
import { sortMaps } from '../../src/inspect/query.js';
import { formatScenarioError, parseScenario } from '../../src/scenario/parse.js';
import { fixtureSource, startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../cli/run.js';
import { CONTAINER, FALCO, FIXTURE_REGIME_REASON, POD, fixtureInput } from './fixture.js';

/**
 * The dashboard in a real browser: the page is built with vite (web/vite.config.ts) into a
 * temporary directory, served by the real server (src/server, startServer) from a fixture
 * source, and driven in Debian's headless Chromium by playwright-core. What the charts show is
 * read from their echarts options (`window.bpfmemCharts`), not from pixels. Screenshots go to
 * test/web/__screenshots__/ for people to look at.
 */

const CHROMIUM = '/usr/bin/chromium';
/** Without the networking flags Chromium's own connections are refused many at a time on a closed network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = fileURLToPath(new URL('./__screenshots__', import.meta.url));
const CONFIG = fileURLToPath(new URL('../../web/vite.config.ts', import.meta.url));
const SCENARIOS = readdirSync('scenarios').filter((f) => f.endsWith('.yaml')).sort();

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (Debian's chromium package)`;
if (skip) console.warn(`test/web/dashboard.test.ts skipped: ${skip}`);

/** What went wrong while a page was open: console errors and warnings, page errors, failed or foreign requests. */
interface Problems {
  readonly console: string[];
  readonly requests: string[];
}

/**
 * The few DOM members the callbacks that run in the page use: the root tsconfig (which checks
 * this file) has no DOM library, and must not get one (src/ would see browser globals).
 */
interface DomElement {
  readonly dataset: Readonly<Record<string, string | undefined>>;
  readonly parentElement: DomElement | null;
  readonly classList: { contains(name: string): boolean };
  querySelector(selector: string): { readonly textContent: string | null } | null;
}
interface DomTextArea {
  readonly value: string;
  readonly selectionStart: number;
  readonly selectionEnd: number;
}
interface BrowserGlobals {
  readonly document: { readonly documentElement: { readonly scrollWidth: number } };
}

interface CliStep {
  index: number;
  ok: boolean;
  errno?: string;
  reason?: string;
}

/** What the steps table shows for one regime: index, ok, errno and reason of every step. */
type ShownStep = CliStep;

describe.skipIf(skip !== undefined)('the dashboard in Chromium', () => {
  let webRoot = '';
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    webRoot = mkdtempSync(join(tmpdir(), 'bpfmem-web-'));
    await build({ configFile: CONFIG, logLevel: 'warn', build: { outDir: webRoot, emptyOutDir: true } });
    server = await startServer({ port: 0, source: fixtureSource(fixtureInput, FIXTURE_REGIME_REASON), webRoot });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    await browser.close();
    await server.close();
    rmSync(webRoot, { recursive: true, force: true });
  });

  /** Opens the page at a window size and waits until the live data and the first simulation are shown. */
  async function open(width: number, height: number): Promise<{ page: Page; problems: Problems }> {
    // Reduced motion: the charts draw at once, so screenshots show them whole.
    const context = await browser.newContext({ viewport: { width, height }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    const problems: Problems = { console: [], requests: [] };
    const origin = new URL(server.url).origin;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.console.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.console.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.requests.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`)) problems.requests.push(`foreign: ${r.url()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.requests.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(server.url);
    await ready(page);
    return { page, problems };
  }

  /** Waits for the treemap, the maps table, the history and the simulator's steps. */
  async function ready(page: Page): Promise<void> {
    await page.waitForFunction(() => {
      // getOption() is undefined until a chart has been given its first option.
      const charts = (globalThis as unknown as { bpfmemCharts?: Record<string, { getOption(): { series?: unknown[] } | undefined }> }).bpfmemCharts;
      return (charts?.tree?.getOption()?.series?.length ?? 0) > 0 && (charts?.history?.getOption()?.series?.length ?? 0) > 0;
    });
    await page.locator('#maps-table tbody tr').first().waitFor();
    await page.locator('#sim-steps tbody tr').first().waitFor();
  }

  /** The ids of every node of a treemap, from its echarts option. */
  function treeIds(page: Page, chart: string): Promise<string[]> {
    return page.evaluate((name) => {
      interface Node {
        id?: string;
        children?: Node[];
      }
      const charts = (globalThis as unknown as { bpfmemCharts: Record<string, { getOption(): { series: { data: Node[] }[] } }> }).bpfmemCharts;
      const out: string[] = [];
      const walk = (ns: Node[]): void => {
        for (const n of ns) {
          if (n.id !== undefined) out.push(n.id);
          walk(n.children ?? []);
        }
      };
      walk(charts[name]!.getOption().series[0]!.data);
      return out;
    }, chart);
  }

  /** The outcomes the steps table shows for a regime. */
  function shownSteps(page: Page, regime: string): Promise<ShownStep[]> {
    return page.$$eval(
      `#sim-steps tbody tr[data-index]:not([data-index="-1"]) td[data-regime="${regime}"]`,
      (cells: DomElement[]) =>
        cells.map((td) => {
          const index = Number(td.parentElement!.dataset['index']);
          const ok = td.dataset['ok'] === 'true';
          const errno = td.dataset['errno'] ?? '';
          const reason = td.querySelector('.reason')?.textContent ?? '';
          return ok ? { index, ok } : { index, ok, errno, reason };
        }),
    );
  }

  /** What `bpfmem simulate FILE --json` says of each step (index, ok, errno, reason). */
  async function cliSteps(file: string, regime: 'memcg' | 'memlock'): Promise<CliStep[]> {
    const run = await cli(['simulate', file, '--regime', regime, '--json']);
    expect(run.status).toBe(0);
    const steps = (JSON.parse(run.stdout) as { steps: (CliStep & { applied?: number })[] }).steps;
    return steps
      .filter((s) => s.index >= 0)
      .map((s) => (s.ok ? { index: s.index, ok: true } : { index: s.index, ok: false, errno: s.errno ?? '', reason: `${s.reason ?? ''}${s.applied ? ` (after ${s.applied.toLocaleString('en')})` : ''}` }));
  }

  it('loads at 1280×800 with no console errors or warnings, no failed requests and nothing asked of any other host', async () => {
    const { page, problems } = await open(1280, 800);
    await page.screenshot({ path: join(SHOTS, 'dashboard-1280.png') });
    await page.screenshot({ path: join(SHOTS, 'dashboard-1280-full.png'), fullPage: true });
    expect(problems).toEqual({ console: [], requests: [] });
    // Nothing sticks out sideways.
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(1280);
    await page.context().close();
  });

  it('shows the kernel, the regime and its reason, the totals and the warnings of /api/v1/summary', async () => {
    const { page, problems } = await open(1280, 800);
    const summary = (await (await fetch(`${server.url}/api/v1/summary`)).json()) as { maps: number; progs: number; warnings: { kind: string; text: string }[] };
    const fact = (name: string): Promise<string> => page.locator(`[data-fact="${name}"] dd`).innerText();
    expect(await fact('kernel')).toBe('6.18.44 · 2 CPUs · cgroup v1');
    expect(await fact('regime')).toBe('memcg');
    expect(await fact('objects')).toBe(`${summary.maps} maps, ${summary.progs} programs`);
    expect(await page.locator('#regime-reason').innerText()).toBe(FIXTURE_REGIME_REASON);
    const warnings = await page.locator('#warnings li').allInnerTexts();
    expect(warnings).toEqual(summary.warnings.map((w) => w.text));
    expect(summary.warnings.map((w) => w.kind)).toEqual(expect.arrayContaining(['near-limit', 'removed-cgroup']));
    expect(problems).toEqual({ console: [], requests: [] });
    await page.context().close();
  });

  it("draws the fixture's cgroups that pay for BPF in the treemap, and lists them in its table", async () => {
    const { page } = await open(1280, 800);
    const inv = buildInventory(fixtureInput);
    const paying = inv.cgroups.filter((c) => c.bpfSubtree > 0).map((c) => c.path);
    expect(paying).toEqual(['/', '/kubepods', '/kubepods/burstable', POD, CONTAINER, '/system.slice', FALCO]);
    const ids = await treeIds(page, 'tree');
    expect(ids.filter((id) => !id.includes('\u0000')).sort()).toEqual([...paying].sort());
    // The pod pays for a map of its own besides its container's: a part for itself.
    expect(ids).toContain(`${POD}\u0000own`);
    expect(await page.locator('#cgroup-table tbody tr').evaluateAll((rows: DomElement[]) => rows.map((r) => r.dataset['path']))).toEqual(paying);
    // The chart describes itself to screen readers.
    const label = await page.locator('#tree-chart [aria-label]').first().getAttribute('aria-label');
    expect(label).toContain('Treemap of 7 memory cgroups by BPF bytes charged');
    await page.context().close();
  });

  it('shows a cgroup tooltip with its path, label, usage, limit, headroom and BPF bytes', async () => {
    const { page } = await open(1280, 800);
    const box = await nodeBox(page, FALCO);
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const tip = page.locator('.tip');
    await tip.waitFor();
    const text = await tip.innerText();
    for (const part of [FALCO, 'service falco', 'usage', '300.0 MiB', 'limit', '512.0 MiB', 'headroom', '212.0 MiB', 'BPF own', 'BPF subtree', '2 objects']) {
      expect(text).toContain(part);
    }
    await page.context().close();
  });

  /** Where a cgroup's rectangle is on the screen, from the treemap's layout. */
  async function nodeBox(page: Page, id: string): Promise<{ x: number; y: number; width: number; height: number }> {
    const rect = await page.evaluate((wanted) => {
      interface Data {
        count(): number;
        getId(i: number): string;
        getItemLayout(i: number): { x: number; y: number; width: number; height: number } | null;
        tree: { getNodeByDataIndex(i: number): TreeNode };
      }
      interface TreeNode {
        parentNode: TreeNode | null;
        getLayout(): { x: number; y: number } | null;
      }
      const charts = (globalThis as unknown as { bpfmemCharts: Record<string, { getModel(): { getSeriesByIndex(i: number): { getData(): Data } } }> }).bpfmemCharts;
      const data = charts['tree']!.getModel().getSeriesByIndex(0).getData();
      for (let i = 0; i < data.count(); i++) {
        if (data.getId(i) !== wanted) continue;
        // A treemap node's layout is relative to its parent's: add up the way to the root.
        const own = data.getItemLayout(i)!;
        let { x, y } = own;
        for (let n = data.tree.getNodeByDataIndex(i).parentNode; n; n = n.parentNode) {
          const l = n.getLayout();
          if (l) {
            x += l.x;
            y += l.y;
          }
        }
        return { x, y, width: own.width, height: own.height };
      }
      return null;
    }, id);
    expect(rect).not.toBeNull();
    const canvas = await page.locator('#tree-chart canvas').first().boundingBox();
    return { x: canvas!.x + rect!.x, y: canvas!.y + rect!.y, width: rect!.width, height: rect!.height };
  }

  it("lists the largest maps in charge order, with the cgroup each is charged to and its holders", async () => {
    const { page } = await open(1280, 800);
    const inv = buildInventory(fixtureInput);
    const expected = sortMaps(inv.maps, 'charge');
    const rows = page.locator('#maps-table tbody tr');
    expect(await rows.evaluateAll((rs: DomElement[]) => rs.map((r) => Number(r.dataset['id'])))).toEqual(expected.map((m) => m.id));
    const first = (await rows.first().locator('td').allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    expect(first[0]).toBe('101');
    expect(first[1]).toBe('lru_hash');
    expect(first[2]).toBe('cilium_ct4_glob');
    expect(first[5]).toBe('container 3a9d2c1b5e07 /kubepods/burstable/p…2c1b5e073a9d2c1b5e073a9d2c1b5e07abcd.scope');
    expect(first[6]).toBe('cilium-agent(4100)');
    const texts = await rows.locator('td:nth-child(6)').allInnerTexts();
    expect(texts).toEqual(expect.arrayContaining(['removed cgroup (id 4242)', 'nobody']));
    await page.context().close();
  });

  it('clicking a cgroup in the treemap lists only the maps charged to it and below it', async () => {
    const { page, problems } = await open(1280, 800);
    const box = await nodeBox(page, FALCO);
    const answered = page.waitForResponse((r) => r.url().includes('/api/v1/maps?') && r.url().includes('cgroup='));
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    expect(new URL((await answered).url()).searchParams.get('cgroup')).toBe(FALCO);
    await expect.poll(() => page.locator('#maps-table tbody tr').count()).toBe(2);
    expect(await page.locator('#maps-table tbody tr td:nth-child(3)').allInnerTexts()).toEqual(['falco_events', 'falco_stats']);
    expect(await page.locator('#maps-filter').innerText()).toContain(FALCO);
    // From the table under the chart too (keyboard users), and back to all maps.
    await page.locator('details.as-table summary').click();
    await page.locator(`#cgroup-table tr[data-path="${POD}"] button`).click();
    await expect.poll(() => page.locator('#maps-table tbody tr').count()).toBe(3);
    await page.getByRole('button', { name: 'show all maps' }).click();
    await expect.poll(() => page.locator('#maps-table tbody tr').count()).toBe(7);
    expect(problems).toEqual({ console: [], requests: [] });
    await page.context().close();
  });

  it('charts the last hour: charged and uncharged bytes and the top cgroups', async () => {
    const { page } = await open(1280, 800);
    const history = (await (await fetch(`${server.url}/api/v1/history`)).json()) as { points: { charged: number; cgroups: { path: string }[] }[] };
    const option = await page.evaluate(() => {
      const charts = (globalThis as unknown as { bpfmemCharts: Record<string, { getOption(): { series: { name: string; id?: string; data: [string, number | null][] }[] } }> }).bpfmemCharts;
      return charts['history']!.getOption().series.map((s) => ({ name: s.name, id: s.id, data: s.data }));
    });
    expect(option.slice(0, 2).map((s) => [s.id, s.name])).toEqual([
      ['charged', 'charged'],
      ['uncharged', 'uncharged'],
    ]);
    expect(option[0]!.data.at(-1)![1]).toBe(history.points.at(-1)!.charged);
    // The top cgroups but the root, whose subtree is nearly all of what "charged" shows.
    const cgroups = option.slice(2).map((s) => s.id);
    const top = new Set(history.points.flatMap((p) => p.cgroups.map((c) => c.path)).filter((p) => p !== '/'));
    expect(cgroups.sort()).toEqual([...top].map((p) => `cgroup:${p}`).sort());
    expect(cgroups).toContain(`cgroup:${FALCO}`);
    // The legend is buttons that hide and show a line.
    const legend = page.locator(`.series-legend button[data-series="cgroup:${FALCO}"]`);
    expect(await legend.innerText()).toBe('falco.service');
    await legend.click();
    expect(await legend.getAttribute('aria-pressed')).toBe('false');
    const hidden = await page.evaluate((id) => {
      const charts = (globalThis as unknown as { bpfmemCharts: Record<string, { getOption(): { series: { id?: string; data: unknown[] }[] } }> }).bpfmemCharts;
      return charts['history']!.getOption().series.find((s) => s.id === id)!.data.length;
    }, `cgroup:${FALCO}`);
    expect(hidden).toBe(0);
    await page.context().close();
  });

  it.each(SCENARIOS)('the simulator runs scenarios/%s in both regimes with the outcome bpfmem simulate gives at every step', async (file) => {
    const { page, problems } = await open(1280, 800);
    const path = `scenarios/${file}`;
    if (file !== 'example.yaml') {
      await page.locator('#sim-file').selectOption(file);
      await expect.poll(() => page.locator('#sim-status').innerText()).toContain(path);
    }
    expect(await page.locator('#sim-text').inputValue()).toBe(readFileSync(path, 'utf8'));
    expect(await shownSteps(page, 'memcg')).toEqual(await cliSteps(path, 'memcg'));
    expect(await shownSteps(page, 'memlock')).toEqual(await cliSteps(path, 'memlock'));
    if (file === 'example.yaml') await page.locator('#sim').screenshot({ path: join(SHOTS, 'simulator-example.png') });
    expect(problems).toEqual({ console: [], requests: [] });
    await page.context().close();
  });

  it('plays the example step by step: the map is charged to /pods/agent, then to /pods once /pods/agent is removed', async () => {
    const { page } = await open(1280, 800);
    const step = async (k: number): Promise<void> => {
      await page.locator('#sim-step').fill(String(k));
      await expect.poll(() => page.locator('#sim-step-label').innerText()).toMatch(k === 0 ? /^after the setup/ : new RegExp(`^after step ${k - 1}: `));
    };
    await step(2); // after the update from softirq
    expect(await treeIds(page, 'sim-memcg')).toEqual(['/', '/pods', '/pods/agent']);
    expect(await treeIds(page, 'sim-memlock')).toEqual([]);
    expect(await page.locator('#sim-panel-memcg tr[data-map="ct"] td').last().innerText()).toBe('/pods/agent');
    expect(await page.locator('#sim-panel-memlock .chart-empty').isVisible()).toBe(true);
    expect(await page.locator('#sim-steps tr.current').getAttribute('data-index')).toBe('1');
    await page.locator('#sim-panel-memcg').screenshot({ path: join(SHOTS, 'simulator-step-2.png') });
    // Rows before the step are past, the step current, those after it future (updated row by row as the slider moves).
    const marks = (): Promise<string[]> =>
      page.locator('#sim-steps tbody tr[data-index]').evaluateAll((rs: DomElement[]) => rs.map((r) => (r.classList.contains('current') ? 'current' : r.classList.contains('future') ? 'future' : 'past')));
    const expectedMarks = async (k: number): Promise<string[]> => (await marks()).map((_m, i) => (i === k - 1 ? 'current' : i >= k ? 'future' : 'past'));
    expect(await marks()).toEqual(await expectedMarks(2));
    await step(4); // after remove_cgroup /pods/agent
    expect(await marks()).toEqual(await expectedMarks(4));
    await step(1);
    expect(await marks()).toEqual(await expectedMarks(1));
    await step(4);
    expect(await treeIds(page, 'sim-memcg')).toEqual(['/', '/pods']);
    expect(await page.locator('#sim-panel-memcg tr[data-map="ct"] td').last().innerText()).toBe('/pods');
    expect(await page.locator('#sim-panel-memcg tr.removed').innerText()).toContain('/pods/agent');
    await step(0);
    expect(await treeIds(page, 'sim-memcg')).toEqual([]);
    // One regime: one column of outcomes, one panel.
    await page.getByLabel('memcg', { exact: true }).check();
    await expect.poll(() => page.locator('#sim-steps thead th').allInnerTexts()).toEqual(['#', 'Step', 'memcg']);
    expect(await page.locator('#sim-panel-memlock').isHidden()).toBe(true);
    await page.context().close();
  });

  it("a malformed scenario shows the parser's one-line message next to the editor, and keeps the last run dimmed", async () => {
    const { page, problems } = await open(1280, 800);
    const text = readFileSync('scenarios/example.yaml', 'utf8').replace('count: 100000', 'count: lots');
    const parsed = parseScenario(text, 'scenarios/example.yaml');
    expect(parsed.ok).toBe(false);
    const message = parsed.ok ? '' : formatScenarioError(parsed.error);
    expect(message).toMatch(/^scenarios\/example\.yaml:\d+: steps\[1\]\.update\.count: /);
    await page.locator('#sim-text').fill(text);
    await page.locator('#sim-run').click();
    const error = page.locator('#sim-error');
    await error.waitFor();
    expect(await error.locator('.message').innerText()).toBe(message);
    expect(await page.locator('#sim-text').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#sim-results').getAttribute('data-stale')).toBe('true');
    await page.locator('.sim-top').screenshot({ path: join(SHOTS, 'simulator-error.png') });
    // "go to line N" selects the offending line in the editor.
    await error.getByRole('button').click();
    const selected = await page.locator('#sim-text').evaluate((t: DomTextArea) => t.value.slice(t.selectionStart, t.selectionEnd));
    expect(selected).toContain('count: lots');
    // Fixing it runs again and clears the message.
    await page.locator('#sim-text').fill(readFileSync('scenarios/example.yaml', 'utf8'));
    await page.keyboard.press('Control+Enter');
    await error.waitFor({ state: 'hidden' });
    expect(await page.locator('#sim-results').getAttribute('data-stale')).toBeNull();
    expect(problems).toEqual({ console: [], requests: [] });
    await page.context().close();
  });

  it('works in a narrow window: one column, nothing wider than the window', async () => {
    const { page, problems } = await open(420, 900);
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    const tree = await page.locator('#tree').boundingBox();
    const history = await page.locator('#history').boundingBox();
    expect(history!.y).toBeGreaterThan(tree!.y + tree!.height - 1);
    await page.screenshot({ path: join(SHOTS, 'dashboard-420.png') });
    for (const id of ['tree', 'history', 'maps', 'sim']) await page.locator(`#${id}`).screenshot({ path: join(SHOTS, `dashboard-420-${id}.png`) });
    expect(problems).toEqual({ console: [], requests: [] });
    await page.context().close();
  });

  it('reads the server again every 15 s', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, reducedMotion: 'reduce' });
    const page = await context.newPage();
    await page.clock.install();
    // The installed clock still runs in real time, and loading the page takes a real second or
    // two on a slow machine: note the (fake) time the page sets its 15 s interval, stop the
    // clock once the page is ready, and move it to just before and just after the interval.
    await page.addInitScript(() => {
      const g = globalThis as unknown as { setInterval: (f: () => void, ms: number) => number; bpfmemIntervalSetAt?: number };
      const original = g.setInterval.bind(globalThis);
      g.setInterval = (f, ms) => {
        if (ms === 15_000) g.bpfmemIntervalSetAt = Date.now();
        return original(f, ms);
      };
    });
    const reads: string[] = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (path.startsWith('/api/')) reads.push(path);
    });
    await page.goto(server.url);
    await ready(page);
    const now = (): Promise<number> => page.evaluate(() => Date.now());
    await page.clock.pauseAt((await now()) + 250);
    const setAt = await page.evaluate(() => (globalThis as unknown as { bpfmemIntervalSetAt?: number }).bpfmemIntervalSetAt);
    expect(setAt).toBeDefined();
    const due = (setAt ?? 0) + 15_000;
    const first = reads.length;
    expect([...new Set(reads)].sort()).toEqual(['/api/v1/cgroups', '/api/v1/history', '/api/v1/maps', '/api/v1/summary']);
    expect(due - (await now())).toBeGreaterThan(1000);
    await page.clock.runFor(due - (await now()) - 500);
    expect(reads).toHaveLength(first);
    await page.clock.runFor(1_000);
    await expect.poll(() => reads.length).toBe(2 * first);
    await context.close();
  });

  it('a failed read of the maps is said in the status line too', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.route('**/api/v1/maps?**', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"no scan has finished yet; try again in a moment"}' }));
    await page.goto(server.url);
    const status = page.locator('#status');
    await status.waitFor();
    await expect.poll(() => status.innerText()).toContain('/api/v1/maps');
    await context.close();
  });

  it('a holder whose name has bidi or control characters is shown escaped, not reordered', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.route('**/api/v1/maps?**', async (route) => {
      const response = await route.fetch();
      const doc = (await response.json()) as { maps: { pids: unknown[] }[] };
      const first = doc.maps[0];
      if (first) first.pids = [{ pid: 1, comm: '\u202eevil\u0007', cgroup: null }];
      await route.fulfill({ response, json: doc });
    });
    await page.goto(server.url);
    const cell = page.locator('#maps-table tbody tr').first().locator('td').nth(6);
    await expect.poll(() => cell.innerText()).toBe('\\u202eevil\\x07(1)');
    await context.close();
  });

  it('says in one line what is wrong when the API answers something else, and keeps the rest of the page', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.route('**/api/v1/history', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: '{"interval_seconds":15,"points":[{"time":"yesterday"}]}' }));
    await page.route('**/api/v1/cgroups', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"no scan has finished yet; try again in a moment"}' }));
    await page.goto(server.url);
    const status = page.locator('#status');
    await status.waitFor();
    await expect.poll(() => status.innerText()).toContain('/api/v1/history: points.0.time: ');
    const text = await status.innerText();
    expect(text).toContain('/api/v1/cgroups: HTTP 503: no scan has finished yet; try again in a moment');
    expect(text).not.toContain('\n');
    await page.locator('#maps-table tbody tr').first().waitFor();
    await context.close();
  });
});
