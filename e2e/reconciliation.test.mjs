// Reconciliation in the back office, in a real browser: two notices paid at the sandbox's PSP
// counter, the sandbox publishes its reporting flow (with a line of the wrong amount), an admin
// created on the command line logs in with a TOTP code, presses "Sincronizza ora", sees the flow,
// its lines and the anomaly, uploads the sandbox bank's camt.053 through the file input, sees
// the flow riversato, and follows a position's whole path (notice → receipt → flow line → bank
// credit; the position REPORTED). CSP stays on; axe-core on every page visited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, launchBrowser, audit, totp, addOperator, publishPosition } from './harness.mjs';

const EC = '00229080338';
const DEBTOR = 'RSSMRA80A01H501U';
const PASSWORD = "una frase lunga per l'ufficio";
let app, browser, context, page, dbUrl, dir, fdr;

async function checked(name) {
  const violations = await audit(page, name);
  assert.deepEqual(violations, [], `accessibility violations on ${name}:\n${violations.join('\n')}`);
}

/** A published position of `cents` for the debtor; returns its notice code. */
function position(iupd, cents) {
  return publishPosition(app.base, { iupd, cents, fiscalCode: DEBTOR, fullName: 'Mario Rossi' });
}

/** Pays `nav` in cash at the sandbox's PSP counter, through its page. */
async function payAtCounter(nav) {
  await page.goto(app.sandbox + '/psp');
  await page.getByLabel('Codice avviso').fill(nav);
  await page.getByLabel(/Codice fiscale dell'ente/).fill(EC);
  await page.getByRole('button', { name: "Verifica l'avviso" }).click();
  await page.getByRole('button', { name: 'Incassa in contanti e paga' }).click();
  await page.getByRole('heading', { name: 'Pagamento eseguito' }).waitFor();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sportello-e2e-recon-'));
  dbUrl = `sqlite://${dir}/recon.db`;
  app = await startApp({ SPORTELLO_DATABASE_URL: dbUrl });
  ({ browser, context } = await launchBrowser());
  page = await context.newPage();
});

after(async () => {
  await context?.close();
  await browser?.close();
  await app?.stop();
});

test('two notices paid at the PSP counter; the sandbox publishes their flow', async () => {
  await payAtCounter(await position('E2E-RICONCILIATA', 8050));
  await payAtCounter(await position('E2E-SECONDA', 1950));
  // pagoPA's side: one flow for the day, its first line with another amount than the receipt's.
  const r = await fetch(`${app.sandbox}/fdr/pubblica`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'importo=on',
  });
  const published = await r.json();
  assert.equal(r.status, 200, JSON.stringify(published));
  assert.equal(published.flows.length, 1, JSON.stringify(published));
  fdr = published.flows[0].fdr;
});

test('an admin created on the command line logs in with a TOTP code', async () => {
  const { password, secret } = addOperator(dbUrl, 'ragioneria', 'admin');
  await page.goto(app.base + '/ufficio/login');
  await page.getByLabel('Username').fill('ragioneria');
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Codice di verifica').fill(totp(secret));
  await page.getByRole('button', { name: 'ENTRA' }).click();
  await page.getByRole('heading', { name: 'Cambia la password' }).waitFor();
  await page.getByLabel(/^Nuova password/).fill(PASSWORD);
  await page.getByLabel('Ripeti la nuova password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Salva la password' }).click();
  await page.getByRole('heading', { name: 'Cruscotto' }).waitFor();
});

