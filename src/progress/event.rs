//! Progress events: what library code reports about one resource (a service's image, a layer, a
//! container, a network, a volume). Plain data; nothing here prints or knows about terminals.
//!
//! The words and where they go follow Docker Compose 2.26: pull events carry their word in
//! `text` ("Pulling", "Downloading"), while the lifecycle events of containers, networks and
//! volumes carry it in `status_text` and leave `text` empty ("Container p-web-1  Started", with the
//! two spaces compose shows).

use super::format::docker_progress;

/// Where an event's resource stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Still in progress: a spinner in the tty view.
    Working,
    /// Finished well: `✔` in green.
    Done,
    /// Finished with something to say: `!` in bold yellow.
    Warning,
    /// Failed: `✘` in bold red.
    Error,
}

impl Status {
    /// The word the json renderer writes ("Working", "Done", "Warning", "Error").
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Working => "Working",
            Status::Done => "Done",
            Status::Warning => "Warning",
            Status::Error => "Error",
        }
    }
}

/// One report about one resource. Later events with the same `id` update the earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The resource: a service name (`web`), a layer's short digest (`4abcf2066143`),
    /// `Container p-web-1`, `Network p_default`, `Volume "p_data"`.
    pub id: String,
    /// The resource this one belongs to (a layer's service); its line is drawn under the parent.
    pub parent_id: Option<String>,
    /// The operation word for pulls ("Pulling", "Downloading", "Pull complete").
    pub text: String,
    pub status: Status,
    /// The lifecycle word ("Created", "Started") or details (a byte progress bar, an error).
    pub status_text: String,
    /// Bytes done so far, for Downloading and Extracting.
    pub current: u64,
    /// Bytes in all; 0 when not known.
    pub total: u64,
    /// 0..=100, drawn as one braille cell per layer on the parent's line.
    pub percent: u8,
}

