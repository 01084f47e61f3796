//! camt.053 statements as Italian banks send them: single entries, batch entries (several
//! TxDtls in one Ntry), several statements in one file, debits and reversals, and bad XML
//! refused with its line.

use pagopa::Cents;
use pagopa::camt053::{NewCredit, parse, write_statement};
use proptest::prelude::*;

const BATCH_AND_SINGLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>TES-20261130</MsgId><CreDtTm>2026-11-30T06:00:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-001</Id>
      <ElctrncSeqNb>212</ElctrncSeqNb>
      <CreDtTm>2026-11-30T06:00:00</CreDtTm>
      <Acct><Id><IBAN>IT60X0542811101000000123456</IBAN></Id><Ccy>EUR</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">1000.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-29</Dt></Dt></Bal>
      <Ntry>
        <NtryRef>1</NtryRef>
        <Amt Ccy="EUR">45.50</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <ValDt><Dt>2026-11-30</Dt></ValDt>
        <AcctSvcrRef>BNK-0001</AcctSvcrRef>
        <BkTxCd><Prtry><Cd>48</Cd><Issr>CBI</Issr></Prtry></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>E2E-1</EndToEndId></Refs>
          <RltdPties><Dbtr><Nm>Intesa Sanpaolo S.p.A.</Nm></Dbtr></RltdPties>
          <RmtInf><Ustrd>/PUR/LGPE-RIVERSAMENTO/URI/2026-11-29BCITITMM-0001</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">30</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <ValDt><DtTm>2026-11-30T10:00:00</DtTm></ValDt>
        <AcctSvcrRef>BNK-0002</AcctSvcrRef>
        <NtryDtls>
          <Btch><NbOfTxs>2</NbOfTxs></Btch>
          <TxDtls>
            <Refs><AcctSvcrRef>BNK-0002-1</AcctSvcrRef></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">10.5</Amt></TxAmt></AmtDtls>
            <RltdPties><Dbtr><Nm>Poste Italiane</Nm></Dbtr></RltdPties>
            <RmtInf><Ustrd>/PUR/LGPE-RIVERSAMENTO/URI/</Ustrd><Ustrd>2026-11-29BPPIITRRXXX-0001</Ustrd></RmtInf>
          </TxDtls>
          <TxDtls>
            <Refs><AcctSvcrRef>BNK-0002-2</AcctSvcrRef></Refs>
            <AmtDtls><TxAmt><Amt Ccy="EUR">19.50</Amt></TxAmt></AmtDtls>
            <RmtInf><Strd><CdtrRefInf><Ref>RF18539007547034</Ref></CdtrRefInf></Strd></RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">12.00</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <AddtlNtryInf>COMMISSIONI</AddtlNtryInf>
      </Ntry>
    </Stmt>
    <Stmt>
      <Id>STMT-002</Id>
      <Acct><Id><IBAN>IT02L1234512345123456789012</IBAN></Id></Acct>
      <Ntry>
        <Amt Ccy="EUR">7.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <RvslInd>true</RvslInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <AddtlNtryInf>STORNO</AddtlNtryInf>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
"#;

#[test]
fn single_and_batch_entries_and_several_statements_are_read() {
    let m = parse(BATCH_AND_SINGLE).unwrap();
    assert_eq!(m.len(), 5, "{m:#?}");
    assert_eq!(m[0].statement_id, "STMT-001");
    assert_eq!(
        m[0].account_iban.as_deref(),
        Some("IT60X0542811101000000123456")
    );
    assert_eq!(m[0].key, "STMT-001/BNK-0001/1");
    assert!(m[0].credit && !m[0].reversal);
    assert_eq!(m[0].amount, Cents::new(4550));
    assert_eq!(m[0].booking_date.as_deref(), Some("2026-11-30"));
    assert_eq!(m[0].debtor_name.as_deref(), Some("Intesa Sanpaolo S.p.A."));
    assert_eq!(m[0].end_to_end_id.as_deref(), Some("E2E-1"));
    assert_eq!(
        m[0].remittance,
        "/PUR/LGPE-RIVERSAMENTO/URI/2026-11-29BCITITMM-0001"
    );
    // The batch: one movement per transaction, each with its own amount and reference.
    assert_eq!(m[1].amount, Cents::new(1050));
    assert_eq!(m[1].reference.as_deref(), Some("BNK-0002-1"));
    assert_eq!(m[1].key, "STMT-001/BNK-0002/1");
    assert_eq!(m[1].value_date.as_deref(), Some("2026-11-30"));
    assert_eq!(
        pagopa::fdr::flow_id_in_remittance(&m[1].remittance).as_deref(),
        Some("2026-11-29BPPIITRRXXX-0001"),
        "Ustrd lines are joined"
    );
    assert_eq!(m[2].amount, Cents::new(1950));
    assert_eq!(m[2].remittance, "RF18539007547034");
    assert_eq!(m[2].key, "STMT-001/BNK-0002/2");
    assert!(!m[3].credit, "a debit");
    assert_eq!(m[3].remittance, "COMMISSIONI");
    assert_eq!(m[4].statement_id, "STMT-002");
    assert!(m[4].reversal);
    assert_eq!(
        m[4].key, "STMT-002/#1/1",
        "no reference: the entry's position"
    );
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).expect("needle")]
        .matches('\n')
        .count()
        + 1
}

