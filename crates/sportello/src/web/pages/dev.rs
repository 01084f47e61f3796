//! The demo's development mailbox, the manual and the privacy notice.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{Layout, MessagePage, error_page, render};
use crate::config::Mode;
use crate::web::AppState;
use crate::web::session::Session;

#[derive(Template)]
#[template(path = "pages/mailbox.html")]
struct Mailbox {
    l: Layout,
    /// (date, recipient, id, subject, state)
    messages: Vec<(String, String, i64, String, String)>,
}

#[derive(Template)]
#[template(path = "pages/mail_message.html")]
struct MailMessage {
    l: Layout,
    subject: String,
    recipient: String,
    date: String,
    body: String,
    links: Vec<String>,
}

/// Only the demo has a mailbox page: in production mail leaves through SMTP.
fn demo_only(state: &AppState) -> Option<Response> {
    (state.config().mode != Mode::Demo).then(|| error_page(StatusCode::NOT_FOUND))
}

pub(super) async fn mailbox(State(state): State<AppState>, session: Session) -> Response {
    if let Some(r) = demo_only(&state) {
        return r;
    }
    match state.store().outbox_for(None, 200).await {
        Ok(list) => render(&Mailbox {
            l: Layout::new(&state, &session, "Posta di sviluppo"),
            messages: list
                .into_iter()
                .map(|m| {
                    (
                        m.created_at.rome_date_time(),
                        m.message.recipient,
                        m.id,
                        m.message.subject,
                        m.state,
                    )
                })
                .collect(),
        }),
        Err(e) => {
            tracing::error!(error = %e, "mailbox");
            error_page(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The http(s) links of a text, so the demo user can click the activation link.
fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(str::to_owned)
        .collect()
}

pub(super) async fn message(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = demo_only(&state) {
        return r;
    }
    let found = match state.store().outbox_for(None, 1000).await {
        Ok(list) => list.into_iter().find(|m| m.id == id),
        Err(e) => {
            tracing::error!(error = %e, "mailbox");
            return error_page(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let Some(m) = found else {
        return error_page(StatusCode::NOT_FOUND);
    };
    render(&MailMessage {
        l: Layout::new(&state, &session, &m.message.subject),
        links: links(&m.message.body_text),
        subject: m.message.subject,
        recipient: m.message.recipient,
        date: m.created_at.rome_date_time(),
        body: m.message.body_text,
    })
}

pub(super) async fn manual(State(state): State<AppState>, session: Session) -> Response {
    render(&MessagePage {
        l: Layout::new(&state, &session, "Manuale"),
        heading: "Manuale d'uso".into(),
        alert: "",
        paragraphs: vec![
            "L'accesso alla piattaforma dei Pagamenti Elettronici PagoPA avviene tramite credenziali SPID oppure tramite registrazione.".into(),
            "Registrazione: scegli REGISTRATI, compila i dati personali e i dati di accesso e conferma con REGISTRAMI. Riceverai un'e-mail con il collegamento per attivare l'account (controlla anche la cartella «spam»).".into(),
            "Accesso: scegli LOGIN e inserisci nome utente e password. Se li hai dimenticati usa «Username dimenticato?» o «Password dimenticata?».".into(),
            "Nella tua Sezione Privata trovi i Pagamenti OnLine: puoi pagare fino a cinque posizioni in una sola transazione, avviare un pagamento spontaneo (per esempio una multa o la retta dell'asilo nido), pagare un avviso intestato ad altri con il codice avviso e consultare lo storico dei pagamenti con le ricevute.".into(),
        ],
        extra: String::new(),
        links: vec![("/".into(), "Torna alla pagina iniziale".into())],
    })
}

pub(super) async fn privacy(State(state): State<AppState>, session: Session) -> Response {
    let ente = state.ente().name.clone();
    render(&MessagePage {
        l: Layout::new(&state, &session, "Informativa privacy"),
        heading: "Informativa sul trattamento dei dati personali".into(),
        alert: "",
        paragraphs: vec![
            format!("Titolare del trattamento è {ente}. I dati personali raccolti con la registrazione sono trattati per consentire l'accesso al servizio e l'esecuzione dei pagamenti tramite il sistema pagoPA, ai sensi del Regolamento (UE) 2016/679."),
            "I dati sono conservati per il tempo necessario alla gestione dei pagamenti e agli obblighi di legge. Puoi esercitare i diritti previsti dagli articoli 15-22 del Regolamento scrivendo all'indirizzo di assistenza.".into(),
        ],
        extra: String::new(),
        links: vec![("/".into(), "Torna alla pagina iniziale".into())],
    })
}
