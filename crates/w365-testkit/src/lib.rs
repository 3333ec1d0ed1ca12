//! Test support: a simulator on 127.0.0.1:0 with a seed and a manual clock, a Graph client for it
//! through the real client-secret credential path, and a clock driver for operations that wait.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use w365_testkit::TestSim;
//! let sim = TestSim::contoso().await;
//! let client = sim.client(); // the admin app: every permission
//! let _clock = sim.drive_clock(Duration::from_secs(30), Duration::from_millis(5));
//! // ... run an operation that waits for licensing / provisioning ...
//! # drop(client);
//! # }
//! ```
//! Each test starts its own simulator; nothing is shared between tests.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use w365_graph::auth::Credential;
use w365_graph::{Client, Cloud, RetryPolicy};
use w365_sim::{AppCredentials, ClockMode, Seed, SimConfig, SimHandle};

/// A simulator for one test.
pub struct TestSim {
    handle: Arc<SimHandle>,
}

impl TestSim {
    /// The contoso seed, manual clock, port 0.
    pub async fn contoso() -> Self {
        Self::start(Self::manual_config(Seed::Contoso)).await
    }

    /// A config with the given seed, a manual clock and port 0 (adjust it, then [`TestSim::start`]).
    /// Access tokens live on the virtual clock; here they last a virtual year, so a test that
    /// drives the clock through days of provisioning keeps its token (and its request counts).
    /// A test of expiry sets `token_lifetime` itself and advances the clock past it.
    pub fn manual_config(seed: Seed) -> SimConfig {
        let mut cfg = SimConfig::contoso();
        cfg.seed = seed;
        cfg.clock = ClockMode::Manual;
        cfg.port = 0;
        cfg.state_file = None;
        cfg.token_lifetime = Duration::from_secs(365 * 86_400);
        cfg
    }

    /// Starts a simulator with any config.
    pub async fn start(cfg: SimConfig) -> Self {
        let handle = w365_sim::spawn(cfg)
            .await
            .expect("the simulator starts on 127.0.0.1");
        Self {
            handle: Arc::new(handle),
        }
    }

    /// The simulator itself (request log, outbox, state, faults).
    pub fn sim(&self) -> &SimHandle {
        &self.handle
    }

    /// The key of the simulator's `/_sim` admin API and the header it goes in: add
    /// `(name, value)` to every request a test sends to `/_sim/...` over HTTP.
    pub fn admin_header(&self) -> (&'static str, String) {
        (
            w365_sim::ADMIN_KEY_HEADER,
            self.handle.admin_key().expose().to_owned(),
        )
    }

    /// A shareable handle (e.g. for a task advancing the clock).
    pub fn shared(&self) -> Arc<SimHandle> {
        Arc::clone(&self.handle)
    }

    /// The credential of an app, as a client would be configured with it.
    pub fn credential(&self, app: &AppCredentials) -> Credential {
        Credential::ClientSecret {
            tenant_id: self.handle.tenant_id(),
            client_id: app.client_id.clone(),
            secret: SecretString::from(app.client_secret.clone()),
        }
    }

    /// The simulator as a Graph cloud.
    pub fn cloud(&self) -> Cloud {
        let base = self.handle.base_url();
        Cloud::Custom {
            graph: base.clone(),
            authority: base,
        }
    }

    /// A client for an app, with retries that wait at most a few milliseconds (tests stay fast;
    /// the simulator's Retry-After is still honoured up to `max_delay`).
    pub fn client_for(&self, app: &AppCredentials) -> Client {
        Client::builder()
            .cloud(self.cloud())
            .credential(self.credential(app))
            .retry(Self::fast_retry())
            .build()
            .expect("a Graph client for the simulator")
    }

    /// Retries for tests: 8 attempts, short delays.
    pub fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            max_total_wait: Duration::from_secs(10),
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        }
    }

    /// A client signed in as the admin app (every permission).
    pub fn client(&self) -> Client {
        self.client_for(&self.handle.admin_app())
    }

    /// A client for a new app that has exactly these application permissions.
    pub fn client_with_roles(&self, roles: &[&str]) -> Client {
        let app = self.handle.create_app("w365 test app", roles);
        self.client_for(&app)
    }

    /// Advances the virtual clock now.
    pub async fn advance(&self, by: Duration) {
        self.handle.advance(by).await;
    }

    /// Starts advancing the virtual clock by `step` every `every` of real time, until the returned
    /// driver is dropped or stopped. Use it while an operation polls for work the lifecycle does.
    pub fn drive_clock(&self, step: Duration, every: Duration) -> ClockDriver {
        ClockDriver::start(self.shared(), step, every)
    }
}

/// A background task that advances a simulator's clock; stops when dropped.
pub struct ClockDriver {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<u64>>,
}

impl ClockDriver {
    fn start(sim: Arc<SimHandle>, step: Duration, every: Duration) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = 0u64;
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(every) => {
                        sim.advance(step).await;
                        ticks += 1;
                    }
                }
            }
            ticks
        });
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops the driver; returns how many times it advanced the clock.
    pub async fn stop(mut self) -> u64 {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => task.await.unwrap_or(0),
            None => 0,
        }
    }
}

impl Drop for ClockDriver {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
