// Shared harness for the browser tests: a real SMTP sink, the real sportello binary on a random
// port with a fresh SQLite database, Debian's Chromium driven by playwright-core, and axe-core.
//
// Every security control of the product stays on: pages load with their own
// Content-Security-Policy (no CSP bypass, no disabled web security). axe-core is injected
// through the DevTools protocol (`Runtime.evaluate` on a CDP session), which the page's policy
// does not govern, so the audit needs no exception in the product.
//
// Every page of every context the harness creates is watched, and the running test FAILS on:
//   - a console message reporting a Content-Security-Policy violation;
//   - an uncaught error in the page (`pageerror`);
//   - a failed request for one of the page's own assets: `requestfailed`, or an HTTP status
//     >= 400 for anything but the document itself (an error page answering 404 or 422 on
//     purpose is fine; its stylesheet answering 404 is not).
// The check runs in an `afterEach` hook installed by this module (so every test of every file
// that imports it gets it, including problems raised in its `before` hooks) and again in every
// `audit()`, which then names the page.
//
// Helpers:
//   startSmtpSink()            a real SMTP server on loopback keeping the parsed messages.
//   startApp(env)              the real binary on free ports (portal + embedded sandbox), cwd in
//                              an empty temp dir (it needs no checkout files); returns
//                              { base, sandbox, stop }.
//   launchBrowser()            Debian's Chromium; returns { browser, context }. Contexts made
//                              later with browser.newContext() get the same defaults and watch.
//   newContext(browser, opts)  the same as browser.newContext(opts), spelled out.
//   audit(page, name)          screenshot + axe-core (WCAG 2.1 A/AA); returns the violations and
//                              throws if the page reported a problem above.
//   pageProblems()             the problems recorded since the last check (and clears them).
//   pdfText(buffer)            the text of a PDF through poppler's pdftotext.
//   registerAndLogIn(page, base, person)
//                              a citizen registered through /registrazione, activated from the
//                              demo's POSTA (DEMO), logged in (lands on La tua Sezione Privata).
//   addTrafficFine(page, base, fine)
//                              a fine through Nuovo Pagamento → multe; returns its notice code.
//   totp(secret)               the back office's second factor now (RFC 6238, base32 secret).
//   addOperator(dbUrl, username, role)
//                              a back-office operator through `sportello operator add`;
//                              returns { password, secret }.
//   publishPosition(base, { iupd, cents, fiscalCode, fullName })
//                              a published one-option position through the debt-position API
//                              (the demo's key); returns its notice code.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
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

export function binary() {
  if (process.env.SPORTELLO_BIN) return process.env.SPORTELLO_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(root, 'target');
  return join(target, 'debug', 'sportello');
}

/**
 * Starts the real application, as shipped, and waits until it is ready. Its working directory
 * is an empty temporary directory: the binary carries its own assets. The demo's embedded
 * sandbox listens on a free port of its own.
 */
