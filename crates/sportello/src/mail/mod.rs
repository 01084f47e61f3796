//! E-mail: Italian messages rendered from templates (plain text and HTML), queued in the outbox
//! inside the transaction of the change they announce, delivered by [`worker`].

pub mod worker;

use askama::Template;

use crate::store::outbox::NewMessage;

/// A button-like link in a message.
#[derive(Debug, Clone)]
pub struct Action {
    /// What the link does ("Conferma l'indirizzo e-mail").
    pub label: String,
    /// The absolute URL.
    pub url: String,
}

/// Who the messages come from, printed in every footer.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The ente's name.
    pub ente_name: String,
    /// The address citizens write to for help.
    pub contact: String,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextBody<'a> {
    greeting: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<Action>,
    after: &'a [String],
    ente_name: &'a str,
    contact: &'a str,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlBody<'a> {
    subject: &'a str,
    greeting: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<Action>,
    after: &'a [String],
    ente_name: &'a str,
    contact: &'a str,
}

/// A message before rendering.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Kind, for logs and tests (`activation`, `password_reset`…).
    pub kind: &'static str,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// "Gentile Mario Rossi,".
    pub greeting: String,
    /// Paragraphs before the action.
    pub paragraphs: Vec<String>,
    /// The link, if any.
    pub action: Option<Action>,
    /// Paragraphs after the action.
    pub after: Vec<String>,
}

impl Mail {
    /// Renders both bodies into an outbox row.
    pub fn render(&self, sender: &Sender) -> anyhow::Result<NewMessage> {
        let text = TextBody {
            greeting: &self.greeting,
            paragraphs: &self.paragraphs,
            action: &self.action,
            after: &self.after,
            ente_name: &sender.ente_name,
            contact: &sender.contact,
        }
        .render()?;
        let html = HtmlBody {
            subject: &self.subject,
            greeting: &self.greeting,
            paragraphs: &self.paragraphs,
            action: &self.action,
            after: &self.after,
            ente_name: &sender.ente_name,
            contact: &sender.contact,
        }
        .render()?;
        Ok(NewMessage {
            kind: self.kind.to_owned(),
            recipient: self.to.clone(),
            subject: self.subject.clone(),
            body_text: text,
            body_html: Some(html),
            attachment: None,
        })
    }
}

/// The activation message sent after registration.
pub fn activation(to: &str, name: &str, link: String, ente: &str) -> Mail {
    Mail {
        kind: "activation",
        to: to.to_owned(),
        subject: format!("{ente} - Conferma il tuo indirizzo e-mail"),
        greeting: format!("Gentile {name},"),
        paragraphs: vec![
            format!("grazie per esserti registrato alla Piattaforma dei Pagamenti Elettronici pagoPA di {ente}."),
            "Per attivare l'account conferma il tuo indirizzo e-mail aprendo il collegamento qui sotto. Il collegamento vale 48 ore e può essere usato una sola volta.".to_owned(),
        ],
        action: Some(Action { label: "Conferma l'indirizzo e-mail".to_owned(), url: link }),
        after: vec!["Se non hai chiesto tu la registrazione, ignora questo messaggio: senza conferma l'account non viene attivato.".to_owned()],
    }
}

/// The reminder of the usernames registered with an address.
pub fn username_reminder(to: &str, usernames: &[String], login: String, ente: &str) -> Mail {
    let list = usernames.join(", ");
    Mail {
        kind: "username_reminder",
        to: to.to_owned(),
        subject: format!("{ente} - Il tuo nome utente"),
        greeting: "Gentile utente,".to_owned(),
        paragraphs: vec![
            "hai chiesto di ricevere il nome utente registrato con questo indirizzo e-mail."
                .to_owned(),
            if usernames.len() == 1 {
                format!("Il tuo nome utente è: {list}")
            } else {
                format!("I nomi utente registrati con questo indirizzo sono: {list}")
            },
        ],
        action: Some(Action {
            label: "Accedi".to_owned(),
            url: login,
        }),
        after: vec!["Se non hai fatto tu la richiesta, ignora questo messaggio.".to_owned()],
    }
}

/// The password-reset link.
pub fn password_reset(to: &str, name: &str, link: String, ente: &str) -> Mail {
    Mail {
        kind: "password_reset",
        to: to.to_owned(),
        subject: format!("{ente} - Reimposta la password"),
        greeting: format!("Gentile {name},"),
        paragraphs: vec![
            "hai chiesto di reimpostare la password del tuo account.".to_owned(),
            "Apri il collegamento qui sotto per sceglierne una nuova. Il collegamento vale 1 ora e può essere usato una sola volta; quando cambi la password, tutte le sessioni aperte vengono chiuse.".to_owned(),
        ],
        action: Some(Action { label: "Scegli una nuova password".to_owned(), url: link }),
        after: vec!["Se non hai fatto tu la richiesta, ignora questo messaggio: la tua password resta quella di prima.".to_owned()],
    }
}

/// Confirmation link for a new e-mail address.
pub fn email_change(to: &str, name: &str, link: String, ente: &str) -> Mail {
    Mail {
        kind: "email_change",
        to: to.to_owned(),
        subject: format!("{ente} - Conferma il nuovo indirizzo e-mail"),
        greeting: format!("Gentile {name},"),
        paragraphs: vec![
            "hai chiesto di usare questo indirizzo e-mail per il tuo account.".to_owned(),
            "Apri il collegamento qui sotto per confermarlo: fino ad allora resta valido l'indirizzo precedente. Il collegamento vale 48 ore.".to_owned(),
        ],
        action: Some(Action { label: "Conferma il nuovo indirizzo".to_owned(), url: link }),
        after: vec!["Se non hai fatto tu la richiesta, ignora questo messaggio.".to_owned()],
    }
}

/// Notice that the password was changed.
pub fn password_changed(to: &str, name: &str, ente: &str) -> Mail {
    Mail {
        kind: "password_changed",
        to: to.to_owned(),
        subject: format!("{ente} - Password modificata"),
        greeting: format!("Gentile {name},"),
        paragraphs: vec![
            "la password del tuo account è stata modificata e tutte le sessioni aperte sono state chiuse.".to_owned(),
            "Se non sei stato tu, usa subito «Password dimenticata?» nella pagina di accesso e scrivi all'assistenza.".to_owned(),
        ],
        action: None,
        after: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_and_escaped_html() {
        let sender = Sender {
            ente_name: "Comune di Piacenza".into(),
            contact: "utenti_pagopa@comune.piacenza.it".into(),
        };
        let m = activation(
            "a@b.it",
            "Mario <b>",
            "http://x/attiva?t=1&u=2".into(),
            "Comune di Piacenza",
        )
        .render(&sender)
        .unwrap();
        assert_eq!(m.kind, "activation");
        assert!(
            m.body_text.starts_with("Gentile Mario <b>,"),
            "{}",
            m.body_text
        );
        assert!(m.body_text.contains("http://x/attiva?t=1&u=2"));
        assert!(m.body_text.contains("utenti_pagopa@comune.piacenza.it"));
        let html = m.body_html.unwrap();
        assert!(
            html.contains("Mario &#60;b&#62;") || html.contains("Mario &lt;b&gt;"),
            "{html}"
        );
        assert!(
            html.contains("http://x/attiva?t=1&#38;u=2")
                || html.contains("http://x/attiva?t=1&amp;u=2"),
            "{html}"
        );
    }
}
