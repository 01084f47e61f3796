//! Who a citizen is, as far as Sportello knows: the identity model every access decision starts
//! from.
//!
//! - An **account** (username and password, or SPID/CIE) *claims* a fiscal code: the one typed at
//!   registration. A claim proves nothing. Any number of accounts may claim the same code, an
//!   account whose e-mail is not confirmed reserves nothing, and the real owner can always
//!   register.
//! - A fiscal code is **verified** for an account when SPID or CIE asserts it at login, or when an
//!   operator of the municipality confirms it (documents seen at the counter). The account then
//!   records when, how ([`IdentitySource`]) and by whom. At most one account holds a given code
//!   verified (a partial unique index in the database).
//! - A [`Viewer`] is what the access rules (`crate::domain::access`) receive: the account, and the
//!   fiscal code *only if verified*. Nothing linked to a person by fiscal code (positions the
//!   municipality addressed to them, receipts paid for them at a PSP) is ever shown on the
//!   strength of a claim.
//!
//! SPID/CIE login and the back office's confirmation both call
//! `Store::verify_identity` (see `crate::store::accounts`); `docs/identity.md` describes the model
//! for the people building on it.

use std::fmt;

use crate::clock::Timestamp;

/// How a fiscal code was proven to belong to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// SPID: the identity provider asserted the code (`fiscalNumber`, `TINIT-…`).
    Spid,
    /// CIE (Carta d'Identità Elettronica) login asserted the code.
    Cie,
    /// An operator of the municipality confirmed it (documents seen in person).
    Operator,
}

impl IdentitySource {
    /// Every source.
    pub const ALL: [IdentitySource; 3] = [
        IdentitySource::Spid,
        IdentitySource::Cie,
        IdentitySource::Operator,
    ];

    /// The stored name (`accounts.identity_source`).
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Spid => "spid",
            IdentitySource::Cie => "cie",
            IdentitySource::Operator => "operator",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<IdentitySource> {
        IdentitySource::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fiscal code proven for an account: how, when and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// SPID, CIE or an operator.
    pub source: IdentitySource,
    /// When.
    pub verified_at: Timestamp,
    /// Who vouched: the operator's username, or the identity provider's entity id.
    pub verified_by: String,
}

/// The person looking at a page: an account, and the fiscal code proven for it, if any.
///
/// Built from a stored account (`Account::viewer`); the access rules take nothing else, so a
/// claimed fiscal code cannot reach them by mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    account_id: i64,
    verified_fiscal_code: Option<String>,
}

impl Viewer {
    /// A viewer whose fiscal code is only claimed (a password account never verified).
    pub fn unverified(account_id: i64) -> Viewer {
        Viewer {
            account_id,
            verified_fiscal_code: None,
        }
    }

    /// A viewer whose fiscal code `fiscal_code` was verified (SPID/CIE, or an operator).
    pub fn verified(account_id: i64, fiscal_code: impl Into<String>) -> Viewer {
        Viewer {
            account_id,
            verified_fiscal_code: Some(fiscal_code.into()),
        }
    }

    /// The account.
    pub fn account_id(&self) -> i64 {
        self.account_id
    }

    /// The fiscal code proven for this person, if any (never a mere claim).
    pub fn verified_fiscal_code(&self) -> Option<&str> {
        self.verified_fiscal_code.as_deref()
    }

    /// Whether `fiscal_code` is this person's, proven. Codes are compared as stored (upper case,
    /// as every validated code is).
    pub fn is_verified_as(&self, fiscal_code: &str) -> bool {
        self.verified_fiscal_code
            .as_deref()
            .is_some_and(|mine| mine == fiscal_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for s in IdentitySource::ALL {
            assert_eq!(IdentitySource::parse(s.as_str()), Some(s));
        }
        assert_eq!(IdentitySource::parse("password"), None);
    }

    #[test]
    fn only_a_verified_code_counts() {
        let claim = Viewer::unverified(7);
        assert_eq!(claim.verified_fiscal_code(), None);
        assert!(!claim.is_verified_as("RSSMRA80A01H501U"));
        let proven = Viewer::verified(7, "RSSMRA80A01H501U");
        assert!(proven.is_verified_as("RSSMRA80A01H501U"));
        assert!(!proven.is_verified_as("BNCGLI85M41G337L"));
        assert_eq!(proven.account_id(), 7);
    }
}