export async function startApp(extraEnv = {}) {
  const port = await freePort();
  const sandboxPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sportello-e2e-'));
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('SPORTELLO_') && k !== 'SPORTELLO_BIN') delete env[k];
  Object.assign(env, {
    SPORTELLO_LISTEN: `127.0.0.1:${port}`,
    SPORTELLO_DATABASE_URL: `sqlite://${dir}/e2e.db`,
    SPORTELLO_MAIL_POLL_MS: '200',
    SPORTELLO_SANDBOX_LISTEN: `127.0.0.1:${sandboxPort}`,
    SPORTELLO_SANDBOX_RETRY_MS: '200,400',
    RUST_LOG: 'warn',
    ...extraEnv,
  });
  const child = spawn(binary(), ['serve'], { env, cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
  let exited = null;
  child.once('exit', (code) => { exited = code; });
  child.once('error', (e) => { exited = e.message; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300 && exited === null; i++) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) {
        return {
          base,
          sandbox: `http://127.0.0.1:${sandboxPort}`,
          stop: () => new Promise((res) => {
            if (exited !== null) return res();
            child.once('exit', res);
            child.kill('SIGTERM');
          }),
        };
      }
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(exited !== null ? `sportello exited with ${exited} before it was ready` : 'sportello did not become ready');
}

// Problems reported by the pages since the last check: "<url>: <what>".
const problems = [];

/** The problems recorded since the last check, which are then forgotten. */
export function pageProblems() {
  return problems.splice(0);
}

function failOnProblems(where) {
  const found = pageProblems();
  if (found.length) {
    throw new Error(`${where}: the browser reported ${found.length} problem(s):\n${found.join('\n')}`);
  }
}

afterEach(() => failOnProblems('during this test'));
after(() => failOnProblems('after the last test'));

const CSP_VIOLATION = /Content[ -]Security[ -]Policy/i;

/** Records every CSP violation, uncaught error and failed asset request of `page`. */
function watch(page) {
  // Main-frame navigations started so far: a sub-resource aborted because the page moved on
  // (a link clicked while a font still loads) is not a failure of that asset.
  let navigations = 0;
  const startedAt = new WeakMap();
  page.on('console', (m) => {
    if (CSP_VIOLATION.test(m.text())) problems.push(`${page.url()}: console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${page.url()}: uncaught ${e.name}: ${e.message}`));
  page.on('request', (r) => {
    if (r.isNavigationRequest() && r.frame() === page.mainFrame()) navigations += 1;
    startedAt.set(r, navigations);
  });
  page.on('requestfailed', (r) => {
    const reason = r.failure()?.errorText ?? 'failed';
    const abandoned = reason.includes('ERR_ABORTED') && (r.isNavigationRequest() || startedAt.get(r) !== navigations);
    if (!abandoned) problems.push(`${page.url()}: request failed (${reason}): ${r.method()} ${r.url()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document') {
      problems.push(`${page.url()}: HTTP ${r.status()} for ${r.request().resourceType()} ${r.url()}`);
    }
  });
}

const CONTEXT_DEFAULTS = { locale: 'it-IT', viewport: { width: 1280, height: 900 }, acceptDownloads: true };

/** A browser context with the harness's defaults whose pages are all watched. */
export async function newContext(browser, options = {}) {
  const context = await browser.__sportelloNewContext({ ...CONTEXT_DEFAULTS, ...options });
  context.on('page', watch);
  return context;
}

/**
 * Debian's Chromium with one context. `browser.newContext()` is routed through newContext(), so
 * a test that opens a second context (a visitor beside a logged-in citizen) is watched too.
 */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  browser.__sportelloNewContext = browser.newContext.bind(browser);
  browser.newContext = (options) => newContext(browser, options);
  const context = await newContext(browser);
  return { browser, context };
}

const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
let shot = 0;
// Each test file runs in its own process: its name keeps screenshots of different files apart.
const suite = (process.argv[1] || 'e2e').split('/').pop().replace(/\.test\.mjs$/, '');

/** Evaluates `expression` in the page's main world through the DevTools protocol. */
async function evaluateOverCdp(page, expression) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) {
      throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    }
    return r.result.value;
  } finally {
    await cdp.detach();
  }
}

/**
 * Saves a screenshot, runs axe-core with the WCAG 2.1 A and AA rules and returns the violations.
 * Throws first if the page reported a CSP violation, an uncaught error or a failed asset.
 */
export async function audit(page, name) {
  shot += 1;
  await page.screenshot({ path: join(artifacts, `${suite}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  failOnProblems(`page ${name} (${page.url()})`);
  const violations = await evaluateOverCdp(page, `(() => {
    ${axeSource}
    return axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((r) => r.violations.map((v) => v.id + ' (' + v.impact + '): ' + v.help + ' — '
        + v.nodes.map((n) => n.target.join(' ')).join(', ')));
  })()`);
  failOnProblems(`page ${name} (${page.url()}) during the audit`);
  return violations;
}

/** The text of a PDF, extracted by poppler's pdftotext (layout kept). */
export function pdfText(pdf) {
  return execFileSync('pdftotext', ['-layout', '-', '-'], { input: pdf }).toString('utf8');
}

/**
 * Registers `person` through the registration form, opens the activation link from the demo's
 * development mailbox (the app must run without SMTP), and logs in. `person` has first, last,
 * fiscalCode, birthDate (gg/mm/aaaa), address, cap, city, province, email, username, password.
 */
export async function registerAndLogIn(page, base, person) {
  await page.goto(base + '/registrazione');
  await page.getByLabel(/^Nome/).fill(person.first);
  await page.getByLabel(/^Cognome/).fill(person.last);
  await page.getByLabel('Codice fiscale').fill(person.fiscalCode);
  await page.getByLabel('Data di nascita').fill(person.birthDate);
  await page.getByLabel('Indirizzo').fill(person.address);
  await page.getByLabel('CAP').fill(person.cap);
  await page.getByLabel(/^Comune/).fill(person.city);
  await page.getByLabel('Provincia').fill(person.province);
  await page.getByLabel('E-mail').fill(person.email);
  await page.getByLabel('Scegli un nome utente').fill(person.username);
  await page.getByLabel('Scegli una password').fill(person.password);
  await page.getByLabel('Ripeti la password').fill(person.password);
  // Bootstrap Italia draws its own checkbox over the native one, which it hides.
  await page.getByLabel(/informativa sul trattamento/).check({ force: true });
  await page.getByRole('button', { name: 'REGISTRAMI' }).click();
  await page.getByRole('heading', { name: 'Registrazione completata' }).waitFor();
  await page.goto(base + '/dev/mailbox');
  await page.getByRole('link', { name: /Conferma il tuo indirizzo/ }).first().click();
  await page.locator('a[href*="/attiva?token="]').first().click();
  await page.getByText('Account attivato').first().waitFor();
  await page.goto(base + '/login');
  await page.getByLabel('Username').fill(person.username);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'La tua Sezione Privata' }).waitFor();
}

/**
 * Adds a traffic fine through "Nuovo Pagamento" → multe, confirmed, and returns its notice code
 * in groups of four. `fine` has amount ('41,00'), name, fiscalCode, number, and optionally
 * date (gg/mm/aaaa) and plate.
 */
export async function addTrafficFine(page, base, fine) {
  await page.goto(base + '/pagamenti/nuovo/multe');
  await page.getByLabel(/^Importo da pagare/).fill(fine.amount);
  await page.getByLabel(/^Cognome \/ nome/).fill(fine.name);
  await page.getByLabel(/^Codice fiscale o partita IVA/).fill(fine.fiscalCode);
  await page.getByLabel(/^Numero verbale/).fill(fine.number);
  await page.getByLabel(/^Data del verbale/).fill(fine.date ?? '05/04/2026');
  await page.getByLabel(/^Numero di targa/).fill(fine.plate ?? 'AB123CD');
  await page.getByRole('button', { name: 'Prosegui' }).click();
  await page.getByRole('button', { name: 'Conferma' }).click();
  const created = await page.getByRole('status').innerText();
  assert.match(created, /Il pagamento è stato aggiunto al tuo Elenco Pagamenti/);
  return created.match(/codice avviso ([\d ]+)/)[1].trim();
}

/** RFC 4648 base32 (no padding) → bytes. */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP of a base32 secret: HMAC-SHA-1, 30-second steps, 6 digits. */
export function totp(secret, unix = Math.floor(Date.now() / 1000)) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unix / 30)));
  const hash = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = hash[hash.length - 1] & 0x0f;
  const code = (hash.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

/**
 * A back-office operator created with `sportello operator add` on the database at `dbUrl`;
 * returns the initial password and the TOTP secret it prints.
 */
export function addOperator(dbUrl, username, role) {
  const env = { ...process.env, SPORTELLO_DATABASE_URL: dbUrl, RUST_LOG: 'warn' };
  for (const k of Object.keys(env)) if (k.startsWith('SPORTELLO_') && !['SPORTELLO_BIN', 'SPORTELLO_DATABASE_URL'].includes(k)) delete env[k];
  const out = execFileSync(binary(), ['operator', 'add', '--username', username, '--role', role], { env }).toString('utf8');
  return {
    password: out.match(/password iniziale[^:]*: (\S+)/)[1],
    secret: out.match(/chiave TOTP: ([A-Z2-7]+)/)[1],
  };
}

/** A published position of one option and one transfer of `cents`; returns its notice code. */
export async function publishPosition(base, { iupd, cents, fiscalCode, fullName }) {
  const r = await fetch(`${base}/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions?toPublish=true`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Ocp-Apim-Subscription-Key': 'sportello-demo-key' },
    body: JSON.stringify({
      iupd, type: 'F', fiscalCode, fullName, companyName: 'Comune di Piacenza',
      switchToExpired: false,
      paymentOption: [{
        amount: cents, description: `Canone ${iupd}`, isPartialPayment: false, dueDate: '2030-12-31T23:59:59', fee: 0,
        transfer: [{ idTransfer: '1', amount: cents, remittanceInformation: `Canone ${iupd}`, category: '9/0101108TS/', iban: 'IT60X0542811101000000123456' }],
      }],
    }),
  });
  const body = await r.text();
  assert.equal(r.status, 201, body);
  return JSON.parse(body).paymentOption[0].nav;
}
