//! The domain: types and rules that know nothing of HTTP, SQL or XML.

pub mod catalog;
pub mod identity;
pub mod position;
