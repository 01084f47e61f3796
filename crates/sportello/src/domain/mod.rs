//! The domain: types and rules that know nothing of HTTP, SQL or XML.

pub mod catalog;
pub mod identity;
pub mod payment_method;
pub mod position;
