//! Several PostgreSQL hosts in one URL, as libpq writes them, for a primary and its standbys:
//! `postgres://user@host1:5432,host2:5433/db?target_session_attrs=read-write`.
//!
//! sqlx connects to one host. Sportello tries the hosts in order and keeps the first one that
//! accepts writes (with `read-write` or `primary`; any host that answers with `any`). A
//! watcher then checks the chosen host every second; when it stops answering, or answers as a
//! standby (it was demoted), the hosts are tried again and the pool's new connections go to the
//! new primary. Pooled connections to the old one fail and are dropped (they are tested before
//! use). While no host accepts writes, requests fail and `/readyz` says the database is
//! unreachable; nothing has to be restarted when a standby is promoted.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};

/// How often the watcher checks the current host.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long one check or connection attempt may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The hosts of a multi-host URL and what a usable host must be.
#[derive(Debug, Clone)]
pub struct Hosts {
    /// One set of options per host, in the URL's order.
    pub candidates: Vec<(String, PgConnectOptions)>,
    /// Whether the host must accept writes (`read-write` or `primary`).
    pub read_write: bool,
}

fn config_error(msg: String) -> sqlx::Error {
    sqlx::Error::Configuration(msg.into())
}

impl Hosts {
    /// The hosts of `url`; `None` for an ordinary one-host URL without `target_session_attrs`.
    pub fn parse(url: &str) -> Result<Option<Hosts>, sqlx::Error> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(None);
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(i) => (&authority[..=i], &authority[i + 1..]),
            None => ("", authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut attrs = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| match p.strip_prefix("target_session_attrs=") {
                Some(v) => {
                    attrs = Some(v.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        let hosts: Vec<&str> = host_list.split(',').collect();
        if hosts.len() < 2 && attrs.is_none() {
            return Ok(None);
        }
        let read_write = match attrs.as_deref().unwrap_or("any") {
            "any" => false,
            "read-write" | "primary" => true,
            other => {
                return Err(config_error(format!(
                    "target_session_attrs={other} is not supported: use read-write, primary or any"
                )));
            }
        };
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };
        let mut candidates = Vec::with_capacity(hosts.len());
        for host in hosts {
            if host.is_empty() {
                return Err(config_error(format!("empty host in {host_list}")));
            }
            let single = format!("{scheme}://{userinfo}{host}{path}{query}");
            candidates.push((host.to_owned(), PgConnectOptions::from_str(&single)?));
        }
        Ok(Some(Hosts {
            candidates,
            read_write,
        }))
    }

    /// Whether the server behind `conn` is one this URL may use.
    pub async fn acceptable(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        if !self.read_write {
            return Ok(true);
        }
        let (recovery, read_only): (bool, String) = sqlx::query_as(
            "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')",
        )
        .fetch_one(&mut *conn)
        .await?;
        Ok(!recovery && read_only == "off")
    }

    /// The first host, in order, that answers and is acceptable.
    pub async fn find(&self) -> Result<(usize, PgConnectOptions), sqlx::Error> {
        let mut why = Vec::new();
        for (i, (name, options)) in self.candidates.iter().enumerate() {
            let attempt = async {
                let mut conn = PgConnection::connect_with(options).await?;
                let ok = self.acceptable(&mut conn).await;
                let _ = conn.close().await;
                ok
            };
            match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
                Ok(Ok(true)) => return Ok((i, options.clone())),
                Ok(Ok(false)) => why.push(format!("{name}: standby or read-only")),
                Ok(Err(e)) => why.push(format!("{name}: {e}")),
                Err(_) => why.push(format!("{name}: no answer")),
            }
        }
        Err(sqlx::Error::Configuration(
            format!(
                "no usable PostgreSQL host ({}): {}",
                if self.read_write {
                    "read-write wanted"
                } else {
                    "any"
                },
                why.join("; ")
            )
            .into(),
        ))
    }

    /// Watches the pool's host until the pool is closed; moves the pool to another host when
    /// the current one is gone or no longer acceptable.
    pub fn watch(self, pool: PgPool, mut current: usize) {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(WATCH_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if pool.is_closed() {
                    return;
                }
                let check = async {
                    let mut conn = pool.acquire().await?;
                    self.acceptable(&mut conn).await
                };
                if let Ok(Ok(true)) = tokio::time::timeout(PROBE_TIMEOUT, check).await {
                    continue;
                }
                match self.find().await {
                    Ok((i, options)) if i != current => {
                        tracing::warn!(
                            from = %self.candidates[current].0,
                            to = %self.candidates[i].0,
                            "database: switching to another host"
                        );
                        pool.set_connect_options(options);
                        current = i;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "database: no usable host yet"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_without_attributes_is_an_ordinary_url() {
        assert!(
            Hosts::parse("postgres://u@127.0.0.1:5432/db")
                .unwrap()
                .is_none()
        );
        assert!(Hosts::parse("sqlite://x.db").unwrap().is_none());
    }

    #[test]
    fn hosts_are_split_and_the_attribute_is_read() {
        let h = Hosts::parse(
            "postgres://u:p@127.0.0.1:5432,127.0.0.1:5433/sportello?sslmode=disable&target_session_attrs=read-write",
        )
        .unwrap()
        .unwrap();
        assert!(h.read_write);
        let names: Vec<&str> = h.candidates.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["127.0.0.1:5432", "127.0.0.1:5433"]);
        assert_eq!(h.candidates[1].1.get_port(), 5433);
        assert_eq!(h.candidates[1].1.get_database(), Some("sportello"));
        assert_eq!(h.candidates[0].1.get_username(), "u");
        let any = Hosts::parse("postgres://u@a,b/db").unwrap().unwrap();
        assert!(!any.read_write);
        assert!(Hosts::parse("postgres://u@a,b/db?target_session_attrs=standby").is_err());
    }
}
