//! The bank's statement: ISO 20022 `camt.053` (`BkToCstmrStmt`), as Italian banks send it
//! to a municipality's treasury (version `camt.053.001.02`; later versions read the same
//! way for what is needed here).
//!
//! Only what reconciliation needs is read: per statement its id and account; per entry
//! (`Ntry`) amount, credit or debit, reversal, booking and value dates, the bank's reference
//! and the remittance; per transaction inside a batch entry (`NtryDtls/TxDtls`) its own
//! amount, references, debtor and remittance. A batch entry yields one [`Movement`] per
//! transaction, a single entry one. The reader streams (a year of statements is fine), refuses
//! a DTD, and names the line of the first error.

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::Cents;
use crate::fdr::euro::parse_decimal;

/// Why a statement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("riga {line}: {message}")]
pub struct Camt053Error {
    /// Line of the document (from 1).
    pub line: usize,
    /// What is wrong, in Italian.
    pub message: String,
}

/// One movement on the account: an entry, or one transaction of a batch entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// `Stmt/Id`.
    pub statement_id: String,
    /// The account (`Stmt/Acct/Id/IBAN`), when given.
    pub account_iban: Option<String>,
    /// A key unique in the bank's records: statement, entry reference (or position) and
    /// transaction position, so that importing the same file twice changes nothing.
    pub key: String,
    /// Credit (true) or debit.
    pub credit: bool,
    /// A reversal of an earlier entry (`RvslInd`).
    pub reversal: bool,
    /// Amount, positive.
    pub amount: Cents,
    /// Currency (`EUR`).
    pub currency: String,
    /// Booking date (`YYYY-MM-DD`).
    pub booking_date: Option<String>,
    /// Value date (`YYYY-MM-DD`).
    pub value_date: Option<String>,
    /// The bank's reference of the entry or transaction.
    pub reference: Option<String>,
    /// `EndToEndId`, when the payer gave one.
    pub end_to_end_id: Option<String>,
    /// Who paid (`RltdPties/Dbtr/Nm`).
    pub debtor_name: Option<String>,
    /// Remittance: the `Ustrd` lines joined, else the structured reference, else the entry's
    /// additional information.
    pub remittance: String,
}

#[derive(Default, Clone)]
struct Tx {
    amount: Option<(Cents, String)>,
    reference: Option<String>,
    end_to_end_id: Option<String>,
    debtor_name: Option<String>,
    ustrd: Vec<String>,
    strd_ref: Option<String>,
}

