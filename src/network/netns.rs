//! Named, persistent network namespaces, made the way `ip netns add` makes them: a fresh network
//! namespace bind-mounted onto a file in a directory of berth's own (default
//! [`DEFAULT_NETNS_DIR`]), so it outlives every process in it and the OCI spec can name it by
//! path. Also runs code inside a namespace on a dedicated OS thread.
//!
//! This module owns the namespace files and their mounts; it does not talk netlink (that is
//! `network::netlink`, which uses [`Netns::spawn_in`] to open sockets inside a namespace).
//!
//! The calling thread's namespace is never changed: `setns` and `unshare` only ever run on a
//! thread spawned for the purpose, which ends right after, so a tokio worker never finds itself
//! in a container's namespace.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::statfs::fstatfs;

/// Where berth keeps its named network namespaces (iproute2 uses /run/netns).
pub const DEFAULT_NETNS_DIR: &str = "/run/berth/netns";

/// `NSFS_MAGIC` from linux/magic.h: the filesystem type of a namespace file.
const NSFS_MAGIC: i64 = 0x6e73_6673;

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("invalid network namespace name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what} {path}: {}", .errno.desc())]
    Sys {
        what: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{path} is not a network namespace (not a mounted nsfs file)")]
    NotANamespace { path: PathBuf },
    #[error("start a thread for network namespace {path}: {source}")]
    Thread {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, NetnsError>;

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn sys_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(Errno) -> NetnsError + 'a {
    move |errno| NetnsError::Sys {
        what,
        path: path.to_path_buf(),
        errno,
    }
}

/// Checks a namespace name: one path component of printable characters, at most 64 bytes.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(NetnsError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 64 {
        return bad("it is longer than 64 bytes");
    }
    if name == "." || name == ".." {
        return bad("it is . or ..");
    }
    if name
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return bad("it contains '/', a space or a control character");
    }
    Ok(())
}

/// The directory that holds named namespaces, one file each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsDir {
    path: PathBuf,
}

impl Default for NetnsDir {
    fn default() -> Self {
        NetnsDir::new(DEFAULT_NETNS_DIR)
    }
}

impl NetnsDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        NetnsDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file of namespace `name` (whether or not it exists).
    pub fn file_of(&self, name: &str) -> Result<PathBuf> {
        validate_name(name)?;
        Ok(self.path.join(name))
    }

    /// Creates namespace `name`: a new network namespace bind-mounted onto `<dir>/<name>`.
    /// Fails with EEXIST when the file is there already (use [`NetnsDir::open`] or delete it);
    /// leaves nothing behind when it fails.
    pub fn create(&self, name: &str) -> Result<Netns> {
        let file = self.file_of(name)?;
        self.prepare()?;
        // O_EXCL: two callers must not both think they made it.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&file)
            .map_err(io_err("create network namespace file", &file))?;
        let target = file.clone();
        let made = std::thread::Builder::new()
            .name("berth-netns-new".into())
            .spawn(move || -> Result<()> {
                // Only this thread moves to the new namespace, and it ends right after.
                unshare(CloneFlags::CLONE_NEWNET)
                    .map_err(sys_err("unshare a network namespace for", &target))?;
                mount(
                    Some("/proc/thread-self/ns/net"),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .map_err(sys_err("bind-mount the new network namespace on", &target))
            })
            .map_err(|source| NetnsError::Thread {
                path: file.clone(),
                source,
            })?
            .join();
        let made = match made {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        if let Err(e) = made {
            let _ = fs::remove_file(&file);
            return Err(e);
        }
        match Netns::open_path(&file) {
            Ok(ns) => Ok(ns),
            Err(e) => {
                let _ = self.delete(name);
                Err(e)
            }
        }
    }

    /// Opens the existing namespace `name`.
    pub fn open(&self, name: &str) -> Result<Netns> {
        Netns::open_path(&self.file_of(name)?)
    }

    /// True when `<dir>/<name>` exists (mounted or not).
    pub fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.file_of(name)?.exists())
    }

    /// Deletes namespace `name`: unmounts and removes its file. Absent is fine, and so is a file
    /// left unmounted by a crash. The namespace itself goes when its last process leaves.
    pub fn delete(&self, name: &str) -> Result<()> {
        let file = self.file_of(name)?;
        match umount2(&file, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (a crash between create and mount); ENOENT: absent.
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys_err("unmount network namespace", &file)(e)),
        }
        match fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove network namespace file", &file)(e)),
        }
    }

    /// The names of the files in the directory (namespaces, or files a crash left unmounted).
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("read network namespace directory", &self.path)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("read network namespace directory", &self.path))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Undoes [`NetnsDir::create`]'s preparation of the directory once it holds nothing:
    /// unmounts the directory's own bind mount and removes it. Returns false, doing nothing,
    /// when files are still in it. For tests and for a full clean-up; berth's /run/berth/netns
    /// may stay, as /run/netns does for iproute2.
    pub fn remove_if_empty(&self) -> Result<bool> {
        if !self.list()?.is_empty() {
            return Ok(false);
        }
        loop {
            // The directory may have been bind-mounted more than once by racing creators.
            match umount2(&self.path, MntFlags::MNT_DETACH) {
                Ok(()) => continue,
                Err(Errno::EINVAL) | Err(Errno::ENOENT) => break,
                Err(e) => {
                    return Err(sys_err("unmount network namespace directory", &self.path)(
                        e,
                    ))
                }
            }
        }
        match fs::remove_dir(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(io_err("remove network namespace directory", &self.path)(e)),
        }
    }

    /// Makes the directory and makes it a shared mount point, as iproute2 does for /run/netns,
    /// so a namespace mounted here later is also seen by mount namespaces made after this
    /// (containerd's shims, other tools) instead of staying private to ours.
    fn prepare(&self) -> Result<()> {
        let dir = &self.path;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(io_err("create network namespace directory", dir))?;
        let shared = || {
            mount(
                None::<&str>,
                dir,
                None::<&str>,
                MsFlags::MS_SHARED | MsFlags::MS_REC,
                None::<&str>,
            )
        };
        match shared() {
            Ok(()) => return Ok(()),
            // Not a mount point yet.
            Err(Errno::EINVAL) => {}
            Err(e) => return Err(sys_err("make shared mount point of", dir)(e)),
        }
        mount(
            Some(dir),
            dir,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(sys_err("bind-mount onto itself", dir))?;
        // Private first, then shared: the directory gets a peer group of its own instead of
        // joining its parent's, so namespace mounts here are not copied under the parent mount
        // (where nothing would unmount them). iproute2 skips this step.
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(sys_err("make private mount point of", dir))?;
        shared().map_err(sys_err("make shared mount point of", dir))
    }
}

