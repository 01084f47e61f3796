// The newcomer's walk of README.md, in a real browser under the pages' own policies, only by
// clicking what the pages show: home → REGISTRATI → POSTA (DEMO) → activation link → LOGIN →
// La tua Sezione Privata → Pagamenti OnLine → Nuovo Pagamento (a traffic fine) → cart →
// Procedi al pagamento → the sandbox's Checkout → a PSP and the test card 4242… →
// "Pagamento eseguito" → Storico pagamenti → detail → the receipt PDF, downloaded and read.
// Every page is checked with axe-core; the harness fails the test on any CSP violation, page
// error or failed asset.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApp, launchBrowser, audit, pdfText, artifacts } from './harness.mjs';

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

test('the README walk: register, activate, pay a fine at the sandbox Checkout, print the receipt', async () => {
  const page = await context.newPage();
  const checked = async (name) => {
    const violations = await audit(page, name);
    assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
  };

  // "open http://127.0.0.1:8080: register"
  await page.goto(app.base + '/');
  // The card's text is in Lora, the design system's card face, loaded from the binary's copy
  // (it used to fall back to the system serif); the "read more" arrow comes from the sprite.
  const fonts = await page.evaluate(() => document.fonts.ready.then((set) =>
    [...set].filter((f) => f.status === 'loaded').map((f) => f.family.replace(/"/g, ''))));
  assert.ok(fonts.includes('Lora') && fonts.includes('Titillium Web'), fonts.join(', '));
  assert.equal((await page.locator('.read-more svg.icon').boundingBox())?.width, 16);
  await checked('home');
  await page.getByRole('link', { name: 'REGISTRATI' }).first().click();
  await page.getByRole('heading', { name: 'REGISTRATI' }).waitFor();
  await page.getByLabel(/^Nome/).fill('Anna');
  await page.getByLabel(/^Cognome/).fill('Neri');
  await page.getByLabel('Codice fiscale').fill('NRENNA90A41G535K');
  await page.getByLabel('Data di nascita').fill('01/01/1990');
  await page.getByLabel('Indirizzo').fill('Via Calzolai 1');
  await page.getByLabel('CAP').fill('29121');
  await page.getByLabel(/^Comune/).fill('Piacenza');
  await page.getByLabel('Provincia').fill('PC');
  await page.getByLabel('E-mail').fill('anna.neri@example.it');
  await page.getByLabel('Scegli un nome utente').fill('aneri');
  await page.getByLabel('Scegli una password').fill('lanterna fiume collina');
  await page.getByLabel('Ripeti la password').fill('lanterna fiume collina');
  await page.getByLabel(/informativa sul trattamento/).check({ force: true });
  await page.getByRole('button', { name: 'REGISTRAMI' }).click();
  await page.getByRole('heading', { level: 1, name: 'Registrazione completata' }).waitFor();
  await checked('registrazione-completata');

  // "open POSTA (DEMO) to click the activation link"
  await page.getByRole('link', { name: 'POSTA (DEMO)', exact: true }).click();
  await page.getByRole('heading', { name: 'Posta di sviluppo' }).waitFor();
  await checked('posta-demo');
  await page.getByRole('link', { name: /Conferma il tuo indirizzo/ }).first().click();
  await checked('posta-demo-messaggio');
  await page.locator('a[href*="/attiva?token="]').first().click();
  await page.getByText('Account attivato').first().waitFor();
  await checked('account-attivato');

  // "log in, and reach La tua Sezione Privata → Pagamenti OnLine"
  await page.getByRole('link', { name: 'LOGIN' }).first().click();
  await page.getByLabel('Username').fill('aneri');
  await page.getByLabel('Password', { exact: true }).fill('lanterna fiume collina');
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'La tua Sezione Privata' }).waitFor();
  await page.getByRole('link', { name: 'Pagamenti OnLine' }).click();
  await page.getByRole('heading', { name: 'Pagamenti OnLine' }).waitFor();

  // "Add a payment with Nuovo Pagamento (a traffic fine)"
  await page.getByRole('link', { name: 'Nuovo Pagamento' }).click();
  await page.getByRole('link', { name: /multe/i }).click();
  await page.getByLabel(/^Importo da pagare/).fill('87,50');
  await page.getByLabel(/^Cognome \/ nome/).fill('Neri Anna');
  await page.getByLabel(/^Codice fiscale o partita IVA/).fill('NRENNA90A41G535K');
  await page.getByLabel(/^Numero verbale/).fill('V-2026-118');
  await page.getByLabel(/^Data del verbale/).fill('12/03/2026');
  await page.getByLabel(/^Numero di targa/).fill('FG456HJ');
  await page.getByRole('button', { name: 'Prosegui' }).click();
  await page.getByRole('heading', { name: 'Riepilogo del pagamento' }).waitFor();
  await page.getByRole('button', { name: 'Conferma' }).click();
  const created = await page.getByRole('status').innerText();
  const notice = created.match(/codice avviso ([\d ]+)/)[1].trim();
  assert.match(notice, /^3\d{3} \d{4} \d{4} \d{4} \d{2}$/, created);

  // "select it, Procedi al pagamento: you land on the sandbox's Checkout page"
  await page.locator('#carrello input[name="opzione"]').first().check({ force: true });
  await checked('carrello-selezionato');
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
  assert.ok(page.url().startsWith(app.sandbox + '/checkout/'), page.url());
  await page.getByText('87,50 €').first().waitFor();
  await checked('sandbox-checkout');

  // "choose a PSP, pay with the test card 4242 4242 4242 4242"
  await page.getByLabel(/Intesa Sanpaolo/).check();
  await page.getByLabel('Titolare della carta').fill('Anna Neri');
  await page.getByLabel('Numero della carta').fill('4242 4242 4242 4242');
  await page.getByLabel(/^Scadenza/).fill('11/31');
  await page.getByLabel(/Codice di sicurezza/).fill('321');
  await page.getByRole('button', { name: 'Paga', exact: true }).click();

  // "and come back to Pagamento eseguito once the receipt is in"
  await page.waitForURL((url) => url.href.startsWith(app.base + '/pagamenti/esito/'));
  await page.getByRole('heading', { name: /Pagamento eseguito/ }).waitFor({ timeout: 20000 });
  await checked('pagamento-eseguito');

  // "the payment is then in Storico pagamenti": detail, then the receipt as a PDF.
  await page.getByRole('link', { name: /storico pagamenti/i }).first().click();
  await page.getByRole('heading', { name: 'Storico pagamenti effettuati con esito positivo' }).waitFor();
  assert.equal(await page.locator('#storico tbody tr').count(), 1);
  await checked('storico');
  await page.getByRole('link', { name: /Vedi dettaglio pagamento/ }).first().click();
  await page.getByRole('heading', { name: 'Dettaglio pagamento' }).waitFor();
  await page.getByText('Carta di pagamento').first().waitFor();
  await page.getByText('Comune di Piacenza (00229080338)').first().waitFor();
  await checked('dettaglio');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Stampa la ricevuta' }).click(),
  ]);
  assert.equal(await download.failure(), null);
  assert.match(download.suggestedFilename(), /^ricevuta-\d{18}\.pdf$/);
  await download.saveAs(join(artifacts, 'journey-ricevuta.pdf'));
  const pdf = readFileSync(await download.path());
  assert.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
  const text = pdfText(pdf);
  assert.ok(text.includes(notice), `the receipt names the notice ${notice}:\n${text}`);
  assert.ok(text.includes('87,50'), text);
  assert.ok(text.includes('Carta di pagamento'), text);
  assert.ok(/Canale\s+Online \(/.test(text), `the channel reads in Italian:\n${text}`);
  assert.ok(!/\bCP\b/.test(text), `no pagoPA code for the method:\n${text}`);
  await page.close();
});
