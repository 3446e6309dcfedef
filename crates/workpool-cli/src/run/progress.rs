//! The progress bar on standard error, drawn only when standard error is a terminal. When it
//! is not, nothing is drawn and no progress lines are printed, so logs stay clean.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::summary::Counts;

const TEMPLATE: &str = "{elapsed:>4} [{bar:20}] {pos}/{len} {msg} eta {eta}";

/// A progress bar, or nothing.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    /// A bar over `total` jobs if `enabled`, else a progress that draws nothing.
    pub fn new(enabled: bool, total: usize) -> Self {
        let bar = enabled.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    /// Sets the number of jobs known so far (the input may still be arriving).
    pub fn set_total(&self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    /// `true` if a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Shows the current tallies.
    pub fn update(&self, counts: &Counts, running: usize, queued: usize) {
        if let Some(bar) = &self.bar {
            let done = counts.ran() + counts.not_run;
            let rate = done as f64 / self.start.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "ok {}, failed {}, running {running}, queued {queued}, {rate:.1}/s",
                counts.ok,
                counts.unsuccessful()
            ));
            bar.set_position(done as u64);
        }
    }

    /// Runs `f` (which writes to the terminal) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Prints a line on standard error, above the bar.
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
