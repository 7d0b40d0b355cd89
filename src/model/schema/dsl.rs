//! The little rule language the compose-spec rules are written in: a rule says which YAML types a
//! value may have and, per type, what else must hold (known keys, key patterns, required keys,
//! list items, allowed strings, bounds, alternatives). Rules are `const` data built with `const fn`s,
//! so the whole specification is a static tree checked by `super::check`.

/// A value kind as the JSON-schema view of YAML sees it. A whole number (`8`, `8.0`) is both
/// `Int` and `Num`; a quoted `"8"` is a `Str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum T {
    Null,
    Bool,
    Int,
    Num,
    Str,
    List,
    Map,
}

impl T {
    /// The name used in messages, with its article ("a string", "an integer", "null").
    pub fn described(self) -> &'static str {
        match self {
            T::Null => "null",
            T::Bool => "a boolean",
            T::Int => "an integer",
            T::Num => "a number",
            T::Str => "a string",
            T::List => "a list",
            T::Map => "a mapping",
        }
    }
}

/// Key patterns used by the specification (all of its `patternProperties`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pat {
    /// Extension keys: starts with `x-`.
    Ext,
    /// Resource and service names: one or more of `a-z A-Z 0-9 . _ -`.
    Name,
    /// Lower-case letters only (ulimit names).
    Lower,
    /// Any non-empty key made of characters other than a newline.
    Line,
    /// Any key holding at least one character other than a newline.
    Some,
}

impl Pat {
    pub fn matches(self, key: &str) -> bool {
        match self {
            Pat::Ext => key.starts_with("x-"),
            Pat::Name => {
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            }
            Pat::Lower => !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase()),
            Pat::Line => !key.is_empty() && !key.contains('\n'),
            Pat::Some => key.chars().any(|c| c != '\n'),
        }
    }
}

/// One rule. An empty `types` accepts every kind; the other constraints only apply to values of
/// the kind they speak about (keys to mappings, items to lists, `allowed` to strings, bounds to
/// numbers), as in JSON schema.
#[derive(Clone, Copy, Debug)]
pub struct S {
    pub types: &'static [T],
    /// Known keys of a mapping and their rules.
    pub props: &'static [(&'static str, S)],
    /// Rules for keys matching a pattern (a key may match several).
    pub pats: &'static [(Pat, S)],
    /// Whether keys that are neither known nor matched are rejected.
    pub closed: bool,
    pub required: &'static [&'static str],
    pub items: Option<&'static S>,
    pub unique: bool,
    /// Exactly one of these rules must hold.
    pub one_of: &'static [S],
    /// At least one of these rules must hold.
    pub any_of: &'static [S],
    /// The strings allowed (an enumeration).
    pub allowed: &'static [&'static str],
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// Accepts anything.
pub const ANY: S = S {
    types: &[],
    props: &[],
    pats: &[],
    closed: false,
    required: &[],
    items: None,
    unique: false,
    one_of: &[],
    any_of: &[],
    allowed: &[],
    min: None,
    max: None,
};

const EXT: &[(Pat, S)] = &[(Pat::Ext, ANY)];

/// A value of one of the given kinds, nothing more.
pub const fn of(types: &'static [T]) -> S {
    S { types, ..ANY }
}

pub const STR: S = of(&[T::Str]);
pub const BOOL: S = of(&[T::Bool]);
pub const INT: S = of(&[T::Int]);
pub const NUM: S = of(&[T::Num]);
pub const NULL: S = of(&[T::Null]);
/// A mapping with any content.
pub const MAP: S = of(&[T::Map]);

/// A mapping with these known keys; other keys are allowed until `closed()`.
pub const fn obj(props: &'static [(&'static str, S)]) -> S {
    S {
        types: &[T::Map],
        props,
        ..ANY
    }
}

/// A list whose items all follow `item`.
pub const fn list(item: &'static S) -> S {
    S {
        types: &[T::List],
        items: Some(item),
        ..ANY
    }
}

/// A string from a fixed set.
pub const fn one_str_of(allowed: &'static [&'static str]) -> S {
    S {
        types: &[T::Str],
        allowed,
        ..ANY
    }
}

/// Exactly one of the alternatives.
pub const fn one_of(alts: &'static [S]) -> S {
    S {
        one_of: alts,
        ..ANY
    }
}

/// At least one of the alternatives.
pub const fn any_of(alts: &'static [S]) -> S {
    S {
        any_of: alts,
        ..ANY
    }
}

impl S {
    /// Rejects keys that are neither known nor matched by a pattern.
    pub const fn closed(self) -> S {
        S {
            closed: true,
            ..self
        }
    }
    /// Closed, except for `x-` extension keys, which may hold anything.
    pub const fn closed_ext(self) -> S {
        S {
            closed: true,
            pats: EXT,
            ..self
        }
    }
    /// Rules for keys matching patterns.
    pub const fn pats(self, pats: &'static [(Pat, S)]) -> S {
        S { pats, ..self }
    }
    pub const fn required(self, keys: &'static [&'static str]) -> S {
        S {
            required: keys,
            ..self
        }
    }
    /// Items of the list must all differ.
    pub const fn unique(self) -> S {
        S {
            unique: true,
            ..self
        }
    }
    /// Replaces the accepted kinds (e.g. a mapping that may also be null).
    pub const fn types(self, types: &'static [T]) -> S {
        S { types, ..self }
    }
    pub const fn min(self, n: i64) -> S {
        S {
            min: Some(n),
            ..self
        }
    }
    pub const fn max(self, n: i64) -> S {
        S {
            max: Some(n),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_the_spec_regexes() {
        assert!(Pat::Ext.matches("x-foo"));
        assert!(!Pat::Ext.matches("foo"));
        assert!(Pat::Name.matches("web.v1_a-b"));
        assert!(!Pat::Name.matches("my web"));
        assert!(!Pat::Name.matches(""));
        assert!(Pat::Lower.matches("nofile"));
        assert!(!Pat::Lower.matches("NOFILE"));
        assert!(Pat::Line.matches("a b"));
        assert!(!Pat::Line.matches("a\nb"));
        assert!(Pat::Some.matches("a\nb"));
        assert!(!Pat::Some.matches(""));
    }

    #[test]
    fn builders_compose() {
        let r: S = obj(&[("a", STR)]).closed_ext().required(&["a"]);
        assert!(r.closed);
        assert_eq!(r.pats.len(), 1);
        assert_eq!(r.required, &["a"]);
        assert_eq!(r.types, &[T::Map]);
    }
}
