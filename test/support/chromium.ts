/**
 * Headless Chromium for the browser tests: Debian's package at /usr/bin/chromium, driven
 * by playwright-core (never a downloaded browser build), with WebGPU enabled on the CPU
 * adapters a container has, a throwaway profile, and a page whose errors are collected.
 *
 * Without a GPU, Chromium's WebGPU runs on its bundled SwiftShader Vulkan device (a CPU
 * adapter, which it blocklists unless --enable-unsafe-webgpu is given).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Flags for running as root in a container without a display or GPU. WebGPU needs
 * --enable-unsafe-webgpu: the only adapters here are CPU ones (SwiftShader, llvmpipe),
 * which Chromium blocklists, and without it requestAdapter() returns null. Chromium then
 * picks its SwiftShader Vulkan adapter (also with --use-angle=vulkan, which puts the rest
 * of the GPU process on llvmpipe). --enable-unsafe-swiftshader, which Playwright adds by
 * default anyway, is listed so as not to depend on that default.
 */
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
];

export interface Chromium {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Page errors and console errors and warnings, for failure messages. */
  readonly log: string[];
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile; throws with the reason when it is missing or fails to start. */
export async function launchChromium(): Promise<Chromium> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing (run scripts/ensure-chromium.sh)`);
  const profile = mkdtempSync(join(tmpdir(), 'mdc-chromium-'));
  const log: string[] = [];
  let context: BrowserContext | undefined;
  const close = async () => {
    await context?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // Playwright's own headless switch is replaced by --headless=new in CHROMIUM_FLAGS.
      ignoreDefaultArgs: ['--headless'],
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
    });
    return { context, page, log, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The page's WebGPU adapter as `{ adapter: description }`, or `{ reason }` it has none. */
export async function probeAdapter(page: Page): Promise<{ adapter?: string; reason?: string }> {
  return page.evaluate(async () => {
    if (!isSecureContext) return { reason: 'the page is not a secure context' };
    if (!('gpu' in navigator)) return { reason: 'navigator.gpu is undefined (WebGPU disabled?)' };
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { reason: 'navigator.gpu.requestAdapter() returned null' };
    const i = adapter.info;
    const desc = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown adapter';
    return { adapter: `${desc}${i.isFallbackAdapter ? ' (fallback adapter)' : ''}` };
  });
}
