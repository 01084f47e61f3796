//! Managing operators (the back office's pages and `sportello operator` alike) and
//! authenticating them.

use serde_json::json;

use super::sealing::SealingKey;
use super::totp::{self, Secret};
use super::{BoError, Operator, Role};
use crate::clock::Timestamp;
use crate::store::Store;
use crate::store::audit::AuditEvent;
use crate::store::operators::{ChangeOutcome, NewOperator, OperatorChange};

/// What is shown once after creating an operator or resetting their second factor.
#[derive(Debug)]
pub struct Created {
    /// The one-time password (to be changed at the next login); empty after a TOTP reset.
    pub password: String,
    /// The `otpauth://` URI for the authenticator app.
    pub otpauth_uri: String,
    /// The TOTP secret, base32 (for apps without a camera).
    pub secret: String,
}

/// Who manages operators: an admin in the back office, or the command line (whoever runs the
/// binary on the server: it is how the first admin is made).
#[derive(Debug, Clone, Copy)]
pub enum Manager<'a> {
    /// An operator in the back office, from this address (must be an admin).
    Operator(&'a Operator, &'a str),
    /// `sportello operator …`.
    CommandLine,
}

impl Manager<'_> {
    fn actor(&self) -> String {
        match self {
            Manager::Operator(op, _) => op.actor(),
            Manager::CommandLine => "riga di comando".to_owned(),
        }
    }

    fn ip(&self) -> &str {
        match self {
            Manager::Operator(_, ip) => ip,
            Manager::CommandLine => "",
        }
    }

    /// Whether the target is the manager themselves.
    fn is(&self, target: &Operator) -> bool {
        matches!(self, Manager::Operator(op, _) if op.id == target.id)
    }
}

/// An operator's role and scope, as typed in the form or on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// Role.
    pub role: Role,
    /// Catalog codes in scope (an admin has none: every service is theirs).
    pub services: Vec<String>,
    /// Catalog codes seen but not changed (in scope too, even when missing from `services`).
    pub read_only_services: Vec<String>,
    /// An admin: may not change anything. An operator: every service of theirs is read-only
    /// (the operator-wide mode of old, kept for `--read-only`).
    pub read_only: bool,
}

/// An operator's access, checked: codes sorted and known, the mode of an operator per service.
struct Checked {
    services: Vec<String>,
    read_only_services: Vec<String>,
    read_only: bool,
}

