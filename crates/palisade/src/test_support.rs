//! Helpers shared by the crate's unit tests.

use std::sync::{Arc, Mutex};

use tracing::subscriber::DefaultGuard;

/// Every log line emitted on this thread while the guard lives, at every level, as plain text:
/// the tests that prove no secret reaches the logs read it back.
pub(crate) struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Starts capturing; capture stops when the guard is dropped.
    pub(crate) fn start() -> (Self, DefaultGuard) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Writer(buffer.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        // With a single live dispatcher, tracing decides a call site's interest from the
        // default of whichever thread reaches it first: another test's thread, with no
        // subscriber, would cache "never" for everyone. A second dispatcher kept alive for the
        // whole run makes it ask every dispatcher instead.
        static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
        SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
        let guard = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        (Self(buffer), guard)
    }

    /// What was logged so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
