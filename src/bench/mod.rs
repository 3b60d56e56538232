//! `tlscat bench`: a load generator for any TLS server. `concurrency` tasks, spread over
//! one single-threaded runtime per core, each repeat a connection: TCP connect, a TLS
//! handshake verified like a real client's (one client context for all), the mode's
//! exchange, close_notify; until the duration passes or the count is reached. Each task
//! keeps its own statistics, added up at the end: the hot path shares nothing but two
//! progress counters.

mod histogram;
mod summary;
mod worker;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::{debug, warn};
use tokio::task::JoinSet;

pub use histogram::Histogram;
pub use summary::{Summary, thousands};

use crate::config::{Address, BenchConfig, BenchMode, Target, Timeouts};
use crate::conn::within;
use crate::error::{Error, Phase, Result};
use crate::tls;
use summary::Stats;
use worker::{Plan, Worker};

/// Runs the benchmark. Fails before starting when not even one connection succeeds (a
/// wrong address, an untrusted certificate): then its error says why.
pub async fn run(config: BenchConfig) -> Result<Summary> {
    if config.tls.insecure {
        warn!("--insecure: the server's certificate is NOT verified");
    }
    let connector = tls::connector(&config.tls)?;
    let addresses = resolve(&config.target, &config.timeouts).await?;
    let plan = Arc::new(Plan {
        connector,
        config: config.clone(),
        deadline: None,
        remaining: None,
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    // One connection first, on the first address that works: a mistake then shows as
    // one clear error, and lazily made state exists before the clock starts.
    let mut address = None;
    let mut first_error = None;
    for candidate in addresses {
        let mut trial = Worker::new(Arc::clone(&plan), candidate);
        match trial.connection().await {
            Ok(_) => {
                address = Some(candidate);
                break;
            }
            Err(e) => {
                debug!("{candidate}: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    let Some(address) = address else {
        return Err(first_error.unwrap_or_else(|| Error::Connect {
            target: config.target.address.to_string(),
            detail: "the name resolved to no address".into(),
        }));
    };

    let started = Instant::now();
    let plan = Arc::new(Plan {
        deadline: config.duration.map(|d| started + d),
        remaining: config.count.map(AtomicU64::new),
        ..Arc::into_inner(plan).ok_or_else(|| Error::Internal("plan still shared".into()))?
    });
    let cpu_before = cpu_time();
    let threads = spawn_threads(&plan, address)?;
    let progress = config
        .progress
        .then(|| tokio::spawn(show_progress(Arc::clone(&plan), started)));
    let mut summary = Summary {
        target: config.target.address.to_string(),
        address: address.to_string(),
        mode: mode_name(&config.mode),
        resume: config.resume,
        concurrency: config.concurrency,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Summary::default()
    };
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|thread| thread.join())
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Internal(format!("cannot wait for the bench threads: {e}")))?;
    for thread in joined {
        let tallies = thread.map_err(|_| Error::Internal("a bench thread panicked".into()))??;
        for stats in tallies {
            summary.add(stats);
        }
    }
    summary.elapsed = started.elapsed();
    let cpu_after = cpu_time();
    summary.cpu_user = cpu_after.0.saturating_sub(cpu_before.0);
    summary.cpu_system = cpu_after.1.saturating_sub(cpu_before.1);
    if let Some(progress) = progress {
        progress.abort();
        let _ = progress.await;
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
    Ok(summary)
}

/// One thread per core, each with a single-threaded runtime running its share of the
/// connections: no task ever moves between threads, and no thread wakes another (with
/// a shared multi-threaded runtime that costs about a tenth more CPU per connection).
fn spawn_threads(
    plan: &Arc<Plan>,
    address: SocketAddr,
) -> Result<Vec<std::thread::JoinHandle<Result<Vec<Stats>>>>> {
    let concurrency = plan.config.concurrency;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(concurrency);
    (0..threads)
        .map(|index| {
            let share = concurrency / threads + usize::from(index < concurrency % threads);
            let plan = Arc::clone(plan);
            std::thread::Builder::new()
                .name(format!("bench-{index}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Error::Internal(format!("cannot start a runtime: {e}")))?;
                    runtime.block_on(async {
                        let mut tasks = JoinSet::new();
                        for _ in 0..share {
                            tasks.spawn(Worker::new(Arc::clone(&plan), address).run());
                        }
                        let mut tallies = Vec::with_capacity(share);
                        while let Some(stats) = tasks.join_next().await {
                            tallies.push(stats.map_err(|e| {
                                Error::Internal(format!("a bench task failed: {e}"))
                            })?);
                        }
                        Ok(tallies)
                    })
                })
                .map_err(|e| Error::Internal(format!("cannot start a bench thread: {e}")))
        })
        .collect()
}

fn mode_name(mode: &BenchMode) -> &'static str {
    match mode {
        BenchMode::Handshake => "handshake",
        BenchMode::Request(_) => "request",
        BenchMode::Echo(_) => "throughput (echo)",
        BenchMode::Download(_) => "throughput (download)",
    }
}

async fn resolve(target: &Target, timeouts: &Timeouts) -> Result<Vec<SocketAddr>> {
    let Address::Tcp(address) = &target.address else {
        return Err(Error::Config(
            "tlscat bench connects over TCP: give --connect HOST:PORT".into(),
        ));
    };
    let found = within(
        Phase::Connect,
        timeouts.connect,
        tokio::net::lookup_host((address.host.as_str(), address.port)),
    )
    .await?
    .map_err(|source| Error::Resolve {
        host: address.host.clone(),
        source,
    })?;
    Ok(found.collect())
}

/// Rewrites one line on stderr every second until aborted.
async fn show_progress(plan: Arc<Plan>, started: Instant) {
    let mut last = (0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ok = plan.ok.load(Ordering::Relaxed);
        let failed = plan.failed.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (ok - last.0) as f64 / (now - last.1).as_secs_f64();
        last = (ok, now);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[K{:>5.0} s  {} ok  {} failed  {}/s",
            started.elapsed().as_secs_f64(),
            thousands(ok),
            thousands(failed),
            thousands(rate as u64)
        );
    }
}

/// The CPU time this process used so far: (user, system).
fn cpu_time() -> (Duration, Duration) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF counts every thread.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return (Duration::ZERO, Duration::ZERO);
        }
        usage.assume_init()
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    (time(usage.ru_utime), time(usage.ru_stime))
}
