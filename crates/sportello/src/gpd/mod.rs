//! The debt-position API, wire-compatible with pagoPA GPD (`openapi/gpd.json`,
//! "Gestione Posizioni Debitorie"): JSON types ([`model`]), their translation into domain types
//! ([`validate`]) and the operations with GPD's lifecycle rules ([`service`]). The HTTP handlers
//! live in `web::gpd`; the bulk import (`crate::import`) reuses the service's rules.

pub mod model;
pub mod service;
pub mod validate;
