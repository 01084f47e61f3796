//! Sportello: the pagoPA payments portal and station of an Italian municipality.
//!
//! Layers, outermost first: [`web`] (axum handlers: pages, JSON API, SOAP) parses input into
//! [`domain`] types once; services apply the rules; [`store`] persists through [`db`] on SQLite or
//! PostgreSQL. pagoPA codecs live in the `pagopa` crate.

pub mod accounts;
pub mod app;
pub mod assets;
pub mod auth;
pub mod backoffice;
pub mod checkout;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod gpd;
pub mod import;
pub mod jobs;
pub mod mail;
pub mod payments;
pub mod pdf;
pub mod recon;
pub mod saml;
pub mod station;
pub mod store;
pub mod telemetry;
pub mod web;