test('"Sincronizza ora" reads the flow: its lines and the anomaly', async () => {
  await page.getByRole('link', { name: 'Rendicontazione', exact: true }).click();
  await page.getByRole('heading', { name: 'Rendicontazione', exact: true }).waitFor();
  await page.getByText('Nessun flusso di rendicontazione.').waitFor();
  await checked('rendicontazione-vuota');
  await page.getByRole('button', { name: 'Sincronizza ora' }).click();
  await page.getByText('Sincronizzazione con pagoPA completata.').waitFor();
  const flows = page.locator('#tabella-flussi');
  await flows.getByRole('link', { name: fdr }).waitFor();
  await checked('rendicontazione');
  await flows.getByRole('link', { name: fdr }).click();
  await page.getByRole('heading', { name: `Flusso ${fdr}` }).waitFor();
  const lines = page.locator('#tabella-righe tbody tr');
  assert.equal(await lines.count(), 2);
  await page.locator('#tabella-anomalie').getByText('Importo diverso').waitFor();
  await page.getByText('Nessun accredito in tesoreria per questo flusso.').waitFor();
  await checked('flusso');
  await page.getByRole('link', { name: 'Anomalie di riconciliazione' }).click();
  await page.locator('#tabella-elenco').getByText('Importo diverso').waitFor();
  await checked('anomalie-riconciliazione');
});

test('the bank statement from the sandbox, uploaded as a file, marks the flow riversato', async () => {
  const r = await fetch(`${app.sandbox}/tesoreria/camt053`);
  assert.equal(r.status, 200);
  const camt = join(dir, 'camt053-tesoreria.xml');
  writeFileSync(camt, Buffer.from(await r.arrayBuffer()));

  await page.getByRole('link', { name: 'Tesoreria', exact: true }).click();
  await page.getByRole('heading', { name: 'Tesoreria', exact: true }).waitFor();
  await checked('tesoreria');
  await page.getByLabel(/^File dell'estratto conto/).setInputFiles(camt);
  await page.getByRole('button', { name: 'Importa', exact: true }).click();
  await page.getByText(/^Estratto importato: 1 accrediti nuovi, 0 già presenti, 1 flussi riversati/).waitFor();
  await page.locator('#tabella-accrediti').getByRole('link', { name: fdr }).waitFor();
  await checked('tesoreria-importato');

  // The same file again: harmless, and the page says so.
  await page.getByLabel(/^File dell'estratto conto/).setInputFiles(camt);
  await page.getByRole('button', { name: 'Importa', exact: true }).click();
  await page.getByText(/^Estratto già importato: nessun accredito nuovo, 1 già presenti/).waitFor();
  assert.equal(await page.locator('#tabella-accrediti tbody tr').count(), 1);

  await page.locator('#tabella-accrediti').getByRole('link', { name: fdr }).click();
  await page.getByRole('heading', { name: `Flusso ${fdr}` }).waitFor();
  await page.getByRole('heading', { name: 'Accredito in tesoreria' }).waitFor();
  await page.getByText('camt053-tesoreria.xml (camt053)').waitFor();
  await checked('flusso-riversato');
});

test("a position's whole path, from its detail page", async () => {
  await page.goto(app.base + `/ufficio/posizioni?cf=${DEBTOR}`);
  await page.getByRole('row', { name: /E2E-RICONCILIATA/ }).getByRole('link').click();
  await page.getByRole('heading', { name: 'Posizione E2E-RICONCILIATA' }).waitFor();
  // Reported by the flow: GPD's REPORTED.
  assert.match(await page.locator('section[aria-labelledby="posizione"]').innerText(), /Stato\s+Rendicontata/);
  const path = page.locator('section', { has: page.getByRole('heading', { name: /^Percorso della ricevuta / }) });
  await path.waitFor();
  const text = await path.innerText();
  assert.match(text, /Avviso\s+\d{18}/);
  assert.match(text, new RegExp(`Flusso\\s+${fdr} rev\\. \\d+, riga \\d+: 80,5\\d €`));
  assert.match(text, /Accredito in tesoreria\s+\d+,\d{2} € del \d{4}-\d{2}-\d{2}/);
  await checked('posizione-percorso');
  // The receipt's own page shows the same path.
  await page.locator('#tabella-ricevute').getByRole('link').first().click();
  await page.getByRole('heading', { name: /^Ricevuta / }).waitFor();
  await page.getByRole('heading', { name: 'Percorso: avviso → ricevuta → flusso → accredito' }).waitFor();
  await checked('ricevuta-percorso');
});