#[derive(Default)]
struct EntryState {
    amount: Option<(Cents, String)>,
    credit: Option<bool>,
    reversal: bool,
    booking_date: Option<String>,
    value_date: Option<String>,
    reference: Option<String>,
    ntry_ref: Option<String>,
    addtl: Option<String>,
    txs: Vec<Tx>,
    line: usize,
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Reads every movement of every statement in `xml`, in document order.
pub fn parse(xml: &str) -> Result<Vec<Movement>, Camt053Error> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut saw_document = false;
    let mut stmt_id = String::new();
    let mut stmt_iban: Option<String> = None;
    let mut entry: Option<EntryState> = None;
    let mut entry_seq = 0usize;
    let mut amount_ccy = String::new();
    let mut buffer = String::new();
    let mut text_pos: Option<usize> = None;
    let err = |pos: usize, message: String| Camt053Error {
        line: line_of(xml, pos),
        message,
    };
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| err(pos, format!("XML non valido: {e}")))?;
        match event {
            Event::DocType(_) => return Err(err(pos, "DTD non ammessa".into())),
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "Document" {
                        return Err(err(
                            pos,
                            format!("atteso un documento camt.053, trovato <{name}>"),
                        ));
                    }
                    saw_document = true;
                }
                if path.len() > 40 {
                    return Err(err(pos, "annidamento eccessivo".into()));
                }
                buffer.clear();
                text_pos = None;
                amount_ccy.clear();
                if name == "Amt" || name == "InstdAmt" {
                    for a in e.attributes().flatten() {
                        if a.key.local_name().as_ref() == b"Ccy" {
                            amount_ccy = String::from_utf8_lossy(&a.value).into_owned();
                        }
                    }
                }
                path.push(name);
                let tail: Vec<&str> = path.iter().rev().take(3).map(String::as_str).collect();
                match tail.as_slice() {
                    ["Stmt", ..] => {
                        stmt_id.clear();
                        stmt_iban = None;
                        entry_seq = 0;
                    }
                    ["Ntry", "Stmt", ..] => {
                        entry_seq += 1;
                        entry = Some(EntryState {
                            line: line_of(xml, pos),
                            ..EntryState::default()
                        });
                    }
                    ["TxDtls", ..] => {
                        if let Some(en) = entry.as_mut() {
                            en.txs.push(Tx::default());
                        }
                    }
                    _ => {}
                }
                // Remember the currency for the text that follows.
                if let Some(last) = path.last_mut() {
                    if !amount_ccy.is_empty() {
                        last.push('#');
                        last.push_str(&amount_ccy);
                    }
                }
            }
            Event::Text(t) => {
                let text = t
                    .xml10_content()
                    .map_err(|e| err(pos, format!("testo non valido: {e}")))?;
                buffer.push_str(&text);
                text_pos.get_or_insert(pos);
            }
            Event::CData(t) => {
                let text = t
                    .xml10_content()
                    .map_err(|e| err(pos, format!("testo non valido: {e}")))?;
                buffer.push_str(&text);
                text_pos.get_or_insert(pos);
            }
            Event::GeneralRef(r) => {
                let c = match r
                    .resolve_char_ref()
                    .map_err(|e| err(pos, format!("riferimento non valido: {e}")))?
                {
                    Some(c) => c,
                    None => match r
                        .decode()
                        .map_err(|e| err(pos, format!("riferimento non valido: {e}")))?
                        .as_ref()
                    {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(err(pos, format!("entità non dichiarata: &{other};"))),
                    },
                };
                buffer.push(c);
                text_pos.get_or_insert(pos);
            }
            Event::End(_) => {
                let text = buffer.trim();
                if !text.is_empty() {
                    on_text(&path, text, &mut stmt_id, &mut stmt_iban, entry.as_mut())
                        .map_err(|m| err(text_pos.unwrap_or(pos), m))?;
                }
                buffer.clear();
                text_pos = None;
                let name = path.pop().unwrap_or_default();
                let name = name.split('#').next().unwrap_or("");
                if name == "Ntry" && path.last().map(String::as_str) == Some("Stmt") {
                    if let Some(en) = entry.take() {
                        finish_entry(en, &stmt_id, &stmt_iban, entry_seq, &mut out)
                            .map_err(|(line, m)| Camt053Error { line, message: m })?;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_document {
        return Err(err(xml.len(), "documento vuoto: nessun <Document>".into()));
    }
    Ok(out)
}

fn on_text(
    path: &[String],
    text: &str,
    stmt_id: &mut String,
    stmt_iban: &mut Option<String>,
    entry: Option<&mut EntryState>,
) -> Result<(), String> {
    let names: Vec<(&str, Option<&str>)> = path
        .iter()
        .map(|p| match p.split_once('#') {
            Some((n, c)) => (n, Some(c)),
            None => (p.as_str(), None),
        })
        .collect();
    let plain: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
    let Some(stmt) = plain.iter().rposition(|n| *n == "Stmt") else {
        return Ok(());
    };
    let inside = &plain[stmt + 1..];
    match inside {
        ["Id"] => *stmt_id = text.to_owned(),
        ["Acct", "Id", "IBAN"] => *stmt_iban = Some(text.to_owned()),
        _ => {}
    }
    let Some(en) = entry else {
        return Ok(());
    };
    let amount = |ccy: Option<&str>| -> Result<(Cents, String), String> {
        let value = parse_decimal(text)
            .filter(|c| c.get() >= 0)
            .ok_or_else(|| format!("importo non valido: {text:?}"))?;
        Ok((value, ccy.unwrap_or("EUR").to_owned()))
    };
    let ccy = names.last().and_then(|(_, c)| *c);
    match inside {
        ["Ntry", "Amt"] => en.amount = Some(amount(ccy)?),
        ["Ntry", "CdtDbtInd"] => {
            en.credit = Some(match text {
                "CRDT" => true,
                "DBIT" => false,
                other => return Err(format!("CdtDbtInd non valido: {other:?}")),
            })
        }
        ["Ntry", "RvslInd"] => en.reversal = text == "true" || text == "1",
        ["Ntry", "BookgDt", _] => en.booking_date = Some(date_part(text)),
        ["Ntry", "ValDt", _] => en.value_date = Some(date_part(text)),
        ["Ntry", "AcctSvcrRef"] => en.reference = Some(text.to_owned()),
        ["Ntry", "NtryRef"] => en.ntry_ref = Some(text.to_owned()),
        ["Ntry", "AddtlNtryInf"] => en.addtl = Some(text.to_owned()),
        ["Ntry", "NtryDtls", "TxDtls", rest @ ..] => {
            let Some(tx) = en.txs.last_mut() else {
                return Ok(());
            };
            match rest {
                ["Amt"] | ["AmtDtls", "TxAmt", "Amt"] => tx.amount = Some(amount(ccy)?),
                ["Refs", "AcctSvcrRef"] => tx.reference = Some(text.to_owned()),
                ["Refs", "TxId"] if tx.reference.is_none() => tx.reference = Some(text.to_owned()),
                ["Refs", "EndToEndId"] => tx.end_to_end_id = Some(text.to_owned()),
                ["RltdPties", "Dbtr", "Nm"] | ["RltdPties", "Dbtr", "Pty", "Nm"] => {
                    tx.debtor_name = Some(text.to_owned())
                }
                ["RmtInf", "Ustrd"] => tx.ustrd.push(text.to_owned()),
                ["RmtInf", "Strd", "CdtrRefInf", "Ref"] => tx.strd_ref = Some(text.to_owned()),
                _ => {}
            }
        }
        _ => {}
    }
    Ok(())
}

fn date_part(text: &str) -> String {
    text.chars().take(10).collect()
}

fn finish_entry(
    en: EntryState,
    stmt_id: &str,
    stmt_iban: &Option<String>,
    seq: usize,
    out: &mut Vec<Movement>,
) -> Result<(), (usize, String)> {
    let line = en.line;
    let (amount, currency) = en
        .amount
        .clone()
        .ok_or((line, "movimento senza importo (Amt)".to_owned()))?;
    let credit = en
        .credit
        .ok_or((line, "movimento senza CdtDbtInd".to_owned()))?;
    let entry_ref = en
        .reference
        .clone()
        .or_else(|| en.ntry_ref.clone())
        .unwrap_or_else(|| format!("#{seq}"));
    let txs = if en.txs.is_empty() {
        vec![Tx::default()]
    } else {
        en.txs.clone()
    };
    let batch = txs.len() > 1;
    if batch {
        let parts: Option<Vec<Cents>> = txs.iter().map(|t| t.amount.clone().map(|a| a.0)).collect();
        match parts.and_then(Cents::checked_sum) {
            Some(sum) if sum == amount => {}
            _ => {
                return Err((
                    line,
                    format!(
                        "movimento cumulativo {entry_ref}: gli importi delle operazioni non sommano all'importo del movimento"
                    ),
                ));
            }
        }
    }
    for (i, tx) in txs.into_iter().enumerate() {
        let (amount, currency) = if batch {
            tx.amount.clone().expect("checked above")
        } else {
            tx.amount.clone().unwrap_or((amount, currency.clone()))
        };
        let remittance = if !tx.ustrd.is_empty() {
            tx.ustrd.join(" ")
        } else if let Some(r) = &tx.strd_ref {
            r.clone()
        } else {
            en.addtl.clone().unwrap_or_default()
        };
        out.push(Movement {
            statement_id: stmt_id.to_owned(),
            account_iban: stmt_iban.clone(),
            key: format!("{stmt_id}/{entry_ref}/{}", i + 1),
            credit,
            reversal: en.reversal,
            amount,
            currency,
            booking_date: en.booking_date.clone(),
            value_date: en.value_date.clone(),
            reference: tx.reference.clone().or_else(|| en.reference.clone()),
            end_to_end_id: tx.end_to_end_id.clone(),
            debtor_name: tx.debtor_name.clone(),
            remittance,
        });
    }
    Ok(())
}

/// A credit to write into a statement (the sandbox's bank, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredit {
    /// The bank's reference.
    pub reference: String,
    /// Amount.
    pub amount: Cents,
    /// Booking and value date (`YYYY-MM-DD`).
    pub date: String,
    /// Who paid.
    pub debtor_name: String,
    /// Remittance (`Ustrd`).
    pub remittance: String,
}

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::soap::xml::escape_into(&mut out, text);
    out
}

