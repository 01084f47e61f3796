// The pages the other browser tests do not reach, each opened once in Chromium under its own
// policy and checked with axe-core: the manual, the privacy notice, the error pages, account
// recovery, the payment waiting for its receipt, a card refused at the sandbox's Checkout and
// the return to Sportello, the notice PDF of the cart, and a paper notice paid at the sandbox's
// PSP counter.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startApp, launchBrowser, audit, pdfText, registerAndLogIn, addTrafficFine } from './harness.mjs';

let app, browser, context, page;

async function checked(name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

before(async () => {
  // The "delayed receipt" test card waits long enough to see the waiting page.
  app = await startApp({ SPORTELLO_SANDBOX_RECEIPT_DELAY_MS: '4000' });
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

test('a visitor: manual, privacy, a missing page, a stale form, account recovery', async () => {
  await page.goto(app.base + '/');
  await page.getByRole('link', { name: 'MANUALE', exact: true }).click();
  await page.getByRole('heading', { name: "Manuale d'uso" }).waitFor();
  await checked('manuale');
  await page.getByRole('link', { name: 'Informativa privacy' }).click();
  await page.getByRole('heading', { name: /Informativa sul trattamento/ }).waitFor();
  await checked('privacy');

  const missing = await page.goto(app.base + '/pagina-che-non-esiste');
  assert.equal(missing.status(), 404);
  await page.getByRole('heading', { name: 'Pagina non trovata' }).waitFor();
  await checked('pagina-non-trovata');
  await page.getByRole('link', { name: 'Torna alla pagina iniziale' }).click();
  await page.getByRole('heading', { name: 'Piattaforma dei Pagamenti Elettronici PagoPA' }).waitFor();

  // A login form whose session expired meanwhile (its token no longer matches).
  await page.goto(app.base + '/login');
  await context.clearCookies();
  await page.getByLabel('Username').fill('qualcuno');
  await page.getByLabel('Password', { exact: true }).fill('una password qualsiasi');
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'Sessione scaduta' }).waitFor();
  await checked('sessione-scaduta');

  await page.goto(app.base + '/login');
  await page.getByRole('link', { name: 'Username dimenticato?' }).click();
  await checked('username-dimenticato');
  await page.getByLabel(/E-mail/).fill('nessuno@example.it');
  await page.getByRole('button', { name: 'Invia' }).click();
  await page.getByText(/Se l'indirizzo è registrato/).waitFor();
  await checked('username-dimenticato-inviato');

  await page.goto(app.base + '/attivazione/reinvia');
  await checked('reinvia-attivazione');
});

const addFine = (amount, number) => addTrafficFine(page, app.base, {
  amount, number, name: 'Ferrari Luca', fiscalCode: 'FRRLCU75C15G535U', date: '02/02/2026', plate: 'EZ321KL',
});

async function payWithCard(card) {
  await page.goto(app.base + '/pagamenti');
  await page.locator('#carrello input[name="opzione"]').first().check({ force: true });
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
  await page.getByLabel('Titolare della carta').fill('Luca Ferrari');
  await page.getByLabel('Numero della carta').fill(card);
  await page.getByLabel(/^Scadenza/).fill('10/30');
  await page.getByLabel(/Codice di sicurezza/).fill('555');
  await page.getByRole('button', { name: 'Paga', exact: true }).click();
}

test('a citizen: the notice PDF, a refused card, a receipt that comes late, the PSP counter', async () => {
  await registerAndLogIn(page, app.base, {
    first: 'Luca', last: 'Ferrari', fiscalCode: 'FRRLCU75C15G535U', birthDate: '15/03/1975',
    address: 'Strada Farnesiana 3', cap: '29122', city: 'Piacenza', province: 'PC',
    email: 'luca.ferrari@example.it', username: 'lferrari', password: 'tramonto collina ciliegio',
  });
  const first = await addFine('33,00', 'P-1');

  // "Scarica l'avviso" in the cart: the paper notice with its code.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: /Scarica l'avviso/ }).first().click(),
  ]);
  const notice = readFileSync(await download.path());
  assert.equal(notice.subarray(0, 5).toString('latin1'), '%PDF-');
  assert.ok(pdfText(notice).includes(first), `the notice shows ${first}`);

  // A card the issuer refuses: the sandbox says so, and the way back lands on Sportello.
  await payWithCard('4000 0000 0000 0002');
  await page.getByRole('heading', { name: 'Pagamento rifiutato' }).waitFor();
  await checked('sandbox-carta-rifiutata');
  await page.getByRole('link', { name: "Torna al sito dell'ente" }).click();
  await page.getByRole('heading', { name: 'Pagamento non riuscito' }).waitFor();
  assert.ok(page.url().startsWith(app.base), page.url());
  await checked('pagamento-non-riuscito');

  // The receipt arrives a few seconds late: the page waits, reloading itself, then says paid.
  await payWithCard('4000 0000 0000 9995');
  await page.getByRole('heading', { name: 'Pagamento in attesa della ricevuta' }).waitFor();
  await checked('in-attesa-della-ricevuta');
  // Without any action, the page turns into the outcome once the receipt is in.
  await page.getByRole('heading', { name: 'Pagamento eseguito' }).waitFor({ timeout: 20000 });

  // A paper notice paid at the sandbox's PSP counter, as at a bank or a tobacconist.
  const second = await addFine('19,90', 'P-2');
  await page.goto(app.sandbox + '/psp');
  await page.getByLabel('Codice avviso').fill(second);
  await page.getByLabel(/Codice fiscale dell'ente/).fill('00229080338');
  await page.getByRole('button', { name: "Verifica l'avviso" }).click();
  await page.getByText('19,90 €').first().waitFor();
  await checked('sandbox-psp-avviso');
  await page.getByRole('button', { name: 'Incassa in contanti e paga' }).click();
  await page.getByRole('heading', { name: 'Pagamento eseguito' }).waitFor();
  await checked('sandbox-psp-pagato');

  // Both are in the history; the counter's method reads in Italian too.
  await page.goto(app.base + '/pagamenti/storico');
  assert.equal(await page.locator('#storico tbody tr').count(), 2);
  await page.getByRole('link', { name: /Vedi dettaglio pagamento.*P-2/ }).click();
  await page.getByText('Contanti').first().waitFor();
  await page.getByText(/^Sportello fisico/).first().waitFor();
  await checked('dettaglio-contanti');
});
