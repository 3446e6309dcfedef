//! Worker-local state: a value each worker builds once, with the constructor given to
//! [`Builder::worker_state`], and lends to the jobs it runs ([`Pool::submit_with_state`]), so
//! that a job uses its worker's own connection or buffer without a lock.
//!
//! The state lives in a thread-local of its worker's thread (`sync::thread_local`: shuttle's
//! in the models), so it need not be `Send`, and is never touched by two threads:
//!
//! - it is built by the first job that asks for it on that worker, not before: a worker that
//!   runs no such job never builds one;
//! - a constructor that panics fails that job (a panic, with no run of the job), and the next
//!   job that asks calls the constructor again;
//! - a job that panics may have left the state half-changed: it is dropped, and the next job
//!   that asks builds a new one;
//! - it is dropped on its worker's thread as the worker exits, before the stop hook runs;
//! - a job that runs while another job of the same worker has the state (the worker runs it
//!   while that job waits on its own pool, `help.rs`) gets a state built for it alone, dropped
//!   when it ends: two jobs never share one;
//! - a job for a state type the pool does not have is handed back at submission
//!   ([`SubmitError::WrongState`]): nothing is queued.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{SubmitError, TaskError};
use crate::help::PoolKey;
use crate::pool::{Builder, Pool};
use crate::shared::{Placement, Reject, RoomWait, Shared};
use crate::task::{Body, RunEnv, Step, Task};
use crate::unwind;

/// A state constructor, its result boxed.
type Build = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;

/// The constructor given to [`Builder::worker_state`], with the type it builds.
#[derive(Clone)]
pub(crate) struct StateFactory {
    build: Build,
    type_id: TypeId,
    type_name: &'static str,
}

