//! Files held in memory, for tests and the fuzzer: the loader reads through [`Fs`], so a project
//! can be loaded without touching the disk.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::loader::Fs;

/// Files in memory, by absolute path.
#[derive(Clone, Debug, Default)]
pub struct MemFs(HashMap<PathBuf, String>);

impl MemFs {
    /// Adds (or replaces) a file.
    pub fn with(mut self, path: &str, content: &str) -> Self {
        self.0.insert(PathBuf::from(path), content.to_string());
        self
    }
}

impl Fs for MemFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn is_file(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.0.keys().any(|k| k.starts_with(path) && k != path)
    }
}
