//! The one writer. DuckDB takes one writer at a time, so every write
//! (ingest requests, webhook deliveries, scheduled syncs) is a job on one
//! queue, run by one thread that owns the store's write handle. Webhook
//! deliveries are batched: everything queued when the writer comes round is
//! stored in one transaction (with the delivery ids, so a redelivery is
//! recognised), which is what lets a small machine take thousands a second.
//! Readers have their own handles and never wait for it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flowmeter_config::Config;
use flowmeter_model::Event;
use flowmeter_store::{ImportSummary, Store};
use tokio::sync::{mpsc, oneshot};

/// Deliveries stored per transaction at most.
const MAX_BATCH: usize = 5_000;

/// Deliveries queued at most; past it, senders are told to retry (503).
const MAX_QUEUED: usize = 100_000;

/// Delivery ids remembered in memory at most (the store's own record
/// catches repeats past it, and across restarts).
const MAX_SEEN: usize = 200_000;

/// A webhook delivery, verified and mapped, waiting to be stored.
pub struct Delivery {
    pub receiver: &'static str,
    pub id: String,
    pub events: Vec<Event>,
    /// Incidents, as (source, id), the delivery says are no incidents any
    /// more (see `hooks::Mapped::withdrawn`).
    pub withdrawn: Vec<(String, String)>,
}

/// How the writer answers an import: to an async caller or to a plain
/// thread (a scheduled sync, which must not block inside its runtime on a
/// tokio channel).
type Reply = Box<dyn FnOnce(Result<ImportSummary, String>) + Send>;

/// What the writer is asked to do.
pub enum Job {
    /// Store these events in one transaction (an ingest request, a sync
    /// batch with its cursor) and say how it went.
    Import {
        events: Vec<Event>,
        /// Incidents of the cursor's source to remove (see
        /// `SyncBatch::withdrawn`).
        withdrawn: Vec<String>,
        cursor: Option<(String, String)>,
        reply: Reply,
    },
    /// Store a delivery (batched with others).
    Deliver(Delivery),
    /// Answer once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// Delivery ids accepted (queued or stored) in this process.
type Seen = Arc<Mutex<HashSet<(&'static str, String)>>>;

/// The sending side, shared by every handler.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::UnboundedSender<Job>,
    queued: Arc<AtomicUsize>,
    seen: Seen,
    /// Bumped after every write: what was computed at an older
    /// generation may be stale.
    generation: Arc<AtomicUsize>,
}

/// Why a delivery was not queued.
#[derive(Debug)]
pub enum NotQueued {
    /// Accepted before (queued or stored): nothing to do.
    Duplicate,
    /// The queue is full: the sender should retry later.
    Full,
    Closed,
}

impl WriteQueue {
    /// How many writes the store has seen (for caches of computed pages).
    pub fn generation(&self) -> usize {
        self.generation.load(Ordering::SeqCst)
    }

    /// Deliveries accepted and not yet stored.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Queues a delivery unless its id was accepted before.
    pub fn deliver(&self, d: Delivery) -> Result<(), NotQueued> {
        if self.queued() >= MAX_QUEUED {
            return Err(NotQueued::Full);
        }
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen.len() >= MAX_SEEN {
                seen.clear();
            }
            if !seen.insert((d.receiver, d.id.clone())) {
                return Err(NotQueued::Duplicate);
            }
        }
        self.queued.fetch_add(1, Ordering::SeqCst);
        let key = (d.receiver, d.id.clone());
        self.tx.send(Job::Deliver(d)).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            forget(&self.seen, &key);
            NotQueued::Closed
        })
    }

    pub async fn import(
        &self,
        events: Vec<Event>,
        cursor: Option<(String, String)>,
    ) -> Result<ImportSummary, String> {
        let (tx, answer) = oneshot::channel();
        self.send_import(events, Vec::new(), cursor, move |r| {
            let _ = tx.send(r);
        })?;
        answer.await.map_err(|_| Closed.to_string())?
    }

    /// The same, for a caller on a plain thread (a scheduled sync): waits
    /// on a std channel, which is allowed inside its own runtime.
    pub fn import_blocking(
        &self,
        events: Vec<Event>,
        withdrawn: Vec<String>,
        cursor: Option<(String, String)>,
    ) -> Result<ImportSummary, String> {
        let (tx, answer) = std::sync::mpsc::sync_channel(1);
        self.send_import(events, withdrawn, cursor, move |r| {
            let _ = tx.send(r);
        })?;
        answer.recv().map_err(|_| Closed.to_string())?
    }

    fn send_import(
        &self,
        events: Vec<Event>,
        withdrawn: Vec<String>,
        cursor: Option<(String, String)>,
        reply: impl FnOnce(Result<ImportSummary, String>) + Send + 'static,
    ) -> Result<(), String> {
        self.tx
            .send(Job::Import {
                events,
                withdrawn,
                cursor,
                reply: Box::new(reply),
            })
            .map_err(|_| Closed.to_string())
    }

    pub async fn flush(&self) -> Result<(), Closed> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(Job::Flush(reply)).map_err(|_| Closed)?;
        answer.await.map_err(|_| Closed)
    }
}

