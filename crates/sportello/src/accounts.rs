//! Citizen accounts: registration, activation, login, recovery, profile. The rules live here;
//! the web layer only parses forms and renders the outcome.

use std::collections::BTreeMap;

use pagopa::FiscalCode;

use crate::auth::{password, tokens};
use crate::clock::{Timestamp, parse_date};
use crate::config::looks_like_email;
use crate::mail::{self, Sender};
use crate::store::accounts::{Account, AccountState, NewAccount, PersonalData, TokenPurpose};
use crate::store::audit::AuditEvent;
use crate::store::{Store, StoreError};

/// How long an activation or e-mail-change link lasts.
pub const ACTIVATION_HOURS: i64 = 48;
/// How long a password-reset link lasts.
pub const RESET_HOURS: i64 = 1;

/// Field errors of a form: field name → Italian message, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    /// Adds an error for a field (only the first per field is kept).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if !self.0.iter().any(|(f, _)| *f == field) {
            self.0.push((field, message.into()));
        }
    }

    /// The error of one field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether there is no error.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The registration form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RegistrationForm {
    /// Nome.
    #[serde(default)]
    pub nome: String,
    /// Cognome.
    #[serde(default)]
    pub cognome: String,
    /// Codice fiscale.
    #[serde(default)]
    pub codice_fiscale: String,
    /// Data di nascita (gg/mm/aaaa).
    #[serde(default)]
    pub data_nascita: String,
    /// Indirizzo.
    #[serde(default)]
    pub indirizzo: String,
    /// CAP.
    #[serde(default)]
    pub cap: String,
    /// Comune.
    #[serde(default)]
    pub comune: String,
    /// Provincia.
    #[serde(default)]
    pub provincia: String,
    /// Telefono.
    #[serde(default)]
    pub telefono: String,
    /// Fax.
    #[serde(default)]
    pub fax: String,
    /// E-mail.
    #[serde(default)]
    pub email: String,
    /// Scegli un nome utente.
    #[serde(default)]
    pub username: String,
    /// Scegli una password.
    #[serde(default)]
    pub password: String,
    /// Ripeti la password.
    #[serde(default)]
    pub password2: String,
    /// Privacy consent checkbox.
    #[serde(default)]
    pub privacy: Option<String>,
}

/// The personal-data part of the profile form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PersonalForm {
    /// Nome.
    #[serde(default)]
    pub nome: String,
    /// Cognome.
    #[serde(default)]
    pub cognome: String,
    /// Data di nascita.
    #[serde(default)]
    pub data_nascita: String,
    /// Indirizzo.
    #[serde(default)]
    pub indirizzo: String,
    /// CAP.
    #[serde(default)]
    pub cap: String,
    /// Comune.
    #[serde(default)]
    pub comune: String,
    /// Provincia.
    #[serde(default)]
    pub provincia: String,
    /// Telefono.
    #[serde(default)]
    pub telefono: String,
    /// Fax.
    #[serde(default)]
    pub fax: String,
}

fn is_name(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.chars().count() <= 100
        && s.chars().any(char::is_alphabetic)
        && s.chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '’' | '-' | '.'))
}

fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (6..=15).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '/' | '(' | ')'))
}