/// Writes a `camt.053.001.02` statement of single credit entries on `iban`.
pub fn write_statement(id: &str, created: &str, iban: &str, credits: &[NewCredit]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02\">\n<BkToCstmrStmt>\n",
    );
    x.push_str(&format!(
        "<GrpHdr><MsgId>{}</MsgId><CreDtTm>{}</CreDtTm></GrpHdr>\n<Stmt>\n<Id>{}</Id>\n<CreDtTm>{}</CreDtTm>\n<Acct><Id><IBAN>{}</IBAN></Id></Acct>\n",
        esc(id),
        esc(created),
        esc(id),
        esc(created),
        esc(iban)
    ));
    for c in credits {
        x.push_str(&format!(
            "<Ntry>\n<Amt Ccy=\"EUR\">{}</Amt>\n<CdtDbtInd>CRDT</CdtDbtInd>\n<Sts>BOOK</Sts>\n<BookgDt><Dt>{}</Dt></BookgDt>\n<ValDt><Dt>{}</Dt></ValDt>\n<AcctSvcrRef>{}</AcctSvcrRef>\n<BkTxCd><Prtry><Cd>48</Cd></Prtry></BkTxCd>\n<NtryDtls><TxDtls><Refs><AcctSvcrRef>{}</AcctSvcrRef></Refs><RltdPties><Dbtr><Nm>{}</Nm></Dbtr></RltdPties><RmtInf><Ustrd>{}</Ustrd></RmtInf></TxDtls></NtryDtls>\n</Ntry>\n",
            c.amount.to_xml(),
            esc(&c.date),
            esc(&c.date),
            esc(&c.reference),
            esc(&c.reference),
            esc(&c.debtor_name),
            esc(&c.remittance)
        ));
    }
    x.push_str("</Stmt>\n</BkToCstmrStmt>\n</Document>\n");
    x
}