impl StateFactory {
    pub(crate) fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// One worker's state, in its thread's slot.
struct Slot {
    /// Whose worker this thread is.
    pool: PoolKey,
    build: Build,
    /// `None` until a job asks for it, and after a job or the constructor panicked.
    value: Option<Box<dyn Any>>,
    /// A job has the state (or its constructor runs): a job that asks meanwhile, on this
    /// thread (one the worker runs while that job waits), cannot have it too.
    lent: bool,
}

crate::sync::thread_local! {
    /// The state of the worker running on this thread, if its pool has one.
    static WORKER: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Makes `factory`'s state reachable from jobs on this worker thread. Builds nothing.
pub(crate) fn install(shared: &Shared, factory: &StateFactory) {
    let slot = Slot {
        pool: PoolKey::of(shared),
        build: Arc::clone(&factory.build),
        value: None,
        lent: false,
    };
    let old = WORKER.with(|w| w.borrow_mut().replace(slot));
    unwind::drop_quietly(old);
}

/// Drops this worker thread's state, if it was built; a destructor that panics is ignored.
pub(crate) fn uninstall() {
    let slot = WORKER.with(|w| w.borrow_mut().take());
    unwind::drop_quietly(slot);
}

/// What a job found in its worker's slot.
enum Lent {
    /// The worker's state, lent to this job.
    Own(Box<dyn Any>),
    /// No state yet: the job builds the worker's.
    Unbuilt(Build),
    /// The state is lent to a job that waits, on this thread, for this one (the worker runs
    /// this job while it waits, see `help.rs`): this job builds one of its own.
    Nested(Build),
    Unavailable(&'static str),
}

fn borrow(pool: PoolKey) -> Lent {
    WORKER.with(|w| {
        let mut w = w.borrow_mut();
        let Some(slot) = w.as_mut().filter(|slot| slot.pool == pool) else {
            return Lent::Unavailable("this thread is not a worker of the job's pool");
        };
        if slot.lent {
            return Lent::Nested(Arc::clone(&slot.build));
        }
        slot.lent = true;
        match slot.value.take() {
            Some(value) => Lent::Own(value),
            None => Lent::Unbuilt(Arc::clone(&slot.build)),
        }
    })
}

/// Ends a loan, keeping `value` for the next job (`None`: the next one builds a new state).
fn give_back(value: Option<Box<dyn Any>>) {
    let left = WORKER.with(|w| match w.borrow_mut().as_mut() {
        Some(slot) => {
            slot.lent = false;
            slot.value = value;
            None
        }
        None => value,
    });
    unwind::drop_quietly(left);
}

/// Runs `f` with this worker's state of pool `pool`, building the state first if the worker
/// has none. The job's outcome as its handle will tell it.
fn with_state<S: 'static, T>(pool: PoolKey, f: impl FnOnce(&mut S) -> T) -> Result<T, TaskError> {
    let (build, own) = match borrow(pool) {
        Lent::Own(value) => (Ok(value), true),
        Lent::Unbuilt(build) => (unwind::catch(|| build()), true),
        Lent::Nested(build) => (unwind::catch(|| build()), false),
        Lent::Unavailable(why) => return Err(TaskError::failed_with_message(why.to_owned(), 0)),
    };
    // Only the worker's own state goes back to its slot; a nested job's is dropped after it.
    let keep = |value: Option<Box<dyn Any>>| match own {
        true => give_back(value),
        false => unwind::drop_quietly(value),
    };
    let mut value = match build {
        Ok(value) => value,
        Err(payload) => {
            keep(None);
            let error = TaskError::state_panicked(&*payload);
            unwind::forget_payload(payload);
            return Err(error);
        }
    };
    let Some(state) = value.downcast_mut::<S>() else {
        keep(Some(value));
        let why = "the worker's state is not of the type the job takes";
        return Err(TaskError::failed_with_message(why.to_owned(), 0));
    };
    match unwind::catch(|| f(state)) {
        Ok(out) => {
            keep(Some(value));
            Ok(out)
        }
        Err(payload) => {
            keep(None);
            unwind::drop_quietly(value);
            let error = TaskError::panicked(&*payload);
            unwind::forget_payload(payload);
            Err(error)
        }
    }
}

/// A job that takes its worker's state, run once.
pub(crate) struct WithState<S, F> {
    f: Option<F>,
    pool: PoolKey,
    state: PhantomData<fn(&mut S)>,
}

impl<S, F> WithState<S, F> {
    fn into_inner(self) -> F {
        self.f.expect("a rejected job was never run")
    }
}

impl<S: 'static, F, T> Body<T> for WithState<S, F>
where
    F: FnOnce(&mut S) -> T + Send + 'static,
{
    fn call(&mut self, _env: &RunEnv<'_>) -> Step<Result<T, TaskError>> {
        let f = self.f.take().expect("a cell runs its body at most once");
        Step::Done(with_state(self.pool, f))
    }

    /// A worker that waits for this job does not run it in its own stead: the waiting job
    /// may hold the worker's state, and another worker has a state of its own to lend.
    fn claimable(&self) -> bool {
        false
    }
}

impl Builder {
    /// Gives each worker a state of its own, built by `f` on the worker's thread the first
    /// time a job asks for it, lent to the jobs of [`Pool::submit_with_state`] and
    /// [`Pool::execute_with_state`], and dropped on that thread when the worker exits.
    /// Default: none. A second call replaces the first.
    ///
    /// Jobs reach the state without a lock, so `S` need not be `Send` or `Sync`: a database
    /// connection, a scratch buffer, a parser. Each worker builds it at most once while its
    /// jobs go well; a worker that never runs a job that asks for it never builds it.
    ///
    /// - If `f` panics, the job that asked fails with a panic error saying so (its
    ///   [`attempts`](crate::TaskError::attempts) is 0: the job itself never ran), and the
    ///   next job that asks calls `f` again.
    /// - If a job panics, the state it had may be half-changed: it is dropped, and the next
    ///   job that asks gets a new one.
    /// - A state whose destructor panics is dropped all the same; the panic is ignored.
    /// - Two jobs never share a state. A job that has the state and waits on another state
    ///   job of its own pool may see its worker run that job while it waits (see
    ///   [`Task::wait`](crate::Task::wait)): that job gets a state built for it alone, dropped
    ///   when it ends. The worker's own state stays with the waiting job.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = workpool::Pool::builder()
    ///     .workers(2)
    ///     .worker_state(|| Vec::<u8>::with_capacity(4096)) // one scratch buffer per worker
    ///     .build()?;
    /// let task = pool.submit_with_state(|buf: &mut Vec<u8>| {
    ///     buf.clear();
    ///     buf.extend_from_slice(b"hello");
    ///     buf.len()
    /// })?;
    /// assert_eq!(task.wait()?, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_state<S, F>(mut self, f: F) -> Self
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: 'static,
    {
        self.hooks.state = Some(StateFactory {
            build: Arc::new(move || Box::new(f()) as Box<dyn Any>),
            type_id: TypeId::of::<S>(),
            type_name: std::any::type_name::<S>(),
        });
        self
    }
}

impl Pool {
    /// Queues a job that takes its worker's state (see [`Builder::worker_state`]) and returns
    /// a handle to its result, blocking while the queue is full.
    ///
    /// The job gets `&mut S`: the state of the worker that runs it, built on that worker's
    /// thread if this is the first job there to ask. No other job uses it meanwhile, so it
    /// needs no lock. Otherwise the job is like one from [`submit`](Pool::submit): it runs
    /// once, its panic is its error, and a shutdown runs or reports it.
    ///
    /// # Errors
    ///
    /// [`SubmitError::WrongState`] with the job, if the pool's workers hold no state of type
    /// `S` (the pool has no [`worker_state`](Builder::worker_state), or one of another type);
    /// [`SubmitError::Closed`] with the job, if the pool has shut down;
    /// [`SubmitError::WouldDeadlock`] if the caller is one of the pool's own workers, the
    /// queue is full, and every other worker is waiting to submit too.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// // A stand-in for a connection: one per worker, never shared, never locked.
    /// #[derive(Default)]
    /// struct Conn {
    ///     rows: HashMap<u32, String>,
    /// }
    ///
    /// let pool = workpool::Pool::builder().workers(4).worker_state(Conn::default).build()?;
    /// let task = pool.submit_with_state(|conn: &mut Conn| {
    ///     conn.rows.insert(1, "one".to_owned());
    ///     conn.rows.len()
    /// })?;
    /// assert_eq!(task.wait()?, 1);
    ///
    /// // A job for a state the pool does not have comes back.
    /// let err = pool.submit_with_state(|n: &mut u64| *n).unwrap_err();
    /// assert!(err.is_wrong_state());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_with_state<S, F, T>(&self, job: F) -> Result<Task<T>, SubmitError<F>>
    where
        S: 'static,
        F: FnOnce(&mut S) -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let takes = |f: &StateFactory| f.type_id == TypeId::of::<S>();
        if !shared.hooks.state.as_ref().is_some_and(takes) {
            return Err(SubmitError::WrongState(job));
        }
        let body = WithState {
            f: Some(job),
            pool: PoolKey::of(shared),
            state: PhantomData,
        };
        self.enqueue(body, None, Placement::PLAIN, RoomWait::Block)
            .map_err(|(body, why)| Reject::blocking(Some(why), body.into_inner()))
    }

    /// Like [`submit_with_state`](Pool::submit_with_state), for a job whose result nobody
    /// waits for. A panic in the job (or in the state's constructor) is counted in
    /// [`Stats::panicked`](crate::Stats::panicked).
    ///
    /// Unlike [`execute`](Pool::execute), the job keeps a handle inside the pool (the pool
    /// drops it when the job ends), so a shutdown that cancels running jobs treats it like a
    /// job from `submit_with_state`.
    ///
    /// # Errors
    ///
    /// As [`submit_with_state`](Pool::submit_with_state).
    pub fn execute_with_state<S, F>(&self, job: F) -> Result<(), SubmitError<F>>
    where
        S: 'static,
        F: FnOnce(&mut S) + Send + 'static,
    {
        self.submit_with_state(job).map(drop)
    }
}
