//! Sportello as a SPID and CIE service provider: its identity (entityID, key, certificate,
//! metadata), the identity providers it trusts (from metadata files, or the sandbox's in the
//! demo), and the use cases — start a login, accept the response, link or create the account,
//! single logout. The SAML itself is the `spid` crate's; the web layer parses and renders.

use std::path::{Path, PathBuf};

use pagopa::FiscalCode;
use spid::binding::MessageKind;
use spid::metadata::{IdpMetadata, SpDescription};
use spid::response::{Expectation, ResponseError};
use spid::{Credentials, Federation, Level};
use time::OffsetDateTime;

use crate::auth::{password, tokens};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::domain::identity::IdentitySource;
use crate::store::accounts::{Account, AccountState, VerifyError};
use crate::store::audit::AuditEvent;
use crate::store::spid::{NewVerifiedAccount, PendingLink, RequestKind, SpidRequest, SpidSession};
use crate::store::{Store, StoreError};

/// How long an identity provider has to answer a login (the citizen authenticates meanwhile).
pub const REQUEST_MINUTES: i64 = 15;
/// How long a verified identity waits for the password that links it to an existing account.
pub const LINK_MINUTES: i64 = 15;
/// The attributes without which no account can be opened.
pub const REQUIRED_ATTRIBUTES: [&str; 3] = ["fiscalNumber", "name", "familyName"];

/// An identity provider Sportello trusts.
#[derive(Debug, Clone)]
pub struct TrustedIdp {
    /// What its metadata says.
    pub meta: IdpMetadata,
    /// SPID or CIE.
    pub federation: Federation,
}

/// The service provider.
pub struct ServiceProvider {
    description: SpDescription,
    credentials: Credentials,
    idps: Vec<TrustedIdp>,
    level: Level,
    spid_metadata: String,
    cie_metadata: String,
}

impl std::fmt::Debug for ServiceProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceProvider")
            .field("entity_id", &self.description.entity_id)
            .field("idps", &self.idps.len())
            .finish_non_exhaustive()
    }
}

impl ServiceProvider {
    /// A service provider with its identity and trusted identity providers; the metadata are
    /// signed once here.
    pub fn new(
        description: SpDescription,
        credentials: Credentials,
        idps: Vec<TrustedIdp>,
        level: Level,
    ) -> anyhow::Result<ServiceProvider> {
        let spid_metadata =
            spid::metadata::sp_metadata(&description, Federation::Spid, &credentials)?;
        let cie_metadata =
            spid::metadata::sp_metadata(&description, Federation::Cie, &credentials)?;
        Ok(ServiceProvider {
            description,
            credentials,
            idps,
            level,
            spid_metadata,
            cie_metadata,
        })
    }

    /// The entityID.
    pub fn entity_id(&self) -> &str {
        &self.description.entity_id
    }

    /// The assertion consumer service URL.
    pub fn acs_url(&self) -> &str {
        &self.description.acs_url
    }

    /// The single logout service URL.
    pub fn slo_url(&self) -> &str {
        &self.description.slo_url
    }

    /// The signed metadata of a federation's profile.
    pub fn metadata(&self, federation: Federation) -> &str {
        match federation {
            Federation::Spid => &self.spid_metadata,
            Federation::Cie => &self.cie_metadata,
        }
    }

    /// The trusted identity providers of a federation.
    pub fn idps(&self, federation: Federation) -> impl Iterator<Item = &TrustedIdp> {
        self.idps.iter().filter(move |i| i.federation == federation)
    }

    /// A trusted identity provider by entityID.
    pub fn idp(&self, entity_id: &str) -> Option<&TrustedIdp> {
        self.idps.iter().find(|i| i.meta.entity_id == entity_id)
    }

    /// The level requested.
    pub fn level(&self) -> Level {
        self.level
    }
}

/// Where the demo keeps the service provider's generated key and certificate (one PEM file).
pub fn demo_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("spid").join("sp.pem")
}

