//! What every handler shares: the configuration, the settings, the write
//! queue, a pool of read handles on the store, the sources' status and the
//! server's own counters.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use flowmeter_app::AppError;
use flowmeter_config::Config;
use flowmeter_store::Store;
use tokio::sync::Semaphore;

use crate::settings::Settings;
use crate::writer::WriteQueue;

/// Read handles on the store; each request borrows one for its queries
/// (and the temporary views they make), on a blocking thread.
pub struct Readers {
    pool: Arc<Mutex<Vec<Store>>>,
    permits: Arc<Semaphore>,
    /// Kept to open more handles (a sync gets its own).
    origin: Mutex<Store>,
}

/// A borrowed read handle; goes back to the pool when dropped, also when
/// the work panics.
struct Borrowed {
    store: Option<Store>,
    pool: Arc<Mutex<Vec<Store>>>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        if let Some(s) = self.store.take() {
            self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(s);
        }
    }
}

impl Readers {
    pub fn new(origin: Store, stores: Vec<Store>) -> Readers {
        Readers {
            permits: Arc::new(Semaphore::new(stores.len())),
            pool: Arc::new(Mutex::new(stores)),
            origin: Mutex::new(origin),
        }
    }

    /// A read handle of one's own (for a long job like a sync).
    pub fn dedicated(&self) -> Result<Store, AppError> {
        Ok(self
            .origin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reader()?)
    }

    /// Runs `work` with a read handle, off the async threads. The permit
    /// travels with the handle, so a request dropped while its work runs
    /// cannot hand the same handle out twice.
    pub async fn with<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Store) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::Other("the server is shutting down".into()))?;
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let store = pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut borrowed = Borrowed {
                store,
                pool: pool.clone(),
            };
            let store = borrowed
                .store
                .as_mut()
                .ok_or_else(|| AppError::Other("no read handle free".into()))?;
            work(store)
        })
        .await
        .map_err(|e| AppError::Other(format!("a request failed: {e}")))?
    }
}

/// One source's last and current sync, for the sources page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SourceStatus {
    /// `"15m"` as configured; none = synced only by hand.
    pub interval: Option<String>,
    pub running: bool,
    /// The latest progress line of a running sync.
    pub progress: Option<String>,
    pub last_started: Option<String>,
    pub last_finished: Option<String>,
    /// What the last sync did, or why it failed.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
}

/// The server's own counters (exposed on `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered, pages and API.
    pub requests: AtomicU64,
    /// Webhook deliveries queued.
    pub deliveries: AtomicU64,
    /// Webhook deliveries recognised as repeats.
    pub duplicates: AtomicU64,
    /// Webhook deliveries refused (signature, payload).
    pub rejected: AtomicU64,
    /// Records stored through `POST /api/v1/events`.
    pub ingested: AtomicU64,
}

/// The shared state of the server.
pub struct Shared {
    pub config: Arc<Config>,
    pub settings: Settings,
    pub readers: Arc<Readers>,
    pub writes: WriteQueue,
    pub sources: Mutex<BTreeMap<String, SourceStatus>>,
    pub counters: Counters,
    /// Shown in the page footer: the store and whether it is the demo.
    pub store_label: String,
    /// Where `/` leads (the demo opens on its data's last week).
    pub home: String,
    /// The window of `/metrics` (the last 28 days; the demo's last four
    /// weeks of data).
    pub gauge_window: flowmeter_app::Question,
    /// Rendered report pages by request, with the store generation they
    /// were computed at (reused until the next write).
    pub pages: PageCache,
    /// Set to `true` at shutdown: running syncs stop after their last
    /// stored batch.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

/// Rendered pages: a page depends only on the store, the request, the
/// config and today's date (default windows), so it is served again until
/// the store changes or the day turns, or, with `[serve] page_max_age`,
/// until it is that old.
pub struct PageCache {
    pages: Mutex<std::collections::HashMap<String, Cached>>,
    /// One computation per page at a time (the others wait and take it).
    computing: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// One page computation at a time, whatever the page: under writes the
    /// others serve their last page meanwhile, and the writer keeps a core.
    one_at_a_time: Semaphore,
}

impl Default for PageCache {
    fn default() -> PageCache {
        PageCache {
            pages: Default::default(),
            computing: Default::default(),
            one_at_a_time: Semaphore::new(1),
        }
    }
}

/// A rendered page and when it was computed.
#[derive(Clone)]
pub struct Cached {
    pub page: String,
    /// The store generation it was computed at.
    pub generation: usize,
    /// When it was computed (its age, and the time a stale page shows).
    pub at: std::time::Instant,
    pub computed: chrono::DateTime<chrono::Utc>,
}

/// Pages kept at most.
const CACHED_PAGES: usize = 256;

impl PageCache {
    fn key(uri: &str) -> String {
        format!("{}|{uri}", chrono::Utc::now().date_naive())
    }

