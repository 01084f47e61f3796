// The back office (/ufficio) in a real browser: an operator created with the command line logs
// in with a TOTP code computed here, finds a position paid at the sandbox's PSP counter by the
// debtor's fiscal code, sees its receipt and SOAP exchange, invalidates another with a reason,
// exports CSV and resolves an anomaly; then creates an operator in the pages, who logs in with
// the key shown once and sees only their service, and disables them. axe-core on every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, launchBrowser, audit, binary, registerAndLogIn, addTrafficFine, totp, publishPosition } from './harness.mjs';

const DEBTOR = 'VRDGPP80A01H501U';
const PASSWORD = "una frase lunga per l'ufficio";
let app, browser, context, page, dbUrl;

async function checked(name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

/** A published position of the debtor (through the debt-position API); its notice code. */
function position(iupd, cents) {
  return publishPosition(app.base, { iupd, cents, fiscalCode: DEBTOR, fullName: 'Giuseppe Verdi' });
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sportello-e2e-ufficio-'));
  dbUrl = `sqlite://${dir}/ufficio.db`;
  // Every checkout still waiting for its receipt is an anomaly at once.
  app = await startApp({ SPORTELLO_DATABASE_URL: dbUrl, SPORTELLO_BACKOFFICE_CHECKOUT_OVERDUE_MINUTES: '0' });
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

test('a notice paid at the PSP counter, and a checkout left half way', async () => {
  const paid = await position('E2E-PAGATA', 12500);
  await position('E2E-DA-ANNULLARE', 3000);
  await page.goto(app.sandbox + '/psp');
  await page.getByLabel('Codice avviso').fill(paid);
  await page.getByLabel(/Codice fiscale dell'ente/).fill('00229080338');
  await page.getByRole('button', { name: "Verifica l'avviso" }).click();
  await page.getByRole('button', { name: 'Incassa in contanti e paga' }).click();
  await page.getByRole('heading', { name: 'Pagamento eseguito' }).waitFor();
  // A citizen goes to Checkout and never comes back: the checkout waits for its receipt.
  await registerAndLogIn(page, app.base, {
    first: 'Mario', last: 'Rossi', fiscalCode: 'RSSMRA80A01H501U', birthDate: '01/01/1980',
    address: 'Via Emilia 1', cap: '29121', city: 'Piacenza', province: 'PC',
    email: 'mario.rossi@example.it', username: 'mrossi', password: 'cavallo batteria graffetta',
  });
  await addTrafficFine(page, app.base, { amount: '41,00', number: 'A-1', name: 'Rossi Mario', fiscalCode: 'RSSMRA80A01H501U' });
  await page.goto(app.base + '/pagamenti');
  await page.locator('input[name="opzione"]').first().check();
  await page.getByRole('button', { name: 'Procedi al pagamento' }).click();
  await page.getByRole('heading', { name: 'Paga con pagoPA' }).waitFor();
});

test('an operator created on the command line logs in with a TOTP code', async () => {
  const env = { ...process.env, SPORTELLO_DATABASE_URL: dbUrl, RUST_LOG: 'warn' };
  for (const k of Object.keys(env)) if (k.startsWith('SPORTELLO_') && !['SPORTELLO_BIN', 'SPORTELLO_DATABASE_URL'].includes(k)) delete env[k];
  const out = execFileSync(binary(), ['operator', 'add', '--username', 'capoufficio', '--role', 'admin'], { env }).toString('utf8');
  const password = out.match(/password iniziale[^:]*: (\S+)/)[1];
  const secret = out.match(/chiave TOTP: ([A-Z2-7]+)/)[1];
  assert.match(out, /otpauth:\/\/totp\/.+secret=/);

  await page.goto(app.base + '/ufficio');
  await page.getByRole('heading', { name: "Accesso all'ufficio pagamenti" }).waitFor();
  await checked('ufficio-login');
  await page.getByLabel('Username').fill('capoufficio');
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Codice di verifica').fill('000000' === totp(secret) ? '111111' : '000000');
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByText('Username, password o codice di verifica non corretti.').waitFor();
  await checked('ufficio-login-errore');
  await page.getByLabel('Username').fill('capoufficio');
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Codice di verifica').fill(totp(secret));
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'Cambia la password' }).waitFor();
  await checked('ufficio-cambia-password');
  await page.getByLabel(/^Nuova password/).fill(PASSWORD);
  await page.getByLabel('Ripeti la nuova password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Salva la password' }).click();
  await page.getByRole('heading', { name: 'Cruscotto' }).waitFor();
  await assert.doesNotReject(page.getByText('125,00 €').first().waitFor());
  await checked('ufficio-cruscotto');
});