/// The service provider's credentials: from `spid.key_file`/`spid.cert_file`, or in the demo a
/// self-signed pair (Avviso SPID n. 29 v3) generated on first start and kept under `data_dir`.
pub fn load_or_generate_credentials(
    config: &Config,
    entity_id: &str,
) -> anyhow::Result<Credentials> {
    if let (Some(key), Some(cert)) = (&config.spid.key_file, &config.spid.cert_file) {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read {} (spid.key_file / spid.cert_file): {e}",
                    p.display()
                )
            })
        };
        return Credentials::from_pem(&read(key)?, &read(cert)?)
            .map_err(|e| anyhow::anyhow!("spid.key_file / spid.cert_file: {e}"));
    }
    load_or_generate_pair(
        &demo_key_path(&config.data_dir),
        &spid::CertificateSubject {
            common_name: format!("{} - Pagamenti online", config.ente.name),
            organization: config.ente.name.clone(),
            ipa_code: config.spid.ipa_code.clone(),
            locality: locality_of(&config.ente.name),
            entity_id: entity_id.to_owned(),
        },
    )
}

/// A key pair kept in one PEM file (key, then certificate), generated — self-signed, valid two
/// years — when missing or about to expire. The file is readable by its owner only and written
/// whole (a temporary file renamed), so instances starting together never read half a pair.
pub fn load_or_generate_pair(
    path: &Path,
    subject: &spid::CertificateSubject,
) -> anyhow::Result<Credentials> {
    if let Ok(pem) = std::fs::read(path) {
        let creds = Credentials::from_pem(&pem, &pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if creds
            .certificate()
            .is_valid_at(OffsetDateTime::now_utc() + time::Duration::days(7))
        {
            return Ok(creds);
        }
        tracing::info!(path = %path.display(), "the certificate expires: generating a new pair");
    }
    let creds = Credentials::generate(subject, 730)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut pem = creds.key_pem()?;
    pem.extend(creds.certificate().pem()?);
    let temporary = path.with_extension(format!("tmp-{:08x}", rand::random::<u32>()));
    write_private(&temporary, &pem)?;
    std::fs::rename(&temporary, path)?;
    tracing::info!(path = %path.display(), "key and self-signed certificate generated");
    Ok(creds)
}

/// "Comune di Piacenza" → "Piacenza": the locality of a municipality's certificate.
fn locality_of(ente_name: &str) -> String {
    ente_name
        .strip_prefix("Comune di ")
        .unwrap_or(ente_name)
        .to_owned()
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(data)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, data)
    }
}

/// Reads identity providers from a metadata file or every `*.xml` file of a directory.
/// Identity providers whose certificates have all expired are left out with a warning.
pub fn load_idp_metadata(
    path: &Path,
    federation: Federation,
    setting: &str,
) -> anyhow::Result<Vec<TrustedIdp>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| anyhow::anyhow!("{setting}: cannot read {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut idps = Vec::new();
    for file in files {
        let xml = std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("{setting}: cannot read {}: {e}", file.display()))?;
        let parsed = spid::metadata::parse_idp_metadata(&xml)
            .map_err(|e| anyhow::anyhow!("{setting}: {}: {e}", file.display()))?;
        idps.extend(trusted(parsed, federation, &file.display().to_string()));
    }
    Ok(idps)
}

/// Keeps the identity providers that can be used now: a redirect single sign-on endpoint and
/// at least one certificate still valid (expired ones are dropped).
pub fn trusted(parsed: Vec<IdpMetadata>, federation: Federation, source: &str) -> Vec<TrustedIdp> {
    let now = OffsetDateTime::now_utc();
    parsed
        .into_iter()
        .filter_map(|mut meta| {
            meta.signing_certs.retain(|c| c.is_valid_at(now));
            if meta.signing_certs.is_empty() {
                tracing::warn!(idp = %meta.entity_id, source, "identity provider left out: its certificates have expired");
                return None;
            }
            if meta.sso_redirect().is_none() {
                tracing::warn!(idp = %meta.entity_id, source, "identity provider left out: no HTTP-Redirect SingleSignOnService");
                return None;
            }
            Some(TrustedIdp { meta, federation })
        })
        .collect()
}

