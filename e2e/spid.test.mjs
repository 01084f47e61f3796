// "Entra con SPID" in a real browser, offline: Sportello's chooser → the sandbox's SPID identity
// provider (signed AuthnRequest checked there, signed response back over HTTP-POST) → the
// private area; single logout back through the identity provider; the fault choices end on
// Sportello's error page with AgID's message. axe-core on every page, the IdP's included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, launchBrowser, audit } from './harness.mjs';

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

async function checked(page, name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

/** From Sportello's login page to the sandbox IdP's login page. */
async function toIdentityProvider(page, name) {
  await page.goto(app.base + '/login');
  await page.getByText('Entra con SPID').click();
  await page.getByRole('link', { name: 'SPID di prova (sandbox)' }).click();
  await page.getByRole('heading', { name: 'Entra con SPID' }).waitFor();
  assert.ok(page.url().startsWith(app.sandbox + '/idp/sso?SAMLRequest='), page.url());
  if (name) await checked(page, name);
}

test('Entra con SPID: sandbox identity provider, private area, single logout', async () => {
  const page = await context.newPage();
  await page.goto(app.base + '/login');
  await checked(page, 'login-con-spid');
  await page.getByText('Entra con SPID').click();
  const idps = page.getByRole('navigation', { name: "Gestori dell'identità SPID" });
  await idps.getByRole('link', { name: 'SPID di prova (sandbox)' }).waitFor();
  await checked(page, 'scelta-gestore-spid');

  await toIdentityProvider(page, 'idp-sandbox');
  await page.getByLabel(/Lucia Verdi/).check();
  await page.getByRole('button', { name: 'Entra' }).click();
  // The identity provider's page posts the response to Sportello's ACS on its own.
  await page.waitForURL(app.base + '/area-privata');
  await page.getByRole('heading', { name: 'La tua Sezione Privata' }).waitFor();
  await assert.doesNotReject(page.getByText('Lucia Verdi').first().waitFor());
  await checked(page, 'sezione-privata-spid');

  // ESCI ends the session here and at the identity provider (signed LogoutRequest and
  // LogoutResponse over HTTP-Redirect), then back to the login page.
  await page.getByRole('button', { name: 'ESCI' }).click();
  await page.waitForURL(app.base + '/login?uscito=1');
  await page.goto(app.base + '/area-privata');
  assert.ok(page.url().includes('/login'), 'logged out');

  // The same identity enters again: the account created at the first login is the same.
  await toIdentityProvider(page);
  await page.getByLabel(/Lucia Verdi/).check();
  await page.getByRole('button', { name: 'Entra' }).click();
  await page.waitForURL(app.base + '/area-privata');
  await page.getByText('Lucia Verdi').first().waitFor();
  await page.close();
});

test('the identity provider\'s fault choices end on a clear page, and nobody is logged in', async () => {
  const visitor = await browser.newContext();
  const page = await visitor.newPage();

  await toIdentityProvider(page);
  await page.getByRole('button', { name: 'Annulla' }).click();
  await page.getByRole('heading', { name: 'Accesso non riuscito' }).waitFor();
  await page.getByText("Processo di autenticazione annullato dall'utente.").waitFor();
  await checked(page, 'spid-annullato');

  for (const fault of [/Firma non valida/, /Asserzione scaduta/, /Destinatario errato/, /Livello di autenticazione inferiore/]) {
    await toIdentityProvider(page);
    await page.getByLabel(fault).check();
    await page.getByRole('button', { name: 'Entra' }).click();
    await page.getByRole('heading', { name: 'Accesso non riuscito' }).waitFor();
    await page.getByText(/Non è stato possibile verificare la risposta del gestore/).waitFor();
  }
  await checked(page, 'spid-rifiutato');
  await page.goto(app.base + '/area-privata');
  assert.ok(page.url().includes('/login'), 'no session was opened');
  await visitor.close();
});
