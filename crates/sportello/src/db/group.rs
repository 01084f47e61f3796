//! Group commit: the independent batches of concurrent callers committed as one transaction.
//!
//! A station answers the node only once what it records is committed (the event log row of a
//! verification, an activation with its log row). Each such write was a transaction of its own:
//! on SQLite a turn at the one write lock, on PostgreSQL a commit with its WAL flush. Under load
//! several of them wait at the same moment; here they are taken together — the rows of one table
//! as one multi-row `INSERT` — and committed once, and each caller is answered when that commit
//! is done, so nothing is answered before it is durable. A lone caller is committed at once,
//! without waiting for company.
//!
//! If a group fails on a database error (a constraint), nothing of it was written; each batch
//! is then committed alone, so only the one at fault fails.

use tokio::sync::{Semaphore, mpsc, oneshot};

use super::batch::Batch;
use super::{Db, Dialect};

/// Batches committed together at most.
const MAX_GROUP: usize = 32;
/// Batches waiting at most; beyond, callers wait to queue (memory stays bounded).
const QUEUE: usize = 1024;

type Job = (Batch, oneshot::Sender<Result<(), sqlx::Error>>);

/// The queue of a group committer (see the module). Cloning shares it.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the committer for `db` (a task of the current Tokio runtime, ending when the last
    /// clone of this handle is dropped). On SQLite one group is committed at a time (there is
    /// one writer anyway); on PostgreSQL up to four, on different connections.
    pub fn start(db: Db) -> GroupCommit {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let in_flight = match db.dialect() {
            Dialect::Sqlite => 1,
            Dialect::Postgres => 4,
        };
        tokio::spawn(run(db, jobs, in_flight));
        GroupCommit { queue }
    }

    /// Commits `batch` (which must be independent: see [`Batch::independent`]) with whatever
    /// other batches are waiting; returns once it is committed, or with the error that kept it
    /// from being committed.
    pub async fn commit(&self, db: &Db, batch: Batch) -> Result<(), sqlx::Error> {
        debug_assert!(batch.is_independent() || batch.is_empty());
        if batch.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((batch, _))) = self.queue.send((batch, reply)).await {
            // The committer is gone (its runtime shut down): commit alone.
            return db.run_atomic(batch).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(sqlx::Error::Protocol(
                "group commit: the committer stopped before answering".into(),
            ))
        })
    }
}

async fn run(db: Db, mut jobs: mpsc::Receiver<Job>, in_flight: usize) {
    let permits = std::sync::Arc::new(Semaphore::new(in_flight));
    while let Some(first) = jobs.recv().await {
        // Waiting for a free slot is when the next group gathers.
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if in_flight == 1 {
            commit_group(&db, group).await;
            drop(permit);
        } else {
            let db = db.clone();
            tokio::spawn(async move {
                commit_group(&db, group).await;
                drop(permit);
            });
        }
    }
}

async fn commit_group(db: &Db, mut group: Vec<Job>) {
    if group.len() == 1 {
        let (batch, reply) = group.remove(0);
        let _ = reply.send(db.run_atomic(batch).await);
        return;
    }
    let mut merged = Batch::independent();
    for (batch, _) in &group {
        merged.append(batch.clone());
    }
    match db.run_atomic(merged).await {
        Ok(()) => {
            for (_, reply) in group {
                let _ = reply.send(Ok(()));
            }
        }
        // Rolled back whole: find the batch at fault by committing each alone.
        Err(sqlx::Error::Database(e)) => {
            tracing::debug!(error = %e, batches = group.len(), "group commit: committing one by one");
            for (batch, reply) in group {
                let _ = reply.send(db.run_atomic(batch).await);
            }
        }
        // The connection or the database failed: whether the commit happened is not known, so
        // nothing is tried again here (the caller answers with an error; the node retries).
        Err(e) => {
            let message = e.to_string();
            for (_, reply) in group {
                let _ = reply.send(Err(sqlx::Error::Protocol(format!(
                    "group commit: {message}"
                ))));
            }
        }
    }
}