/// An open network namespace. Holding it keeps the namespace alive even after its file is
/// unmounted.
#[derive(Debug)]
pub struct Netns {
    path: PathBuf,
    file: File,
}

impl Netns {
    /// Opens a namespace by path: a named one, or /proc/<pid>/ns/net. Checks that the path
    /// really is a namespace, so a file a crash left unmounted is not taken for one.
    pub fn open_path(path: &Path) -> Result<Netns> {
        let file = File::open(path).map_err(io_err("open network namespace", path))?;
        let fs = fstatfs(&file).map_err(sys_err("stat network namespace", path))?;
        // The cast only widens or keeps the width of the platform's f_type.
        #[allow(clippy::unnecessary_cast)]
        let magic = fs.filesystem_type().0 as i64;
        if magic != NSFS_MAGIC {
            return Err(NetnsError::NotANamespace {
                path: path.to_path_buf(),
            });
        }
        Ok(Netns {
            path: path.to_path_buf(),
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a new OS thread that has entered this namespace, waits for it and returns
    /// its result. A panic in `f` is passed on to the caller. Blocks: from async code use
    /// [`Netns::spawn_in`].
    pub fn run_in<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = self.spawn_in(f)?;
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Starts `f` on a new OS thread that has entered this namespace; the thread ends when `f`
    /// returns. Sockets `f` opens stay in this namespace after that.
    pub fn spawn_in<T, F>(&self, f: F) -> Result<std::thread::JoinHandle<Result<T>>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let file = self
            .file
            .try_clone()
            .map_err(io_err("duplicate the descriptor of", &self.path))?;
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn(move || {
                setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(sys_err("enter network namespace", &path))?;
                Ok(f())
            })
            .map_err(|source| NetnsError::Thread {
                path: self.path.clone(),
                source,
            })
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for Netns {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("berth-web-1").is_ok());
        assert!(validate_name(&"a".repeat(64)).is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "a\nb", &"a".repeat(65)] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid network namespace name"), "{e}");
        }
    }

    #[test]
    fn file_of_joins_the_dir() {
        let d = NetnsDir::new("/tmp/x");
        assert_eq!(d.file_of("n1").unwrap(), PathBuf::from("/tmp/x/n1"));
        assert!(d.file_of("../etc").is_err());
        assert_eq!(NetnsDir::default().path(), Path::new(DEFAULT_NETNS_DIR));
    }
}
