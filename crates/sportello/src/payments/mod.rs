//! "Pagamenti OnLine" as use cases, independent of HTTP: what is pending for a citizen (the
//! cart), paying it through pagoPA Checkout and coming back, spontaneous payments from the
//! catalog, and notices paid for someone else. Who may see and pay what is decided by
//! `crate::domain::access`; the checkout's states are `crate::domain::checkout`. The page
//! handlers (`web::pages::payments`) parse, call [`service::Payments`], render.

pub mod service;

pub use service::{CartLine, NoticeLookup, Payments, PaymentsError};
