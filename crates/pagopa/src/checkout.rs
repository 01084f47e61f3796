//! Checkout's EC API v1 (`POST /carts`): the request body and its validation, as pagoPA's
//! `checkout_v1.json` describes it (1–5 notices, 18-digit notice numbers, 11-digit fiscal codes,
//! amounts in cents ≥ 1, names and descriptions ≤ 140, three return URLs).

use crate::{Cents, EcFiscalCode};
use serde::{Deserialize, Serialize};

/// Most notices in one cart.
pub const MAX_NOTICES: usize = 5;

/// `CartRequest`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartRequest {
    /// `emailNotice`: where Checkout sends the outcome.
    #[serde(default)]
    pub email_notice: Option<String>,
    /// `paymentNotices`, 1–5.
    pub payment_notices: Vec<PaymentNoticeJson>,
    /// `returnUrls`.
    pub return_urls: ReturnUrls,
    /// `idCart`: the EC's own id of the cart.
    #[serde(default)]
    pub id_cart: Option<String>,
    /// `allCCP`.
    #[serde(default, rename = "allCCP")]
    pub all_ccp: Option<bool>,
}

/// `PaymentNotice`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentNoticeJson {
    /// 18 digits.
    pub notice_number: String,
    /// The EC's fiscal code, 11 digits.
    pub fiscal_code: String,
    /// Euro cents, ≥ 1.
    pub amount: i64,
    /// ≤ 140.
    pub company_name: String,
    /// ≤ 140.
    pub description: String,
}

/// `returnUrls`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnUrls {
    /// After a payment.
    pub return_ok_url: String,
    /// When the citizen gives up.
    pub return_cancel_url: String,
    /// When something failed.
    pub return_error_url: String,
}

/// A notice of a valid cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// 18 digits.
    pub notice_number: String,
    /// The EC.
    pub fiscal_code: EcFiscalCode,
    /// The amount the EC asked for.
    pub amount: Cents,
    /// The EC's name.
    pub company_name: String,
    /// The causale.
    pub description: String,
}

/// A cart request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCart {
    /// The notices, in order.
    pub notices: Vec<Notice>,
    /// Where to send the citizen back.
    pub return_ok_url: String,
    /// See [`ReturnUrls`].
    pub return_cancel_url: String,
    /// See [`ReturnUrls`].
    pub return_error_url: String,
    /// `emailNotice`.
    pub email_notice: Option<String>,
    /// `idCart`.
    pub id_cart: Option<String>,
}

