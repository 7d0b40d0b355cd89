//! berth's own files: the lock that serializes commands on one project, and atomic writes for
//! the small state files under /var/lib/berth and /run/berth. Everything else berth knows lives
//! in containerd (labels, images, snapshots, leases). Knows nothing of Compose or containerd.

pub mod networks;
pub mod volumes;

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where locks and other state that must not survive a reboot live.
pub const RUN_DIR: &str = "/run/berth";
/// Where state that must survive a reboot lives (volumes, logs, records).
pub const LIB_DIR: &str = "/var/lib/berth";

/// The environment variables that move [`RUN_DIR`] and [`LIB_DIR`] (tests give each run
/// directories of its own; an operator may keep berth's state elsewhere).
pub const RUN_DIR_ENV: &str = "BERTH_RUN_DIR";
pub const LIB_DIR_ENV: &str = "BERTH_LIB_DIR";

/// [`RUN_DIR`], or `$BERTH_RUN_DIR` when set and not empty.
pub fn run_dir() -> PathBuf {
    dir_from_env(RUN_DIR_ENV, RUN_DIR)
}

/// [`LIB_DIR`], or `$BERTH_LIB_DIR` when set and not empty.
pub fn lib_dir() -> PathBuf {
    dir_from_env(LIB_DIR_ENV, LIB_DIR)
}

fn dir_from_env(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

/// `<lib>/containers/<namespace>/<id>`: one container's own files (its json-file logs, the
/// /etc/hosts, /etc/hostname and /etc/resolv.conf bound into it). Removed with the container.
pub fn container_dir(lib: &Path, namespace: &str, id: &str) -> PathBuf {
    lib.join("containers").join(namespace).join(id)
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_owned();
    move |source| StateError::Io { what, path, source }
}

/// An exclusive lock on one project in one containerd namespace, held until dropped. Two berth
/// commands on the same project run one after the other; on different projects they run at
/// once. The lock is an advisory `flock` on a file, so it is released when the process dies,
/// however it dies.
#[derive(Debug)]
pub struct ProjectLock {
    file: File,
    path: PathBuf,
}

impl ProjectLock {
    /// Takes the lock of `project` in `namespace` under `run_dir` (normally [`RUN_DIR`]),
    /// waiting for whoever holds it; `on_wait` is called once if it has to wait.
    pub fn acquire(
        run_dir: &Path,
        namespace: &str,
        project: &str,
        on_wait: impl FnOnce(),
    ) -> Result<ProjectLock, StateError> {
        let dir = run_dir.join("locks").join(namespace);
        fs::create_dir_all(&dir).map_err(io_err("create lock directory", &dir))?;
        let path = dir.join(format!("{project}.lock"));
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                on_wait();
                file.lock().map_err(io_err("lock", &path))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
        }
        Ok(ProjectLock { file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // closing the file releases the lock anyway; unlocking first makes it immediate
        let _ = self.file.unlock();
    }
}

/// Opens (creating it) a file to `flock`.
fn open_lock_file(path: &Path) -> Result<File, StateError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err("open lock file", path))
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a mix, even
/// if berth dies half-way: a temporary file in the same directory, flushed to disk, renamed
/// over the target, and the directory flushed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        // the mode given to open is filtered by the umask; state files need the exact bits
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err("chmod", &tmp))?;
        f.sync_all().map_err(io_err("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync directory", dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "berth-state-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn one_project_serializes() {
        let dir = scratch("serial");
        let first = ProjectLock::acquire(&dir, "ns", "web", || panic!("nobody holds it")).unwrap();
        assert!(first.path().ends_with("locks/ns/web.lock"));
        let waited = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (d, w) = (dir.clone(), waited.clone());
        let t = std::thread::spawn(move || {
            let _second =
                ProjectLock::acquire(&d, "ns", "web", || w.store(true, Ordering::SeqCst)).unwrap();
            tx.send(()).unwrap();
        });
        // the second cannot get it while the first is held
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        assert!(waited.load(Ordering::SeqCst));
        drop(first);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        t.join().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn projects_and_namespaces_do_not_block_each_other() {
        let dir = scratch("parallel");
        let _a = ProjectLock::acquire(&dir, "ns", "web", || {}).unwrap();
        let _b = ProjectLock::acquire(&dir, "ns", "db", || panic!("db is free")).unwrap();
        let _c = ProjectLock::acquire(&dir, "other", "web", || panic!("other ns is free")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_sets_the_mode() {
        let dir = scratch("atomic");
        let p = dir.join("sub/state.json");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // no temporary file is left beside it
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
