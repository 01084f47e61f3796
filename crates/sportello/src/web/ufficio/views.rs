//! The building blocks of every back-office page: one layout, one page template, and blocks
//! (facts, tables with keyset paging, forms, raw text) that pages assemble. A new page group
//! composes these; it needs no template of its own.

use askama::Template;
use axum::response::Response;

use super::{Access, NAV, OperatorSession};
use crate::backoffice::Operator;
use crate::web::AppState;

/// One entry of the navigation bar.
pub struct NavItem {
    /// Link.
    pub href: &'static str,
    /// Label.
    pub label: &'static str,
    /// The page shown belongs to it.
    pub current: bool,
}

/// What the layout needs.
pub struct Layout {
    /// Page title.
    pub title: String,
    /// The ente's name.
    pub ente_name: String,
    /// The operator's username.
    pub user: Option<String>,
    /// The operator's role, in Italian.
    pub role: String,
    /// CSRF token (logout form).
    pub csrf: String,
    /// Navigation (empty before login).
    pub nav: Vec<NavItem>,
}

/// A message at the top of the page.
pub struct Flash {
    /// `success`, `danger`, `info`.
    pub kind: &'static str,
    /// Text.
    pub text: String,
}

impl Flash {
    /// A success message.
    pub fn success(text: &str) -> Flash {
        Flash {
            kind: "success",
            text: text.to_owned(),
        }
    }

    /// An error message.
    pub fn danger(text: &str) -> Flash {
        Flash {
            kind: "danger",
            text: text.to_owned(),
        }
    }
}

/// Labelled values: (label, value, optional link).
pub struct Facts {
    /// Heading id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// Rows.
    pub rows: Vec<(String, String, Option<String>)>,
}

/// A table cell.
pub struct Cell {
    /// Text.
    pub text: String,
    /// Link.
    pub href: Option<String>,
    /// Right-aligned (amounts).
    pub numeric: bool,
}

impl Cell {
    /// Plain text.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: None,
            numeric: false,
        }
    }

    /// A link.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            href: Some(href.into()),
            numeric: false,
        }
    }

    /// An amount.
    pub fn amount(cents: i64) -> Cell {
        Cell {
            text: pagopa::Cents::new(cents).to_string(),
            href: None,
            numeric: true,
        }
    }
}

/// A table with a heading and keyset paging links.
pub struct Table {
    /// Heading id.
    pub id: String,
    /// Heading (also the caption).
    pub title: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
    /// Shown when there is no row.
    pub empty: String,
    /// The next page.
    pub next: Option<String>,
    /// The first page (when not on it).
    pub first: Option<String>,
}