fn is_url(s: &str) -> bool {
    // The schema says `format: uri`; Checkout redirects the browser there, so only http(s).
    (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 8
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A plausible e-mail address (what `format: email` asks for).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 256
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-@".contains(c))
        && s.matches('@').count() == 1
}

/// Validates a cart request. The error is the `detail` of the 400 ProblemJson.
pub fn validate(req: CartRequest) -> Result<ValidCart, String> {
    let n = req.payment_notices.len();
    if n == 0 {
        return Err("paymentNotices: at least 1 notice is required".into());
    }
    if n > MAX_NOTICES {
        return Err(format!(
            "paymentNotices: at most {MAX_NOTICES} notices per cart, got {n}"
        ));
    }
    let mut notices = Vec::with_capacity(n);
    for (i, p) in req.payment_notices.into_iter().enumerate() {
        let at = format!("paymentNotices[{i}]");
        if p.notice_number.len() != 18 || !p.notice_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{at}.noticeNumber: must be 18 digits"));
        }
        let fiscal_code = match EcFiscalCode::parse(&p.fiscal_code) {
            Ok(cf) if p.fiscal_code.len() == 11 => cf,
            _ => return Err(format!("{at}.fiscalCode: must be 11 digits")),
        };
        if p.amount < 1 {
            return Err(format!("{at}.amount: must be at least 1 (euro cents)"));
        }
        if p.company_name.chars().count() > 140 {
            return Err(format!("{at}.companyName: at most 140 characters"));
        }
        if p.description.chars().count() > 140 {
            return Err(format!("{at}.description: at most 140 characters"));
        }
        if notices
            .iter()
            .any(|x: &Notice| x.notice_number == p.notice_number && x.fiscal_code == fiscal_code)
        {
            return Err(format!("{at}: notice repeated in the cart"));
        }
        notices.push(Notice {
            notice_number: p.notice_number,
            fiscal_code,
            amount: Cents::new(p.amount),
            company_name: p.company_name,
            description: p.description,
        });
    }
    let u = req.return_urls;
    for (name, url) in [
        ("returnOkUrl", &u.return_ok_url),
        ("returnCancelUrl", &u.return_cancel_url),
        ("returnErrorUrl", &u.return_error_url),
    ] {
        if !is_url(url) {
            return Err(format!("returnUrls.{name}: not a valid URI"));
        }
    }
    if let Some(email) = &req.email_notice
        && !is_email(email)
    {
        return Err("emailNotice: not a valid e-mail address".into());
    }
    if let Some(id) = &req.id_cart
        && (id.is_empty() || id.len() > 140)
    {
        return Err("idCart: 1 to 140 characters".into());
    }
    Ok(ValidCart {
        notices,
        return_ok_url: u.return_ok_url,
        return_cancel_url: u.return_cancel_url,
        return_error_url: u.return_error_url,
        email_notice: req.email_notice,
        id_cart: req.id_cart,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(i: u32) -> PaymentNoticeJson {
        PaymentNoticeJson {
            notice_number: format!("3010000000000{i:05}"),
            fiscal_code: "00229080338".into(),
            amount: 1000,
            company_name: "Comune".into(),
            description: "TARI".into(),
        }
    }

    fn req(n: u32) -> CartRequest {
        CartRequest {
            email_notice: Some("mario.rossi@example.it".into()),
            payment_notices: (0..n).map(notice).collect(),
            return_urls: ReturnUrls {
                return_ok_url: "http://127.0.0.1/ok".into(),
                return_cancel_url: "http://127.0.0.1/annullato".into(),
                return_error_url: "http://127.0.0.1/errore".into(),
            },
            id_cart: Some("abc".into()),
            all_ccp: None,
        }
    }

    #[test]
    fn one_to_five_notices_are_accepted_six_and_none_are_not() {
        assert_eq!(validate(req(1)).unwrap().notices.len(), 1);
        assert_eq!(validate(req(5)).unwrap().notices.len(), 5);
        assert!(validate(req(6)).unwrap_err().contains("at most 5"));
        assert!(validate(req(0)).unwrap_err().contains("at least 1"));
    }

    #[test]
    fn fields_are_checked_by_length_and_form() {
        let mut r = req(1);
        r.payment_notices[0].notice_number = "12345".into();
        assert!(validate(r).unwrap_err().contains("noticeNumber"));
        let mut r = req(1);
        r.payment_notices[0].fiscal_code = "0022908033".into();
        assert!(validate(r).unwrap_err().contains("fiscalCode"));
        let mut r = req(1);
        r.payment_notices[0].description = "x".repeat(141);
        assert!(validate(r).unwrap_err().contains("description"));
        let mut r = req(1);
        r.payment_notices[0].company_name = "è".repeat(140);
        assert!(validate(r).is_ok(), "140 characters, not bytes");
        let mut r = req(1);
        r.return_urls.return_ok_url = "javascript:alert(1)".into();
        assert!(validate(r).unwrap_err().contains("returnOkUrl"));
        let mut r = req(1);
        r.email_notice = Some("not an address".into());
        assert!(validate(r).unwrap_err().contains("emailNotice"));
        let mut r = req(2);
        r.payment_notices[1] = notice(0);
        assert!(validate(r).unwrap_err().contains("repeated"));
    }

    #[test]
    fn amounts_are_positive_cents() {
        for (amount, ok) in [(0, false), (-5, false), (1, true), (99_999_999_999, true)] {
            let mut r = req(1);
            r.payment_notices[0].amount = amount;
            assert_eq!(validate(r).is_ok(), ok, "{amount}");
        }
        // A decimal amount is not an integer: the JSON itself is refused.
        let body = r#"{"paymentNotices":[{"noticeNumber":"301000000000000144","fiscalCode":"00229080338","amount":10.5,"companyName":"C","description":"D"}],"returnUrls":{"returnOkUrl":"http://a/ok","returnCancelUrl":"http://a/c","returnErrorUrl":"http://a/e"}}"#;
        assert!(serde_json::from_str::<CartRequest>(body).is_err());
    }
}