fn codes(list: &[String]) -> Vec<String> {
    let mut codes: Vec<String> = list
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

/// A random one-time password: 4 groups of 5 lower-case letters and digits (~100 bits).
fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..4)
        .map(|_| {
            (0..5)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn access_json(o: &Operator) -> serde_json::Value {
    json!({
        "role": o.role.as_str(),
        "read_only": o.read_only,
        "services": o.services,
        "read_only_services": o.read_only_services,
        "disabled": o.disabled,
    })
}

/// Managing operators: create, disable and enable, change role and scope, reset the password
/// or the second factor. Every rule is here — only admins (or the command line); an admin
/// cannot disable or demote themselves; the last active admin stays — and every change is
/// audited with before and after. The back office's pages and `sportello operator` both call it.
pub struct OperatorAdmin<'a> {
    store: &'a Store,
    issuer: String,
    known_services: Vec<String>,
    key: &'a SealingKey,
}

impl<'a> OperatorAdmin<'a> {
    /// Operators of `store`; `issuer` names the TOTP entry in authenticator apps, `known_services`
    /// are the catalog's codes, `key` seals TOTP secrets.
    pub fn new(
        store: &'a Store,
        issuer: String,
        known_services: Vec<String>,
        key: &'a SealingKey,
    ) -> OperatorAdmin<'a> {
        OperatorAdmin {
            store,
            issuer,
            known_services,
            key,
        }
    }

    /// The catalog's codes.
    pub fn known_services(&self) -> &[String] {
        &self.known_services
    }

    /// Refuses whoever is not an admin (first, before any input is looked at).
    pub fn authorize(by: Manager<'_>) -> Result<(), BoError> {
        match by {
            Manager::Operator(op, _) if !op.is_admin() || op.disabled => Err(BoError::Forbidden),
            _ => Ok(()),
        }
    }

    /// Refuses a change to whoever is not an admin, or is a read-only one.
    pub fn authorize_change(by: Manager<'_>) -> Result<(), BoError> {
        Self::authorize(by)?;
        match by {
            Manager::Operator(op, _) if !op.may_write() => Err(BoError::Forbidden),
            _ => Ok(()),
        }
    }

    /// The operator named `username`, for a change.
    async fn target(&self, by: Manager<'_>, username: &str) -> Result<Operator, BoError> {
        Self::authorize_change(by)?;
        self.get(by, username).await
    }

    fn event(by: Manager<'_>, action: &str, detail: serde_json::Value) -> AuditEvent {
        AuditEvent {
            account_id: None,
            actor: by.actor(),
            action: action.to_owned(),
            outcome: "ok".to_owned(),
            ip: by.ip().to_owned(),
            detail: detail.to_string(),
        }
    }

    fn check_access(&self, access: &Access) -> Result<Checked, BoError> {
        let read_only_services = codes(&access.read_only_services);
        let services = codes(&[access.services.clone(), read_only_services.clone()].concat());
        if let Some(unknown) = services.iter().find(|s| !self.known_services.contains(s)) {
            return Err(BoError::Invalid(
                "servizi",
                format!("Servizio sconosciuto: {unknown} (vedi il catalogo)."),
            ));
        }
        match access.role {
            Role::Operator if services.is_empty() => Err(BoError::Invalid(
                "servizi",
                "Un operatore deve avere almeno un servizio.".to_owned(),
            )),
            // An operator's mode is per service: the operator-wide flag makes them all read-only.
            Role::Operator => Ok(Checked {
                read_only_services: if access.read_only {
                    services.clone()
                } else {
                    read_only_services
                },
                services,
                read_only: false,
            }),
            // An admin works on every service: a list would only mislead.
            Role::Admin if !services.is_empty() => Err(BoError::Invalid(
                "servizi",
                "Un amministratore opera su tutti i servizi: non indicarne.".to_owned(),
            )),
            Role::Admin => Ok(Checked {
                services,
                read_only_services,
                read_only: access.read_only,
            }),
        }
    }

    /// Every operator and their last login (admins only).
    pub async fn list(
        &self,
        by: Manager<'_>,
    ) -> Result<Vec<(Operator, Option<Timestamp>)>, BoError> {
        Self::authorize(by)?;
        Ok(self.store.operators_with_last_login().await?)
    }

    /// The operator named `username` (admins only); a name that is not an operator is an
    /// input error (it comes from a form), not a missing page.
    pub async fn get(&self, by: Manager<'_>, username: &str) -> Result<Operator, BoError> {
        Self::authorize(by)?;
        self.store
            .operator_by_username(username.trim())
            .await?
            .ok_or_else(|| {
                BoError::Invalid(
                    "username",
                    format!("Nessun operatore di nome «{}».", username.trim()),
                )
            })
    }

    /// Creates an operator: returns the one-time password and the second factor, shown once.
    pub async fn create(
        &self,
        by: Manager<'_>,
        username: &str,
        access: &Access,
    ) -> Result<Created, BoError> {
        Self::authorize_change(by)?;
        let username = username.trim();
        if !(3..=64).contains(&username.len())
            || !username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(BoError::Invalid(
                "username",
                "Il nome utente deve avere da 3 a 64 caratteri tra lettere, cifre, «.», «-» e «_»."
                    .to_owned(),
            ));
        }
        let checked = self.check_access(access)?;
        let password = one_time_password();
        let secret = Secret::generate();
        let new = NewOperator {
            username: username.to_owned(),
            password_hash: crate::auth::password::hash(password.clone()).await?,
            totp_secret: self.key.seal(username, &secret),
            role: access.role,
            read_only: checked.read_only,
            services: checked.services.clone(),
            read_only_services: checked.read_only_services.clone(),
        };
        let audit = Self::event(
            by,
            "ufficio.operator_create",
            json!({
                "username": username,
                "before": null,
                "after": {
                    "role": access.role.as_str(),
                    "read_only": checked.read_only,
                    "services": checked.services,
                    "read_only_services": checked.read_only_services,
                    "disabled": false,
                },
            }),
        );
        match self.store.insert_operator(&new, &audit).await {
            Ok(_) => {}
            Err(crate::store::StoreError::Conflict(_)) => {
                return Err(BoError::Invalid(
                    "username",
                    format!("Esiste già un operatore di nome «{username}»."),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(Created {
            password,
            otpauth_uri: totp::otpauth_uri(&self.issuer, username, &secret),
            secret: secret.to_base32(),
        })
    }

    async fn apply(
        &self,
        target: &Operator,
        change: &OperatorChange,
        audit: &AuditEvent,
    ) -> Result<(), BoError> {
        match self.store.change_operator(target.id, change, audit).await? {
            ChangeOutcome::Applied => Ok(()),
            ChangeOutcome::NotFound => Err(BoError::NotFound),
            ChangeOutcome::Unchanged => Err(BoError::Conflict(if target.disabled {
                format!("L'operatore «{}» è già disattivato.", target.username)
            } else {
                format!("L'operatore «{}» è già attivo.", target.username)
            })),
            ChangeOutcome::LastAdmin => Err(BoError::Conflict(format!(
                "«{}» è l'ultimo amministratore attivo: nomina prima un altro amministratore.",
                target.username
            ))),
        }
    }

    /// Disables (`true`) or enables again an operator; disabling ends their sessions at once.
    pub async fn set_disabled(
        &self,
        by: Manager<'_>,
        username: &str,
        disabled: bool,
    ) -> Result<(), BoError> {
        let target = self.target(by, username).await?;
        if disabled && by.is(&target) {
            return Err(BoError::Conflict(
                "Non puoi disattivare il tuo stesso profilo.".to_owned(),
            ));
        }
        let mut after = access_json(&target);
        after["disabled"] = json!(disabled);
        let audit = Self::event(
            by,
            if disabled {
                "ufficio.operator_disable"
            } else {
                "ufficio.operator_enable"
            },
            json!({ "username": target.username, "before": access_json(&target), "after": after }),
        );
        self.apply(&target, &OperatorChange::Disabled(disabled), &audit)
            .await
    }

    /// Changes an operator's role, services and their modes (an admin's read-only flag).
    pub async fn change_access(
        &self,
        by: Manager<'_>,
        username: &str,
        access: &Access,
    ) -> Result<(), BoError> {
        let target = self.target(by, username).await?;
        let checked = self.check_access(access)?;
        if by.is(&target) && (access.role != target.role || checked.read_only != target.read_only) {
            return Err(BoError::Conflict(
                "Non puoi cambiare il ruolo o la modalità del tuo stesso profilo.".to_owned(),
            ));
        }
        let mut after = access_json(&target);
        after["role"] = json!(access.role.as_str());
        after["read_only"] = json!(checked.read_only);
        after["services"] = json!(checked.services);
        after["read_only_services"] = json!(checked.read_only_services);
        let audit = Self::event(
            by,
            "ufficio.operator_access",
            json!({ "username": target.username, "before": access_json(&target), "after": after }),
        );
        let change = OperatorChange::Access {
            role: access.role,
            read_only: checked.read_only,
            services: checked.services,
            read_only_services: checked.read_only_services,
        };
        self.apply(&target, &change, &audit).await
    }

    /// Gives an operator a new one-time password (changed at their next login) and ends their
    /// sessions; returns it, to be shown once.
    pub async fn reset_password(&self, by: Manager<'_>, username: &str) -> Result<String, BoError> {
        let target = self.target(by, username).await?;
        let password = one_time_password();
        let hash = crate::auth::password::hash(password.clone()).await?;
        let audit = Self::event(
            by,
            "ufficio.operator_reset_password",
            json!({
                "username": target.username,
                "before": { "must_change_password": target.must_change_password },
                "after": { "must_change_password": true },
            }),
        );
        self.apply(&target, &OperatorChange::Password(hash), &audit)
            .await?;
        Ok(password)
    }

    /// Gives an operator a new TOTP secret and ends their sessions; returns it, to be shown
    /// once (the old authenticator entry stops working).
    pub async fn reset_totp(&self, by: Manager<'_>, username: &str) -> Result<Created, BoError> {
        let target = self.target(by, username).await?;
        let secret = Secret::generate();
        let audit = Self::event(
            by,
            "ufficio.operator_reset_totp",
            json!({
                "username": target.username,
                "before": { "totp": "precedente" },
                "after": { "totp": "nuova chiave" },
            }),
        );
        let sealed = self.key.seal(&target.username, &secret);
        self.apply(&target, &OperatorChange::Totp(sealed), &audit)
            .await?;
        Ok(Created {
            password: String::new(),
            otpauth_uri: totp::otpauth_uri(&self.issuer, &target.username, &secret),
            secret: secret.to_base32(),
        })
    }
}

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Password and code are right.
    Ok(Operator),
    /// Unknown user, wrong password, or disabled.
    BadCredentials,
    /// Right password, wrong (or replayed) code.
    BadCode(Operator),
}

/// Checks username, password and the TOTP code (spending its time step). The password is
/// always verified (with a dummy hash for an unknown user), so timing does not tell whether
/// the operator exists.
pub async fn authenticate(
    store: &Store,
    key: &SealingKey,
    username: &str,
    password: &str,
    code: &str,
    now: Timestamp,
) -> anyhow::Result<LoginOutcome> {
    let operator = store.operator_by_username(username.trim()).await?;
    let ok = crate::auth::password::verify(
        password.to_owned(),
        operator.as_ref().map(|o| o.password_hash.clone()),
    )
    .await?;
    let Some(operator) = operator.filter(|o| ok && !o.disabled) else {
        return Ok(LoginOutcome::BadCredentials);
    };
    let Some(secret) = key.open(&operator.username, &operator.totp_secret) else {
        anyhow::bail!(
            "operator {}: the stored TOTP secret does not open with backoffice.secret_key",
            operator.id
        );
    };
    match secret.verify(code, now.unix(), operator.totp_last_step) {
        Some(step) if store.use_totp_step(operator.id, step).await? => {
            Ok(LoginOutcome::Ok(operator))
        }
        _ => Ok(LoginOutcome::BadCode(operator)),
    }
}
