import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import type { MembershipDto } from '../../src/common/protocol/membership.dto.js';
import { getJson } from '../support/http.js';
import { pollUntil } from '../support/poll-until.js';
import { type Cluster, startCluster } from '../support/start-cluster.js';

/**
 * The two pages a person uses (DESIGN.md §2, §5), driven in a real headless Chromium against a real cluster:
 * a node's Swagger UI (upload with "Try it out" on POST /v1/files, download with GET /v1/files/{key}) and the
 * registry's self-refreshing status page (every node `up`, then a SIGKILLed node `down` within NODE_TTL_MS).
 */
const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
/** Short on purpose so the `down` check takes seconds; passed to the registry explicitly so the test owns it. */
const NODE_TTL_MS = 1500;
/** How long one UI step (render, request, response) may take before the test explains what it saw instead. */
const STEP_MS = 10_000;

if (!HAVE_CHROMIUM) {
  process.stderr.write(`browser e2e tests SKIPPED: ${CHROMIUM} is absent (install Debian's chromium; .ci/run does)\n`);
}
const describeBrowser = HAVE_CHROMIUM ? describe : describe.skip;

describeBrowser(`browser (Chromium at ${CHROMIUM}; skipped when absent)`, () => {
  let cluster: Cluster | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let tmp: string;
  const screenshots: string[] = [];
  /** Uncaught exceptions in the pages (Swagger UI failing to load its assets or the document would show here). */
  const pageErrors: string[] = [];

  const key = `browser/hello-${randomBytes(4).toString('hex')}.txt`;
  const text = `Hello from Chromium, ${new Date().toISOString()}: ünïcödé ✓\nsecond line\n`;
  let filePath: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'shoal-browser-'));
    filePath = path.join(tmp, 'hello.txt');
    await writeFile(filePath, text);
    // Both at once; playwright gives the browser a fresh temporary profile. Either may fail: keep what did start so
    // that afterAll stops it.
    const [c, b] = await Promise.allSettled([
      startCluster({ nodes: 3, registryEnv: { NODE_TTL_MS: String(NODE_TTL_MS) } }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
    if (c.status === 'fulfilled') cluster = c.value;
    if (b.status === 'fulfilled') browser = b.value;
    if (c.status === 'rejected') throw c.reason;
    if (b.status === 'rejected') throw b.reason;
    const context = await browser!.newContext({ viewport: { width: 1280, height: 1000 } });
    page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 45_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
    if (screenshots.length) process.stdout.write(`browser e2e screenshots (kept):\n${screenshots.map((s) => `  ${s}`).join('\n')}\n`);
    // The screenshots are the point of the temp dir: keep it when there are any.
    if (tmp && !screenshots.length) await rm(tmp, { recursive: true, force: true });
  });

  /** Screenshots go to the test's temp dir; the paths are printed so a person can look at them. */
  async function screenshot(name: string, target: Page | Locator = page): Promise<void> {
    const file = path.join(tmp, `${name}.png`);
    await target.screenshot({ path: file, ...(target === page ? { fullPage: true } : {}) });
    screenshots.push(file);
    process.stdout.write(`screenshot: ${file}\n`);
  }

  /** Expands an operation of the node's Swagger UI and switches it to "Try it out"; returns its opblock. */
  async function tryOut(operationId: string): Promise<Locator> {
    const op = page.locator(`#operations-files-${operationId}`);
    await op.waitFor();
    if (!(await op.evaluate((el) => el.classList.contains('is-open')))) {
      await op.locator('.opblock-summary-control, .opblock-summary').first().click();
    }
    await op.locator('.try-out__btn').click();
    await op.locator('.execute').waitFor(); // "Execute" appears once the form is editable
    return op;
  }

  /** Clicks "Execute" and waits for the live response; returns its status and the body Swagger UI shows. */
  async function execute(op: Locator): Promise<{ status: string; body: string }> {
    const live = op.locator('.responses-wrapper .live-responses-table');
    // A second run of the same operation: clear the first answer, so the one read below is the new one.
    const clear = op.locator('.btn-clear');
    if (await clear.isVisible()) {
      await clear.click();
      await live.waitFor({ state: 'detached' });
    }
    await op.locator('.execute').click();
    const status = live.locator('tbody .response-col_status').first();
    await status.waitFor();
    const body = live.locator('tbody .response-col_description').first();
    return { status: (await status.innerText()).trim(), body: await body.innerText() };
  }

  it('uploads a file through Swagger UI (POST /v1/files) and downloads it again (GET /v1/files/{key})', async () => {
    const [node, other] = cluster!.nodes;
    await page.goto(`${node.url}/docs`);

    const post = await tryOut('postFile');
    await post.locator('[data-property-name="key"] input[type="text"]').fill(key);
    await post.locator('[data-property-name="file"] input[type="file"]').setInputFiles(filePath);
    const uploaded = await execute(post);
    await screenshot('swagger-after-upload', post);
    expect(uploaded.status).toBe('201');
    expect(uploaded.body).toContain(`"key": "${key}"`);
    expect(uploaded.body).toContain(`"size": ${Buffer.byteLength(text)}`);
    expect(uploaded.body).toContain(`"sha256": "${createHash('sha256').update(text).digest('hex')}"`);
    expect(uploaded.body).toMatch(/"replicas": [23]\b/);

    const get = await tryOut('getFile');
    await get.locator('[data-param-name="key"] input[type="text"]').fill(key); // Swagger UI sends it as browser%2Fhello-….txt
    const downloaded = await execute(get);
    await screenshot('swagger-after-get', get);
    expect(downloaded.status).toBe('200');
    expect(downloaded.body).toContain('Hello from Chromium');
    expect(downloaded.body).toContain(text.trim().split('\n')[0]);
    expect(downloaded.body).toContain('second line');

    // Outside the browser: another node serves exactly the bytes that were on disk.
    const res = await fetch(`${other.url}/v1/files/${encodeURIComponent(key)}`, { signal: AbortSignal.timeout(STEP_MS) });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(await readFile(filePath))).toBe(true);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(pageErrors).toEqual([]);
  });

  it('uploads raw binary bytes with PUT /v1/files/{key} and X-Content-SHA256 (docs/clients.md), and a wrong hash stores nothing', async () => {
    const [node, , other] = cluster!.nodes;
    const bytes = randomBytes(40_000);
    const binPath = path.join(tmp, 'random.bin');
    await writeFile(binPath, bytes);
    const binKey = `browser/a b/ü-${randomBytes(3).toString('hex')}.bin`;
    await page.goto(`${node.url}/docs`);
    // The served document lists the page's own server first, so "Try it out" calls this node wherever it runs.
    expect(await page.locator('.servers select option').first().getAttribute('value')).toBe('/');

    const put = await tryOut('putFile');
    await put.locator('[data-param-name="key"] input[type="text"]').fill(binKey);
    const sha = put.locator('[data-param-name="X-Content-SHA256"] input[type="text"]');
    await put.locator('.opblock-section-request-body input[type="file"]').setInputFiles(binPath);
    await sha.fill('0'.repeat(64));
    const refused = await execute(put);
    expect([refused.status, refused.body]).toEqual(['400', expect.stringContaining('CHECKSUM_MISMATCH')]);
    expect((await fetch(`${other.url}/v1/files/${encodeURIComponent(binKey)}`, { method: 'HEAD', signal: AbortSignal.timeout(STEP_MS) })).status).toBe(404);

    await sha.fill(createHash('sha256').update(bytes).digest('hex'));
    const stored = await execute(put);
    expect([stored.status, stored.body]).toEqual(['201', expect.stringContaining(`"size": ${bytes.length}`)]);
    const res = await fetch(`${other.url}/v1/files/${encodeURIComponent(binKey)}`, { signal: AbortSignal.timeout(STEP_MS) });
    expect([res.status, Buffer.from(await res.arrayBuffer()).equals(bytes)]).toEqual([200, true]);
    expect(pageErrors).toEqual([]);
  });

  it('shows every node up on the registry status page, and a SIGKILLed node down within NODE_TTL_MS', async () => {
    const { registry, nodes } = cluster!;
    const { body } = await getJson<MembershipDto>(`${registry.url}/v1/nodes`);
    const idOf = new Map(body.nodes.map((n) => [n.url, n.id]));
    const ids = nodes.map((n) => idOf.get(n.url));
    expect(ids.every(Boolean)).toBe(true);

    /**
     * What the page shows, read in one evaluation right after a (re)load: the page reloads itself every few seconds,
     * so reading it piecemeal could straddle two documents. Rows: node id → status (first two cells of each row).
     */
    const load = async (how: 'goto' | 'reload') => {
      await (how === 'goto' ? page.goto(`${registry.url}/`) : page.reload());
      // Through the root element: the test is compiled without the DOM lib, so no `document` global is named here.
      return page.locator('html').evaluate((html) => {
        const doc = html.ownerDocument;
        return {
          title: doc.title,
          refresh: doc.querySelector('meta[http-equiv="refresh"]')?.getAttribute('content') ?? null,
          up: doc.getElementById('up')?.textContent?.trim(),
          down: doc.getElementById('down')?.textContent?.trim(),
          rows: Object.fromEntries(
            [...doc.querySelectorAll('#nodes tbody tr')].map((row) => [...row.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent?.trim() ?? '')),
          ) as Record<string, string>,
        };
      });
    };

    const before = await load('goto');
    expect(before).toMatchObject({ title: 'Shoal cluster', up: '3', down: '0' });
    expect(before.rows).toEqual(Object.fromEntries(ids.map((id) => [id, 'up'])));
    await screenshot('status-page-all-up');

    // Server-rendered and refreshing itself (meta refresh): the page loads again without being told to.
    expect(Number(before.refresh)).toBeGreaterThan(0);
    await page.waitForEvent('load', { timeout: (Number(before.refresh) + 5) * 1000 });

    const victim = nodes[2];
    const victimId = idOf.get(victim.url)!;
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    /** When the newest reload that still showed the victim `up` was requested, relative to the kill. */
    let lastUpRequestedAfter = -Infinity;
    const after = await pollUntil(
      async () => {
        const requestedAfter = Date.now() - killedAt;
        const shown = await load('reload');
        if (shown.rows[victimId] === 'up') lastUpRequestedAfter = requestedAfter;
        expect(shown.rows[victimId]).toBe('down');
        return shown;
      },
      { timeoutMs: NODE_TTL_MS + 5000, intervalMs: 100, message: `the status page did not show ${victimId} down` },
    );
    const seenAfter = Date.now() - killedAt;
    await screenshot('status-page-node-down'); // the next self-refresh is seconds away
    process.stdout.write(
      `status page showed ${victimId} down ${seenAfter} ms after SIGKILL; last shown up for a reload requested ` +
        `${lastUpRequestedAfter} ms after it (NODE_TTL_MS ${NODE_TTL_MS})\n`,
    );
    // Within NODE_TTL_MS: no page requested NODE_TTL_MS after the kill may still show the node up. (Its last heartbeat
    // reached the registry at the latest as it was killed; the grace covers one in flight then.) Judged by when each
    // reload was requested, so a slow machine makes the check no flakier, only the poll slower.
    expect(lastUpRequestedAfter).toBeLessThan(NODE_TTL_MS + 250);
    expect(after.rows).toEqual(Object.fromEntries(ids.map((id) => [id, id === victimId ? 'down' : 'up'])));
    expect(after).toMatchObject({ up: '2', down: '1' });
  });
});