/// Validates personal data shared by registration and profile; `fiscal_code` (when personal)
/// must agree with the birth date.
fn validate_personal(
    f: &PersonalForm,
    fiscal_code: Option<&FiscalCode>,
    errors: &mut FieldErrors,
) -> PersonalData {
    if !is_name(&f.nome) {
        errors.add(
            "nome",
            "Inserisci il nome (solo lettere, spazi e apostrofi)",
        );
    }
    if !is_name(&f.cognome) {
        errors.add(
            "cognome",
            "Inserisci il cognome (solo lettere, spazi e apostrofi)",
        );
    }
    let birth_date = match parse_date(&f.data_nascita) {
        Err(e) if f.data_nascita.trim().is_empty() => {
            let _ = e;
            errors.add(
                "data_nascita",
                "Inserisci la data di nascita nel formato gg/mm/aaaa",
            );
            None
        }
        Err(e) => {
            errors.add("data_nascita", e);
            None
        }
        Ok(d) => {
            let today = Timestamp::now().in_rome().date();
            if d >= today || today.year() - d.year() > 120 {
                errors.add("data_nascita", "La data di nascita non è plausibile");
            } else if let Some(FiscalCode::Personal(cf)) = fiscal_code {
                let b = cf.birth_date();
                if b.day != d.day()
                    || b.month != u8::from(d.month())
                    || i32::from(b.year) != d.year() % 100
                {
                    errors.add(
                        "data_nascita",
                        "La data di nascita non corrisponde al codice fiscale",
                    );
                }
            }
            Some(d)
        }
    };
    if f.indirizzo.trim().is_empty() || f.indirizzo.chars().count() > 200 {
        errors.add("indirizzo", "Inserisci l'indirizzo di residenza");
    }
    let cap = f.cap.trim();
    if cap.len() != 5 || !cap.bytes().all(|b| b.is_ascii_digit()) {
        errors.add("cap", "Il CAP è formato da 5 cifre");
    }
    if f.comune.trim().is_empty() || f.comune.chars().count() > 100 {
        errors.add("comune", "Inserisci il comune di residenza");
    }
    let provincia = f.provincia.trim().to_uppercase();
    if provincia.len() != 2 || !provincia.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.add(
            "provincia",
            "Indica la sigla della provincia, per esempio PC",
        );
    }
    if !f.telefono.trim().is_empty() && !is_phone(&f.telefono) {
        errors.add(
            "telefono",
            "Il numero di telefono può contenere solo cifre, spazi e il prefisso +",
        );
    }
    if !f.fax.trim().is_empty() && !is_phone(&f.fax) {
        errors.add(
            "fax",
            "Il numero di fax può contenere solo cifre, spazi e il prefisso +",
        );
    }
    PersonalData {
        first_name: f.nome.trim().to_owned(),
        last_name: f.cognome.trim().to_owned(),
        birth_date,
        address: f.indirizzo.trim().to_owned(),
        postal_code: cap.to_owned(),
        city: f.comune.trim().to_owned(),
        province: provincia,
        phone: f.telefono.trim().to_owned(),
        fax: f.fax.trim().to_owned(),
    }
}

fn valid_username(u: &str) -> bool {
    let u = u.trim();
    (3..=50).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Everything the flows need besides the store.
#[derive(Clone)]
pub struct Context {
    /// The store.
    pub store: Store,
    /// The ente, for mail footers.
    pub sender: Sender,
    /// Base URL for links in mail (no trailing slash).
    pub public_url: String,
    /// Wakes the outbox worker when a message is queued.
    pub nudge: std::sync::Arc<tokio::sync::Notify>,
}

/// What registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// A new pending account; the activation mail is queued.
    Created {
        /// The name to thank.
        first_name: String,
    },
}

/// Why registration refused the form.
#[derive(Debug)]
pub enum RegistrationError {
    /// Fields to correct.
    Invalid(FieldErrors),
    /// Anything else.
    Internal(anyhow::Error),
}

impl From<StoreError> for RegistrationError {
    fn from(e: StoreError) -> Self {
        RegistrationError::Internal(e.into())
    }
}