#[test]
fn bad_documents_are_refused_with_their_line() {
    let broken = BATCH_AND_SINGLE.replace("</CdtDbtInd>\n        <Sts>BOOK</Sts>\n        <BookgDt><Dt>2026-11-30</Dt></BookgDt>\n        <ValDt><DtTm>", "</CdtDbtIn>\n        <Sts>BOOK</Sts>\n        <BookgDt><Dt>2026-11-30</Dt></BookgDt>\n        <ValDt><DtTm>");
    let err = parse(&broken).unwrap_err();
    let line = line_of(&broken, "</CdtDbtIn>");
    assert_eq!(err.line, line, "{err}");
    assert!(
        err.to_string().starts_with(&format!("riga {line}:")),
        "{err}"
    );

    let amount = BATCH_AND_SINGLE.replace(">45.50<", ">45,50<");
    let err = parse(&amount).unwrap_err();
    assert_eq!(err.line, line_of(&amount, ">45,50<"), "{err}");
    assert!(err.message.contains("importo"), "{err}");

    let batch = BATCH_AND_SINGLE.replace(">19.50<", ">19.49<");
    let err = parse(&batch).unwrap_err();
    assert!(err.message.contains("cumulativo"), "{err}");

    let dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE Document [<!ENTITY x \"y\">]>\n<Document/>";
    assert_eq!(parse(dtd).unwrap_err().line, 2);
    assert!(parse("<Other/>").is_err());
    assert!(parse("").is_err());
    assert!(parse("not xml at all").is_err());
}

#[test]
fn written_statements_read_back() {
    let credits = vec![
        NewCredit {
            reference: "R1".into(),
            amount: Cents::new(12345),
            date: "2026-11-30".into(),
            debtor_name: "PSP <&> \"uno\"".into(),
            remittance: "/PUR/LGPE-RIVERSAMENTO/URI/2026-11-29BCITITMM-0001".into(),
        },
        NewCredit {
            reference: "R2".into(),
            amount: Cents::new(1),
            date: "2026-11-30".into(),
            debtor_name: "PSP due".into(),
            remittance: "altro".into(),
        },
    ];
    let xml = write_statement(
        "S1",
        "2026-11-30T06:00:00Z",
        "IT60X0542811101000000123456",
        &credits,
    );
    let m = parse(&xml).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].amount, Cents::new(12345));
    assert_eq!(m[0].debtor_name.as_deref(), Some("PSP <&> \"uno\""));
    assert_eq!(m[1].reference.as_deref(), Some("R2"));
}

proptest! {
    /// Every amount in cents survives a statement and comes back exact, whether the bank writes
    /// two decimals, one, or none.
    #[test]
    fn amounts_are_exact(cents in 1i64..100_000_000_000_000, style in 0u8..3) {
        let text = match style {
            0 => Cents::new(cents).to_xml(),
            1 if cents % 10 == 0 => format!("{}.{}", cents / 100, (cents % 100) / 10),
            2 if cents % 100 == 0 => format!("{}", cents / 100),
            _ => Cents::new(cents).to_xml(),
        };
        let xml = BATCH_AND_SINGLE.replace(">45.50<", &format!(">{text}<"));
        let m = parse(&xml).unwrap();
        prop_assert_eq!(m[0].amount, Cents::new(cents));
    }
}
