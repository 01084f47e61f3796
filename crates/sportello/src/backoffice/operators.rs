//! Creating, disabling and authenticating operators.

use super::totp::{self, Secret};
use super::{Operator, Role};
use crate::clock::Timestamp;
use crate::store::Store;
use crate::store::operators::NewOperator;

/// What `sportello operator add` prints once.
#[derive(Debug)]
pub struct Created {
    /// The initial password (to be changed at first login).
    pub password: String,
    /// The `otpauth://` URI for the authenticator app.
    pub otpauth_uri: String,
    /// The TOTP secret, base32 (for apps without a camera).
    pub secret: String,
}

/// Why an operator could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// Bad username.
    #[error("the username must be 3 to 64 letters, digits, '.', '-' or '_'")]
    Username,
    /// An operator needs at least one service; an admin none.
    #[error("an operator needs at least one --service; an admin takes none")]
    Services,
    /// A service code not in the catalog.
    #[error("unknown service code {0} (see the catalog)")]
    UnknownService(String),
    /// Taken.
    #[error("an operator named {0} already exists")]
    Taken(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A random initial password: 4 groups of 5 lower-case letters and digits (~100 bits).
fn initial_password() -> String {
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

/// Creates an operator; `known_services` are the catalog's codes.
pub async fn add(
    store: &Store,
    issuer: &str,
    username: &str,
    role: Role,
    services: &[String],
    read_only: bool,
    known_services: &[String],
) -> Result<Created, AddError> {
    let username = username.trim();
    if !(3..=64).contains(&username.len())
        || !username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(AddError::Username);
    }
    if (role == Role::Operator) == services.is_empty() {
        return Err(AddError::Services);
    }
    if let Some(unknown) = services.iter().find(|s| !known_services.contains(s)) {
        return Err(AddError::UnknownService(unknown.clone()));
    }
    let password = initial_password();
    let secret = Secret::generate();
    let new = NewOperator {
        username: username.to_owned(),
        password_hash: crate::auth::password::hash(password.clone()).await?,
        totp_secret: secret.to_base32(),
        role,
        read_only,
        services: services.to_vec(),
    };
    match store.insert_operator(&new).await {
        Ok(_) => {}
        Err(crate::store::StoreError::Conflict(_)) => {
            return Err(AddError::Taken(username.to_owned()));
        }
        Err(e) => return Err(AddError::Other(e.into())),
    }
    Ok(Created {
        password,
        otpauth_uri: totp::otpauth_uri(issuer, username, &secret),
        secret: secret.to_base32(),
    })
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
    let Some(secret) = Secret::from_base32(&operator.totp_secret) else {
        anyhow::bail!("operator {}: stored TOTP secret is malformed", operator.id);
    };
    match secret.verify(code, now.unix(), operator.totp_last_step) {
        Some(step) if store.use_totp_step(operator.id, step).await? => {
            Ok(LoginOutcome::Ok(operator))
        }
        _ => Ok(LoginOutcome::BadCode(operator)),
    }
}
