// Shared harness for the browser tests: a real SMTP sink, the real sportello binary on a random
// port with a fresh SQLite database, Debian's Chromium driven by playwright-core, and axe-core.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const require = createRequire(import.meta.url);
export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const artifacts = join(root, 'e2e', 'artifacts');
mkdirSync(artifacts, { recursive: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A real SMTP server on loopback that keeps every parsed message. */
export async function startSmtpSink() {
  const mails = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((m) => { mails.push(m); callback(); }, callback);
    },
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    async waitFor(to, n = 1) {
      for (let i = 0; i < 200; i++) {
        const found = mails.filter((m) => m.to?.value?.some((a) => a.address === to));
        if (found.length >= n) return found[n - 1];
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no message #${n} for ${to}`);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

function binary() {
  if (process.env.SPORTELLO_BIN) return process.env.SPORTELLO_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(root, 'target');
  return join(target, 'debug', 'sportello');
}

/** Starts the real application and waits until it is ready. */
export async function startApp(extraEnv = {}) {
  const port = await freePort();
  const sandboxPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sportello-e2e-'));
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('SPORTELLO_') && k !== 'SPORTELLO_BIN') delete env[k];
  Object.assign(env, {
    SPORTELLO_LISTEN: `127.0.0.1:${port}`,
    SPORTELLO_DATABASE_URL: `sqlite://${dir}/e2e.db`,
    SPORTELLO_ASSETS_DIR: join(root, 'node_modules', 'bootstrap-italia', 'dist'),
    SPORTELLO_MAIL_POLL_MS: '200',
    // The sandbox (pagoPA simulated) starts inside serve in the demo: on its own free port here.
    SPORTELLO_SANDBOX_LISTEN: `127.0.0.1:${sandboxPort}`,
    SPORTELLO_SANDBOX_RETRY_MS: '200,400',
    RUST_LOG: 'warn',
    ...extraEnv,
  });
  const child = spawn(binary(), ['serve'], { env, cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return { base, sandbox: `http://127.0.0.1:${sandboxPort}`, stop: () => new Promise((res) => { child.once('exit', res); child.kill('SIGTERM'); }) };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('sportello did not become ready');
}

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // axe is injected with evaluate; bypassing CSP only affects the test's own script injection.
  const context = await browser.newContext({ bypassCSP: true, locale: 'it-IT', viewport: { width: 1280, height: 900 } });
  return { browser, context };
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
let shot = 0;
// Each test file runs in its own process: its name keeps screenshots of different files apart.
const suite = (process.argv[1] || 'e2e').split('/').pop().replace(/\.test\.mjs$/, '');

/** Runs axe-core with the WCAG 2.1 A and AA rules, saves a screenshot, returns the violations. */
export async function audit(page, name) {
  shot += 1;
  await page.screenshot({ path: join(artifacts, `${suite}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
