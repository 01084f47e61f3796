//! SPID logins driven like a browser: Sportello's service provider against the sandbox's
//! identity provider.

use super::{TestApp, browser};

/// The value of a hidden field in an HTML page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let at = html.find(&needle)?;
    let rest = &html[at + needle.len()..];
    Some(
        rest[..rest.find('"')?]
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
}

/// The `Location` of an answer, or "".
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// What the sandbox identity provider handed the browser for Sportello.
pub struct IdpAnswer {
    pub acs: String,
    pub saml_response: String,
    pub relay_state: String,
}

/// "Entra con SPID" → the sandbox IdP's page → the citizen's choice; returns the form the IdP
/// would post to Sportello's ACS.
pub async fn at_idp(
    app: &TestApp,
    client: &reqwest::Client,
    identity: &str,
    esito: &str,
    azione: &str,
) -> IdpAnswer {
    let sandbox = app.sandbox.as_deref().expect("the demo runs the sandbox");
    let r = client
        .get(format!(
            "{}/spid/login?idp={}",
            app.base,
            sportello_url_encode(&format!("{sandbox}/idp"))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "login starts with a redirect to the IdP");
    let to_idp = location(&r);
    assert!(
        to_idp.starts_with(&format!("{sandbox}/idp/sso?SAMLRequest=")),
        "{to_idp}"
    );
    let page = client.get(&to_idp).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let token = hidden(&html, "richiesta").expect("the IdP's login page");
    let html = client
        .post(format!("{sandbox}/idp/sso/accedi"))
        .form(&[
            ("richiesta", token.as_str()),
            ("identita", identity),
            ("esito", esito),
            ("azione", azione),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let acs = html
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    IdpAnswer {
        acs,
        saml_response: hidden(&html, "SAMLResponse").expect("a SAML response"),
        relay_state: hidden(&html, "RelayState").unwrap_or_default(),
    }
}

fn sportello_url_encode(s: &str) -> String {
    spid::binding::form_encode(s)
}

pub async fn post_to_acs(client: &reqwest::Client, a: &IdpAnswer) -> reqwest::Response {
    client
        .post(&a.acs)
        .form(&[
            ("SAMLResponse", a.saml_response.as_str()),
            ("RelayState", a.relay_state.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// Logged in through the sandbox identity provider as `identity` (a fiscal code of its
/// test identities).
pub async fn logged_in(app: &TestApp, identity: &str) -> reqwest::Client {
    let client = browser();
    let answer = at_idp(app, &client, identity, "ok", "entra").await;
    assert_eq!(post_to_acs(&client, &answer).await.status(), 303);
    assert_eq!(app.page(&client, "/area-privata").await.0, 200);
    client
}
