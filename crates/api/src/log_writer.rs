//! The log thread: lines formatted on the threads that log them are appended to one shared
//! buffer, and a thread of its own writes that buffer to stderr every [`FLUSH_EVERY`] (sooner
//! once [`FLUSH_AT`] bytes wait). A request neither waits on stderr nor wakes a thread per
//! line; no line is dropped: past [`MAX_WAITING`] bytes a logging thread waits for the write.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in the buffer.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// A buffer this full is written at once.
const FLUSH_AT: usize = 64 * 1024;
/// A logging thread that finds this much waiting (stderr is slower than the logging) waits
/// until it is written.
const MAX_WAITING: usize = 1024 * 1024;

#[derive(Default)]
struct State {
    waiting: Vec<u8>,
    /// The log thread was woken for a full buffer it has not taken yet (one wake-up each).
    woken: bool,
    /// Set once the guard is dropped: lines then go straight to the sink.
    closed: bool,
}

struct Shared<W> {
    state: Mutex<State>,
    /// Wakes the log thread early (a full buffer, or the guard dropped).
    flush_now: Condvar,
    /// Wakes logging threads waiting for room.
    written: Condvar,
    sink: Mutex<W>,
}

impl<W: Write> Shared<W> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_out(&self, bytes: &[u8]) {
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        // Nowhere to report a failed write to stderr: the lines are lost, as with eprintln!.
        let _ = sink.write_all(bytes).and_then(|()| sink.flush());
    }

    fn append(&self, line: &[u8]) {
        let mut state = self.state();
        while state.waiting.len() >= MAX_WAITING && !state.closed {
            state = self
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.closed {
            drop(state);
            self.write_out(line);
            return;
        }
        state.waiting.extend_from_slice(line);
        if state.waiting.len() >= FLUSH_AT && !state.woken {
            state.woken = true;
            self.flush_now.notify_one();
        }
    }

    /// The log thread: takes what waits, writes it, until the guard is dropped.
    fn run(&self) {
        let mut batch = Vec::new();
        loop {
            let closed = {
                let mut state = self.state();
                if state.waiting.len() < FLUSH_AT && !state.closed {
                    state = self
                        .flush_now
                        .wait_timeout(state, FLUSH_EVERY)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                std::mem::swap(&mut batch, &mut state.waiting);
                state.woken = false;
                state.closed
            };
            self.written.notify_all();
            if !batch.is_empty() {
                self.write_out(&batch);
                batch.clear();
            }
            if closed {
                return;
            }
        }
    }
}

/// Where the subscriber writes its lines; cheap to clone.
pub struct LogWriter<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for LogWriter<W> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Writes what is still waiting and stops the log thread when dropped.
#[must_use = "lines still waiting when the guard is dropped are written then; drop it last"]
pub struct LogWriterGuard<W: Write + Send + 'static> {
    shared: Arc<Shared<W>>,
    thread: Option<JoinHandle<()>>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for LogWriterGuard<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriterGuard").finish_non_exhaustive()
    }
}

/// Starts the log thread writing to `sink`.
pub fn log_writer<W: Write + Send + 'static>(
    sink: W,
) -> io::Result<(LogWriter<W>, LogWriterGuard<W>)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        flush_now: Condvar::new(),
        written: Condvar::new(),
        sink: Mutex::new(sink),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || shared.run()
        })?;
    let writer = LogWriter {
        shared: Arc::clone(&shared),
    };
    let guard = LogWriterGuard {
        shared,
        thread: Some(thread),
    };
    Ok((writer, guard))
}

impl<W: Write + Send + 'static> Drop for LogWriterGuard<W> {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.flush_now.notify_one();
        self.shared.written.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<W: Write> Write for &LogWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + 'a> MakeWriter<'a> for LogWriter<W> {
    type Writer = &'a LogWriter<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A sink the test can read while the log thread writes to it.
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

    #[test]
    fn a_line_reaches_the_sink_within_the_flush_period() {
        let sink = Sink::default();
        let (writer, _guard) = log_writer(sink.clone()).unwrap();
        (&writer).write_all(b"one line\n").unwrap();
        let started = Instant::now();
        while sink.text().is_empty() {
            assert!(
                started.elapsed() < FLUSH_EVERY * 10,
                "the line was not written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.text(), "one line\n");
    }

    #[test]
    fn every_line_of_many_threads_is_written_whole_once_the_guard_is_dropped() {
        let sink = Sink::default();
        let (writer, guard) = log_writer(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for line in 0..20_000 {
                        let text = format!("thread {thread} line {line} {}\n", "x".repeat(40));
                        (&writer).write_all(text.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 80_000, "no line lost");
        for thread in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|line| line.starts_with(&format!("thread {thread} ")))
                .collect();
            assert_eq!(mine.len(), 20_000);
            for (n, line) in mine.iter().enumerate() {
                assert!(
                    line.starts_with(&format!("thread {thread} line {n} ")),
                    "{line}"
                );
            }
        }
    }

    /// A sink that takes 20 ms per write and remembers the largest write it was given.
    #[derive(Clone, Default)]
    struct SlowSink {
        lines: Sink,
        largest_write: Arc<Mutex<usize>>,
    }

    impl Write for SlowSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_millis(20));
            let mut largest = self.largest_write.lock().unwrap();
            *largest = (*largest).max(buf.len());
            self.lines.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_slow_sink_holds_the_loggers_back_instead_of_growing_the_buffer() {
        let sink = SlowSink::default();
        let (writer, guard) = log_writer(sink.clone()).unwrap();
        let line = format!("{}\n", "y".repeat(1023));
        for _ in 0..4 * 1024 {
            (&writer).write_all(line.as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(sink.lines.text().lines().count(), 4 * 1024, "no line lost");
        let largest = *sink.largest_write.lock().unwrap();
        assert!(
            largest <= MAX_WAITING + line.len(),
            "a batch of {largest} bytes: the buffer outgrew its bound"
        );
    }

    #[test]
    fn a_line_logged_after_the_guard_is_dropped_is_written_at_once() {
        let sink = Sink::default();
        let (writer, guard) = log_writer(sink.clone()).unwrap();
        drop(guard);
        (&writer).write_all(b"late line\n").unwrap();
        assert_eq!(sink.text(), "late line\n");
    }
}
