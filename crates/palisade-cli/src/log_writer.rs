//! Where `palisade serve` writes its log: standard error, from a thread of its own, in batches.
//!
//! A server logging one line per request can afford neither a `write` system call per line nor
//! a writer thread woken for every line (on a small machine each wake-up is a context switch
//! that costs more than the line), and a request must never wait for a slow terminal or pipe.
//! So a line is only appended to an in-memory buffer under a mutex. A flusher thread writes the
//! buffer out every [`FLUSH_EVERY`], and at once when it holds [`BATCH`] bytes or a warning or
//! error; it writes outside the lock, so requests keep appending meanwhile. If the output stalls
//! and [`MAX_PENDING`] bytes are waiting, further lines are dropped and counted, and the count is
//! written as soon as the output moves again. [`FlushGuard`] writes whatever is left when it is
//! dropped.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long an `info` line may wait in the buffer.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// A buffer this full is written out without waiting for the interval.
const BATCH: usize = 64 * 1024;

/// Beyond this many bytes waiting for a stalled output, lines are dropped.
const MAX_PENDING: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    urgent: bool,
    stop: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves at worst a partial line; keep logging.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer to hand to `tracing_subscriber::fmt().with_writer(…)`.
pub(crate) struct Buffered {
    shared: Arc<Shared>,
}

/// Stops the flusher thread, after it has written everything, when dropped; keep it alive in
/// `main`.
pub(crate) struct FlushGuard {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// A buffered standard error and the guard that flushes it.
pub(crate) fn buffered_stderr() -> io::Result<(Buffered, FlushGuard)> {
    buffered(io::stderr(), FLUSH_EVERY)
}

/// `out`, written by a flusher thread at least every `interval`.
pub(crate) fn buffered<W: Write + Send + 'static>(
    out: W,
    interval: Duration,
) -> io::Result<(Buffered, FlushGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
    });
    let flusher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || flush_until_stopped(&shared, out, interval))?
    };
    Ok((
        Buffered {
            shared: shared.clone(),
        },
        FlushGuard {
            shared,
            flusher: Some(flusher),
        },
    ))
}

fn flush_until_stopped<W: Write>(shared: &Shared, mut out: W, interval: Duration) {
    let mut spare = Vec::with_capacity(BATCH);
    loop {
        let mut pending = shared.pending();
        let deadline = Instant::now() + interval;
        while !pending.urgent && !pending.stop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            pending = shared
                .wake
                .wait_timeout(pending, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut pending.bytes, &mut spare);
        let dropped = std::mem::take(&mut pending.dropped);
        let stop = pending.stop;
        pending.urgent = false;
        drop(pending);

        // A failed write to standard error has nowhere to be reported.
        let _ = out.write_all(&spare);
        if dropped > 0 {
            let _ = writeln!(
                out,
                "palisade: {dropped} log lines were dropped while the log output was stalled"
            );
        }
        let _ = out.flush();
        spare.clear();
        if stop {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.pending().stop = true;
        self.shared.wake.notify_all();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

/// One event's access to the buffer.
pub(crate) struct LineWriter<'a> {
    shared: &'a Shared,
    pending: MutexGuard<'a, Pending>,
    urgent: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.bytes.len() + buf.len() > MAX_PENDING {
            self.pending.dropped += 1;
        } else {
            self.pending.bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.urgent || self.pending.bytes.len() >= BATCH {
            self.pending.urgent = true;
            self.shared.wake.notify_one();
        }
    }
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            pending: self.shared.pending(),
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            pending: self.shared.pending(),
            // Levels order by verbosity: WARN and ERROR compare below INFO.
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read while the flusher owns it; `stalled` makes
    /// every write block until it is cleared, like a pipe nobody reads.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        stalled: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cleared) = &*self.stalled;
            let mut stalled = lock.lock().unwrap();
            while *stalled {
                stalled = cleared.wait(stalled).unwrap();
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }

        fn stall(&self, on: bool) {
            *self.stalled.0.lock().unwrap() = on;
            self.stalled.1.notify_all();
        }

        fn wait_for(&self, needle: &str) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.text().contains(needle) {
                assert!(
                    Instant::now() < deadline,
                    "`{needle}` never reached the output"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn subscriber(writer: Buffered) -> impl tracing::Subscriber {
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish()
    }

    #[test]
    fn info_lines_wait_for_the_interval_and_a_warning_sends_them_at_once() {
        let sink = Sink::default();
        // An interval longer than the test: only a warning or the guard can get lines out.
        let (writer, guard) = buffered(sink.clone(), Duration::from_secs(3600)).unwrap();
        tracing::subscriber::with_default(subscriber(writer), || {
            tracing::info!("first request");
            std::thread::sleep(Duration::from_millis(100));
            assert_eq!(sink.text(), "", "an info line was written before its time");
            tracing::warn!("store slow");
            sink.wait_for("store slow");
            assert!(sink.text().contains("first request"));
            tracing::info!("after the warning");
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!sink.text().contains("after the warning"));
        drop(guard);
        assert!(
            sink.text().contains("after the warning"),
            "the guard did not flush"
        );
    }

    #[test]
    fn the_flusher_writes_buffered_lines_within_its_interval() {
        let sink = Sink::default();
        let (writer, _guard) = buffered(sink.clone(), Duration::from_millis(20)).unwrap();
        tracing::subscriber::with_default(subscriber(writer), || {
            tracing::info!("quiet line");
        });
        sink.wait_for("quiet line");
    }

    #[test]
    fn a_stalled_output_never_blocks_the_logging_thread_and_drops_are_counted() {
        let sink = Sink::default();
        sink.stall(true);
        let (writer, guard) = buffered(sink.clone(), Duration::from_millis(10)).unwrap();
        let line = "x".repeat(1000);
        let started = Instant::now();
        tracing::subscriber::with_default(subscriber(writer), || {
            // Far more than MAX_PENDING, with warnings that ask for an immediate write.
            for _ in 0..12_000 {
                tracing::warn!("{line}");
            }
        });
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "logging waited for the stalled output"
        );
        sink.stall(false);
        sink.wait_for("log lines were dropped while the log output was stalled");
        drop(guard);
    }
}