/// Why a login could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity provider is not one we trust.
    #[error("identity provider sconosciuto")]
    UnknownIdp,
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Starts a login at `idp`: stores the request (single use, bound to the browser whose flow
/// cookie hashes to `browser_hash`) and returns the signed HTTP-Redirect URL.
pub async fn start_login(
    sp: &ServiceProvider,
    store: &Store,
    idp: &str,
    next_path: &str,
    browser_hash: &str,
) -> Result<String, StartError> {
    let idp = sp.idp(idp).ok_or(StartError::UnknownIdp)?;
    let endpoint = idp.meta.sso_redirect().ok_or(StartError::UnknownIdp)?;
    let now = Timestamp::now();
    let id = spid::new_id();
    let xml = spid::authn::authn_request(&spid::authn::AuthnRequestSpec {
        id: &id,
        issue_instant: now.get(),
        destination: &endpoint.location,
        sp_entity_id: sp.entity_id(),
        level: sp.level,
        acs_index: 0,
        attribute_index: 0,
    });
    // RelayState is opaque (the rules want it unintelligible): the request ID finds the state.
    let relay_state = tokens::new_secret();
    let url = spid::binding::redirect_url(
        &endpoint.location,
        MessageKind::Request,
        &xml,
        Some(&relay_state[..32]),
        &sp.credentials,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    store
        .insert_spid_request(&SpidRequest {
            id,
            kind: RequestKind::Authn,
            idp_entity_id: idp.meta.entity_id.clone(),
            level: i64::from(sp.level.number()),
            browser_hash: browser_hash.to_owned(),
            next_path: next_path.to_owned(),
            issue_instant: now,
            expires_at: now.plus(time::Duration::minutes(REQUEST_MINUTES)),
        })
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(url)
}

/// An identity SPID or CIE asserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The fiscal code, without `TINIT-`, checked.
    pub fiscal_code: FiscalCode,
    /// Nome.
    pub first_name: String,
    /// Cognome.
    pub last_name: String,
    /// E-mail, when released.
    pub email: Option<String>,
    /// Data di nascita, when released.
    pub birth_date: Option<time::Date>,
    /// SPID or CIE.
    pub federation: Federation,
    /// The identity-provider session (single logout).
    pub session: SpidSession,
    /// The level used.
    pub level: Level,
}

/// Why a response was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcsError {
    /// No readable SAML response.
    #[error("risposta SAML mancante o illeggibile")]
    Malformed,
    /// It answers no request of ours that is still open in this browser.
    #[error("nessuna richiesta aperta corrisponde alla risposta")]
    UnknownRequest,
    /// The identity provider says the authentication failed (SPID error code, when given).
    #[error("l'identity provider segnala un errore: {0:?}")]
    IdpReported(Option<u8>),
    /// It fails a check.
    #[error("{0}")]
    Rejected(String),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// `TINIT-RSSMRA80A01H501U` → the checked fiscal code.
pub fn fiscal_code_of(attribute: &str) -> Option<FiscalCode> {
    let t = attribute.trim();
    let bare = t
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("TINIT-"))
        .map_or(t, |_| &t[6..]);
    FiscalCode::parse(bare).ok()
}

