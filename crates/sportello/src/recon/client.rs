//! The HTTP clients of reconciliation: pagoPA's FdR organization API and its receipts API
//! (biz-events), both keyed by `Ocp-Apim-Subscription-Key`.

use std::time::Duration;

use pagopa::bizevents::OrgReceipt;
use pagopa::fdr::{Flow, FlowRef, FlowsPage, PaymentsPage};

use super::ReconConfig;

/// Why a call gave nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Not reachable, timed out.
    #[error("{0} non raggiungibile: {1}")]
    Transport(&'static str, String),
    /// An HTTP error status.
    #[error("{0} ha risposto HTTP {1}: {2}")]
    Status(&'static str, u16, String),
    /// A body that is not the documented JSON.
    #[error("{0}: risposta non valida: {1}")]
    Decode(&'static str, String),
    /// Too many requests (the receipts API is throttled).
    #[error("{0}: troppe richieste (HTTP 429)")]
    Throttled(&'static str),
}

/// Largest body read from pagoPA (a page of 1000 lines is about 200 KB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The FdR and receipts APIs.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    fdr_url: String,
    fdr_key: Option<String>,
    receipts_url: Option<String>,
    receipts_key: Option<String>,
    page_size: u32,
}

/// What the receipts API said about one receipt.
#[derive(Debug)]
pub enum Recovered {
    /// The receipt, and its JSON as received.
    Found(Box<OrgReceipt>, String),
    /// pagoPA has no such receipt (404).
    NotFound,
}

impl Client {
    /// A client for the configured APIs; None when reconciliation is off.
    pub fn from_config(c: &ReconConfig) -> Option<Client> {
        let fdr_url = c.fdr_url.clone()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(c.timeout_seconds))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Client {
            http,
            fdr_url: fdr_url.trim_end_matches('/').to_owned(),
            fdr_key: c.fdr_api_key.clone(),
            receipts_url: c
                .receipts_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            receipts_key: c.receipts_api_key.clone(),
            page_size: c.page_size,
        })
    }

    /// Whether receipts can be recovered.
    pub fn can_recover(&self) -> bool {
        self.receipts_url.is_some()
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        api: &'static str,
        url: &str,
        key: Option<&str>,
        query: &[(&str, String)],
    ) -> Result<(T, String), ClientError> {
        let mut req = self.http.get(url).query(query);
        if let Some(k) = key {
            req = req.header("Ocp-Apim-Subscription-Key", k);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(api, e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 429 {
            return Err(ClientError::Throttled(api));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(ClientError::Decode(api, "risposta troppo grande".into()));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(api, e.to_string()))?;
        if body.len() > MAX_BODY {
            return Err(ClientError::Decode(api, "risposta troppo grande".into()));
        }
        let text = String::from_utf8_lossy(&body).into_owned();
        if !(200..300).contains(&status) {
            return Err(ClientError::Status(
                api,
                status,
                text.chars().take(300).collect(),
            ));
        }
        let value =
            serde_json::from_str(&text).map_err(|e| ClientError::Decode(api, e.to_string()))?;
        Ok((value, text))
    }

    /// Every element of a paged FdR list at `url`, page after page.
    async fn all_pages<P: serde::de::DeserializeOwned, T>(
        &self,
        url: &str,
        filters: &[(&str, String)],
        split: impl Fn(P) -> (i64, Vec<T>),
    ) -> Result<Vec<T>, ClientError> {
        let mut out = Vec::new();
        let mut page = 1i64;
        loop {
            let mut query = vec![
                ("page", page.to_string()),
                ("size", self.page_size.to_string()),
            ];
            query.extend(filters.iter().cloned());
            let (p, _) = self
                .get_json("API FdR", url, self.fdr_key.as_deref(), &query)
                .await?;
            let (pages, data) = split(p);
            out.extend(data);
            if page >= pages || page >= 100_000 {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// Every flow published for `organization` after `published_gt`, all pages.
    pub async fn list_flows(
        &self,
        organization: &str,
        published_gt: Option<&str>,
    ) -> Result<Vec<FlowRef>, ClientError> {
        let url = format!(
            "{}/organizations/{}/fdrs",
            self.fdr_url,
            url_segment(organization)
        );
        let filters: Vec<(&str, String)> = published_gt
            .map(|gt| ("publishedGt", gt.to_owned()))
            .into_iter()
            .collect();
        self.all_pages(&url, &filters, |p: FlowsPage| (p.metadata.tot_page, p.data))
            .await
    }

    fn flow_url(&self, organization: &str, r: &FlowRef) -> String {
        format!(
            "{}/organizations/{}/fdrs/{}/revisions/{}/psps/{}",
            self.fdr_url,
            url_segment(organization),
            url_segment(&r.fdr),
            r.revision,
            url_segment(&r.psp_id)
        )
    }

    /// A flow's header.
    pub async fn flow(&self, organization: &str, r: &FlowRef) -> Result<Flow, ClientError> {
        let url = self.flow_url(organization, r);
        Ok(self
            .get_json("API FdR", &url, self.fdr_key.as_deref(), &[])
            .await?
            .0)
    }

    /// A flow's lines, all pages.
    pub async fn payments(
        &self,
        organization: &str,
        r: &FlowRef,
    ) -> Result<Vec<pagopa::fdr::FlowPayment>, ClientError> {
        let url = format!("{}/payments", self.flow_url(organization, r));
        self.all_pages(&url, &[], |p: PaymentsPage| (p.metadata.tot_page, p.data))
            .await
    }

    /// `getOrganizationReceiptIuvIur`.
    pub async fn receipt(
        &self,
        organization: &str,
        iur: &str,
        iuv: &str,
    ) -> Result<Recovered, ClientError> {
        let Some(base) = &self.receipts_url else {
            return Ok(Recovered::NotFound);
        };
        let url = format!(
            "{base}/organizations/{organization}/receipts/{}/paymentoptions/{}",
            url_segment(iur),
            url_segment(iuv)
        );
        match self
            .get_json::<OrgReceipt>("API ricevute", &url, self.receipts_key.as_deref(), &[])
            .await
        {
            Ok((r, raw)) => Ok(Recovered::Found(Box::new(r), raw)),
            Err(ClientError::Status(_, 404, _)) => Ok(Recovered::NotFound),
            Err(e) => Err(e),
        }
    }
}

/// A path segment: identifiers are alphanumeric, anything else is percent-encoded.
fn url_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
