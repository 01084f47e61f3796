// The citizen's path through Sportello in a real browser, every page checked with axe-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSmtpSink, startApp, launchBrowser, audit } from './harness.mjs';

let smtp, app, browser, context;

before(async () => {
  smtp = await startSmtpSink();
  app = await startApp({ SPORTELLO_SMTP_URL: smtp.url });
  ({ browser, context } = await launchBrowser());
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
  await smtp?.close();
});

async function checked(page, name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

function linkIn(mail, needle) {
  const m = mail.text.match(new RegExp(`https?://\\S*${needle.replace(/[?]/g, '\\?')}\\S*`));
  assert.ok(m, `no ${needle} link in:\n${mail.text}`);
  return m[0];
}

test('register, confirm by e-mail, log in, reach Pagamenti OnLine, log out, reset the password', async () => {
  const page = await context.newPage();
  await page.goto(app.base + '/');
  await assert.doesNotReject(page.getByText('Comune di Piacenza').first().waitFor());
  await checked(page, 'home');

  await page.getByRole('link', { name: 'REGISTRATI' }).first().click();
  await checked(page, 'registrazione');
  await page.getByLabel(/^Nome/).fill('Giulia');
  await page.getByLabel(/^Cognome/).fill('Bianchi');
  await page.getByLabel('Codice fiscale').fill('BNCGLI85M41G337L');
  await page.getByLabel('Data di nascita').fill('01/08/1985');
  await page.getByLabel('Indirizzo').fill('Via Roma 10');
  await page.getByLabel('CAP').fill('29121');
  await page.getByLabel(/^Comune/).fill('Piacenza');
  await page.getByLabel('Provincia').fill('PC');
  await page.getByLabel('Telefono').fill('0523 000000');
  await page.getByLabel('E-mail').fill('giulia.bianchi@example.it');
  await page.getByLabel('Scegli un nome utente').fill('gbianchi');
  await page.getByLabel('Scegli una password').fill('gatto pianoforte collina');
  await page.getByLabel('Ripeti la password').fill('gatto pianoforte collina');
  // Bootstrap Italia draws its own checkbox over the native one, which it hides.
  await page.getByLabel(/informativa sul trattamento/).check({ force: true });
  await page.getByRole('button', { name: 'REGISTRAMI' }).click();
  await page.getByText('Grazie, Giulia: il tuo account è stato creato.').waitFor();
  await checked(page, 'registrazione-completata');

  const activation = await smtp.waitFor('giulia.bianchi@example.it');
  assert.match(activation.subject, /Conferma il tuo indirizzo e-mail/);
  assert.ok(activation.html.includes('Conferma l'), 'the mail has an HTML part');
  await page.goto(linkIn(activation, '/attiva?token='));
  await page.getByText('Account attivato').first().waitFor();
  await checked(page, 'account-attivato');

  await page.goto(app.base + '/login');
  await checked(page, 'login');
  await page.getByLabel('Username').fill('gbianchi');
  await page.getByLabel('Password', { exact: true }).fill('gatto pianoforte collina');
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'La tua Sezione Privata' }).waitFor();
  await checked(page, 'sezione-privata');
  await assert.doesNotReject(page.getByText('SERVIZI PUBBLICI').waitFor());
  await assert.doesNotReject(page.getByText('SERVIZI PRIVATI').waitFor());

  await page.getByRole('link', { name: 'Pagamenti OnLine' }).click();
  await page.getByRole('heading', { name: 'Pagamenti OnLine' }).waitFor();
  await checked(page, 'pagamenti-online');

  await page.goto(app.base + '/profilo');
  await checked(page, 'profilo');

  await page.getByRole('button', { name: 'ESCI' }).click();
  await page.getByRole('button', { name: 'ENTRA' }).waitFor();
  await page.goto(app.base + '/area-privata');
  assert.ok(page.url().includes('/login'), 'logged out');

  await page.getByRole('link', { name: 'Password dimenticata?' }).click();
  await checked(page, 'password-dimenticata');
  await page.getByLabel('Username').fill('gbianchi');
  await page.getByRole('button', { name: 'Invia' }).click();
  await page.getByText('Se il nome utente è registrato').waitFor();
  await checked(page, 'password-dimenticata-inviata');

  const reset = await smtp.waitFor('giulia.bianchi@example.it', 2);
  assert.match(reset.subject, /Reimposta la password/);
  await page.goto(linkIn(reset, '/password/reimposta?token='));
  await checked(page, 'nuova-password');
  await page.getByLabel(/^Nuova password/).fill('fiume montagna lanterna');
  await page.getByLabel('Ripeti la nuova password').fill('fiume montagna lanterna');
  await page.getByRole('button', { name: 'Salva la nuova password' }).click();
  await page.getByRole('heading', { name: 'Password modificata' }).waitFor();
  await checked(page, 'password-modificata');

  await page.goto(app.base + '/login');
  await page.getByLabel('Username').fill('gbianchi');
  await page.getByLabel('Password', { exact: true }).fill('fiume montagna lanterna');
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'La tua Sezione Privata' }).waitFor();
  await page.close();
});

test('a registration with every field wrong shows every error, next to its field and in a summary', async () => {
  // A visitor, not the citizen logged in above (a logged-in citizen is sent to the private area).
  const visitor = await browser.newContext();
  const page = await visitor.newPage();
  await page.goto(app.base + '/registrazione');
  await page.getByLabel(/^Cognome/).fill('B1anchi');
  await page.getByLabel('Codice fiscale').fill('BNCGLI85M41G337X');
  await page.getByLabel('Data di nascita').fill('31/02/1985');
  await page.getByLabel('CAP').fill('291');
  await page.getByLabel('Provincia').fill('Piacenza');
  await page.getByLabel('Telefono').fill('telefono');
  await page.getByLabel('Fax').fill('1');
  await page.getByLabel('E-mail').fill('giulia@');
  await page.getByLabel('Scegli un nome utente').fill('g b');
  await page.getByLabel('Scegli una password').fill('corta');
  await page.getByLabel('Ripeti la password').fill('diversa');
  await page.getByRole('button', { name: 'REGISTRAMI' }).click();
  await page.getByText('Il modulo contiene 15 errori').waitFor();
  const summaryLinks = await page.locator('#riepilogo-errori a').count();
  assert.equal(summaryLinks, 15);
  assert.equal(await page.locator('.invalid-feedback').count(), 15);
  assert.equal(await page.getByLabel('Codice fiscale').inputValue(), 'BNCGLI85M41G337X', 'typed values are kept');
  assert.equal(await page.getByLabel('Scegli una password').inputValue(), '', 'passwords are not echoed');
  await checked(page, 'registrazione-errori');
  await visitor.close();
});
