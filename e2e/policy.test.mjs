// The pages' own Content-Security-Policy, seen from a real browser: what it must block is
// blocked, what the payment needs is allowed, and the harness reports every kind of problem it
// promises to (so no browser test can pass over a violation, an uncaught error or a 404 asset).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, launchBrowser, pageProblems } from './harness.mjs';

let app, browser, context;

before(async () => {
  app = await startApp();
  ({ browser, context } = await launchBrowser());
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

/** Waits until the problems reported so far satisfy every pattern; returns and clears them. */
async function problemsMatching(patterns) {
  const seen = [];
  for (let i = 0; i < 100; i++) {
    seen.push(...pageProblems());
    if (patterns.every((p) => seen.some((s) => p.test(s)))) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`expected problems matching ${patterns.join(', ')}; got:\n${seen.join('\n')}`);
}

test('foreign images, inline styles, a missing asset and a page error are blocked and reported', async () => {
  const page = await context.newPage();
  await page.goto(app.base + '/');
  assert.deepEqual(pageProblems(), [], 'the home page itself is clean');
  // Inserted through DevTools, but loaded under the page's policy like anything on the page.
  await page.evaluate(() => {
    const style = document.createElement('style');
    style.textContent = 'main { outline: 7px solid red; }';
    document.head.append(style);
    const img = document.createElement('img');
    img.alt = '';
    img.src = 'http://127.0.0.1:9/tracker.png';
    document.body.append(img);
    const sheet = document.createElement('link');
    sheet.rel = 'stylesheet';
    sheet.href = '/static/bi/css/non-esiste.css';
    document.head.append(sheet);
    setTimeout(() => { throw new Error('boom from the page'); }, 0);
  });
  await problemsMatching([
    /Content Security Policy directive 'style-src 'self''/,
    /Loading the image 'http:\/\/127\.0\.0\.1:9\/tracker\.png' violates .*"img-src 'self' data:"/,
    // A 404 stylesheet: reported as its status, or as the abort nosniff causes for an HTML body.
    /(HTTP 404 for stylesheet|request failed).*non-esiste\.css/,
    /uncaught Error: boom from the page/,
  ]);
  const outline = await page.locator('main').evaluate((m) => getComputedStyle(m).outlineStyle);
  assert.equal(outline, 'none', 'the inline style was not applied');
  await page.close();
});

test('forms reach Sportello and the Checkout origin, and nothing else', async () => {
  const page = await context.newPage();
  await page.goto(app.base + '/');
  const submitTo = (action) => page.evaluate((a) => {
    const form = document.createElement('form');
    form.method = 'get';
    form.action = a;
    document.body.append(form);
    form.submit();
  }, action);

  // Another origin (a free port nobody serves: the policy stops it before any connection).
  await submitTo('http://127.0.0.1:9/raccolta');
  await problemsMatching([/form-action/]);
  assert.ok(page.url().startsWith(app.base), page.url());

  // The Checkout origin (the sandbox's in the demo) is allowed: the sandbox's page opens.
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(app.sandbox + '/psp')),
    submitTo(app.sandbox + '/psp'),
  ]);
  await page.getByRole('heading', { name: 'Sportello PSP' }).waitFor();
  assert.deepEqual(pageProblems(), []);
  await page.close();
});

test('no other site can frame the portal', async () => {
  const page = await context.newPage();
  // A page without a policy of its own framing the portal's login form.
  await page.setContent(`<iframe title="prova" src="${app.base}/login"></iframe>`);
  await problemsMatching([/frame-ancestors 'none'/]);
  const login = page.frames().find((f) => f !== page.mainFrame());
  assert.equal(await login.locator('input').count(), 0, 'nothing of the portal renders inside');
  await page.close();
});
