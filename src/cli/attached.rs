//! Attached `berth up`: the up plan with its progress (containers created, not started), then
//! `Attaching to ...`, the containers' output behind prefixes until they have all exited, and
//! compose's signal handling: the first Ctrl-C (or SIGTERM) prints `Gracefully stopping...`
//! and stops the stack, a second one kills it; then `canceled` and exit code 130.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{signal, SignalKind};

use super::logs::{colors, Printer};
use super::up::UpArgs;
use super::{print_warnings, GlobalArgs};
use crate::app::attach::{self, AttachOptions, Session};
use crate::app::follow::LogOutput;
use crate::app::up::{self as app_up, UpOptions};
use crate::progress::{self, Mode};

pub fn run(global: &GlobalArgs, args: &UpArgs, opts: UpOptions, mode: Mode) -> i32 {
    let printer = Printer::new(colors(global) && !args.no_color, !args.no_log_prefix, true);
    super::with_runtime(|| async {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("berth: cannot watch for Ctrl-C");
            return 1;
        };
        let mut warnings = Vec::new();
        let session = match attach::open(&opts, args.exit_code_from.as_deref(), &mut warnings).await
        {
            Ok(s) => s,
            Err(e) => {
                print_warnings(&warnings);
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        let aopts = AttachOptions {
            services: opts.services.clone(),
            attach: args.attach.clone(),
            no_attach: args.no_attach.clone(),
            timestamps: false,
        };
        if let Err(e) = attach::attach_set(&session.loaded.project, &aopts) {
            eprintln!("{e}");
            return e.exit_code();
        }

        // the up plan, containers left created
        let create = UpOptions {
            no_start: true,
            ..opts.clone()
        };
        let (reporter, handle) = progress::start(mode, "Running");
        let mut up_warnings = Vec::new();
        let r = tokio::select! {
            r = app_up::run(&create, &reporter, &mut up_warnings) => Some(r),
            _ = int.recv() => None,
            _ = term.recv() => None,
        };
        let _ = handle.finish();
        print_warnings(&up_warnings);
        match r {
            None => {
                eprintln!("canceled");
                return 130;
            }
            Some(Err(e)) => {
                eprintln!("{e}");
                return e.exit_code();
            }
            Some(Ok(())) => {}
        }

        let muted = AtomicBool::new(false);
        let sink = |o: LogOutput| {
            if !muted.load(Ordering::Relaxed) || matches!(o, LogOutput::Register(_)) {
                printer.print(o);
            }
        };
        let mut follower = match attach::begin(&session, &aopts, &sink).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}");
                return e.exit_code();
            }
        };
        let cascade = args.abort_on_container_exit || args.exit_code_from.is_some();
        let mut exit_from = args.exit_code_from.clone();
        let mut exit_code: i64 = 0;
        loop {
            tokio::select! {
                r = follower.next(&sink) => match r {
                    Err(e) => {
                        eprintln!("{e}");
                        return e.exit_code();
                    }
                    Ok(None) => break,
                    Ok(Some(exit)) => {
                        sink(LogOutput::Status {
                            container: exit.name.clone(),
                            message: format!("exited with code {}", exit.code),
                        });
                        if cascade {
                            if !muted.swap(true, Ordering::Relaxed) {
                                eprintln!("Aborting on container exit...");
                                let (reporter, handle) = progress::start(mode, "Stopping");
                                let r = attach::stop(&session, &opts.services, opts.timeout, &reporter).await;
                                let _ = handle.finish();
                                if let Err(e) = r {
                                    eprintln!("{e}");
                                    return e.exit_code();
                                }
                            }
                            let from = exit_from.get_or_insert_with(|| exit.service.clone());
                            if *from == exit.service {
                                exit_code = exit.code;
                            }
                        }
                    }
                },
                _ = int.recv() => return graceful(&session, &opts, mode, &muted, &mut int, &mut term).await,
                _ = term.recv() => return graceful(&session, &opts, mode, &muted, &mut int, &mut term).await,
            }
        }
        i32::try_from(exit_code).unwrap_or(1)
    })
}

/// The first Ctrl-C: stop the stack; another one while stopping kills it.
async fn graceful(
    session: &Session,
    opts: &UpOptions,
    mode: Mode,
    muted: &AtomicBool,
    int: &mut tokio::signal::unix::Signal,
    term: &mut tokio::signal::unix::Signal,
) -> i32 {
    muted.store(true, Ordering::Relaxed);
    eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
    let (reporter, handle) = progress::start(mode, "Stopping");
    let stop = attach::stop(session, &opts.services, opts.timeout, &reporter);
    tokio::pin!(stop);
    let result = loop {
        tokio::select! {
            r = &mut stop => break r,
            _ = int.recv() => {
                let _ = attach::kill(session, &opts.services, &reporter).await;
            }
            _ = term.recv() => {
                let _ = attach::kill(session, &opts.services, &reporter).await;
            }
        }
    };
    let _ = handle.finish();
    if let Err(e) = result {
        eprintln!("{e}");
    }
    eprintln!("canceled");
    130
}
