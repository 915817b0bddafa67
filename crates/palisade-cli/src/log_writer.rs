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
//!
//! Each event arrives as one line. Control characters inside it (a newline, a carriage return,
//! an escape sequence in a logged header or report field) are written escaped (`\n`, `\x1b`),
//! so no request can forge a log line or drive the terminal of whoever reads the log. Colour
//! codes of the formatter itself are kept when the output is a terminal.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

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
    /// Whether the formatter writes colour codes (escape characters are then kept).
    ansi: bool,
}

/// Stops the flusher thread, after it has written everything, when dropped; keep it alive in
/// `main`.
pub(crate) struct FlushGuard {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

/// A buffered standard error and the guard that flushes it; `ansi` when the formatter writes
/// colour codes.
pub(crate) fn buffered_stderr(ansi: bool) -> io::Result<(Buffered, FlushGuard)> {
    buffered(io::stderr(), FLUSH_EVERY, ansi)
}

/// `out`, written by a flusher thread at least every `interval`.
pub(crate) fn buffered<W: Write + Send + 'static>(
    out: W,
    interval: Duration,
    ansi: bool,
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
            ansi,
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
        let (mut pending, _) = shared
            .wake
            .wait_timeout_while(shared.pending(), interval, |p| !p.urgent && !p.stop)
            .unwrap_or_else(PoisonError::into_inner);
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
    ansi: bool,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.bytes.len() + buf.len() > MAX_PENDING {
            self.pending.dropped += 1;
        } else {
            append_escaped(&mut self.pending.bytes, buf, self.ansi);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Appends one formatted line, its final newline kept and every other control character
/// escaped (escape characters kept when `ansi`).
fn append_escaped(out: &mut Vec<u8>, line: &[u8], ansi: bool) {
    let (body, newline) = match line.split_last() {
        Some((b'\n', body)) => (body, true),
        _ => (line, false),
    };
    let needs_escape = |b: u8| (b < 0x20 && b != b'\t' && !(ansi && b == 0x1b)) || b == 0x7f;
    if body.iter().any(|&b| needs_escape(b)) {
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b if needs_escape(b) => {
                    let _ = write!(out, "\\x{b:02x}");
                }
                b => out.push(b),
            }
        }
    } else {
        out.extend_from_slice(body);
    }
    if newline {
        out.push(b'\n');
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
            ansi: self.ansi,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
            pending: self.shared.pending(),
            // Levels order by verbosity: WARN and ERROR compare below INFO.
            urgent: *meta.level() <= Level::WARN,
            ansi: self.ansi,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

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
        let (writer, guard) = buffered(sink.clone(), Duration::from_secs(3600), false).unwrap();
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
        let (writer, _guard) = buffered(sink.clone(), Duration::from_millis(20), false).unwrap();
        tracing::subscriber::with_default(subscriber(writer), || {
            tracing::info!("quiet line");
        });
        sink.wait_for("quiet line");
    }

    #[test]
    fn a_stalled_output_never_blocks_the_logging_thread_and_drops_are_counted() {
        let sink = Sink::default();
        sink.stall(true);
        let (writer, guard) = buffered(sink.clone(), Duration::from_millis(10), false).unwrap();
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

    #[test]
    fn a_logged_value_cannot_forge_a_line_or_reach_the_terminal() {
        let sink = Sink::default();
        let (writer, guard) = buffered(sink.clone(), Duration::from_millis(10), false).unwrap();
        tracing::subscriber::with_default(subscriber(writer), || {
            let directive =
                "script-src\n2026-12-04T20:26:00Z  WARN forged: sign_in_ok\r\x1b[31m\x07";
            tracing::warn!(directive = %directive, "content security policy violation reported");
        });
        drop(guard);
        let text = sink.text();
        assert_eq!(text.matches('\n').count(), 1, "{text:?}");
        assert!(text.ends_with('\n'));
        assert!(!text.contains('\r') && !text.contains('\x1b') && !text.contains('\x07'));
        assert!(text.contains("script-src\\n2026"), "{text:?}");
    }

    #[test]
    fn escaping_keeps_plain_lines_and_colour_codes_on_a_terminal() {
        let mut out = Vec::new();
        append_escaped(&mut out, b"plain\tline\n", false);
        assert_eq!(out, b"plain\tline\n");
        out.clear();
        append_escaped(&mut out, b"\x1b[2mdim\x1b[0m a\nb\n", true);
        assert_eq!(out, b"\x1b[2mdim\x1b[0m a\\nb\n");
    }
}
