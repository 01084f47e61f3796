//! A real SMTP sink on loopback: it speaks enough SMTP for lettre and keeps every message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub rcpt: Vec<String>,
    pub raw: String,
}

impl Received {
    /// The Subject header, decoded when it is RFC 2047 UTF-8.
    pub fn subject(&self) -> String {
        let mut lines = self.raw.split("\r\n");
        let mut value = String::new();
        while let Some(l) = lines.next() {
            if let Some(v) = l.strip_prefix("Subject: ") {
                value.push_str(v);
                // Folded continuation lines start with whitespace.
                for cont in lines.by_ref() {
                    if cont.starts_with(' ') || cont.starts_with('\t') {
                        value.push_str(cont);
                    } else {
                        break;
                    }
                }
                break;
            }
        }
        decode_words(&value)
    }

    /// The decoded text/plain part.
    pub fn text(&self) -> String {
        part_body(&self.raw, "text/plain")
    }

    /// The decoded text/html part.
    pub fn html(&self) -> String {
        part_body(&self.raw, "text/html")
    }

    /// The part of this content type as (its headers, its decoded bytes): an attachment.
    pub fn part(&self, content_type: &str) -> Option<(String, Vec<u8>)> {
        let lower = self.raw.to_ascii_lowercase();
        let found = lower.find(&format!("content-type: {content_type}"))?;
        // The part's headers start after its boundary line.
        let at = self.raw[..found]
            .rfind("\r\n--")
            .and_then(|b| self.raw[b + 2..found].find("\r\n").map(|l| b + 2 + l + 2))
            .unwrap_or(found);
        let rest = &self.raw[at..];
        let header_end = rest.find("\r\n\r\n")?;
        let headers = rest[..header_end].to_owned();
        let body = &rest[header_end + 4..];
        let body = body.find("\r\n--").map_or(body, |end| &body[..end]);
        let bytes = if headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: base64")
        {
            base64(body)
        } else {
            body.as_bytes().to_vec()
        };
        Some((headers, bytes))
    }

    /// The first link in the text body that contains `needle`.
    pub fn link(&self, needle: &str) -> Option<String> {
        self.text()
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(needle))
            .map(str::to_owned)
    }
}

fn decode_words(v: &str) -> String {
    // =?utf-8?b?...?= or =?utf-8?q?...?=, possibly several.
    let mut out = String::new();
    for word in v.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && word.ends_with("?=") {
            out.push_str(&String::from_utf8_lossy(&base64(&word[10..word.len() - 2])));
        } else if lower.starts_with("=?utf-8?q?") && word.ends_with("?=") {
            out.push_str(&qp(&word[10..word.len() - 2].replace('_', " ")));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

fn base64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => continue,
        };
        buf = (buf << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

fn qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finds the part with this content type and decodes its transfer encoding.
fn part_body(raw: &str, content_type: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let Some(at) = lower.find(&format!("content-type: {content_type}")) else {
        return String::new();
    };
    let rest = &raw[at..];
    let Some(header_end) = rest.find("\r\n\r\n") else {
        return String::new();
    };
    let headers = rest[..header_end].to_ascii_lowercase();
    let body = &rest[header_end + 4..];
    let body = match body.find("\r\n--") {
        Some(end) => &body[..end],
        None => body.trim_end_matches("\r\n.\r\n"),
    };
    if headers.contains("content-transfer-encoding: base64") {
        String::from_utf8_lossy(&base64(body)).into_owned()
    } else if headers.contains("content-transfer-encoding: quoted-printable") {
        qp(body)
    } else {
        body.to_owned()
    }
}

/// The sink: a listener on 127.0.0.1 and what it received.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
    /// When set, the reply to every `RCPT TO` (a 4xx or 5xx line such as
    /// `451 4.3.0 Riprova più tardi`): the server refuses the recipient.
    refusal: Arc<Mutex<Option<String>>>,
    /// `RCPT TO` commands seen, refused ones included: how often a client tried.
    rcpt_commands: Arc<Mutex<usize>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let refusal: Arc<Mutex<Option<String>>> = Arc::default();
        let rcpt_commands: Arc<Mutex<usize>> = Arc::default();
        let store = messages.clone();
        let (refusing, counter) = (refusal.clone(), rcpt_commands.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = store.clone();
                let (refusing, counter) = (refusing.clone(), counter.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read);
                    let _ = write.write_all(b"220 sink ESMTP ready\r\n").await;
                    let mut rcpt = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_ascii_uppercase();
                        let refused = if cmd.starts_with("RCPT") {
                            *counter.lock().unwrap() += 1;
                            refusing.lock().unwrap().clone()
                        } else {
                            None
                        };
                        let refused = refused.map(|r| format!("{r}\r\n"));
                        let reply: &[u8] = if let Some(r) = &refused {
                            r.as_bytes()
                        } else if cmd.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("HELO")
                            || cmd.starts_with("MAIL")
                            || cmd.starts_with("RSET")
                            || cmd.starts_with("NOOP")
                        {
                            if cmd.starts_with("RSET") {
                                rcpt.clear();
                            }
                            b"250 OK\r\n"
                        } else if cmd.starts_with("RCPT") {
                            let addr = line.trim_end()[8..]
                                .trim()
                                .trim_start_matches('<')
                                .trim_end_matches('>')
                                .to_owned();
                            rcpt.push(addr);
                            b"250 OK\r\n"
                        } else if cmd == "DATA" {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut raw = String::new();
                            loop {
                                let mut l = String::new();
                                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if l == ".\r\n" {
                                    break;
                                }
                                raw.push_str(
                                    l.strip_prefix('.')
                                        .filter(|_| l.starts_with(".."))
                                        .unwrap_or(&l),
                                );
                            }
                            store.lock().unwrap().push(Received {
                                rcpt: std::mem::take(&mut rcpt),
                                raw,
                            });
                            b"250 queued\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SmtpSink {
            port,
            messages,
            refusal,
            rcpt_commands,
        }
    }

    /// From now on refuses every recipient with `reply` (`None`: accepts again).
    pub fn refuse_with(&self, reply: Option<&str>) {
        *self.refusal.lock().unwrap() = reply.map(str::to_owned);
    }

    /// `RCPT TO` commands seen so far, refused ones included.
    pub fn rcpt_commands(&self) -> usize {
        *self.rcpt_commands.lock().unwrap()
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) for the `n`-th message to `to` (1-based) and returns it.
    pub async fn wait_for(&self, to: &str, n: usize) -> Received {
        for _ in 0..200 {
            let found: Vec<Received> = self
                .messages
                .lock()
                .unwrap()
                .iter()
                .filter(|m| m.rcpt.iter().any(|r| r.eq_ignore_ascii_case(to)))
                .cloned()
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no message #{n} for {to} within 10 s");
    }

    /// Messages received for `to` so far.
    pub fn count_for(&self, to: &str) -> usize {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.rcpt.iter().any(|r| r.eq_ignore_ascii_case(to)))
            .count()
    }
}
