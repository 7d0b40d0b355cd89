//! Errors of the Compose loader. Each names the file, the line and the key path, and carries the
//! exit code Docker Compose uses for it.

use std::fmt;

use super::node::{KeyPath, Node, Pos};

/// What went wrong, at the granularity that decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The project is invalid: bad YAML, schema, interpolation, consistency (compose exits 15).
    Invalid,
    /// No compose file was found (compose exits 14).
    NotFound,
    /// Anything else: a file that cannot be read, a bad flag value (compose exits 1).
    Other,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Invalid => 15,
            ErrorKind::NotFound => 14,
            ErrorKind::Other => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub pos: Pos,
    pub path: KeyPath,
    pub msg: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An invalid-project error at a node: `compose.yaml:12: services.web.ports[1]: <msg>`.
    pub fn at(node: &Node, path: &KeyPath, msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Invalid,
            pos: node.pos.clone(),
            path: path.clone(),
            msg: msg.into(),
        }
    }
    /// An invalid-project error at a known position.
    pub fn at_pos(pos: &Pos, path: &KeyPath, msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Invalid,
            pos: pos.clone(),
            path: path.clone(),
            msg: msg.into(),
        }
    }
    /// An invalid-project error with no single place (a dependency cycle, say).
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Invalid,
            pos: Pos::default(),
            path: KeyPath::root(),
            msg: msg.into(),
        }
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::NotFound,
            ..Error::invalid(msg)
        }
    }
    pub fn other(msg: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Other,
            ..Error::invalid(msg)
        }
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pos = self.pos.to_string();
        if !pos.is_empty() {
            write!(f, "{pos}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(f, "{}", self.msg)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn message_names_file_line_and_key() {
        let file: Arc<str> = Arc::from("compose.yaml");
        let node = Node::new(super::super::node::Value::Null, Pos::new(&file, 12));
        let path = KeyPath::root().key("services").key("web").key("ports").index(1);
        let e = Error::at(&node, &path, "invalid port \"80:abc\"");
        assert_eq!(
            e.to_string(),
            "compose.yaml:12: services.web.ports[1]: invalid port \"80:abc\""
        );
        assert_eq!(e.exit_code(), 15);
    }
}