/// Accepts the response to one of our requests (the base64 of `SAMLResponse`), from the
/// browser whose flow cookie hashes to `browser_hash`. Returns the identity and where to go.
pub async fn finish_login(
    sp: &ServiceProvider,
    store: &Store,
    saml_response: &str,
    browser_hash: &str,
) -> Result<(VerifiedIdentity, String), AcsError> {
    let xml = spid::binding::decode_post(saml_response).map_err(|_| AcsError::Malformed)?;
    let request_id = spid::response::peek_in_response_to(&xml).ok_or(AcsError::Malformed)?;
    let now = Timestamp::now();
    let request = store
        .take_spid_request(&request_id, RequestKind::Authn, Some(browser_hash), now)
        .await
        .map_err(|e| anyhow::anyhow!(e))?
        .ok_or(AcsError::UnknownRequest)?;
    let idp = sp
        .idp(&request.idp_entity_id)
        .ok_or_else(|| AcsError::Rejected("identity provider non più configurato".into()))?
        .clone();
    let level = Level::from_number(request.level as u8).unwrap_or(sp.level);
    let acs_url = sp.acs_url().to_owned();
    let entity_id = sp.entity_id().to_owned();
    let request_instant = request.issue_instant.get();
    // libxmlsec1 works synchronously: off the async threads.
    let checked = tokio::task::spawn_blocking(move || {
        spid::response::validate(
            &xml,
            &Expectation {
                request_id: &request_id,
                request_instant,
                idp: &idp.meta,
                acs_url: &acs_url,
                sp_entity_id: &entity_id,
                level,
                federation: idp.federation,
                required_attributes: &REQUIRED_ATTRIBUTES,
                now: OffsetDateTime::now_utc(),
            },
        )
        .map(|a| (a, idp))
    })
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    let (auth, idp) = match checked {
        Ok(ok) => ok,
        Err(ResponseError::Status { code, .. }) => return Err(AcsError::IdpReported(code)),
        Err(ResponseError::Rejected(reason)) => return Err(AcsError::Rejected(reason)),
    };
    let attr = |n: &str| auth.attributes.get(n).map(|v| v.trim().to_owned());
    let fiscal_code = attr("fiscalNumber")
        .as_deref()
        .and_then(fiscal_code_of)
        .ok_or_else(|| AcsError::Rejected("fiscalNumber non è un codice fiscale valido".into()))?;
    let identity = VerifiedIdentity {
        fiscal_code,
        first_name: attr("name").unwrap_or_default(),
        last_name: attr("familyName").unwrap_or_default(),
        email: attr("email").filter(|e| crate::config::looks_like_email(e)),
        birth_date: attr("dateOfBirth").and_then(|d| {
            time::Date::parse(
                &d,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .ok()
        }),
        federation: idp.federation,
        session: SpidSession {
            idp_entity_id: idp.meta.entity_id.clone(),
            name_id: auth.name_id,
            name_qualifier: auth.name_qualifier,
            session_index: auth.session_index,
        },
        level: auth.level,
    };
    Ok((identity, request.next_path))
}

/// The account step of a SPID/CIE login.
#[derive(Debug)]
pub enum SignIn {
    /// Log this account in.
    Ready(Account),
    /// An account with this fiscal code exists whose code was only claimed: its owner confirms
    /// the password once to link it.
    NeedsPassword(Account),
    /// The account is locked.
    Locked(Account),
}

fn audit(
    actor: &str,
    action: &str,
    outcome: &str,
    ip: &str,
    account_id: Option<i64>,
    detail: String,
) -> AuditEvent {
    AuditEvent {
        account_id,
        actor: actor.chars().take(100).collect(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ip: ip.to_owned(),
        detail,
    }
}

/// The JSON detail of a SPID/CIE audit row.
pub fn audit_detail(identity: &VerifiedIdentity) -> String {
    serde_json::json!({
        "via": identity.federation.as_str(),
        "idp": identity.session.idp_entity_id,
        "level": identity.level.number(),
    })
    .to_string()
}

/// How a federation proves a fiscal code (issue 10's identity model).
fn source_of(federation: Federation) -> IdentitySource {
    match federation {
        Federation::Spid => IdentitySource::Spid,
        Federation::Cie => IdentitySource::Cie,
    }
}

/// The account of a verified identity (issue 10's model: a typed fiscal code is a claim, one
/// asserted by SPID/CIE is verified). The account holding the code verified logs in; else a
/// password account that claimed the code is linked once by its password ([`link_with_password`]);
/// else the first login creates an account, verified at once.
pub async fn sign_in_verified(
    store: &Store,
    identity: &VerifiedIdentity,
    ip: &str,
) -> anyhow::Result<SignIn> {
    if let Some(holder) = verified_holder(store, &identity.fiscal_code).await? {
        return Ok(holder);
    }
    let claimer = store
        .accounts_claiming(&identity.fiscal_code)
        .await?
        .into_iter()
        .find(|a| {
            a.state == AccountState::Active && a.password_hash.is_some() && a.identity.is_none()
        });
    if let Some(account) = claimer {
        return Ok(SignIn::NeedsPassword(account));
    }
    create_verified_account(store, identity, ip)
        .await
        .map(SignIn::Ready)
}

/// The account holding `code` verified, if any, ready to log in (or locked).
async fn verified_holder(store: &Store, code: &FiscalCode) -> anyhow::Result<Option<SignIn>> {
    Ok(store
        .account_by_verified_fiscal_code(code)
        .await?
        .map(|account| {
            if account.state == AccountState::Locked {
                SignIn::Locked(account)
            } else {
                SignIn::Ready(account)
            }
        }))
}

/// Creates the account of a first SPID/CIE login (no password) and verifies its fiscal code in
/// the same transaction. Two first logins racing: the second finds the first's account.
async fn create_verified_account(
    store: &Store,
    identity: &VerifiedIdentity,
    ip: &str,
) -> anyhow::Result<Account> {
    let code = identity.fiscal_code.as_str();
    let mut username = code.to_owned();
    for _ in 0..3 {
        let new = NewVerifiedAccount {
            username: username.clone(),
            fiscal_code: code.to_owned(),
            email: identity.email.clone().unwrap_or_default(),
            first_name: identity.first_name.clone(),
            last_name: identity.last_name.clone(),
            birth_date: identity.birth_date,
        };
        let mut tx = store.db().begin().await?;
        let id = match Store::insert_spid_account_in(&mut tx, &new).await {
            Ok(id) => id,
            // Someone chose this fiscal code as a username: take another.
            Err(StoreError::Conflict(_)) => {
                username = format!("{code}-{}", &tokens::new_secret()[..6]);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let by = &identity.session.idp_entity_id;
        match Store::verify_identity_in(
            &mut tx,
            id,
            &identity.fiscal_code,
            source_of(identity.federation),
            by,
        )
        .await
        {
            Ok(()) => {}
            Err(VerifyError::HeldByAnother(_)) => {
                drop(tx);
                return store
                    .account_by_verified_fiscal_code(&identity.fiscal_code)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the verified holder of {code} vanished"));
            }
            Err(e) => return Err(e.into()),
        }
        Store::audit_in(
            &mut tx,
            &audit(
                &username,
                "register",
                "ok",
                ip,
                Some(id),
                audit_detail(identity),
            ),
        )
        .await?;
        tx.commit().await?;
        return store
            .account_by_id(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("account vanished"));
    }
    anyhow::bail!("no free username for the account of {code}")
}

/// Links a verified identity to the password account that claimed its fiscal code, once the
/// owner confirms that account's password: the code becomes verified for it. `Ok(None)` when
/// the password is wrong.
pub async fn link_with_password(
    store: &Store,
    link: &PendingLink,
    password_text: &str,
    ip: &str,
) -> anyhow::Result<Option<Account>> {
    let Some(account) = store.account_by_id(link.account_id).await? else {
        return Ok(None);
    };
    if !password::verify(password_text.to_owned(), account.password_hash.clone()).await? {
        store
            .audit(&audit(
                &account.username,
                "spid_link",
                "bad_password",
                ip,
                Some(account.id),
                "{}".into(),
            ))
            .await?;
        return Ok(None);
    }
    let code = FiscalCode::parse(&account.fiscal_code)
        .map_err(|e| anyhow::anyhow!("account {}: {e}", account.id))?;
    let source = source_of(federation_of(link));
    let mut tx = store.db().begin().await?;
    Store::verify_identity_in(
        &mut tx,
        account.id,
        &code,
        source,
        &link.session.idp_entity_id,
    )
    .await?;
    let detail = serde_json::json!({ "via": link.federation, "idp": link.session.idp_entity_id })
        .to_string();
    Store::audit_in(
        &mut tx,
        &audit(
            &account.username,
            "spid_link",
            "ok",
            ip,
            Some(account.id),
            detail,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(store.account_by_id(account.id).await?)
}

/// The federation a pending link came through.
fn federation_of(link: &PendingLink) -> Federation {
    if link.federation == "cie" {
        Federation::Cie
    } else {
        Federation::Spid
    }
}

/// The verified identity a pending link keeps.
pub fn identity_of(link: &PendingLink) -> anyhow::Result<VerifiedIdentity> {
    Ok(VerifiedIdentity {
        fiscal_code: FiscalCode::parse(&link.fiscal_code)
            .map_err(|e| anyhow::anyhow!("pending link: {e}"))?,
        first_name: link.first_name.clone(),
        last_name: link.last_name.clone(),
        email: Some(link.email.clone()).filter(|e| !e.is_empty()),
        birth_date: link.birth_date,
        federation: federation_of(link),
        session: link.session.clone(),
        level: u8::try_from(link.level)
            .ok()
            .and_then(Level::from_number)
            .unwrap_or(Level::L2),
    })
}

/// "Non è il mio account": the owner of a verified identity refuses the password account that
/// claimed its fiscal code and enters with a new profile, verified at once (as a first login
/// when nobody claimed the code). The claim stays a claim: once the code is verified here, the
/// claimant's account is never offered for linking again. If the code became verified
/// meanwhile (another tab), that account is the one.
pub async fn sign_in_new_profile(
    store: &Store,
    link: &PendingLink,
    ip: &str,
) -> anyhow::Result<SignIn> {
    let identity = identity_of(link)?;
    if let Some(holder) = verified_holder(store, &identity.fiscal_code).await? {
        return Ok(holder);
    }
    let account = create_verified_account(store, &identity, ip).await?;
    store
        .audit(&audit(
            &account.username,
            "spid_link",
            "refused",
            ip,
            Some(account.id),
            serde_json::json!({
                "via": link.federation,
                "idp": link.session.idp_entity_id,
                "claimed_by": link.account_id,
            })
            .to_string(),
        ))
        .await?;
    Ok(SignIn::Ready(account))
}

/// The pending link of a verified identity to `account`.
pub fn pending_link(
    identity: &VerifiedIdentity,
    account: &Account,
    next_path: &str,
) -> PendingLink {
    PendingLink {
        account_id: account.id,
        federation: identity.federation.as_str().to_owned(),
        fiscal_code: identity.fiscal_code.as_str().to_owned(),
        first_name: identity.first_name.clone(),
        last_name: identity.last_name.clone(),
        email: identity.email.clone().unwrap_or_default(),
        birth_date: identity.birth_date,
        level: i64::from(identity.level.number()),
        session: identity.session.clone(),
        next_path: next_path.to_owned(),
        expires_at: Timestamp::now().plus(time::Duration::minutes(LINK_MINUTES)),
    }
}

/// Starts single logout for a session that came from SPID/CIE: stores the request and returns
/// the signed redirect to the identity provider, if it has a single logout service.
pub async fn start_logout(
    sp: &ServiceProvider,
    store: &Store,
    session: &SpidSession,
) -> anyhow::Result<Option<String>> {
    let Some(idp) = sp.idp(&session.idp_entity_id) else {
        return Ok(None);
    };
    let Some(endpoint) = idp.meta.slo_redirect() else {
        return Ok(None);
    };
    let now = Timestamp::now();
    let id = spid::new_id();
    let xml = spid::logout::logout_request(&spid::logout::LogoutRequestSpec {
        id: &id,
        issue_instant: now.get(),
        destination: &endpoint.location,
        issuer: sp.entity_id(),
        name_id: &session.name_id,
        name_qualifier: &session.name_qualifier,
        session_index: session.session_index.as_deref(),
    });
    let url = spid::binding::redirect_url(
        &endpoint.location,
        MessageKind::Request,
        &xml,
        None,
        &sp.credentials,
    )?;
    store
        .insert_spid_request(&SpidRequest {
            id,
            kind: RequestKind::Logout,
            idp_entity_id: idp.meta.entity_id.clone(),
            level: i64::from(sp.level.number()),
            browser_hash: String::new(),
            next_path: String::new(),
            issue_instant: now,
            expires_at: now.plus(time::Duration::minutes(REQUEST_MINUTES)),
        })
        .await?;
    Ok(Some(url))
}

/// A single logout message received at `/spid/slo`, verified.
#[derive(Debug)]
pub enum SloOutcome {
    /// The identity provider ended the citizen's session: ours are ended too; send the browser
    /// to `redirect` (our signed `LogoutResponse`).
    IdpInitiated {
        /// Where the browser goes next.
        redirect: String,
        /// How many sessions ended.
        ended: u64,
    },
    /// The identity provider answered our logout request.
    Answered {
        /// Whether it says the logout succeeded.
        success: bool,
    },
}

/// Handles a message at the single logout service: `query` for HTTP-Redirect, or the
/// `SAMLRequest`/`SAMLResponse` field of an HTTP-POST (`post`, base64). Signatures are checked
/// with the identity provider's certificates.
pub async fn handle_slo(
    sp: &ServiceProvider,
    store: &Store,
    query: Option<&str>,
    post: Option<&str>,
) -> Result<SloOutcome, AcsError> {
    let now = OffsetDateTime::now_utc();
    let (xml, relay, redirect_message) = match (query, post) {
        (_, Some(b64)) => (
            spid::binding::decode_post(b64).map_err(|_| AcsError::Malformed)?,
            None,
            None,
        ),
        (Some(q), None) => {
            let m = spid::binding::RedirectMessage::parse(q).map_err(|_| AcsError::Malformed)?;
            (m.xml.clone(), m.relay_state.clone(), Some(m))
        }
        (None, None) => return Err(AcsError::Malformed),
    };
    let message =
        spid::logout::parse_logout(&xml, sp.slo_url(), now).map_err(AcsError::Rejected)?;
    let idp = sp
        .idp(message.issuer())
        .ok_or_else(|| AcsError::Rejected("identity provider sconosciuto".into()))?
        .clone();
    match redirect_message {
        Some(m) => m
            .verify(&idp.meta.signing_certs)
            .map_err(|e| AcsError::Rejected(e.to_string()))?,
        None => {
            let certs = idp.meta.signing_certs.clone();
            let xml = xml.clone();
            tokio::task::spawn_blocking(move || spid::response::verify_enveloped(&xml, &certs))
                .await
                .map_err(|e| anyhow::anyhow!(e))?
                .map_err(AcsError::Rejected)?;
        }
    }
    match message {
        spid::logout::LogoutMessage::Request {
            id,
            name_id,
            session_indexes,
            ..
        } => {
            let ended = store
                .end_spid_sessions(&idp.meta.entity_id, &name_id, &session_indexes)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let endpoint = idp.meta.slo_redirect().ok_or_else(|| {
                AcsError::Rejected("l'identity provider non ha un SingleLogoutService".into())
            })?;
            let destination = endpoint
                .response_location
                .as_deref()
                .unwrap_or(&endpoint.location);
            let response = spid::logout::logout_response(
                &spid::new_id(),
                &id,
                destination,
                sp.entity_id(),
                now,
            );
            let redirect = spid::binding::redirect_url(
                destination,
                MessageKind::Response,
                &response,
                relay.as_deref(),
                &sp.credentials,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            Ok(SloOutcome::IdpInitiated { redirect, ended })
        }
        spid::logout::LogoutMessage::Response {
            in_response_to,
            success,
            ..
        } => {
            store
                .take_spid_request(&in_response_to, RequestKind::Logout, None, Timestamp::now())
                .await
                .map_err(|e| anyhow::anyhow!(e))?
                .ok_or(AcsError::UnknownRequest)?;
            Ok(SloOutcome::Answered { success })
        }
    }
}

/// The service provider of a configuration: identity from `spid.*` and `ente.*`, identity
/// providers from `spid.idp_metadata` and `cie.idp_metadata`, plus `extra` (the sandbox's in
/// the demo). None when no identity provider is available: the login page offers no SPID.
pub fn from_config(
    config: &Config,
    extra: Vec<TrustedIdp>,
) -> anyhow::Result<Option<ServiceProvider>> {
    let mut idps = extra;
    if let Some(path) = &config.spid.idp_metadata {
        idps.extend(load_idp_metadata(
            path,
            Federation::Spid,
            "spid.idp_metadata",
        )?);
    }
    if let Some(path) = &config.spid.cie_idp_metadata {
        idps.extend(load_idp_metadata(
            path,
            Federation::Cie,
            "cie.idp_metadata",
        )?);
    }
    if idps.is_empty() {
        if config.spid.has_idp_files() {
            tracing::warn!("SPID/CIE: no usable identity provider in the configured metadata");
        }
        return Ok(None);
    }
    let entity_id = config
        .spid
        .entity_id
        .clone()
        .unwrap_or_else(|| config.public_url.clone());
    let credentials = load_or_generate_credentials(config, &entity_id)?;
    let description = SpDescription {
        acs_url: format!("{}/spid/acs", config.public_url),
        slo_url: format!("{}/spid/slo", config.public_url),
        entity_id,
        organization_name: config.ente.name.clone(),
        organization_display_name: config.ente.name.clone(),
        organization_url: config.ente.website_url.clone(),
        ipa_code: config.spid.ipa_code.clone(),
        contact_email: config.ente.contact_email.clone(),
        contact_phone: config.spid.contact_phone.clone(),
        municipality: config.spid.istat_code.clone(),
        service_name: "Pagamenti online".into(),
    };
    let level = Level::from_number(config.spid.level).unwrap_or(Level::L2);
    for idp in &idps {
        tracing::info!(idp = %idp.meta.entity_id, federation = idp.federation.as_str(), "identity provider trusted");
    }
    Ok(Some(ServiceProvider::new(
        description,
        credentials,
        idps,
        level,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fiscal_numbers_lose_their_prefix_and_are_checked() {
        assert_eq!(
            fiscal_code_of("TINIT-RSSMRA80A01H501U").unwrap().as_str(),
            "RSSMRA80A01H501U"
        );
        assert_eq!(
            fiscal_code_of(" tinit-rssmra80a01h501u ").unwrap().as_str(),
            "RSSMRA80A01H501U"
        );
        assert!(
            fiscal_code_of("TINIT-RSSMRA80A01H501X").is_none(),
            "check character"
        );
        assert!(fiscal_code_of("").is_none());
        assert_eq!(locality_of("Comune di Piacenza"), "Piacenza");
    }
}
