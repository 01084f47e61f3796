//! pagoPA codecs: the identifiers and amounts that Sportello exchanges with
//! pagoPA and prints on paper notices.
//!
//! Everything here is pure (no I/O, no clock, no randomness) so that it can be
//! tested exhaustively and fuzzed. Each type validates on construction: a value
//! of [`NoticeNumber`], [`FiscalCode`], [`Iban`], ... is always well formed, so
//! the rest of the application never re-checks it.
//!
//! Error messages are Italian sentences meant to be shown to the person who
//! typed the value: they say what is wrong, not just that something is.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bizevents;
pub mod camt053;
pub mod cents;
pub mod checkout;
pub mod fdr;
pub mod fiscal_code;
pub mod iban;
pub mod notice;
pub mod payload;
pub mod soap;

pub use cents::{Cents, CentsError};
pub use fiscal_code::{
    BirthDate, EcFiscalCode, FiscalCode, FiscalCodeError, PartitaIva, PersonalFiscalCode,
};
pub use iban::{Iban, IbanError};
pub use notice::{ApplicationCode, AuxDigit, Iuv, NoticeError, NoticeNumber, SegregationCode};
pub use payload::{PayloadError, PosteDataMatrixPayload, QrPayload};
