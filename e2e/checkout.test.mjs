// Paying the cart in a real browser: Sportello → the sandbox's Checkout pages → back on Sportello,
// paid once the receipt is in; the PSP counter for a paper notice. axe-core on every page,
// the sandbox's included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, launchBrowser, audit, registerAndLogIn, addTrafficFine } from './harness.mjs';

let app, browser, context, page;

async function checked(name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

before(async () => {
  app = await startApp();
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
  await registerAndLogIn(page, app.base, {
    first: 'Mario', last: 'Rossi', fiscalCode: 'RSSMRA80A01H501U', birthDate: '01/01/1980',
    address: 'Via Emilia 1', cap: '29121', city: 'Piacenza', province: 'PC',
    email: 'mario.rossi@example.it', username: 'mrossi', password: 'cavallo batteria graffetta',
  });
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

const addFine = (amount, number) => addTrafficFine(page, app.base, {
  amount, number, name: 'Rossi Mario', fiscalCode: 'RSSMRA80A01H501U',
});

test('log in, cart, pay in the sandbox, back on Sportello: paid', async () => {
  await addFine('41,00', 'A-1');
  await addFine('12,50', 'A-2');
  await page.goto(app.base + '/pagamenti');
  await page.locator('input[name="opzione"]').nth(0).check();
  await page.locator('input[name="opzione"]').nth(1).check();
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();

  // On the sandbox's Checkout page.
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
  assert.ok(page.url().startsWith(app.sandbox), page.url());
  await assert.doesNotReject(page.getByText('SANDBOX – nessun pagamento reale').waitFor());
  await assert.doesNotReject(page.getByText('53,50 €').first().waitFor());
  await checked('sandbox-checkout');
  await page.getByLabel(/Paytipper S\.p\.A\./).check();
  await page.getByLabel('Titolare della carta').fill('Mario Rossi');
  await page.getByLabel('Numero della carta').fill('4242 4242 4242 4242');
  await page.getByLabel(/^Scadenza/).fill('12/30');
  await page.getByLabel(/Codice di sicurezza/).fill('123');
  await page.getByRole('button', { name: 'Paga', exact: true }).click();

  // Back on Sportello: waiting, then paid (the page reloads itself).
  await page.waitForURL(/\/pagamenti\/esito\/.+\/ok$/);
  await page.getByRole('heading', { name: /Pagamento eseguito/ }).waitFor({ timeout: 20000 });
  await checked('esito-pagamento-eseguito');
  await assert.doesNotReject(page.getByRole('link', { name: /storico pagamenti/ }).waitFor());
  await page.goto(app.base + '/pagamenti');
  await page.getByText('Carrello vuoto.').waitFor();

  // The sandbox's message log shows the exchange.
  await page.goto(app.sandbox + '/messages');
  await assert.doesNotReject(page.getByText('paSendRTV2').first().waitFor());
  await checked('sandbox-messaggi');
});

test('the paid notices are in Storico pagamenti: filters, selection total, detail', async () => {
  await page.goto(app.base + '/pagamenti/storico');
  await page.getByRole('heading', { name: 'Storico pagamenti effettuati con esito positivo' }).waitFor();
  assert.equal(await page.locator('#storico tbody tr').count(), 2);
  await checked('storico');

  await page.getByText('Visualizza Filtri di Ricerca').click();
  await page.getByLabel('Causale contiene').fill('A-1');
  await page.getByRole('button', { name: 'Cerca' }).click();
  assert.equal(await page.locator('#storico tbody tr').count(), 1);
  await checked('storico-filtrato');
  await page.getByRole('link', { name: 'Azzera i filtri' }).click();

  // With JavaScript the total follows the checkboxes; the server computes the same on submit.
  await page.locator('input.seleziona').nth(0).check({ force: true });
  await page.locator('input.seleziona').nth(1).check({ force: true });
  await page.getByText('Pagamenti Selezionati: 2 | Totale importi: 53,50 €').waitFor();
  await page.getByRole('button', { name: 'Aggiorna il totale' }).click();
  await page.getByText('Pagamenti Selezionati: 2 | Totale importi: 53,50 €').waitFor();
  await checked('storico-selezione');

  await page.getByRole('link', { name: /Vedi dettaglio pagamento/ }).first().click();
  await page.getByRole('heading', { name: 'Dettaglio pagamento' }).waitFor();
  await assert.doesNotReject(page.getByText('Paytipper S.p.A.').first().waitFor());
  await assert.doesNotReject(page.getByText('Id ricevuta (receiptId)').waitFor());
  await checked('dettaglio-pagamento');
});

test('a cancelled payment goes back to the cart', async () => {
  await addFine('20,00', 'C-1');
  await page.goto(app.base + '/pagamenti');
  await page.locator('input[name="opzione"]').first().check();
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
  await page.getByRole('button', { name: /Annulla/ }).click();
  await page.getByText('Il pagamento è stato annullato').waitFor();
  await checked('carrello-annullato');
  assert.equal(await page.locator('input[name="opzione"]').count(), 1);
});

test('the sandbox home and the PSP counter', async () => {
  await page.goto(app.sandbox + '/');
  await page.getByRole('heading', { name: 'Sandbox pagoPA' }).waitFor();
  await checked('sandbox-home');
  await page.goto(app.sandbox + '/psp');
  await checked('sandbox-psp');
  await page.getByLabel('Codice avviso').fill('301000000000000199');
  await page.getByLabel(/Codice fiscale dell'ente/).fill('00229080338');
  await page.getByRole('button', { name: "Verifica l'avviso" }).click();
  await page.getByRole('alert').waitFor();
  await checked('sandbox-psp-errore');
});