/// Validates the registration form into a new account (password not yet hashed).
pub fn validate_registration(
    form: &RegistrationForm,
) -> Result<(PersonalData, String, String, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let fiscal_code = match FiscalCode::parse(&form.codice_fiscale) {
        Ok(cf) => Some(cf),
        Err(e) => {
            errors.add("codice_fiscale", e.to_string());
            None
        }
    };
    let personal_form = PersonalForm {
        nome: form.nome.clone(),
        cognome: form.cognome.clone(),
        data_nascita: form.data_nascita.clone(),
        indirizzo: form.indirizzo.clone(),
        cap: form.cap.clone(),
        comune: form.comune.clone(),
        provincia: form.provincia.clone(),
        telefono: form.telefono.clone(),
        fax: form.fax.clone(),
    };
    // Keep the form's order for the summary: nome, cognome, codice fiscale, …
    let mut personal_errors = FieldErrors::default();
    let personal = validate_personal(&personal_form, fiscal_code.as_ref(), &mut personal_errors);
    let mut ordered = FieldErrors::default();
    for (f, m) in personal_errors
        .0
        .iter()
        .filter(|(f, _)| matches!(f.as_str(), "nome" | "cognome"))
    {
        ordered.add(f, m.clone());
    }
    for (f, m) in errors.0.drain(..) {
        ordered.add(f, m);
    }
    for (f, m) in personal_errors
        .0
        .iter()
        .filter(|(f, _)| !matches!(f.as_str(), "nome" | "cognome"))
    {
        ordered.add(f, m.clone());
    }
    let mut errors = ordered;
    let email = form.email.trim().to_owned();
    if !looks_like_email(&email) || email.len() > 254 {
        errors.add(
            "email",
            "Inserisci un indirizzo e-mail valido, per esempio nome@esempio.it",
        );
    }
    if !valid_username(&form.username) {
        errors.add("username", "Il nome utente deve avere da 3 a 50 caratteri tra lettere, cifre, punto, trattino e trattino basso");
    }
    let local = email.split('@').next().unwrap_or_default();
    if let Err(e) = password::check_policy(
        &form.password,
        &[form.username.trim(), form.codice_fiscale.trim(), local],
    ) {
        errors.add("password", e.to_string());
    }
    if form.password2 != form.password {
        errors.add("password2", "Le due password non coincidono");
    }
    if form.privacy.is_none() {
        errors.add(
            "privacy",
            "Per registrarti devi accettare l'informativa sul trattamento dei dati personali",
        );
    }
    match (errors.is_empty(), fiscal_code) {
        (true, Some(cf)) => Ok((
            personal,
            cf.as_str().to_owned(),
            email,
            form.username.trim().to_owned(),
        )),
        _ => Err(errors),
    }
}