impl Table {
    /// Links to the next page (rows after `next`) and, when not on it, the first one: the
    /// search form's fields with `dopo`, the keyset, set or removed.
    pub fn keyset_links<F: serde::Serialize>(
        &mut self,
        action: &str,
        form: &F,
        current: Option<i64>,
        next: Option<i64>,
    ) {
        let pairs: Vec<(String, String)> = serde_urlencoded::to_string(form)
            .ok()
            .and_then(|q| serde_urlencoded::from_str(&q).ok())
            .unwrap_or_default();
        let link = |after: Option<i64>| {
            let mut pairs: Vec<(String, String)> =
                pairs.iter().filter(|(k, _)| k != "dopo").cloned().collect();
            if let Some(a) = after {
                pairs.push(("dopo".to_owned(), a.to_string()));
            }
            format!(
                "{action}?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            )
        };
        self.next = next.map(|n| link(Some(n)));
        self.first = current.map(|_| link(None));
    }

    /// A table without paging.
    pub fn new(id: &str, title: &str, headers: &[&str], empty: &str) -> Table {
        Table {
            id: id.to_owned(),
            title: title.to_owned(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            empty: empty.to_owned(),
            next: None,
            first: None,
        }
    }
}

/// Cuts a page read with one row more than it shows; true when another page follows.
pub fn trim_page<T>(rows: &mut Vec<T>, size: i64) -> bool {
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    let more = rows.len() > size;
    rows.truncate(size);
    more
}

/// Raw text (XML, JSON) folded under a summary.
pub struct Pre {
    /// Summary.
    pub title: String,
    /// Text.
    pub text: String,
}

/// One form field.
pub struct Input {
    /// Name.
    pub name: String,
    /// Label.
    pub label: String,
    /// `text`, `password`, `email`, `select`, `checkbox`, `textarea`, `file`.
    pub kind: &'static str,
    /// Value (for a checkbox, `si` when checked).
    pub value: String,
    /// Options of a select: (value, label).
    pub options: Vec<(String, String)>,
    /// Required.
    pub required: bool,
    /// Error.
    pub error: Option<String>,
    /// Help.
    pub help: String,
    /// `autocomplete` token.
    pub autocomplete: &'static str,
    /// Bootstrap columns (of 12).
    pub width: u8,
}

impl Input {
    /// A text field.
    pub fn text(name: &str, label: &str, value: &str) -> Input {
        Input {
            name: name.to_owned(),
            label: label.to_owned(),
            kind: "text",
            value: value.to_owned(),
            options: Vec::new(),
            required: false,
            error: None,
            help: String::new(),
            autocomplete: "off",
            width: 4,
        }
    }

    /// A select.
    pub fn select(name: &str, label: &str, value: &str, options: Vec<(String, String)>) -> Input {
        Input {
            kind: "select",
            options,
            ..Input::text(name, label, value)
        }
    }

    /// Required.
    pub fn required(mut self) -> Input {
        self.required = true;
        self
    }

    /// With a help text.
    pub fn help(mut self, help: &str) -> Input {
        self.help = help.to_owned();
        self
    }

    /// Of another kind.
    pub fn kind(mut self, kind: &'static str) -> Input {
        self.kind = kind;
        self
    }

    /// With an `autocomplete` token.
    pub fn autocomplete(mut self, token: &'static str) -> Input {
        self.autocomplete = token;
        self
    }

    /// Of another width.
    pub fn width(mut self, width: u8) -> Input {
        self.width = width;
        self
    }

    /// With an error.
    pub fn error(mut self, error: Option<String>) -> Input {
        self.error = error;
        self
    }
}

/// A form.
pub struct FormBlock {
    /// Id (also of its heading).
    pub id: String,
    /// Heading.
    pub title: String,
    /// `get` or `post` (a post carries the CSRF token).
    pub method: &'static str,
    /// Target.
    pub action: String,
    /// Hidden fields.
    pub hidden: Vec<(String, String)>,
    /// Fields.
    pub fields: Vec<Input>,
    /// Submit label.
    pub submit: String,
    /// More submit buttons to other targets: (formaction, label).
    pub extra_buttons: Vec<(String, String)>,
}

impl FormBlock {
    /// Whether it uploads a file (then it is sent as `multipart/form-data`).
    pub fn multipart(&self) -> bool {
        self.fields.iter().any(|f| f.kind == "file")
    }

    /// A form posting to `action`.
    pub fn post(
        id: &str,
        title: &str,
        action: &str,
        submit: &str,
        fields: Vec<Input>,
    ) -> FormBlock {
        FormBlock {
            id: id.to_owned(),
            title: title.to_owned(),
            method: "post",
            action: action.to_owned(),
            hidden: Vec::new(),
            fields,
            submit: submit.to_owned(),
            extra_buttons: Vec::new(),
        }
    }

    /// The form resolving an anomaly with a note, posting `hidden` (which anomaly) to `action`.
    pub fn resolve(
        id: &str,
        title: &str,
        action: &str,
        hidden: Vec<(String, String)>,
    ) -> FormBlock {
        let mut form = FormBlock::post(
            id,
            title,
            action,
            "Segna come risolta",
            vec![
                Input::text("nota", "Nota (come è stata risolta)", "")
                    .kind("textarea")
                    .required()
                    .width(12),
            ],
        );
        form.hidden = hidden;
        form
    }
}

/// A part of a page.
pub enum Block {
    /// A paragraph.
    Text(String),
    /// Buttons: (href, label).
    Links(Vec<(String, String)>),
    /// Labelled values.
    Facts(Facts),
    /// A table.
    Table(Table),
    /// Raw text.
    Pre(Pre),
    /// A form.
    Form(FormBlock),
    /// An image (a QR code): (`src`, e.g. a `data:` URI; alternative text).
    Image(String, String),
}

/// Every back-office page.
#[derive(Template)]
#[template(path = "ufficio/page.html")]
pub struct Page {
    /// Layout.
    pub l: Layout,
    /// Heading.
    pub heading: String,
    /// Message.
    pub flash: Option<Flash>,
    /// Content.
    pub blocks: Vec<Block>,
}

/// Whether `op` may see a navigation entry needing `access`.
pub fn allowed(op: &Operator, access: Access) -> bool {
    match access {
        Access::Public | Access::Read => true,
        Access::Write => op.may_write(),
        Access::Admin => op.is_admin(),
        Access::AdminWrite => op.is_admin() && op.may_write(),
    }
}

impl Page {
    /// A page titled `title`; `current` is the navigation entry it belongs to.
    pub fn new(
        state: &AppState,
        session: &OperatorSession,
        op: Option<&Operator>,
        current: &str,
        title: &str,
    ) -> Page {
        let nav = match op {
            Some(op) if !op.must_change_password => NAV
                .iter()
                .filter(|(_, _, access)| allowed(op, *access))
                .map(|(href, label, _)| NavItem {
                    href,
                    label,
                    current: *href == current,
                })
                .collect(),
            _ => Vec::new(),
        };
        Page {
            l: Layout {
                title: title.to_owned(),
                ente_name: state.ente().name.clone(),
                user: op.map(|o| o.username.clone()),
                role: op
                    .map(|o| {
                        let role = o.role.label();
                        if o.read_only {
                            format!("{role} (sola lettura)")
                        } else {
                            role.to_owned()
                        }
                    })
                    .unwrap_or_default(),
                csrf: session.csrf(),
                nav,
            },
            heading: title.to_owned(),
            flash: None,
            blocks: Vec::new(),
        }
    }

    /// Renders the page.
    pub fn render(&self) -> Response {
        crate::web::pages::render(self)
    }
}
