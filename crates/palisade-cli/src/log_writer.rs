//! Where `palisade serve` writes its log: standard error, through a buffer.
//!
//! A server logging one line per request cannot afford a `write` system call per line, nor a
//! writer thread woken for every line (on a small machine each wake-up is a context switch that
//! costs more than the line). Lines therefore go into an in-memory buffer under a mutex; the
//! buffer reaches standard error when it fills, at once for every warning or error, and every
//! [`FLUSH_EVERY`] from a flusher thread otherwise, so an operator watching the log sees an
//! `info` line within that interval. [`FlushGuard`] writes whatever is left when it is dropped.

use std::io::{self, BufWriter, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long an `info` line may wait in the buffer.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Buffer size: a few hundred request lines.
const CAPACITY: usize = 64 * 1024;

struct Shared<W: Write> {
    out: Mutex<BufWriter<W>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

impl<W: Write> Shared<W> {
    fn out(&self) -> MutexGuard<'_, BufWriter<W>> {
        // A panic while holding the lock cannot leave the buffer half-valid in a way that
        // matters for a log; keep logging.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer to hand to `tracing_subscriber::fmt().with_writer(…)`.
pub(crate) struct Buffered<W: Write> {
    shared: Arc<Shared<W>>,
}

/// Stops the flusher thread and flushes the buffer when dropped; keep it alive in `main`.
pub(crate) struct FlushGuard<W: Write> {
    shared: Arc<Shared<W>>,
    flusher: Option<JoinHandle<()>>,
}

/// A buffered standard error and the guard that flushes it.
pub(crate) fn buffered_stderr() -> (Buffered<io::Stderr>, FlushGuard<io::Stderr>) {
    buffered(io::stderr(), FLUSH_EVERY)
}

/// `out` behind the buffer, flushed at least every `interval`.
pub(crate) fn buffered<W: Write + Send + 'static>(
    out: W,
    interval: Duration,
) -> (Buffered<W>, FlushGuard<W>) {
    let shared = Arc::new(Shared {
        out: Mutex::new(BufWriter::with_capacity(CAPACITY, out)),
        stop: Mutex::new(false),
        wake: Condvar::new(),
    });
    let flusher = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || flush_periodically(&shared, interval))
            .ok()
    };
    (
        Buffered {
            shared: shared.clone(),
        },
        FlushGuard { shared, flusher },
    )
}

fn flush_periodically<W: Write>(shared: &Shared<W>, interval: Duration) {
    let mut stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
    while !*stop {
        stop = shared
            .wake
            .wait_timeout(stop, interval)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        // A failed write to standard error has nowhere to be reported.
        let _ = shared.out().flush();
    }
}

impl<W: Write> Drop for FlushGuard<W> {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
        let _ = self.shared.out().flush();
    }
}

/// One event's access to the buffer; flushes on drop for warnings and errors.
pub(crate) struct LineWriter<'a, W: Write> {
    out: MutexGuard<'a, BufWriter<W>>,
    flush: bool,
}

impl<W: Write> Write for LineWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> Drop for LineWriter<'_, W> {
    fn drop(&mut self) {
        if self.flush {
            let _ = self.out.flush();
        }
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Buffered<W> {
    type Writer = LineWriter<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            out: self.shared.out(),
            flush: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            out: self.shared.out(),
            // Levels order by verbosity: WARN and ERROR compare below INFO.
            flush: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read while the writer owns it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn subscriber(writer: Buffered<Sink>) -> impl tracing::Subscriber {
        tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish()
    }

    #[test]
    fn info_lines_wait_for_the_flusher_and_warnings_go_out_at_once() {
        let sink = Sink::default();
        // An interval longer than the test: only explicit flushes can write.
        let (writer, guard) = buffered(sink.clone(), Duration::from_secs(3600));
        tracing::subscriber::with_default(subscriber(writer), || {
            tracing::info!("first request");
            assert_eq!(sink.text(), "", "an info line was written without a flush");
            tracing::warn!("store slow");
            let text = sink.text();
            assert!(text.contains("first request"), "{text}");
            assert!(text.contains("store slow"), "{text}");
            tracing::info!("after the warning");
        });
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
        let (writer, _guard) = buffered(sink.clone(), Duration::from_millis(20));
        tracing::subscriber::with_default(subscriber(writer), || {
            tracing::info!("quiet line");
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !sink.text().contains("quiet line") {
            assert!(
                std::time::Instant::now() < deadline,
                "the flusher never wrote the line"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