/// The writer has stopped (the server is shutting down).
#[derive(Debug)]
pub struct Closed;

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server is shutting down; nothing was stored")
    }
}

/// Starts the writer thread; it ends (after finishing what is queued)
/// when every [`WriteQueue`] is dropped.
pub fn start(store: Store, config: Arc<Config>) -> (WriteQueue, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let seen: Seen = Arc::default();
    let generation = Arc::new(AtomicUsize::new(0));
    let q = WriteQueue {
        tx,
        queued: queued.clone(),
        seen: seen.clone(),
        generation: generation.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("flowmeter-writer".into())
        .spawn(move || run(store, config, rx, queued, seen, generation))
        .expect("the writer thread starts");
    (q, handle)
}

fn forget(seen: &Seen, key: &(&'static str, String)) {
    seen.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
}

fn run(
    mut store: Store,
    config: Arc<Config>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    queued: Arc<AtomicUsize>,
    seen: Seen,
    generation: Arc<AtomicUsize>,
) {
    let mut held: Option<Job> = None;
    loop {
        let job = match held.take() {
            Some(j) => j,
            None => match rx.blocking_recv() {
                Some(j) => j,
                None => return,
            },
        };
        match job {
            Job::Import {
                events,
                withdrawn,
                cursor,
                reply,
            } => {
                let cursor = cursor.as_ref().map(|(n, c)| (n.as_str(), c.as_str()));
                let done = store
                    .import_with_cursor(events, &withdrawn, cursor, &config.metrics)
                    .map_err(|e| e.to_string());
                generation.fetch_add(1, Ordering::SeqCst);
                reply(done);
            }
            Job::Flush(reply) => {
                let _ = reply.send(());
            }
            Job::Deliver(first) => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Deliver(d)) => batch.push(d),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                let n = batch.len();
                // A delivery that could not be stored is forgotten, so its
                // redelivery is taken.
                for failed in store_deliveries(&mut store, &config, batch) {
                    forget(&seen, &failed);
                }
                generation.fetch_add(1, Ordering::SeqCst);
                queued.fetch_sub(n, Ordering::SeqCst);
            }
        }
    }
}

/// Stores a batch of deliveries in one transaction, skipping those stored
/// before; if the batch fails, each delivery is tried alone so one bad
/// delivery cannot take the others with it. Returns the deliveries that
/// were not stored.
fn store_deliveries(
    store: &mut Store,
    config: &Config,
    batch: Vec<Delivery>,
) -> Vec<(&'static str, String)> {
    let batch = fresh(store, batch);
    let mut failed = Vec::new();
    if batch.is_empty() {
        return failed;
    }
    if store_together(store, config, &batch).is_err() {
        for d in batch {
            if let Err(e) = store_together(store, config, std::slice::from_ref(&d)) {
                log_failure(&d, &e);
                failed.push((d.receiver, d.id.clone()));
            }
        }
    }
    failed
}

fn log_failure(d: &Delivery, e: &str) {
    flowmeter_connector::report::info(format!(
        "error: {} delivery {} was not stored: {e}",
        d.receiver, d.id
    ));
}

