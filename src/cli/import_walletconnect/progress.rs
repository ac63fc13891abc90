//! Progress of a long import on a terminal: one line on stderr, redrawn at most five times a
//! second, with rows done, the total when known, and the rate. Off when stderr is not a terminal
//! (a CI log or a pipe gets the summary only).
//
// A hand-rolled line rather than indicatif: one counter per phase is all it shows, and this
// keeps the binary free of a terminal library it would use for nothing else.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

const REDRAW_EVERY: Duration = Duration::from_millis(200);

pub struct Progress {
    on: bool,
    phase: &'static str,
    total: Option<u64>,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    /// Shown only when stderr is a terminal.
    pub fn on_terminal() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }

    pub fn new(on: bool) -> Self {
        Self { on, phase: "", total: None, done: 0, started: Instant::now(), drawn: None }
    }

    /// Starts counting another kind of row.
    pub fn phase(&mut self, phase: &'static str, total: Option<u64>) {
        self.finish();
        *self = Self { phase, total, ..Self::new(self.on) };
    }

    pub fn advance(&mut self, rows: u64) {
        self.done += rows;
        if self.on && self.drawn.is_none_or(|at| at.elapsed() >= REDRAW_EVERY) {
            self.draw();
        }
    }

    /// Draws the final count of the phase and ends its line.
    pub fn finish(&mut self) {
        if self.on && self.drawn.is_some() {
            self.draw();
            eprintln!();
            self.drawn = None;
        }
    }

    fn draw(&mut self) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done as f64 / secs;
        let of = match self.total {
            Some(total) if total > 0 => {
                format!(" of {total} ({:.0}%)", 100.0 * self.done.min(total) as f64 / total as f64)
            }
            _ => String::new(),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}: {}{of}, {rate:.0} rows/s\x1b[K", self.phase, self.done);
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }
}
