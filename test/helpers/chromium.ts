/**
 * Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
 * JSON messages ending in NUL on file descriptors 3 and 4), so a test can set the viewport, load
 * a page, read the DOM after layout (scrollWidth, what is displayed), click, and take a
 * screenshot. Debian's /usr/bin/chromium; test/setup.sh installs it, tests never do.
 *
 * A few dozen lines of our own rather than puppeteer or playwright: those download their own
 * browser builds, and all these tests need is five protocol methods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** CHROMIUM is where Debian installs the browser. */
export const CHROMIUM = '/usr/bin/chromium';

type Message = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
};

/** Page is one tab, attached. */
export interface Page {
  /** evaluate returns the JSON value of `expression` evaluated in the page. */
  evaluate<T>(expression: string): Promise<T>;
  /** screenshot returns a PNG of the viewport. */
  screenshot(): Promise<Buffer>;
  close(): Promise<void>;
}

/** requireChromium throws, saying how to install it, when the browser is missing. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the HTML report tests render the page in headless Chromium. Run test/setup.sh as root (Debian: apt-get install -y chromium); tests never install it.`,
    );
  }
}

/**
 * openPage returns `url` loaded in a new headless Chromium with a `width`×`height` viewport.
 * Flags: no sandbox (CI runs as root in a container), nothing that reaches the network.
 */
export async function openPage(url: string, width: number, height: number): Promise<Page> {
  requireChromium();
  const profile = await mkdtemp(join(tmpdir(), 'driftgate-chromium-'));
  const child: ChildProcess = spawn(
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
      '--hide-scrollbars',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      'about:blank',
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
  );
  const toBrowser = child.stdio[3] as Writable;
  const fromBrowser = child.stdio[4] as Readable;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  let buffered = '';
  fromBrowser.setEncoding('utf8');
  fromBrowser.on('data', (chunk: string) => {
    buffered += chunk;
    for (let end = buffered.indexOf('\0'); end !== -1; end = buffered.indexOf('\0')) {
      const message = JSON.parse(buffered.slice(0, end)) as Message;
      buffered = buffered.slice(end + 1);
      if (message.id !== undefined) {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error !== undefined) w?.reject(new Error(message.error.message));
        else w?.resolve(message);
      } else {
        for (const l of listeners) l(message);
      }
    }
  });
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('chromium exited'));
  });
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Message> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
    });

  const created = await send('Target.createTarget', { url: 'about:blank' });
  const attached = await send('Target.attachToTarget', { targetId: created.result?.['targetId'], flatten: true });
  const session = attached.result?.['sessionId'] as string;
  await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, session);
  await send('Page.enable', {}, session);
  const loaded = new Promise<void>((resolve) => listeners.push((m) => m.method === 'Page.loadEventFired' && m.sessionId === session && resolve()));
  await send('Page.navigate', { url }, session);
  await loaded;

  return {
    async evaluate<T>(expression: string): Promise<T> {
      const reply = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, session);
      const result = reply.result as { result?: { value?: unknown }; exceptionDetails?: { text?: string } };
      if (result.exceptionDetails !== undefined) throw new Error(`in the page: ${result.exceptionDetails.text ?? 'exception'}`);
      return result.result?.value as T;
    },
    async screenshot(): Promise<Buffer> {
      const reply = await send('Page.captureScreenshot', { format: 'png' }, session);
      return Buffer.from(String(reply.result?.['data'] ?? ''), 'base64');
    },
    async close(): Promise<void> {
      await send('Browser.close').catch(() => undefined);
      await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
      await rm(profile, { recursive: true, force: true });
    },
  };
}
