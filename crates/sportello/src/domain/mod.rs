//! The domain: types and rules that know nothing of HTTP, SQL or XML.

pub mod access;
pub mod catalog;
pub mod checkout;
pub mod identity;
pub mod iuv;
pub mod payment_method;
pub mod position;
