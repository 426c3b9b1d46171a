/**
 * The HTML bypass report: escaping as text, then the page as a browser sees it, rendered by
 * headless Chromium (`--dump-dom` for the DOM after parsing, `--screenshot` for pixels).
 *
 * Chromium is a CI prerequisite (`apt-get install -y chromium`), never installed from a test:
 * without /usr/bin/chromium these tests fail and say so rather than skip, so a missing browser
 * cannot pass for a working report.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { foldEvents } from '../../../src/tickets/fold.js';
import { escapeHtml, renderReportHtml } from '../../../src/tickets/report-html.js';
import { buildReport, type TicketReport } from '../../../src/tickets/report.js';
import { HOSTILE_REASON, REVIEW_NOW, reviewEvents } from '../tickets/review.js';

const CHROMIUM = '/usr/bin/chromium';
const DAY = 86_400_000;
const run = promisify(execFile);

function weekReport(): TicketReport {
  return buildReport(foldEvents(reviewEvents()), { now: REVIEW_NOW, since: new Date(REVIEW_NOW.getTime() - 7 * DAY), overdueAfterMs: 3 * DAY });
}

describe('renderReportHtml as text', () => {
  const html = renderReportHtml(weekReport());

  it('escapes a <script> in a reason, so no script element exists', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain(escapeHtml(HOSTILE_REASON));
    expect(escapeHtml(HOSTILE_REASON)).toBe('&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('escapes a username', () => {
    expect(html).toContain('<td>mallory&lt;b&gt;</td>');
  });

  it('loads nothing from outside the page', () => {
    expect(html).not.toMatch(/<[^>]*\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|<link/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
  });

  const escapes = [
    { text: `a & b`, want: 'a &amp; b' },
    { text: `"x" 'y'`, want: '&quot;x&quot; &#39;y&#39;' },
    { text: '</td><td>', want: '&lt;/td&gt;&lt;td&gt;' },
    { text: '&amp;', want: '&amp;amp;' },
  ];
  for (const { text, want } of escapes) it(`escapeHtml(${JSON.stringify(text)})`, () => expect(escapeHtml(text)).toBe(want));
});

describe('the HTML report in headless Chromium', () => {
  let dir: string;
  let page: string;

  function requireChromium(): void {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is not installed at ${CHROMIUM}: the HTML report tests render the page in headless Chromium. Add it to the CI setup (Debian: apt-get install -y chromium); tests never install it.`,
      );
    }
  }

  // Flags: no sandbox (CI runs as root in a container), and nothing that reaches the network,
  // so a run is hermetic and a page that tried to fetch anything would show it by failing.
  async function chromium(...args: string[]): Promise<string> {
    requireChromium();
    const profile = await mkdtemp(join(dir, 'profile-'));
    const { stdout } = await run(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        ...args,
        pathToFileURL(page).href,
      ],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    return stdout;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'driftgate-html-'));
    page = join(dir, 'report.html');
    await writeFile(page, renderReportHtml(weekReport()));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`finds Chromium at ${CHROMIUM}`, () => {
    requireChromium();
  });

  it('shows the open tickets, the overdue marker and the per-person counts in the rendered DOM', { timeout: 90_000 }, async () => {
    const dom = await chromium('--dump-dom');
    const section = (id: string): string => {
      const start = dom.indexOf(`id="${id}"`);
      expect(start, `no element #${id} in the DOM`).toBeGreaterThan(-1);
      return dom.slice(start, dom.indexOf('</table>', start));
    };

    const open = section('open-tickets');
    const rows = open.split('<tr').slice(2);
    expect(rows.map((r) => /<code>([^<]+)<\/code>/.exec(r)?.[1])).toEqual(['bt-old-api-4', 'bt-shop-web-7', 'bt-payments-api-2', 'bt-shop-db-5']);
    expect(rows.map((r) => r.includes('<span class="overdue-mark">OVERDUE</span>'))).toEqual([true, true, false, false]);

    const people = section('by-person');
    for (const [person, changes, tickets] of [
      ['alice', 2, 2],
      ['bob', 1, 1],
      ['carol', 1, 1],
      ['mallory&lt;b&gt;', 1, 1],
    ] as const) {
      expect(people).toContain(`<tr><td>${person}</td><td class="num">${changes}</td><td class="num">${tickets}</td></tr>`);
    }

    // The hostile reason is text in a cell, not an element, and nothing ran.
    expect(dom).toContain('&lt;script&gt;document.title="pwned"&lt;/script&gt;');
    expect(dom).not.toMatch(/<script|<img/i);
    expect(dom).toContain(`<title>driftgate bypass report ${REVIEW_NOW.toISOString().replace('.000Z', 'Z')}</title>`);
    expect(section('timeline')).toContain('<time>2025-06-05</time><span class="bar" style="width: 100%"></span><span class="num">2</span>');
  });

  it('renders a non-empty 1200×900 PNG screenshot', { timeout: 90_000 }, async () => {
    const png = join(dir, 'r.png');
    await chromium(`--screenshot=${png}`, '--window-size=1200,900');
    expect((await stat(png)).size).toBeGreaterThan(0);
    const bytes = await readFile(png);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // IHDR: width and height, big-endian, right after the signature and chunk header.
    expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([1200, 900]);
  });
});