fn audit(
    actor: &str,
    action: &str,
    outcome: &str,
    ip: &str,
    account_id: Option<i64>,
) -> AuditEvent {
    AuditEvent {
        account_id,
        actor: actor.chars().take(100).collect(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ip: ip.to_owned(),
        detail: "{}".to_owned(),
    }
}

impl Context {
    fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url)
    }

    /// Registers a citizen: one transaction writes the account, the activation token, the
    /// activation mail and the audit entry.
    ///
    /// The fiscal code is recorded as a *claim* (see [`crate::domain::identity`]): any number of
    /// accounts may claim one code, so a code someone else registered — rightly or not — takes
    /// exactly the same path, the same work (the password is hashed either way) and the same
    /// answer as a new one, and the real owner can always register. A username held by an
    /// account that never confirmed its e-mail within [`ACTIVATION_HOURS`] is released to the
    /// newcomer: an unconfirmed account reserves nothing.
    pub async fn register(
        &self,
        form: &RegistrationForm,
        ip: &str,
    ) -> Result<Registered, RegistrationError> {
        let (personal, fiscal_code, email, username) =
            validate_registration(form).map_err(RegistrationError::Invalid)?;
        let hash = password::hash(form.password.clone())
            .await
            .map_err(RegistrationError::Internal)?;
        let token = tokens::new_secret();
        let m = mail::activation(
            &email,
            &format!("{} {}", personal.first_name, personal.last_name),
            self.link("/attiva", &token),
            &self.sender.ente_name,
        )
        .render(&self.sender)
        .map_err(RegistrationError::Internal)?;
        let first_name = personal.first_name.clone();
        let account = NewAccount {
            username: username.clone(),
            password_hash: hash,
            fiscal_code,
            email,
            personal,
        };
        let mut tx = self.store.db().begin().await.map_err(StoreError::from)?;
        let stale_before = Timestamp::now().plus(time::Duration::hours(-ACTIVATION_HOURS));
        if Store::delete_stale_pending_in(&mut tx, &username, stale_before).await? {
            Store::audit_in(
                &mut tx,
                &audit(&username, "register", "stale_pending_released", ip, None),
            )
            .await?;
        }
        let id = match Store::insert_account_in(&mut tx, &account).await {
            Ok(id) => id,
            Err(StoreError::Conflict(_)) => {
                let mut e = FieldErrors::default();
                e.add(
                    "username",
                    "Questo nome utente non è disponibile: scegline un altro",
                );
                return Err(RegistrationError::Invalid(e));
            }
            Err(e) => return Err(e.into()),
        };
        let expires = Timestamp::now().plus(time::Duration::hours(ACTIVATION_HOURS));
        Store::insert_token_in(
            &mut tx,
            id,
            TokenPurpose::Activation,
            &tokens::hash_secret(&token),
            expires,
            None,
        )
        .await?;
        Store::enqueue_in(&mut tx, &m).await?;
        Store::audit_in(&mut tx, &audit(&username, "register", "ok", ip, Some(id))).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.nudge.notify_one();
        Ok(Registered::Created { first_name })
    }

    /// Activates the account of an activation link. `Ok(false)` when the link is unknown,
    /// used or expired.
    pub async fn activate(&self, token: &str, ip: &str) -> anyhow::Result<bool> {
        let mut tx = self.store.db().begin().await?;
        let Some(used) = Store::consume_token_in(
            &mut tx,
            TokenPurpose::Activation,
            &tokens::hash_secret(token),
        )
        .await?
        else {
            return Ok(false);
        };
        Store::activate_account_in(&mut tx, used.account_id).await?;
        Store::audit_in(
            &mut tx,
            &audit("", "activate", "ok", ip, Some(used.account_id)),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sends a new activation link to a pending account named by username or e-mail. The
    /// caller answers the same whatever happens here.
    pub async fn resend_activation(&self, who: &str, ip: &str) -> anyhow::Result<()> {
        let who = who.trim();
        let mut candidates = Vec::new();
        if let Some(a) = self.store.account_by_username(who).await? {
            candidates.push(a);
        } else if looks_like_email(who) {
            candidates = self.store.accounts_by_email(who).await?;
        }
        for account in candidates
            .into_iter()
            .filter(|a| a.state == AccountState::Pending)
        {
            let token = tokens::new_secret();
            let m = mail::activation(
                &account.email,
                &account.display_name(),
                self.link("/attiva", &token),
                &self.sender.ente_name,
            )
            .render(&self.sender)?;
            let mut tx = self.store.db().begin().await?;
            let expires = Timestamp::now().plus(time::Duration::hours(ACTIVATION_HOURS));
            Store::insert_token_in(
                &mut tx,
                account.id,
                TokenPurpose::Activation,
                &tokens::hash_secret(&token),
                expires,
                None,
            )
            .await?;
            Store::enqueue_in(&mut tx, &m).await?;
            Store::audit_in(
                &mut tx,
                &audit(
                    &account.username,
                    "resend_activation",
                    "ok",
                    ip,
                    Some(account.id),
                ),
            )
            .await?;
            tx.commit().await?;
            self.nudge.notify_one();
        }
        Ok(())
    }

    /// Checks credentials. Rate limits are the caller's; this only says what the password says.
    pub async fn check_credentials(
        &self,
        username: &str,
        password_text: &str,
    ) -> anyhow::Result<Option<Account>> {
        let account = self.store.account_by_username(username).await?;
        let hash = account.as_ref().and_then(|a| a.password_hash.clone());
        let ok = password::verify(password_text.to_owned(), hash).await?;
        Ok(account.filter(|_| ok))
    }

    /// Mails the usernames registered with an address, if any.
    pub async fn remind_username(&self, email: &str, ip: &str) -> anyhow::Result<()> {
        let accounts = if looks_like_email(email.trim()) {
            self.store.accounts_by_email(email).await?
        } else {
            Vec::new()
        };
        let mut tx = self.store.db().begin().await?;
        if let Some(first) = accounts.first() {
            let names: Vec<String> = accounts.iter().map(|a| a.username.clone()).collect();
            let m = mail::username_reminder(
                &first.email,
                &names,
                format!("{}/login", self.public_url),
                &self.sender.ente_name,
            )
            .render(&self.sender)?;
            Store::enqueue_in(&mut tx, &m).await?;
        }
        let outcome = if accounts.is_empty() {
            "unknown_email"
        } else {
            "ok"
        };
        Store::audit_in(
            &mut tx,
            &audit(
                email.trim(),
                "forgot_username",
                outcome,
                ip,
                accounts.first().map(|a| a.id),
            ),
        )
        .await?;
        tx.commit().await?;
        self.nudge.notify_one();
        Ok(())
    }

    /// Mails a password-reset link to the account with this username, if it exists.
    pub async fn request_password_reset(&self, username: &str, ip: &str) -> anyhow::Result<()> {
        let account = self.store.account_by_username(username).await?;
        let mut tx = self.store.db().begin().await?;
        match &account {
            Some(a) if a.state != AccountState::Locked => {
                let token = tokens::new_secret();
                let m = mail::password_reset(
                    &a.email,
                    &a.display_name(),
                    self.link("/password/reimposta", &token),
                    &self.sender.ente_name,
                )
                .render(&self.sender)?;
                let expires = Timestamp::now().plus(time::Duration::hours(RESET_HOURS));
                Store::insert_token_in(
                    &mut tx,
                    a.id,
                    TokenPurpose::PasswordReset,
                    &tokens::hash_secret(&token),
                    expires,
                    None,
                )
                .await?;
                Store::enqueue_in(&mut tx, &m).await?;
                Store::audit_in(
                    &mut tx,
                    &audit(username, "forgot_password", "ok", ip, Some(a.id)),
                )
                .await?;
            }
            Some(a) => {
                Store::audit_in(
                    &mut tx,
                    &audit(username, "forgot_password", "locked", ip, Some(a.id)),
                )
                .await?
            }
            None => {
                Store::audit_in(
                    &mut tx,
                    &audit(username, "forgot_password", "unknown_username", ip, None),
                )
                .await?
            }
        }
        tx.commit().await?;
        self.nudge.notify_one();
        Ok(())
    }

    /// Sets a new password from a reset link: ends every session of the account. A pending
    /// account is activated too, since the link proves the address.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        repeat: &str,
        ip: &str,
    ) -> Result<Option<i64>, FieldErrors> {
        let mut errors = FieldErrors::default();
        if let Err(e) = password::check_policy(new_password, &[]) {
            errors.add("password", e.to_string());
        }
        if new_password != repeat {
            errors.add("password2", "Le due password non coincidono");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let internal = |e: anyhow::Error| {
            tracing::error!(error = %e, "password reset failed");
            let mut f = FieldErrors::default();
            f.add(
                "password",
                "Si è verificato un errore: riprova tra qualche minuto",
            );
            f
        };
        let hash = password::hash(new_password.to_owned())
            .await
            .map_err(internal)?;
        let result: anyhow::Result<Option<i64>> = async {
            let mut tx = self.store.db().begin().await?;
            let Some(used) = Store::consume_token_in(
                &mut tx,
                TokenPurpose::PasswordReset,
                &tokens::hash_secret(token),
            )
            .await?
            else {
                return Ok(None);
            };
            Store::set_password_in(&mut tx, used.account_id, &hash).await?;
            Store::activate_account_in(&mut tx, used.account_id).await?;
            if let Some(a) = self.store.account_by_id(used.account_id).await? {
                let m = mail::password_changed(&a.email, &a.display_name(), &self.sender.ente_name)
                    .render(&self.sender)?;
                Store::enqueue_in(&mut tx, &m).await?;
            }
            Store::audit_in(
                &mut tx,
                &audit("", "password_reset", "ok", ip, Some(used.account_id)),
            )
            .await?;
            tx.commit().await?;
            self.nudge.notify_one();
            Ok(Some(used.account_id))
        }
        .await;
        result.map_err(internal)
    }

    /// Changes the password of a logged-in citizen who knows the current one; ends every
    /// session of the account (the caller opens a fresh one for the current browser).
    pub async fn change_password(
        &self,
        account: &Account,
        current: &str,
        new_password: &str,
        repeat: &str,
        ip: &str,
    ) -> anyhow::Result<Result<(), FieldErrors>> {
        let mut errors = FieldErrors::default();
        if !password::verify(current.to_owned(), account.password_hash.clone()).await? {
            errors.add("password_attuale", "La password attuale non è corretta");
        }
        let local = account.email.split('@').next().unwrap_or_default();
        if let Err(e) = password::check_policy(
            new_password,
            &[&account.username, &account.fiscal_code, local],
        ) {
            errors.add("password", e.to_string());
        }
        if new_password != repeat {
            errors.add("password2", "Le due password non coincidono");
        }
        if !errors.is_empty() {
            self.store
                .audit(&audit(
                    &account.username,
                    "password_change",
                    "refused",
                    ip,
                    Some(account.id),
                ))
                .await?;
            return Ok(Err(errors));
        }
        let hash = password::hash(new_password.to_owned()).await?;
        let m = mail::password_changed(
            &account.email,
            &account.display_name(),
            &self.sender.ente_name,
        )
        .render(&self.sender)?;
        let mut tx = self.store.db().begin().await?;
        Store::set_password_in(&mut tx, account.id, &hash).await?;
        Store::enqueue_in(&mut tx, &m).await?;
        Store::audit_in(
            &mut tx,
            &audit(
                &account.username,
                "password_change",
                "ok",
                ip,
                Some(account.id),
            ),
        )
        .await?;
        tx.commit().await?;
        self.nudge.notify_one();
        Ok(Ok(()))
    }

    /// Updates personal data.
    pub async fn update_personal(
        &self,
        account: &Account,
        form: &PersonalForm,
        ip: &str,
    ) -> anyhow::Result<Result<(), FieldErrors>> {
        let mut errors = FieldErrors::default();
        let cf = FiscalCode::parse(&account.fiscal_code).ok();
        let personal = validate_personal(form, cf.as_ref(), &mut errors);
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        self.store
            .update_personal_data(account.id, &personal)
            .await?;
        self.store
            .audit(&audit(
                &account.username,
                "profile_update",
                "ok",
                ip,
                Some(account.id),
            ))
            .await?;
        Ok(Ok(()))
    }

    /// Sends a confirmation link to a new address; the old one stays until it is confirmed.
    pub async fn request_email_change(
        &self,
        account: &Account,
        new_email: &str,
        ip: &str,
    ) -> anyhow::Result<Result<(), FieldErrors>> {
        let new_email = new_email.trim();
        let mut errors = FieldErrors::default();
        if !looks_like_email(new_email) || new_email.len() > 254 {
            errors.add(
                "email",
                "Inserisci un indirizzo e-mail valido, per esempio nome@esempio.it",
            );
        } else if new_email.eq_ignore_ascii_case(&account.email) {
            errors.add("email", "È già il tuo indirizzo e-mail");
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let token = tokens::new_secret();
        let m = mail::email_change(
            new_email,
            &account.display_name(),
            self.link("/email/conferma", &token),
            &self.sender.ente_name,
        )
        .render(&self.sender)?;
        let mut tx = self.store.db().begin().await?;
        let expires = Timestamp::now().plus(time::Duration::hours(ACTIVATION_HOURS));
        Store::insert_token_in(
            &mut tx,
            account.id,
            TokenPurpose::EmailChange,
            &tokens::hash_secret(&token),
            expires,
            Some(new_email),
        )
        .await?;
        Store::enqueue_in(&mut tx, &m).await?;
        Store::audit_in(
            &mut tx,
            &audit(
                &account.username,
                "email_change_request",
                "ok",
                ip,
                Some(account.id),
            ),
        )
        .await?;
        tx.commit().await?;
        self.nudge.notify_one();
        Ok(Ok(()))
    }

    /// Confirms a new address from its link.
    pub async fn confirm_email_change(&self, token: &str, ip: &str) -> anyhow::Result<bool> {
        let mut tx = self.store.db().begin().await?;
        let Some(used) = Store::consume_token_in(
            &mut tx,
            TokenPurpose::EmailChange,
            &tokens::hash_secret(token),
        )
        .await?
        else {
            return Ok(false);
        };
        let Some(email) = used.new_email else {
            return Ok(false);
        };
        Store::set_email_in(&mut tx, used.account_id, &email).await?;
        Store::audit_in(
            &mut tx,
            &audit("", "email_change", "ok", ip, Some(used.account_id)),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Field values to echo back into a form after an error (never the passwords).
pub fn echo(form: &RegistrationForm) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("nome", form.nome.clone()),
        ("cognome", form.cognome.clone()),
        ("codice_fiscale", form.codice_fiscale.clone()),
        ("data_nascita", form.data_nascita.clone()),
        ("indirizzo", form.indirizzo.clone()),
        ("cap", form.cap.clone()),
        ("comune", form.comune.clone()),
        ("provincia", form.provincia.clone()),
        ("telefono", form.telefono.clone()),
        ("fax", form.fax.clone()),
        ("email", form.email.clone()),
        ("username", form.username.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> RegistrationForm {
        RegistrationForm {
            nome: "Mario".into(),
            cognome: "Rossi".into(),
            codice_fiscale: "RSSMRA80A01H501U".into(),
            data_nascita: "01/01/1980".into(),
            indirizzo: "Via Roma 1".into(),
            cap: "29121".into(),
            comune: "Piacenza".into(),
            provincia: "pc".into(),
            telefono: "+39 0523 123456".into(),
            fax: String::new(),
            email: "mario.rossi@example.it".into(),
            username: "mrossi".into(),
            password: "cavallo batteria graffetta".into(),
            password2: "cavallo batteria graffetta".into(),
            privacy: Some("on".into()),
        }
    }

    #[test]
    fn a_good_form_validates() {
        let (p, cf, email, user) = validate_registration(&good()).unwrap();
        assert_eq!(cf, "RSSMRA80A01H501U");
        assert_eq!(email, "mario.rossi@example.it");
        assert_eq!(user, "mrossi");
        assert_eq!(p.province, "PC");
    }

    #[test]
    fn every_field_wrong_gives_an_error_per_field_in_form_order() {
        let bad = RegistrationForm {
            nome: "".into(),
            cognome: "R0ss1".into(),
            codice_fiscale: "RSSMRA80A01H501X".into(),
            data_nascita: "31/02/1980".into(),
            indirizzo: "".into(),
            cap: "2912".into(),
            comune: "".into(),
            provincia: "Piacenza".into(),
            telefono: "abc".into(),
            fax: "12".into(),
            email: "mario@".into(),
            username: "m r".into(),
            password: "corto".into(),
            password2: "diversa".into(),
            privacy: None,
        };
        let errors = validate_registration(&bad).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "nome",
                "cognome",
                "codice_fiscale",
                "data_nascita",
                "indirizzo",
                "cap",
                "comune",
                "provincia",
                "telefono",
                "fax",
                "email",
                "username",
                "password",
                "password2",
                "privacy"
            ]
        );
        assert!(
            errors.get("codice_fiscale").unwrap().contains("controllo"),
            "{:?}",
            errors.get("codice_fiscale")
        );
    }

    #[test]
    fn birth_date_must_match_the_fiscal_code() {
        let mut f = good();
        f.data_nascita = "02/01/1980".into();
        let e = validate_registration(&f).unwrap_err();
        assert_eq!(
            e.get("data_nascita"),
            Some("La data di nascita non corrisponde al codice fiscale")
        );
    }

    #[test]
    fn the_password_may_not_contain_the_username() {
        let mut f = good();
        f.password = "mrossi2024!".into();
        f.password2 = f.password.clone();
        assert!(
            validate_registration(&f)
                .unwrap_err()
                .get("password")
                .is_some()
        );
    }
}