/// A layer's digest shortened as docker shows it: the first 12 hex digits, without `sha256:`.
pub fn short_id(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

/// The id compose gives a container's events: `Container <name>`.
pub fn container_id(name: &str) -> String {
    format!("Container {name}")
}

/// The id compose gives a network's events: `Network <name>`.
pub fn network_id(name: &str) -> String {
    format!("Network {name}")
}

/// The id compose gives a volume's events while creating it: `Volume "<name>"` (Go's `%q`).
pub fn volume_create_id(name: &str) -> String {
    format!("Volume {}", go_quote(name))
}

/// The id compose gives a volume's events while removing it (`down`): `Volume <name>`, unquoted.
pub fn volume_remove_id(name: &str) -> String {
    format!("Volume {name}")
}

/// Go's `%q` for the characters a volume name can hold; control characters get `\u` escapes.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Event {
    /// An event whose word is in `status_text`, as compose's `NewEvent` makes them.
    pub fn new(id: impl Into<String>, status: Status, status_text: impl Into<String>) -> Event {
        Event {
            id: id.into(),
            parent_id: None,
            text: String::new(),
            status,
            status_text: status_text.into(),
            current: 0,
            total: 0,
            percent: 0,
        }
    }

    /// An event whose word is in `text`, as compose's pull makes them.
    pub fn with_text(id: impl Into<String>, status: Status, text: impl Into<String>) -> Event {
        Event {
            text: text.into(),
            ..Event::new(id, status, "")
        }
    }

    /// Sets the parent (the service a layer belongs to).
    pub fn parent(mut self, parent_id: impl Into<String>) -> Event {
        self.parent_id = Some(parent_id.into());
        self
    }

    // ---- pull, one service (id = service name) ----

    /// `web Pulling`.
    pub fn pulling(service: impl Into<String>) -> Event {
        Event::with_text(service, Status::Working, "Pulling")
    }

    /// `web Pulled`.
    pub fn pulled(service: impl Into<String>) -> Event {
        Event::with_text(service, Status::Done, "Pulled")
    }

    /// `web Error <message>`: the pull failed.
    pub fn pull_error(service: impl Into<String>, message: impl Into<String>) -> Event {
        Event {
            status_text: message.into(),
            ..Event::with_text(service, Status::Error, "Error")
        }
    }

    /// `web Warning <message>`: the pull failed but the service can be built instead.
    pub fn pull_warning(service: impl Into<String>, message: impl Into<String>) -> Event {
        Event {
            status_text: message.into(),
            ..Event::with_text(service, Status::Warning, "Warning")
        }
    }

    /// `web Skipped` or `web Skipped - <reason>` (e.g. "Image is already present locally",
    /// "No image to be pulled", "Image is already being pulled by db").
    pub fn pull_skipped(service: impl Into<String>, reason: Option<&str>) -> Event {
        let text = match reason {
            Some(reason) => format!("Skipped - {reason}"),
            None => "Skipped".to_string(),
        };
        Event::with_text(service, Status::Done, text)
    }

    // ---- pull, one layer (id = short digest, parent = service) ----

    fn layer(id: &str, service: &str, status: Status, text: &str, percent: u8) -> Event {
        Event {
            percent,
            ..Event::with_text(id, status, text).parent(service)
        }
    }

    fn layer_bytes(id: &str, service: &str, text: &str, current: u64, total: u64) -> Event {
        let percent = if total > 0 {
            // Widen before multiplying: layers of several GB overflow nothing in u128.
            (u128::from(current) * 100 / u128::from(total)).min(100) as u8
        } else {
            0
        };
        Event {
            status_text: docker_progress(current, total),
            current,
            total,
            ..Event::layer(id, service, Status::Working, text, percent)
        }
    }

    /// `Pulling fs layer`: the layer is known and queued.
    pub fn pulling_fs_layer(layer: &str, service: &str) -> Event {
        Event::layer(layer, service, Status::Working, "Pulling fs layer", 0)
    }

    /// `Waiting`: queued behind the download limit.
    pub fn layer_waiting(layer: &str, service: &str) -> Event {
        Event::layer(layer, service, Status::Working, "Waiting", 0)
    }

    /// `Downloading [=====>    ]  1.2MB/3.4MB`.
    pub fn downloading(layer: &str, service: &str, current: u64, total: u64) -> Event {
        Event::layer_bytes(layer, service, "Downloading", current, total)
    }

    /// `Verifying Checksum`.
    pub fn verifying_checksum(layer: &str, service: &str) -> Event {
        // Docker sends no byte counts with this phase; compose then keeps percent at 0.
        Event::layer(layer, service, Status::Working, "Verifying Checksum", 0)
    }

    /// `Download complete`.
    pub fn download_complete(layer: &str, service: &str) -> Event {
        Event::layer(layer, service, Status::Done, "Download complete", 100)
    }

    /// `Extracting [=====>    ]  1.2MB/3.4MB`.
    pub fn extracting(layer: &str, service: &str, current: u64, total: u64) -> Event {
        Event::layer_bytes(layer, service, "Extracting", current, total)
    }

    /// `Pull complete`.
    pub fn pull_complete(layer: &str, service: &str) -> Event {
        Event::layer(layer, service, Status::Done, "Pull complete", 100)
    }

    /// `Already exists`: the layer is in the content store already.
    pub fn already_exists(layer: &str, service: &str) -> Event {
        Event::layer(layer, service, Status::Done, "Already exists", 100)
    }

    // ---- containers, networks, volumes (id from container_id, network_id, volume_*_id) ----

    pub fn creating(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Creating")
    }
    pub fn created(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Created")
    }
    pub fn starting(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Starting")
    }
    pub fn started(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Started")
    }
    /// `Running`: the container was already running and is kept.
    pub fn running(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Running")
    }
    /// `Waiting`: waiting for a dependency's condition.
    pub fn waiting(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Waiting")
    }
    pub fn healthy(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Healthy")
    }
    pub fn exited(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Exited")
    }
    pub fn stopping(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Stopping")
    }
    pub fn stopped(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Stopped")
    }
    pub fn killing(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Killing")
    }
    pub fn killed(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Killed")
    }
    pub fn removing(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Removing")
    }
    pub fn removed(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Removed")
    }
    /// `Recreate`: the container's configuration changed.
    pub fn recreate(id: impl Into<String>) -> Event {
        Event::new(id, Status::Working, "Recreate")
    }
    pub fn recreated(id: impl Into<String>) -> Event {
        Event::new(id, Status::Done, "Recreated")
    }
    /// `Resource is still in use` (a network or volume `down` could not remove).
    pub fn still_in_use(id: impl Into<String>) -> Event {
        Event::new(id, Status::Warning, "Resource is still in use")
    }
    /// `Skipped: <reason>`, a warning.
    pub fn skipped(id: impl Into<String>, reason: &str) -> Event {
        Event::new(id, Status::Warning, format!("Skipped: {reason}"))
    }
    /// `Error`.
    pub fn error(id: impl Into<String>) -> Event {
        Event::new(id, Status::Error, "Error")
    }
    /// An error whose message is shown in place of the word ("Error while Stopping").
    pub fn error_message(id: impl Into<String>, message: impl Into<String>) -> Event {
        Event::new(id, Status::Error, message)
    }

    /// True for updates that only move a byte count forward (the noisy ones).
    pub(crate) fn is_byte_update(&self) -> bool {
        self.status == Status::Working && (self.current > 0 || self.total > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_as_docker() {
        assert_eq!(
            short_id("sha256:4abcf20661432fb2d719aaf90656f55c287f8ca915dc1c92ec14ff61e67fbaf8"),
            "4abcf2066143"
        );
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn resource_ids_as_compose() {
        assert_eq!(container_id("p-web-1"), "Container p-web-1");
        assert_eq!(network_id("p_default"), "Network p_default");
        assert_eq!(volume_create_id("p_data"), "Volume \"p_data\"");
        assert_eq!(volume_remove_id("p_data"), "Volume p_data");
    }

    #[test]
    fn lifecycle_words_go_in_status_text() {
        let e = Event::started(container_id("p-web-1"));
        assert_eq!(e.text, "");
        assert_eq!(e.status_text, "Started");
        assert_eq!(e.status, Status::Done);
    }

    #[test]
    fn downloading_carries_bytes_and_percent() {
        let e = Event::downloading("4abcf2066143", "web", 1_200_000, 3_400_000);
        assert_eq!(e.parent_id.as_deref(), Some("web"));
        assert_eq!(e.text, "Downloading");
        assert_eq!(e.percent, 35);
        assert!(e.status_text.ends_with("]    1.2MB/3.4MB"));
        assert!(e.is_byte_update());
        assert_eq!(
            Event::pull_skipped("db", Some("Image is already present locally")).text,
            "Skipped - Image is already present locally"
        );
    }
}
