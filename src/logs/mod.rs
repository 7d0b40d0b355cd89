//! Container logs: the json-file log driver the containerd shim runs (`driver`), the settings
//! and `binary://` URI that start it (`options`), Docker's json-file record format (`format`),
//! and reading and following the files for `berth logs` (`read`).
//!
//! Files: `<dir>/<id>-json.log`, rotated to `<id>-json.log.1` (newest) ... `.{max-file - 1}`,
//! with `<dir>` = `/var/lib/berth/containers/<namespace>/<id>` unless the URI names one. Each
//! line is one Docker json-file record (see `format`).
//!
//! Must not import containerd, the CLI, or anything that prints to the user.

pub mod driver;
pub mod format;
pub mod options;
pub mod prefix;
pub mod read;

pub use format::{Entry, Stream};
pub use options::{log_dir, log_file, DriverConfig, Rotation, DEFAULT_ROOT};
pub use read::{read_history, LogReader, ReadOptions, Window};