test('find the paid position by fiscal code: receipt and SOAP exchange', async () => {
  await page.getByRole('link', { name: 'Posizioni', exact: true }).click();
  await checked('ufficio-posizioni');
  await page.getByLabel('Codice fiscale del debitore').fill(DEBTOR.toLowerCase());
  await page.getByRole('button', { name: 'Cerca', exact: true }).click();
  await page.getByRole('row', { name: /E2E-PAGATA/ }).getByRole('link').click();
  await page.getByRole('heading', { name: 'Posizione E2E-PAGATA' }).waitFor();
  await assert.doesNotReject(page.getByRole('heading', { name: 'Ricevute' }).waitFor());
  const receipts = page.locator('#tabella-ricevute');
  await assert.doesNotReject(receipts.getByText('125,00 €').waitFor());
  await page.getByText(/^paSendRT(V2)? \(ricevuto/).first().click();
  await assert.doesNotReject(page.getByText(/receiptId/).first().waitFor());
  await checked('ufficio-posizione-pagata');
  await receipts.getByRole('link').first().click();
  await page.getByRole('heading', { name: /^Ricevuta / }).waitFor();
  await checked('ufficio-ricevuta');
});

test('invalidate another position with a reason', async () => {
  await page.goto(app.base + `/ufficio/posizioni?cf=${DEBTOR}`);
  await page.getByRole('row', { name: /E2E-DA-ANNULLARE/ }).getByRole('link').click();
  await page.getByRole('heading', { name: 'Posizione E2E-DA-ANNULLARE' }).waitFor();
  await checked('ufficio-posizione-da-annullare');
  await page.getByLabel("Motivo dell'annullamento").fill('Canone non dovuto: trasferimento di residenza');
  await page.getByRole('button', { name: 'Annulla la posizione' }).click();
  await page.getByText('Posizione annullata.').waitFor();
  await assert.doesNotReject(page.getByText('Canone non dovuto: trasferimento di residenza', { exact: false }).first().waitFor());
  await checked('ufficio-posizione-annullata');
});

test('export the filtered positions as CSV', async () => {
  await page.goto(app.base + '/ufficio/posizioni');
  await page.getByLabel('Codice fiscale del debitore').fill(DEBTOR);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Esporta CSV' }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^\uFEFFIUPD;Debitore;Codice fiscale/);
  assert.match(csv, /E2E-PAGATA;Giuseppe Verdi;VRDGPP80A01H501U;\d{18};;125,00;31\/12\/2030;Pagata/);
  assert.match(csv, /E2E-DA-ANNULLARE;.*;Annullata/);
  assert.equal(csv.trim().split('\r\n').length, 3, csv);
});

test('resolve an anomaly with a note', async () => {
  await page.goto(app.base + '/ufficio/anomalie');
  await page.getByRole('heading', { name: 'Anomalie da risolvere' }).waitFor();
  await assert.doesNotReject(page.getByText('Pagamento in attesa della ricevuta oltre il limite').first().waitFor());
  await checked('ufficio-anomalie');
  const form = page.locator('form#risolvi-0');
  await form.getByRole('button', { name: 'Segna come risolta' }).click();
  await page.getByText(/Scrivi una nota/).waitFor();
  await page.goto(app.base + '/ufficio/anomalie');
  await page.locator('form#risolvi-0').getByLabel(/^Nota/).fill('Il cittadino ha abbandonato il pagamento: nessun addebito.');
  await page.locator('form#risolvi-0').getByRole('button', { name: 'Segna come risolta' }).click();
  await page.getByText('Anomalia risolta.').waitFor();
  await page.getByText('Nessuna anomalia aperta.').waitFor();
  await checked('ufficio-anomalia-risolta');
  await page.getByRole('link', { name: 'Registro attività' }).click();
  await assert.doesNotReject(page.getByText('ufficio.resolve_anomaly').first().waitFor());
  await checked('ufficio-registro');
});

test('the admin creates an operator in the pages, who logs in and sees only their service; then disables them', async () => {
  await page.goto(app.base + '/ufficio/operatori');
  await page.getByRole('heading', { name: 'Operatori', exact: true }).first().waitFor();
  await checked('ufficio-operatori');
  await page.getByRole('link', { name: 'Nuovo operatore' }).click();
  await page.getByRole('heading', { name: 'Nuovo operatore' }).waitFor();
  await checked('ufficio-nuovo-operatore');
  // A mistake first: an operator needs a service.
  await page.getByLabel(/^Username/).fill('vigile.e2e');
  await page.getByLabel('Ruolo').selectOption('operator');
  await page.getByRole('button', { name: "Crea l'operatore" }).click();
  await page.getByText('Un operatore deve avere almeno un servizio.').first().waitFor();
  await checked('ufficio-nuovo-operatore-errore');
  await page.getByLabel(/^Username/).fill('vigile.e2e');
  // The mode is per service: read-write on the fines, no access to the rest.
  await page.getByLabel(/\(codice multe\)/).selectOption('scrittura');
  await page.getByRole('button', { name: "Crea l'operatore" }).click();
  await page.getByRole('heading', { name: 'Operatore creato' }).waitFor();
  await assert.doesNotReject(page.locator('img#codice-qr[src^="data:image/svg+xml;base64,"]').waitFor());
  await checked('ufficio-operatore-creato');
  const shown = async (label) => (await page.locator('dt', { hasText: label }).locator('xpath=following-sibling::dd[1]').innerText()).trim();
  const password = await shown('Password iniziale');
  const secret = await shown('Chiave TOTP');
  assert.match(secret, /^[A-Z2-7]{32}$/);

  // The new operator, in a browser of their own.
  const theirs = await browser.newContext();
  const clerk = await theirs.newPage();
  try {
    await clerk.goto(app.base + '/ufficio/login');
    await clerk.getByLabel('Username').fill('vigile.e2e');
    await clerk.getByLabel('Password').fill(password);
    await clerk.getByLabel('Codice di verifica').fill(totp(secret));
    await clerk.getByRole('button', { name: 'ENTRA' }).click();
    await clerk.getByRole('heading', { name: 'Cambia la password' }).waitFor();
    await clerk.getByLabel(/^Nuova password/).fill('la password del vigile e2e');
    await clerk.getByLabel('Ripeti la nuova password').fill('la password del vigile e2e');
    await clerk.getByRole('button', { name: 'Salva la password' }).click();
    await clerk.getByRole('heading', { name: 'Cruscotto' }).waitFor();
    // Only their service: the traffic fine, not the API's positions; no operators' page.
    await clerk.goto(app.base + '/ufficio/posizioni');
    await assert.doesNotReject(clerk.getByRole('row', { name: /Rossi Mario|RSSMRA80A01H501U/i }).first().waitFor());
    assert.equal(await clerk.getByText('E2E-PAGATA').count(), 0);
    assert.equal(await clerk.getByRole('link', { name: 'Operatori' }).count(), 0);
    await clerk.goto(app.base + '/ufficio/servizi');
    await assert.doesNotReject(clerk.getByRole('heading', { name: 'Sanzioni al Codice della Strada (multe)' }).waitFor());
    assert.equal(await clerk.getByRole('heading', { name: 'Retta asilo nido' }).count(), 0);
    const violations = await audit(clerk, 'ufficio-servizi-operatore');
    assert.deepEqual(violations, [], violations.join('\n'));

    // The admin disables them: their session stops at the next request.
    await page.goto(app.base + '/ufficio/operatori');
    await page.getByRole('link', { name: 'vigile.e2e' }).click();
    await page.getByRole('heading', { name: 'Operatore vigile.e2e' }).waitFor();
    await checked('ufficio-operatore');
    await page.getByRole('button', { name: "Disattiva l'operatore" }).click();
    await page.getByText('Operatore disattivato: le sue sessioni sono terminate.').waitFor();
    await checked('ufficio-operatore-disattivato');
    await clerk.goto(app.base + '/ufficio/posizioni');
    await clerk.getByRole('heading', { name: "Accesso all'ufficio pagamenti" }).waitFor();
  } finally {
    await theirs.close();
  }
});
