//! The signals a run answers, taken by one thread that does nothing else, so that each acts
//! at once whatever the other threads are doing (a blocked standard output included).
//!
//! signal-hook's handlers only note each signal for this thread; nothing else runs inside a
//! handler. (Blocking the signals and taking them with `sigwait` would need no handler, but
//! jobs would inherit the blocked mask: a shell passes it on to background processes.)
//!
//! - SIGINT (Ctrl-C): the first stops new starts, the second ends the running jobs.
//! - SIGTERM and SIGHUP: like a second Ctrl-C at once; the run exits with 128 + the signal.
//! - SIGTSTP (Ctrl-Z): stops the running jobs' groups, then `workpool` itself; on SIGCONT
//!   the groups continue too.
//! - SIGCHLD: reaps the processes of groups that outlived their job.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

use nix::sys::signal::{raise, Signal};

use crate::error::CliError;
use crate::run::slot::{Event, RunShared};

/// The signals the signal thread takes.
const TAKEN: [i32; 6] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGTSTP,
    signal_hook::consts::SIGCONT,
    signal_hook::consts::SIGCHLD,
];

/// Starts the thread that answers the signals.
///
/// # Errors
///
/// [`CliError::Usage`] if the handlers cannot be installed or the thread cannot start.
pub fn spawn(shared: Arc<RunShared>) -> Result<(), CliError> {
    let mut signals = signal_hook::iterator::Signals::new(TAKEN)
        .map_err(|e| CliError::usage(format!("cannot handle signals: {e}")))?;
    thread::Builder::new()
        .name("workpool-signals".to_owned())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut interrupts = 0u32;
            for number in signals.forever() {
                let Ok(signal) = Signal::try_from(number) else {
                    continue;
                };
                match signal {
                    Signal::SIGINT => {
                        interrupts += 1;
                        shared.stop.store(true, Ordering::SeqCst);
                        if interrupts >= 2 {
                            shared.kill.store(true, Ordering::SeqCst);
                        }
                        let _ = shared.events.send(Event::Signal(signal));
                    }
                    Signal::SIGTERM | Signal::SIGHUP => {
                        shared.stop.store(true, Ordering::SeqCst);
                        shared.kill.store(true, Ordering::SeqCst);
                        let _ = shared.events.send(Event::Signal(signal));
                    }
                    Signal::SIGTSTP => {
                        shared.groups.signal_running(Signal::SIGSTOP);
                        let _ = raise(Signal::SIGSTOP);
                    }
                    Signal::SIGCONT => shared.groups.signal_running(Signal::SIGCONT),
                    Signal::SIGCHLD => shared.groups.reap(),
                    _ => {}
                }
            }
        })
        .map(drop)
        .map_err(|e| CliError::usage(format!("cannot start the signal thread: {e}")))
}
