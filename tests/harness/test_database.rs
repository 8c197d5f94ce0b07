//! A test's own database on the shared Postgres, dropped when the test ends however it ends:
//! `TestApp::shutdown` drops it and waits; a test that panics (or never shuts down) drops it
//! from `Drop`, so no `gw_test_*` database is left behind.

use sqlx::migrate::MigrateDatabase;
use std::time::Duration;

/// Owns a database by its URL; dropping the guard drops the database.
pub struct TestDatabase {
    url: String,
    /// False once the database is known to be gone.
    armed: bool,
}

impl TestDatabase {
    /// Takes ownership of the database at `url` (it need not exist yet).
    pub fn new(url: String) -> Self {
        Self { url, armed: true }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database now. On failure the guard stays armed and tries again when dropped.
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        force_drop(&self.url).await?;
        self.armed = false;
        Ok(())
    }
}

/// `DROP DATABASE ... WITH (FORCE)`; a connection still closing can make the first attempt
/// fail, so it tries a few times.
async fn force_drop(url: &str) -> anyhow::Result<()> {
    let mut attempt = 0;
    loop {
        match sqlx::Postgres::force_drop_database(url).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The database part of a URL (never its credentials), for messages.
fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Drop may run on the test's runtime thread while a panic unwinds (where no runtime
        // may be started or blocked on), or after that runtime is gone: a thread of its own
        // with a runtime of its own does the work, and this one waits for it.
        let url = std::mem::take(&mut self.url);
        let name = database_name(&url).to_owned();
        let dropping = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(force_drop(&url))
        });
        match dropping.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop the test database {name}: {err:#}"),
            Err(_) => eprintln!("dropping the test database {name} panicked"),
        }
    }
}
