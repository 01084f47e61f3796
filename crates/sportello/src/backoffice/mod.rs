//! The back office (`/ufficio`): the municipality's operators, what each may see and do, and the
//! use cases of their screens. Every rule about *who* may do *what* lives here; the handlers in
//! `web::ufficio` parse, call and render.
//!
//! - An **admin** sees and does everything.
//! - An **operator** sees the positions, receipts and anomalies of the services (catalog codes)
//!   listed for them — anything else is "not found" — each read-only or read-write: they change
//!   the records of their read-write services only ([`Operator::may_write_service`]).
//!   Positions without a service (created through the API or the import) are the admins'.
//! - An admin may be read-only: they see everything and change nothing.

pub mod operators;
pub mod recon;
pub mod sealing;
pub mod service;
pub mod totp;

pub use service::{BackOffice, BoError};

/// An operator's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, every service, operators included.
    Admin,
    /// The services listed for them.
    Operator,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    /// The Italian label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Amministratore",
            Role::Operator => "Operatore",
        }
    }
}

/// An operator as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    /// Primary key.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// argon2id hash.
    pub password_hash: String,
    /// The initial password is still in use.
    pub must_change_password: bool,
    /// TOTP secret, sealed (see [`sealing`]).
    pub totp_secret: String,
    /// Last TOTP step accepted.
    pub totp_last_step: i64,
    /// Role.
    pub role: Role,
    /// An admin who may not change anything (operators have a mode per service instead:
    /// [`Operator::read_only_services`]).
    pub read_only: bool,
    /// Disabled: cannot log in.
    pub disabled: bool,
    /// Catalog codes in scope (meaningful for [`Role::Operator`]).
    pub services: Vec<String>,
    /// Those of [`Operator::services`] the operator sees but does not change.
    pub read_only_services: Vec<String>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("read_only", &self.read_only)
            .field("services", &self.services)
            .field("read_only_services", &self.read_only_services)
            .finish_non_exhaustive()
    }
}

impl Operator {
    /// Whether the operator is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the service with catalog code `code` (None: no service) is in scope.
    pub fn sees_service(&self, code: Option<&str>) -> bool {
        match code {
            _ if self.is_admin() => true,
            Some(code) => self.services.iter().any(|s| s == code),
            None => false,
        }
    }

    /// Whether the operator may change the records of the service with catalog code `code`
    /// (None: no service): an admin unless read-only; an operator when the service is theirs
    /// read-write. The one rule every change of the back office goes through.
    pub fn may_write_service(&self, code: Option<&str>) -> bool {
        match code {
            _ if self.is_admin() => !self.read_only,
            Some(code) => {
                self.sees_service(Some(code)) && !self.read_only_services.iter().any(|s| s == code)
            }
            None => false,
        }
    }

    /// Whether the operator may change anything at all: an admin unless read-only, an
    /// operator with at least one read-write service (pages that only serve to change things
    /// are shown to them).
    pub fn may_write(&self) -> bool {
        if self.is_admin() {
            !self.read_only
        } else {
            self.services
                .iter()
                .any(|s| self.may_write_service(Some(s)))
        }
    }

    /// The name written in the audit log.
    pub fn actor(&self) -> String {
        format!("operatore:{}", self.username)
    }
}

/// Which positions, receipts and anomalies a query may return: every one, or those of these
/// services (ids in the `services` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// An admin's.
    All,
    /// An operator's.
    Services(Vec<i64>),
}

impl Scope {
    /// The SQL condition restricting `column` (a service id) to the scope. The ids are integers
    /// read from the database, so inlining them is safe.
    pub fn condition(&self, column: &str) -> String {
        match self {
            Scope::All => "1 = 1".to_owned(),
            Scope::Services(ids) if ids.is_empty() => "1 = 0".to_owned(),
            Scope::Services(ids) => format!(
                "{column} IN ({})",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
        }
    }
}