    /// The page of `uri` computed at `generation` or later (current for a
    /// request that arrived at `generation`), or one computed at most
    /// `max_age` ago (a stale page: its generation is older).
    pub fn get(
        &self,
        uri: &str,
        generation: usize,
        max_age: std::time::Duration,
    ) -> Option<Cached> {
        let pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        pages
            .get(&Self::key(uri))
            .filter(|c| c.generation >= generation || c.at.elapsed() <= max_age)
            .cloned()
    }

    /// The lock whose holder computes `uri`'s page: requests for the same
    /// page while it is computed wait for that one instead of computing it
    /// again beside it (under writes, every request would otherwise
    /// recompute, and they would share the CPU).
    pub fn turn(&self, uri: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut computing = self.computing.lock().unwrap_or_else(|p| p.into_inner());
        if computing.len() >= CACHED_PAGES {
            computing.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        computing.entry(Self::key(uri)).or_default().clone()
    }

    /// Waits for the turn to compute a page (see `one_at_a_time`).
    pub async fn compute_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.one_at_a_time
            .acquire()
            .await
            .expect("the page semaphore is never closed")
    }

    pub fn put(&self, uri: &str, generation: usize, page: String) {
        let mut pages = self.pages.lock().unwrap_or_else(|p| p.into_inner());
        if pages
            .get(&Self::key(uri))
            .is_some_and(|c| c.generation > generation)
        {
            return; // a later computation got there first
        }
        if pages.len() >= CACHED_PAGES {
            pages.retain(|_, c| c.generation >= generation);
            if pages.len() >= CACHED_PAGES {
                pages.clear();
            }
        }
        let cached = Cached {
            page,
            generation,
            at: std::time::Instant::now(),
            computed: chrono::Utc::now(),
        };
        pages.insert(Self::key(uri), cached);
    }
}

pub type State = Arc<Shared>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_page_is_current_for_requests_that_arrived_before_it_was_computed() {
        let cache = PageCache::default();
        cache.put("/weekly", 5, "five".into());
        let current = |g| cache.get("/weekly", g, Duration::ZERO).map(|c| c.page);
        assert_eq!(current(3).as_deref(), Some("five"));
        assert_eq!(current(5).as_deref(), Some("five"));
        assert_eq!(current(6), None, "a write since: recompute");
        // A slower computation that started earlier does not replace it.
        cache.put("/weekly", 4, "four".into());
        assert_eq!(current(5).as_deref(), Some("five"));
        // With a max age, the young page serves later requests too.
        let young = cache.get("/weekly", 9, Duration::from_secs(60));
        assert_eq!(young.map(|c| c.generation), Some(5));
    }

    #[test]
    fn requests_for_one_page_share_one_computation() {
        let cache = PageCache::default();
        let a = cache.turn("/weekly");
        let b = cache.turn("/weekly");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &cache.turn("/team")));
    }
}
