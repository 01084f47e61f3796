//! Authentication building blocks: password policy and hashing, single-use tokens.

pub mod password;
pub mod tokens;
