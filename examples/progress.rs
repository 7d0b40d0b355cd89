//! A simulated `pull` of two services, drawn by berth's progress renderers.
//!
//! `cargo run --example progress -- [auto|tty|plain|json|quiet]`

use std::time::Duration;

use berth::progress::{self, Event, Mode};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let flag = std::env::args().nth(1).unwrap_or_else(|| "auto".into());
    let mode = Mode::from_flags(&flag, "auto")?;
    let (progress, handle) = progress::start(mode, "Pulling");
    let step = || std::thread::sleep(Duration::from_millis(120));

    progress.send(Event::pulling("web"));
    progress.send(Event::pulling("db"));
    step();
    progress.send(Event::pulling_fs_layer("4abcf2066143", "web"));
    progress.send(Event::already_exists("9d1a2b3c4d5e", "web"));
    step();
    for current in [1_200_000, 2_400_000, 3_400_000] {
        progress.send(Event::downloading(
            "4abcf2066143",
            "web",
            current,
            3_400_000,
        ));
        step();
    }
    progress.send(Event::verifying_checksum("4abcf2066143", "web"));
    progress.send(Event::download_complete("4abcf2066143", "web"));
    step();
    progress.send(Event::extracting(
        "4abcf2066143",
        "web",
        3_400_000,
        3_400_000,
    ));
    step();
    progress.send(Event::pull_complete("4abcf2066143", "web"));
    progress.send(Event::pulled("web"));
    progress.send(Event::pull_error(
        "db",
        "pull access denied for nosuch/db, repository does not exist",
    ));
    step();
    handle.finish()?;
    Ok(())
}
