// "Pagamenti OnLine" in a real browser: the cart, a traffic fine and a nursery fee from their
// forms, and a notice paid for someone else; every page checked with axe-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApp, launchBrowser, audit, registerAndLogIn } from './harness.mjs';

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

test('an empty cart, then a traffic fine and a nursery fee from their forms', async () => {
  await page.goto(app.base + '/pagamenti');
  await page.getByText('Carrello vuoto.').waitFor();
  await checked('carrello-vuoto');

  await page.getByRole('link', { name: 'Nuovo Pagamento' }).click();
  await checked('nuovo-pagamento');
  await page.getByRole('link', { name: /multe/ }).click();
  await checked('modulo-multe');
  await page.getByLabel(/^Importo da pagare/).fill('41,00');
  await page.getByLabel(/^Cognome \/ nome/).fill('Rossi Mario');
  await page.getByLabel(/^Codice fiscale o partita IVA/).fill('RSSMRA80A01H501U');
  await page.getByLabel(/^Numero verbale/).fill('A-7781');
  await page.getByLabel(/^Data del verbale/).fill('31/02/2026');
  await page.getByLabel(/^Numero di targa/).fill('AB123CD');
  await page.getByRole('button', { name: 'Prosegui' }).click();
  await page.getByText('La data non esiste nel calendario').first().waitFor();
  await checked('modulo-multe-errori');
  await page.getByLabel(/^Data del verbale/).fill('05/04/2026');
  await page.getByRole('button', { name: 'Prosegui' }).click();
  await page.getByRole('heading', { name: 'Riepilogo del pagamento' }).waitFor();
  await checked('riepilogo-multa');
  await page.getByRole('button', { name: 'Conferma' }).click();
  await page.getByText('Il pagamento è stato aggiunto al tuo Elenco Pagamenti').waitFor();

  await page.goto(app.base + '/pagamenti/nuovo/asilo_nido');
  await checked('modulo-asilo-nido');
  await page.getByLabel(/^Importo da pagare/).fill('250');
  await page.getByLabel(/^Cognome \/ nome/).fill('Rossi Mario');
  await page.getByLabel(/^Codice fiscale o partita IVA/).fill('RSSMRA80A01H501U');
  await page.getByLabel(/^Numero rata/).fill('03');
  await page.getByLabel(/^Data scadenza/).fill('31/03/2026');
  await page.getByRole('button', { name: 'Prosegui' }).click();
  await page.getByRole('button', { name: 'Conferma' }).click();
  await page.getByText('Il pagamento è stato aggiunto al tuo Elenco Pagamenti').waitFor();
  await checked('carrello');
  const rows = await page.locator('#carrello tbody tr').count();
  assert.equal(rows, 2);
  await assert.doesNotReject(page.getByText('Verbale n. A-7781 del 05/04/2026 - targa AB123CD', { exact: true }).waitFor());
  await assert.doesNotReject(page.getByText('Retta asilo nido - rata 03 scadenza 31/03/2026', { exact: true }).waitFor());
});

test('a notice addressed to someone else, found by its code and added to the cart', async () => {
  // A notice the municipality addressed to someone else (through its debt-position API): we
  // have only its code. (A fine we created ourselves would already be ours.)
  const created = await fetch(app.base + '/gpd/debt-positions-service/v1/organizations/00229080338/debtpositions?toPublish=true', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'Ocp-Apim-Subscription-Key': 'sportello-demo-key' },
    body: JSON.stringify({
      iupd: 'E2E-PER-ALTRI', type: 'F', fiscalCode: 'BNCGLI85M41G337L', fullName: 'Bianchi Giulia',
      companyName: 'Comune di Piacenza', switchToExpired: false,
      paymentOption: [{
        amount: 1250, description: 'Verbale n. B-1 del 01/03/2026 - targa CD456EF', isPartialPayment: false,
        dueDate: '2030-12-31T23:59:59', fee: 0,
        transfer: [{ idTransfer: '1', amount: 1250, remittanceInformation: 'Verbale B-1',
          category: '9/0101108TS/', iban: 'IT60X0542811101000000123456' }],
      }],
    }),
  });
  assert.equal(created.status, 201, await created.clone().text());
  const code = (await created.json()).paymentOption[0].nav;

  await page.getByRole('link', { name: 'Pagamento per altri da Avviso' }).click();
  await checked('pagamento-per-altri');
  const wrong = code.slice(0, -1) + (code.endsWith('9') ? '0' : String(Number(code.slice(-1)) + 1));
  await page.getByLabel(/Codice avviso o IUUV/).fill(wrong);
  await page.getByRole('button', { name: "Cerca l'avviso" }).click();
  await page.getByText('La cifra di controllo del codice avviso non è corretta').waitFor();
  await checked('pagamento-per-altri-errore');
  await page.getByLabel(/Codice avviso o IUUV/).fill(code);
  await page.getByRole('button', { name: "Cerca l'avviso" }).click();
  await page.getByRole('heading', { name: 'Avviso trovato' }).waitFor();
  await assert.doesNotReject(page.getByText('B****** G*****').waitFor());
  await checked('pagamento-per-altri-trovato');
  await page.getByRole('button', { name: 'Aggiungi al carrello' }).click();
  await page.getByText("L'avviso è stato aggiunto al tuo Elenco Pagamenti.").waitFor();
  assert.equal(await page.locator('#carrello tbody tr').count(), 3);

  // Choose two and proceed: off to pagoPA Checkout (the sandbox in the demo); paying there is
  // e2e/checkout.test.mjs.
  await page.locator('input[name=opzione]').nth(0).check({ force: true });
  await page.locator('input[name=opzione]').nth(1).check({ force: true });
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
  assert.ok(page.url().startsWith(app.sandbox), page.url());
  await checked('procedi-al-pagamento');
});