/// The deliveries not stored before (nor repeated within the batch).
fn fresh(store: &Store, batch: Vec<Delivery>) -> Vec<Delivery> {
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    let mut out = Vec::with_capacity(batch.len());
    let mut by_receiver: std::collections::BTreeMap<&'static str, Vec<String>> = Default::default();
    for d in &batch {
        by_receiver
            .entry(d.receiver)
            .or_default()
            .push(d.id.clone());
    }
    let mut stored: HashSet<(&'static str, String)> = HashSet::new();
    for (receiver, ids) in by_receiver {
        match store.delivered(receiver, &ids) {
            Ok(found) => stored.extend(found.into_iter().map(|id| (receiver, id))),
            Err(e) => flowmeter_connector::report::info(format!(
                "warning: cannot check {receiver} deliveries for repeats: {e}"
            )),
        }
    }
    for d in batch {
        let key = (d.receiver, d.id.clone());
        if stored.contains(&key) || !seen.insert(key) {
            continue;
        }
        out.push(d);
    }
    out
}

fn store_together(store: &mut Store, config: &Config, batch: &[Delivery]) -> Result<(), String> {
    let mut import = store.begin_import().map_err(|e| e.to_string())?;
    // A delivery carries less than a sync (no commit list, no parents):
    // what it leaves out keeps the stored value.
    import.keep_missing_fields();
    let events: Vec<Event> = batch
        .iter()
        .flat_map(|d| d.events.iter().cloned())
        .collect();
    import.add(events).map_err(|e| e.to_string())?;
    // Deliveries are stored in the order they came: a withdrawal stands
    // unless a later delivery of the batch brings the incident back (an
    // issue unlabelled, then labelled again).
    for (i, d) in batch.iter().enumerate() {
        for (source, id) in &d.withdrawn {
            let back = (batch[i + 1..].iter().flat_map(|later| &later.events)).any(
                |e| matches!(e, Event::Incident(inc) if inc.source == *source && inc.id == *id),
            );
            if !back {
                import.withdraw_incidents(source, std::slice::from_ref(id));
            }
        }
    }
    let ids: Vec<(String, String)> = batch
        .iter()
        .map(|d| (d.receiver.to_string(), d.id.clone()))
        .collect();
    import.add_deliveries(&ids).map_err(|e| e.to_string())?;
    import
        .commit(None, &config.metrics)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident_delivery(id: &str, withdrawn: bool) -> Delivery {
        let record = json!({"type": "incident", "source": "github", "id": "acme/web#7",
            "services": ["acme/web"], "created_at": "2026-03-02T10:00:00Z"});
        Delivery {
            receiver: "github",
            id: id.into(),
            events: if withdrawn {
                Vec::new()
            } else {
                vec![flowmeter_model::event_from_json(record).expect("a valid incident")]
            },
            withdrawn: if withdrawn {
                vec![("github".into(), "acme/web#7".into())]
            } else {
                Vec::new()
            },
        }
    }

    fn incidents(store: &Store) -> u64 {
        let counts = store.counts().expect("counts");
        counts
            .iter()
            .find(|(k, _)| *k == "incidents")
            .map_or(0, |c| c.1)
    }

    /// Deliveries stored together apply in the order they came: an issue
    /// labelled then unlabelled is no incident; unlabelled then labelled
    /// again, it is one.
    #[test]
    fn a_withdrawal_in_a_batch_yields_to_a_later_delivery_only() {
        let config = Config::default();
        let mut store = Store::in_memory().expect("a store");
        let batch = vec![incident_delivery("a", false), incident_delivery("b", true)];
        store_together(&mut store, &config, &batch).expect("stored");
        assert_eq!(incidents(&store), 0);
        let batch = vec![incident_delivery("c", true), incident_delivery("d", false)];
        store_together(&mut store, &config, &batch).expect("stored");
        assert_eq!(incidents(&store), 1);
        let batch = vec![incident_delivery("e", true)];
        store_together(&mut store, &config, &batch).expect("stored");
        assert_eq!(incidents(&store), 0);
    }
}
