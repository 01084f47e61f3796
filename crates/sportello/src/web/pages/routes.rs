//! Every page route in one table: the router is built from it, and tests walk it (every
//! state-changing route must refuse a form without its CSRF token), so a route added here is
//! covered without anyone remembering to.

use axum::Router;

use super::{auth, dev, documents, history, payments, private, saml};
use crate::web::AppState;

/// What stands in front of a page route's handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The session layer, with the CSRF token checked on every method but GET, HEAD and
    /// OPTIONS: the citizen's pages and forms.
    Csrf,
    /// The session layer without the token: an identity provider posts there from its own site
    /// (the message's signature and single-use request stand in for it).
    IdentityProvider,
    /// No session at all: public documents (metadata).
    Public,
}

/// A page route as the table declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRoute {
    /// The path, in axum's syntax (`/pagamenti/nuovo/{code}`).
    pub path: &'static str,
    /// The methods it answers, lower case (`get`, `post`).
    pub methods: &'static [&'static str],
    /// What guards it.
    pub guard: Guard,
}

impl PageRoute {
    /// Whether a method of this route changes state (anything but GET, HEAD, OPTIONS).
    pub fn changes_state(&self) -> bool {
        self.methods
            .iter()
            .any(|m| !matches!(*m, "get" | "head" | "options"))
    }
}

/// `guard "path" => method(handler).method(handler);` for each route: builds [`PAGE_ROUTES`]
/// and [`guarded`] from the same lines.
macro_rules! page_routes {
    ($($guard:ident $path:literal => $method:ident($handler:path) $(.$more:ident($more_handler:path))* ;)*) => {
        /// Every page route, in the order the router is built.
        pub const PAGE_ROUTES: &[PageRoute] = &[$(
            PageRoute {
                path: $path,
                methods: &[stringify!($method) $(, stringify!($more))*],
                guard: Guard::$guard,
            },
        )*];

        /// The router of the page routes behind `guard` (the caller adds the guard's layer).
        pub fn guarded(guard: Guard) -> Router<AppState> {
            let mut router = Router::new();
            $(
                if guard == Guard::$guard {
                    router = router.route(
                        $path,
                        axum::routing::$method($handler) $(.$more($more_handler))*,
                    );
                }
            )*
            router
        }
    };
}

page_routes! {
    Csrf "/" => get(auth::home);
    Csrf "/login" => get(auth::login_page).post(auth::login);
    Csrf "/logout" => post(auth::logout);
    Csrf "/registrazione" => get(auth::register_page).post(auth::register);
    Csrf "/attiva" => get(auth::activate);
    Csrf "/attivazione/reinvia" => get(auth::resend_page).post(auth::resend);
    Csrf "/username-dimenticato" => get(auth::forgot_username_page).post(auth::forgot_username);
    Csrf "/password-dimenticata" => get(auth::forgot_password_page).post(auth::forgot_password);
    Csrf "/password/reimposta" => get(auth::reset_page).post(auth::reset);
    Csrf "/area-privata" => get(private::private_area);
    Csrf "/profilo" => get(private::profile);
    Csrf "/profilo/dati" => post(private::update_personal);
    Csrf "/profilo/password" => post(private::change_password);
    Csrf "/profilo/email" => post(private::change_email);
    Csrf "/email/conferma" => get(private::confirm_email);
    Csrf "/dev/mailbox" => get(dev::mailbox);
    Csrf "/dev/mailbox/{id}" => get(dev::message);
    Csrf "/manuale" => get(dev::manual);
    Csrf "/privacy" => get(dev::privacy);
    Csrf "/pagamenti" => get(payments::cart);
    Csrf "/pagamenti/procedi" => post(payments::proceed);
    Csrf "/pagamenti/rimuovi" => post(payments::remove);
    Csrf "/pagamenti/nuovo" => get(payments::choose_service);
    Csrf "/pagamenti/nuovo/{code}" => get(payments::service_form).post(payments::service_submit);
    Csrf "/pagamenti/nuovo/{code}/conferma" => post(payments::service_confirm);
    Csrf "/pagamenti/per-altri" => get(payments::for_others_page).post(payments::for_others_lookup);
    Csrf "/pagamenti/per-altri/aggiungi" => post(payments::for_others_add);
    Csrf "/pagamenti/esito/{id}/ok" => get(payments::return_ok);
    Csrf "/pagamenti/esito/{id}/annullato" => get(payments::return_cancel);
    Csrf "/pagamenti/esito/{id}/errore" => get(payments::return_error);
    Csrf "/pagamenti/storico" => get(history::history);
    Csrf "/pagamenti/storico.csv" => get(history::csv);
    Csrf "/pagamenti/storico/stampa" => get(history::print_selected);
    Csrf "/pagamenti/storico/{id}" => get(history::detail);
    Csrf "/pagamenti/avviso/{file}" => get(documents::notice);
    Csrf "/pagamenti/ricevute.pdf" => get(documents::receipts);
    Csrf "/spid/login" => get(saml::login);
    Csrf "/spid/collega" => get(saml::link_page).post(saml::link);
    Csrf "/spid/collega/nuovo-profilo" => post(saml::link_new_profile);
    IdentityProvider "/spid/acs" => post(saml::acs);
    IdentityProvider "/spid/slo" => get(saml::slo_get).post(saml::slo_post);
    Public "/spid/metadata" => get(saml::spid_metadata);
    Public "/spid/metadata/cie" => get(saml::cie_metadata);
}
