//! Reading YAML text into berth's [`Node`] tree with the meaning gopkg.in/yaml.v3 (the library
//! compose-go uses) gives it: how plain scalars resolve to null, booleans, numbers or strings;
//! anchors, aliases and `<<` merge keys; duplicate and non-string keys; the `!reset` and
//! `!override` tags. The tokenizer is the `saphyr-parser` crate; everything after the event
//! stream is here.
//!
//! Why saphyr-parser: it is maintained (serde_yaml is deprecated), it is pure Rust, and its event
//! API hands over exactly what Compose semantics need and serde-based readers (serde-saphyr,
//! yaml_serde) hide: the span of every scalar and collection (so errors name the line), custom
//! tags (`!reset`, `!override`), anchors and aliases as such (so merge keys and copies follow
//! yaml.v3, not YAML 1.2), and the quoting style (a quoted `"8080"` stays a string). Resolving
//! scalars ourselves is what makes `0755`, `yes` and `1_000` mean what they mean to compose.
//!
//! Choices worth knowing:
//! * [`parse`] returns one node per document. A stream with no document at all (an empty file,
//!   only comments) gives an empty list; an explicit empty document (`---` and nothing) gives a
//!   `Null` node. [`parse_compose`] adds compose's "Top-level object must be a mapping" check.
//! * A mapping's value carries the line of its key. An alias is a deep copy of the anchored node
//!   placed at the alias (its root gets the alias's position, its inner nodes keep theirs).
//! * Timestamps (`2001-12-14`) stay strings with the text as written (yaml.v3 would make a
//!   `time.Time`); integers between 2^63 and 2^64-1, which yaml.v3 keeps as `uint64`, become
//!   strings of their digits since [`Value`] has no unsigned integer.
//! * `!reset` / `!override` become [`Tag::Reset`] / [`Tag::Override`]. compose-go drops `!reset`
//!   nodes before yaml.v3 checks duplicate keys and applies merges, so a key defined both with
//!   `!reset` and with a value (twice, or once plus a merge) keeps the value tagged `Override`
//!   (reset the inherited value, then use this one). Copies made by aliases and merge keys lose
//!   their `!reset` children but keep `!override` tags, as compose-go's reset pass sees them.
//! * Where saphyr and libyaml disagree on syntax, libyaml wins: a plain scalar may not start
//!   with `%`, and a tab may separate `:` or `-` from what follows. Messages are libyaml's
//!   problem text (`yaml: found character that cannot start any token`) at saphyr's line.
//! * A `<<` whose value is an alias to a sequence of maps is merged (Docker Compose 2.26.1 as
//!   recorded in the corpus does so, although yaml.v3's source refuses it).

use std::collections::HashMap;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag as YamlTag};

use super::error::{Error, Result};
use super::node::{KeyPath, Map, Node, Pos, Tag, Value};

/// Most nodes one document may expand to, counting every copy an alias makes and the copy kept
/// for each anchored collection (alias bombs).
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted, counting collections copied in by aliases.
pub const MAX_DEPTH: usize = 1_000;

const MERGE_ERROR: &str = "map merge requires map or sequence of maps as the value";

/// Parses every YAML document of `src`, read from `file`, into a node.
pub fn parse(src: &str, file: &Arc<str>) -> Result<Vec<Node>> {
    let mut text = std::borrow::Cow::Borrowed(src);
    let mut fixes = 0;
    loop {
        match parse_text(&text, file) {
            Ok(docs) => return Ok(docs),
            Err(Failure::Error(e)) => return Err(e),
            Err(Failure::TabAfterIndicator(e, at)) => {
                fixes += 1;
                if fixes > MAX_TAB_FIXES {
                    return Err(e);
                }
                let fixed = untab_before(&text, at);
                if fixed == *text {
                    return Err(e);
                }
                text = std::borrow::Cow::Owned(fixed);
            }
        }
    }
}

/// How many `key:<TAB>value` separators [`parse`] rewrites before giving up.
const MAX_TAB_FIXES: usize = 256;

enum Failure {
    Error(Error),
    /// saphyr refuses a tab separating `:` or `-` from what follows, which libyaml accepts;
    /// the character index is where saphyr stopped, right after the tabs.
    TabAfterIndicator(Error, usize),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// The text with the blanks just before character `at` turned into spaces (same byte length,
/// same columns: a tab after an indicator is only a separator).
fn untab_before(text: &str, at: usize) -> String {
    let end = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
    let head = &text[..end];
    let start = head.trim_end_matches([' ', '\t']).len();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&text[start..end].replace('\t', " "));
    out.push_str(&text[end..]);
    out
}

fn parse_text(src: &str, file: &Arc<str>) -> std::result::Result<Vec<Node>, Failure> {
    let mut docs = Vec::new();
    let mut builder = Builder::new(src, file);
    let mut events: Vec<(Event, Span)> = Vec::new();
    for item in Parser::new_from_str(src) {
        let (ev, span) = match item {
            Ok(x) => x,
            Err(e) => {
                let err = scan_error(&e, src, file);
                if e.info()
                    .ends_with("must be followed by a valid YAML whitespace")
                {
                    return Err(Failure::TabAfterIndicator(err, e.marker().index()));
                }
                return Err(Failure::Error(err));
            }
        };
        match ev {
            Event::Nothing | Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => events.clear(),
            Event::DocumentEnd => {
                docs.push(builder.document(std::mem::take(&mut events))?);
            }
            ev => {
                check_token(&ev, &span, file)?;
                events.push((ev, span));
            }
        }
    }
    Ok(docs)
}

/// [`parse`], then compose-go's check that every document is a mapping.
pub fn parse_compose(src: &str, file: &Arc<str>) -> Result<Vec<Node>> {
    let docs = parse(src, file)?;
    for d in &docs {
        if d.as_map().is_none() {
            return Err(Error::at(
                d,
                &KeyPath::root(),
                "Top-level object must be a mapping",
            ));
        }
    }
    Ok(docs)
}

/// libyaml refuses a plain scalar starting with `%` ("%s" left in a template) where saphyr
/// reads it as text.
fn check_token(ev: &Event, span: &Span, file: &Arc<str>) -> Result<()> {
    if let Event::Scalar(v, ScalarStyle::Plain, _, _) = ev {
        if v.starts_with('%') {
            return Err(syntax(
                file,
                span.start.line(),
                "found character that cannot start any token",
            ));
        }
    }
    Ok(())
}

fn syntax(file: &Arc<str>, line: usize, msg: &str) -> Error {
    Error::at_pos(
        &Pos::new(file, to_line(line)),
        &KeyPath::root(),
        format!("yaml: {msg}"),
    )
}

fn to_line(line: usize) -> u32 {
    u32::try_from(line).unwrap_or(u32::MAX)
}

/// A scanner error worded as libyaml words it, where the two differ.
fn scan_error(e: &ScanError, src: &str, file: &Arc<str>) -> Error {
    let info = e.info();
    // saphyr prefixes libyaml's context ("while parsing a block mapping, did not find ...");
    // yaml.v3 prints only the problem.
    let problem = match info.strip_prefix("while ") {
        Some(rest) => rest.split_once(", ").map_or(info, |(_, p)| p),
        None => info,
    };
    let msg =
        if problem.starts_with("unexpected character") || problem.starts_with("tabs disallowed") {
            "found character that cannot start any token".to_string()
        } else if problem == "found unknown anchor" {
            let name: String = src
                .chars()
                .skip(e.marker().index() + 1)
                .take_while(|c| !c.is_whitespace() && !",[]{}".contains(*c))
                .collect();
            format!("unknown anchor '{name}' referenced")
        } else {
            problem.to_string()
        };
    syntax(file, e.marker().line(), &msg)
}

/// A node just completed, with what its parent needs to know about it.
struct Built {
    node: Node,
    /// Nodes in the subtree (for the alias budget).
    size: usize,
    /// Nesting depth of the subtree (1 for a scalar).
    depth: usize,
    /// A plain `<<` (or `!!merge <<`): a merge key when used as a key.
    merge: bool,
    /// A scalar that is a string for yaml.v3 (not a timestamp or uint64 kept as text).
    string_key: bool,
}

enum PendingKey {
    Str(String),
    Merge,
}

struct MapFrame {
    entries: Map,
    key: Option<(PendingKey, u32)>,
    /// Line of the `<<` key, for the duplicate-key check.
    merge_line: Option<u32>,
    merges: Vec<Map>,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map(MapFrame),
}

struct Frame {
    kind: FrameKind,
    pos: Pos,
    tag: Tag,
    anchor: usize,
    size: usize,
    depth: usize,
}

struct Anchored {
    node: Node,
    size: usize,
    depth: usize,
}

struct Builder<'a> {
    src: &'a str,
    file: Arc<str>,
    anchors: HashMap<usize, Anchored>,
    /// Where each anchor was referenced, as compose-go's reset pass names paths.
    alias_sites: HashMap<usize, Vec<String>>,
    frames: Vec<Frame>,
    root: Option<Node>,
    total: usize,
    /// The source split in lines, made when a block scalar needs it.
    lines: Option<Vec<&'a str>>,
}

impl<'a> Builder<'a> {
    fn new(src: &'a str, file: &Arc<str>) -> Self {
        Builder {
            src,
            file: file.clone(),
            anchors: HashMap::new(),
            alias_sites: HashMap::new(),
            frames: Vec::new(),
            root: None,
            total: 0,
            lines: None,
        }
    }

    fn pos(&self, span: &Span) -> Pos {
        Pos::new(&self.file, to_line(span.start.line()))
    }

    /// saphyr places a block scalar at its first content line; yaml.v3 at its `|` or `>`
    /// header, the last non-blank line before the content.
    fn block_header_line(&mut self, content_line: u32) -> u32 {
        let src = self.src;
        let lines = self.lines.get_or_insert_with(|| src.lines().collect());
        let mut l = content_line.saturating_sub(1) as usize;
        while l > 1 && lines.get(l - 1).is_some_and(|t| t.trim().is_empty()) {
            l -= 1;
        }
        match lines.get(l.wrapping_sub(1)) {
            Some(t) if l >= 1 && t.contains(['|', '>']) => to_line(l),
            _ => content_line,
        }
    }

    fn err(&self, line: u32, msg: impl Into<String>) -> Error {
        Error::at_pos(&Pos::new(&self.file, line), &KeyPath::root(), msg)
    }

    fn document(&mut self, events: Vec<(Event, Span)>) -> Result<Node> {
        self.frames.clear();
        self.root = None;
        self.total = 0;
        let mut doc_line = 1;
        for (i, (ev, span)) in events.into_iter().enumerate() {
            if i == 0 {
                doc_line = to_line(span.start.line());
            }
            self.event(ev, &span)?;
        }
        Ok(self
            .root
            .take()
            .unwrap_or_else(|| Node::new(Value::Null, Pos::new(&self.file, doc_line))))
    }

    fn count(&mut self, n: usize, line: u32) -> Result<()> {
        self.total = self.total.saturating_add(n);
        if self.total > MAX_NODES {
            return Err(self.err(line, "yaml: document contains excessive aliasing"));
        }
        Ok(())
    }

    fn event(&mut self, ev: Event, span: &Span) -> Result<()> {
        let pos = self.pos(span);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, pos.line)?;
                let mut pos = pos;
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    pos.line = self.block_header_line(pos.line);
                }
                let (v, tag, merge, string_key) = resolve_scalar(&text, style, tag.as_deref())
                    .map_err(|m| self.err(pos.line, m))?;
                let node = Node { v, pos, tag };
                if anchor > 0 {
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            node: node.clone(),
                            size: 1,
                            depth: 1,
                        },
                    );
                }
                self.push(Built {
                    node,
                    size: 1,
                    depth: 1,
                    merge,
                    string_key,
                })
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(FrameKind::Seq(Vec::new()), pos, anchor, tag.as_deref())
            }
            Event::MappingStart(anchor, tag) => {
                let frame = MapFrame {
                    entries: Map::new(),
                    key: None,
                    merge_line: None,
                    merges: Vec::new(),
                };
                self.open(FrameKind::Map(frame), pos, anchor, tag.as_deref())
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => {
                self.check_alias_cycle(id, pos.line)?;
                let Some(a) = self.anchors.get(&id) else {
                    let name: String = self
                        .src
                        .chars()
                        .skip(span.start.index() + 1)
                        .take(span.len().saturating_sub(1))
                        .collect();
                    return Err(self.err(
                        pos.line,
                        format!("yaml: anchor '{name}' value contains itself"),
                    ));
                };
                let (size, depth) = (a.size, a.depth);
                if self.frames.len() + depth > MAX_DEPTH {
                    return Err(
                        self.err(pos.line, format!("yaml: exceeded max depth of {MAX_DEPTH}"))
                    );
                }
                self.count(size, pos.line)?;
                let Some(a) = self.anchors.get(&id) else {
                    return Ok(());
                };
                let mut node = a.node.clone();
                strip_tags(&mut node);
                node.pos = pos;
                self.push(Built {
                    node,
                    size,
                    depth,
                    merge: false,
                    string_key: true,
                })
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
        }
    }

    fn open(
        &mut self,
        kind: FrameKind,
        pos: Pos,
        anchor: usize,
        tag: Option<&YamlTag>,
    ) -> Result<()> {
        self.count(1, pos.line)?;
        if self.frames.len() + 1 > MAX_DEPTH {
            return Err(self.err(pos.line, format!("yaml: exceeded max depth of {MAX_DEPTH}")));
        }
        let tag = match classify(tag) {
            TagKind::Reset => Tag::Reset,
            TagKind::Override => Tag::Override,
            _ => Tag::None,
        };
        self.frames.push(Frame {
            kind,
            pos,
            tag,
            anchor,
            size: 1,
            depth: 1,
        });
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        let Some(frame) = self.frames.pop() else {
            return Ok(());
        };
        let v = match frame.kind {
            FrameKind::Seq(items) => Value::Seq(items),
            FrameKind::Map(m) => Value::Map(apply_merges(m)),
        };
        let node = Node {
            v,
            pos: frame.pos,
            tag: frame.tag,
        };
        if frame.anchor > 0 {
            // keeping the anchored copy costs as much as making one
            self.count(frame.size, node.pos.line)?;
            self.anchors.insert(
                frame.anchor,
                Anchored {
                    node: node.clone(),
                    size: frame.size,
                    depth: frame.depth,
                },
            );
        }
        self.push(Built {
            node,
            size: frame.size,
            depth: frame.depth,
            merge: false,
            string_key: false,
        })
    }

    /// The path of the node being read, as compose-go's reset pass spells it: keys and indexes
    /// joined by `.`, with the first `.<<` left out.
    fn go_path(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for f in &self.frames {
            match &f.kind {
                FrameKind::Seq(items) => parts.push(items.len().to_string()),
                FrameKind::Map(m) => match &m.key {
                    Some((PendingKey::Str(k), _)) => parts.push(k.clone()),
                    Some((PendingKey::Merge, _)) => parts.push("<<".into()),
                    None => {}
                },
            }
        }
        let joined = parts.join(".");
        joined.replacen(".<<", "", 1)
    }

    /// compose-go refuses an anchor referenced from two paths where one lies inside the other
    /// (within one service), calling it a cycle; berth does the same so it rejects what Compose
    /// rejects.
    fn check_alias_cycle(&mut self, id: usize, line: u32) -> Result<()> {
        let here = self.go_path();
        let seen = self.alias_sites.entry(id).or_default();
        for prev in seen.iter() {
            if *prev == here || prev.contains("<<") || here.contains("<<") {
                continue;
            }
            let nested =
                here.starts_with(&format!("{prev}.")) || prev.starts_with(&format!("{here}."));
            if nested && !in_different_services(&here, prev) {
                let msg =
                    format!("cycle detected: node at path {here} references node at path {prev}");
                return Err(self.err(line, msg));
            }
        }
        seen.push(here);
        Ok(())
    }

    /// The path of the collection `frames[upto]`, as compose names it in messages.
    fn path(&self, upto: usize) -> KeyPath {
        let mut p = KeyPath::root();
        for f in &self.frames[..upto] {
            match &f.kind {
                FrameKind::Seq(items) => p = p.index(items.len()),
                FrameKind::Map(m) => {
                    if let Some((PendingKey::Str(k), _)) = &m.key {
                        p = p.key(k);
                    }
                }
            }
        }
        p
    }

    fn push(&mut self, b: Built) -> Result<()> {
        let n = self.frames.len();
        if n == 0 {
            self.root = Some(b.node);
            return Ok(());
        }
        let (size, depth) = (b.size, b.depth);
        let key_error = {
            let frame = &self.frames[n - 1];
            match &frame.kind {
                FrameKind::Map(m) if m.key.is_none() => key_problem(&b),
                _ => None,
            }
        };
        if let Some(shown) = key_error {
            let path = self.path(n - 1);
            let msg = match shown {
                KeyProblem::Collection(k) => format!("yaml: invalid map key: {k}"),
                KeyProblem::NotString(k) if path.is_empty() => {
                    format!("Non-string key at top level: {k}")
                }
                KeyProblem::NotString(k) => format!("Non-string key in {path}: {k}"),
            };
            return Err(self.err(b.node.pos.line, msg));
        }
        let file = self.file.clone();
        let Some(frame) = self.frames.last_mut() else {
            return Ok(());
        };
        frame.size = frame.size.saturating_add(size);
        frame.depth = frame.depth.max(depth + 1);
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(b.node),
            FrameKind::Map(m) => match m.key.take() {
                None => {
                    let line = b.node.pos.line;
                    let key = if b.merge {
                        PendingKey::Merge
                    } else {
                        match b.node.v {
                            Value::Str(s) => PendingKey::Str(s),
                            _ => return Ok(()), // rejected above
                        }
                    };
                    m.key = Some((key, line));
                }
                Some((key, line)) => {
                    let mut value = b.node;
                    value.pos = Pos::new(&file, line);
                    let dup = |prev: u32, k: &str| {
                        Error::at_pos(
                            &Pos::new(&file, line),
                            &KeyPath::root(),
                            format!("mapping key {k:?} already defined at line {prev}"),
                        )
                    };
                    match key {
                        PendingKey::Merge => {
                            if let Some(prev) = m.merge_line {
                                return Err(dup(prev, "<<"));
                            }
                            m.merge_line = Some(line);
                            if value.tag == Tag::Reset {
                                // compose-go drops the whole `<<: !reset ...` pair
                                return Ok(());
                            }
                            let sources = merge_sources(value).ok_or_else(|| {
                                Error::at_pos(
                                    &Pos::new(&file, line),
                                    &KeyPath::root(),
                                    format!("yaml: {MERGE_ERROR}"),
                                )
                            })?;
                            m.merges.extend(sources);
                        }
                        PendingKey::Str(k) => insert_entry(&mut m.entries, k, value, dup)?,
                    }
                }
            },
        }
        Ok(())
    }
}

/// Stores `k: value`, applying yaml.v3's duplicate-key rule as compose-go sees it (entries
/// tagged `!reset` are removed before the check).
fn insert_entry(
    entries: &mut Map,
    k: String,
    mut value: Node,
    dup: impl Fn(u32, &str) -> Error,
) -> Result<()> {
    match entries.get_mut(&k) {
        None => {
            entries.insert(k, value);
        }
        Some(prev) => match (prev.tag == Tag::Reset, value.tag == Tag::Reset) {
            (false, false) => return Err(dup(prev.pos.line, &k)),
            (true, true) => *prev = value,
            (true, false) => {
                value.tag = Tag::Override;
                *prev = value;
            }
            (false, true) => prev.tag = Tag::Override,
        },
    }
    Ok(())
}

/// The mappings a `<<` value merges in, or None when it is not a map or a sequence of maps.
/// An alias to a sequence of maps is accepted too: yaml.v3 v3.0.1 refuses it, but Docker Compose
/// 2.26.1 as recorded in the corpus (`cg-merge-key-alias-targets-*`) merges it.
fn merge_sources(value: Node) -> Option<Vec<Map>> {
    match value.v {
        Value::Map(mut m) => {
            strip_map(&mut m);
            Some(vec![m])
        }
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                if item.tag == Tag::Reset {
                    continue;
                }
                match item.v {
                    Value::Map(mut m) => {
                        strip_map(&mut m);
                        out.push(m);
                    }
                    _ => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// Adds the merged keys after the explicit ones: explicit keys win, then earlier sources.
fn apply_merges(frame: MapFrame) -> Map {
    let mut entries = frame.entries;
    for source in frame.merges {
        for (k, v) in source {
            match entries.get_mut(&k) {
                None => {
                    entries.insert(k, v);
                }
                Some(prev) if prev.tag == Tag::Reset => {
                    let mut v = v;
                    v.tag = Tag::Override;
                    *prev = v;
                }
                Some(_) => {}
            }
        }
    }
    entries
}

/// Whether two dotted paths name different services (`services.<a>...` vs `services.<b>...`).
fn in_different_services(a: &str, b: &str) -> bool {
    let pa: Vec<&str> = a.split('.').collect();
    let pb: Vec<&str> = b.split('.').collect();
    for i in 0..pa.len().min(pb.len()) {
        if pa[i] == "services" && i + 1 < pa.len() && pb[i] == "services" && i + 1 < pb.len() {
            return pa[i + 1] != pb[i + 1];
        }
    }
    false
}

/// A copy (alias or merge source) loses the `!reset` nodes inside the original: compose-go's
/// reset pass removes them from the shared node the first time it meets it, so later copies never
/// see them. `!override` tags and the copy's own tag stay: each visit of the shared node records
/// its path again.
fn strip_tags(n: &mut Node) {
    match &mut n.v {
        Value::Map(m) => strip_map(m),
        Value::Seq(s) => {
            s.retain(|c| c.tag != Tag::Reset);
            s.iter_mut().for_each(strip_tags);
        }
        _ => {}
    }
}

fn strip_map(m: &mut Map) {
    m.retain(|_, c| c.tag != Tag::Reset);
    m.values_mut().for_each(strip_tags);
}

enum KeyProblem {
    Collection(String),
    NotString(String),
}

/// Why a completed node cannot be a mapping key, shown as Go's `%#v` would show it.
fn key_problem(b: &Built) -> Option<KeyProblem> {
    if b.merge {
        return None;
    }
    match &b.node.v {
        Value::Str(_) if b.string_key => None,
        Value::Str(s) => Some(KeyProblem::NotString(s.clone())),
        Value::Null => Some(KeyProblem::NotString("<nil>".into())),
        Value::Bool(x) => Some(KeyProblem::NotString(x.to_string())),
        Value::Int(i) => Some(KeyProblem::NotString(i.to_string())),
        Value::Float(f) => Some(KeyProblem::NotString(format_g(*f, false))),
        Value::Seq(_) => Some(KeyProblem::Collection("[]interface {}".into())),
        Value::Map(_) => Some(KeyProblem::Collection("map[string]interface {}".into())),
    }
}

/// What a tag means to yaml.v3 and compose-go.
#[derive(Debug, PartialEq)]
enum TagKind {
    /// No tag, or the non-specific `!`.
    None,
    Reset,
    Override,
    /// A `tag:yaml.org,2002:` tag, by its short name (`str`, `int`, ...).
    Core(String),
    Other,
}

const CORE_PREFIX: &str = "tag:yaml.org,2002:";

fn classify(tag: Option<&YamlTag>) -> TagKind {
    let Some(t) = tag else {
        return TagKind::None;
    };
    match (t.handle.as_str(), t.suffix.as_str()) {
        ("", "!") | ("!", "") => TagKind::None,
        ("!", "reset") => TagKind::Reset,
        ("!", "override") => TagKind::Override,
        (CORE_PREFIX, s) => TagKind::Core(s.to_string()),
        ("!!", s) => TagKind::Core(s.to_string()),
        ("", s) => match s.strip_prefix(CORE_PREFIX) {
            Some(short) => TagKind::Core(short.to_string()),
            None if s == "!reset" => TagKind::Reset,
            None if s == "!override" => TagKind::Override,
            None => TagKind::Other,
        },
        _ => TagKind::Other,
    }
}

/// A plain scalar as yaml.v3 resolves it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// Above `i64::MAX`: yaml.v3 keeps a `uint64`.
    Uint(u64),
    Float(f64),
    Timestamp,
    Str,
}

impl Resolved {
    fn short_tag(&self) -> &'static str {
        match self {
            Resolved::Null => "null",
            Resolved::Bool(_) => "bool",
            Resolved::Int(_) | Resolved::Uint(_) => "int",
            Resolved::Float(_) => "float",
            Resolved::Timestamp => "timestamp",
            Resolved::Str => "str",
        }
    }
    fn into_value(self, text: &str) -> Value {
        match self {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Int(i),
            Resolved::Uint(u) => Value::Str(u.to_string()),
            Resolved::Float(f) => Value::Float(f),
            Resolved::Timestamp | Resolved::Str => Value::Str(text.to_string()),
        }
    }
}

/// Returns the value, the compose tag, whether it is a merge key, and whether yaml.v3 sees a
/// string (usable as a mapping key).
fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&YamlTag>,
) -> std::result::Result<(Value, Tag, bool, bool), String> {
    let plain = style == ScalarStyle::Plain;
    let untagged = |t: Tag| {
        if plain {
            let r = resolve_plain(text);
            let is_str = r == Resolved::Str;
            (
                r.into_value(text),
                t,
                text == "<<" && t == Tag::None,
                is_str,
            )
        } else {
            (Value::Str(text.to_string()), t, false, true)
        }
    };
    Ok(match classify(tag) {
        TagKind::None => untagged(Tag::None),
        TagKind::Reset => untagged(Tag::Reset),
        // yaml.v3 cannot resolve a custom tag and leaves the text as a string
        TagKind::Override => (Value::Str(text.to_string()), Tag::Override, false, true),
        TagKind::Other => (Value::Str(text.to_string()), Tag::None, false, true),
        TagKind::Core(name) => match name.as_str() {
            "str" => (Value::Str(text.to_string()), Tag::None, false, true),
            "merge" => (Value::Str(text.to_string()), Tag::None, text == "<<", true),
            "binary" => match decode_base64(text) {
                Some(bytes) => (
                    Value::Str(String::from_utf8_lossy(&bytes).into_owned()),
                    Tag::None,
                    false,
                    true,
                ),
                None => return Err("yaml: !!binary value contains invalid base64 data".into()),
            },
            "null" | "bool" | "int" | "float" | "timestamp" => {
                let r = resolve_plain(text);
                let got = r.short_tag();
                let r = match (name.as_str(), r) {
                    (want, r) if want == got => r,
                    ("float", Resolved::Int(i)) => Resolved::Float(i as f64),
                    ("float", Resolved::Uint(u)) => Resolved::Float(u as f64),
                    (want, _) => {
                        return Err(format!(
                            "yaml: cannot decode !!{got} `{text}` as a !!{want}"
                        ))
                    }
                };
                // explicitly typed: never a string key (a timestamp is a time.Time for yaml.v3)
                (r.into_value(text), Tag::None, false, false)
            }
            _ => (Value::Str(text.to_string()), Tag::None, false, true),
        },
    })
}

/// yaml.v3's `resolve("", s)` for a plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => match go_parse_float(s) {
            Some(f) => Resolved::Float(f),
            None => Resolved::Str,
        },
        b'+' | b'-' | b'0'..=b'9' => resolve_number(s),
        _ => Resolved::Str,
    }
}

fn resolve_number(s: &str) -> Resolved {
    if is_timestamp(s) {
        return Resolved::Timestamp;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    if let Some(i) = go_parse_int(&plain) {
        return Resolved::Int(i);
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Resolved::Uint(u);
    }
    if is_yaml_float(&plain) {
        if let Some(f) = go_parse_float(&plain) {
            return Resolved::Float(f);
        }
    }
    // yaml.v3 retries 0b/0o forms, which Go's base-0 parse has already covered
    Resolved::Str
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseUint(s, 0, 64)` on a string without underscores.
fn go_parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (base, digits) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &s[2..]),
            Some(b'o') if b.len() >= 3 => (8, &s[2..]),
            Some(b'x') if b.len() >= 3 => (16, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Go's `strconv.ParseInt(s, 0, 64)` on a string without underscores.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(rest)?;
    if neg {
        if u <= i64::MAX as u64 {
            Some(-(u as i64))
        } else if u == i64::MAX as u64 + 1 {
            Some(i64::MIN)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: underscores only between digits, and an
/// out-of-range value is an error.
fn go_parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut mant = 0;
    let mut seen_dot = false;
    let mut prev = b'^';
    while i < b.len() {
        let c = b[i];
        match c {
            b'0'..=b'9' => mant += 1,
            b'.' if !seen_dot => seen_dot = true,
            b'_' if prev.is_ascii_digit() => {}
            b'e' | b'E' => break,
            _ => return None,
        }
        if prev == b'_' && !c.is_ascii_digit() {
            return None;
        }
        prev = c;
        i += 1;
    }
    if mant == 0 || prev == b'_' {
        return None;
    }
    if i < b.len() {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        let mut prev = b'^';
        while i < b.len() {
            let c = b[i];
            match c {
                b'0'..=b'9' => {}
                b'_' if prev.is_ascii_digit() => {}
                _ => return None,
            }
            prev = c;
            i += 1;
        }
        if i == start || prev == b'_' {
            return None;
        }
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let f: f64 = clean.parse().ok()?;
    f.is_finite().then_some(f)
}

/// Whether yaml.v3 reads `s` as a timestamp (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00`,
/// the same with `t`, or `2006-1-2 15:4:5.999999999`).
pub(crate) fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let year: u32 = s[..4].parse().unwrap_or(0);
    let mut i = 5;
    // Go's non-fixed numbers: one digit, or two when the second is a digit
    let num = |i: &mut usize| -> Option<u32> {
        let d0 = *b.get(*i).filter(|c| c.is_ascii_digit())?;
        *i += 1;
        let mut n = u32::from(d0 - b'0');
        if let Some(d1) = b.get(*i).filter(|c| c.is_ascii_digit()) {
            n = n * 10 + u32::from(d1 - b'0');
            *i += 1;
        }
        Some(n)
    };
    let eat = |i: &mut usize, c: u8| -> Option<()> { (b.get(*i) == Some(&c)).then(|| *i += 1) };
    let mut check = || -> Option<()> {
        let month = num(&mut i)?;
        eat(&mut i, b'-')?;
        let day = num(&mut i)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
            return None;
        }
        if i == b.len() {
            return Some(());
        }
        let sep = b[i];
        if sep != b'T' && sep != b't' && sep != b' ' {
            return None;
        }
        i += 1;
        let h = num(&mut i)?;
        eat(&mut i, b':')?;
        let m = num(&mut i)?;
        eat(&mut i, b':')?;
        let sec = num(&mut i)?;
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
        if i + 1 < b.len() && (b[i] == b'.' || b[i] == b',') && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if sep == b' ' {
            return (i == b.len()).then_some(());
        }
        // Z07:00
        match b.get(i) {
            Some(b'Z') => (i + 1 == b.len()).then_some(()),
            Some(b'+') | Some(b'-') => {
                let rest = &b[i + 1..];
                let ok = rest.len() == 5
                    && rest[0].is_ascii_digit()
                    && rest[1].is_ascii_digit()
                    && rest[2] == b':'
                    && rest[3].is_ascii_digit()
                    && rest[4].is_ascii_digit();
                let hh = rest.first().map_or(0, |c| c.wrapping_sub(b'0')) * 10
                    + rest.get(1).map_or(0, |c| c.wrapping_sub(b'0'));
                (ok && hh <= 24).then_some(())
            }
            _ => None,
        }
    };
    check().is_some()
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `base64.StdEncoding.DecodeString`, which skips line breaks.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'\n' && c != b'\r').collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let chunks = clean.len() / 4;
    for (ci, chunk) in clean.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && ci + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64 or 32)` (`%v` of a float).
pub(crate) fn format_g(f: f64, is_f32: bool) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f, is_f32);
    if digits == "0" {
        return if neg { "-0".into() } else { "0".into() };
    }
    // exp is the decimal exponent of the first digit; with the shortest digits strconv
    // switches to %e below 1e-4 and from 1e6 on (its precision is taken as 6)
    let body = if !(-4..6).contains(&exp) {
        sci(&digits, exp)
    } else {
        fixed(&digits, exp)
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

fn sci(digits: &str, exp: i32) -> String {
    let mut s = String::new();
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        s.push('0');
    }
    s.push_str(&e.to_string());
    s
}

fn fixed(digits: &str, exp: i32) -> String {
    let nd = digits.len() as i32;
    if exp < 0 {
        let zeros = (-exp - 1) as usize;
        format!("0.{}{}", "0".repeat(zeros), digits)
    } else if exp + 1 >= nd {
        format!("{}{}", digits, "0".repeat((exp + 1 - nd) as usize))
    } else {
        let p = (exp + 1) as usize;
        format!("{}.{}", &digits[..p], &digits[p..])
    }
}

/// The shortest decimal digits that read back as `f` (as f32 when `is_f32`), with the exponent
/// of the first digit.
pub(crate) fn shortest_digits(f: f64, is_f32: bool) -> (bool, String, i32) {
    let s = if is_f32 {
        format!("{:e}", f as f32)
    } else {
        format!("{f:e}")
    };
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.as_str()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (neg, digits, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<str> {
        Arc::from("compose.yaml")
    }

    fn one(src: &str) -> Node {
        let mut docs = parse(src, &file()).unwrap();
        assert_eq!(docs.len(), 1, "{src}");
        docs.remove(0)
    }

    fn err(src: &str) -> String {
        parse(src, &file()).unwrap_err().to_string()
    }

    /// The value of `v: <text>`.
    fn val(text: &str) -> Value {
        one(&format!("v: {text}\n")).get("v").unwrap().v.clone()
    }

    #[test]
    fn null_and_bool_spellings() {
        for t in ["~", "null", "Null", "NULL", ""] {
            assert_eq!(val(t), Value::Null, "{t}");
        }
        for t in ["true", "True", "TRUE"] {
            assert_eq!(val(t), Value::Bool(true));
        }
        for t in ["false", "False", "FALSE"] {
            assert_eq!(val(t), Value::Bool(false));
        }
        for t in ["yes", "no", "on", "off", "y", "n", "tRUE", "nULL"] {
            assert_eq!(val(t), Value::Str(t.into()), "{t}");
        }
    }

    #[test]
    fn integers_as_yaml_v3_reads_them() {
        let cases = [
            ("8080", 8080),
            ("-12", -12),
            ("+5", 5),
            ("0x1F", 31),
            ("0X1f", 31),
            ("-0x10", -16),
            ("0o17", 15),
            ("0b101", 5),
            ("0755", 493),
            ("1_000", 1000),
            ("0", 0),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (t, want) in cases {
            assert_eq!(val(t), Value::Int(want), "{t}");
        }
        // not octal, so Go's int parse fails and the float pattern takes it
        assert_eq!(val("08"), Value::Float(8.0));
        assert_eq!(val("0x"), Value::Str("0x".into()));
        assert_eq!(val("1_"), Value::Int(1));
        assert_eq!(val("_1"), Value::Str("_1".into()));
        assert_eq!(val("80:80"), Value::Str("80:80".into()));
    }

    #[test]
    fn integers_beyond_i64() {
        // uint64 for yaml.v3: kept as its digits
        assert_eq!(
            val("9223372036854775808"),
            Value::Str("9223372036854775808".into())
        );
        assert_eq!(
            val("18446744073709551615"),
            Value::Str("18446744073709551615".into())
        );
        // beyond uint64: a float
        assert_eq!(
            val("18446744073709551616"),
            Value::Float(18446744073709551616.0)
        );
        assert_eq!(
            val("-9223372036854775809"),
            Value::Float(-9223372036854775809.0)
        );
    }

    #[test]
    fn floats_as_yaml_v3_reads_them() {
        assert_eq!(val("1.5"), Value::Float(1.5));
        assert_eq!(val(".5"), Value::Float(0.5));
        assert_eq!(val("1."), Value::Float(1.0));
        assert_eq!(val("1e3"), Value::Float(1000.0));
        assert_eq!(val("-1.5E-3"), Value::Float(-0.0015));
        assert_eq!(val(".inf"), Value::Float(f64::INFINITY));
        assert_eq!(val("-.Inf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(val(".nan"), Value::Float(f) if f.is_nan()));
        // out of range for ParseFloat: stays text
        assert_eq!(val("1e400"), Value::Str("1e400".into()));
        assert_eq!(val("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(val("inf"), Value::Str("inf".into()));
        assert_eq!(val("+.5"), Value::Float(0.5));
        assert_eq!(val("._5"), Value::Str("._5".into()));
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        assert_eq!(val("\"8080\""), Value::Str("8080".into()));
        assert_eq!(val("'true'"), Value::Str("true".into()));
        assert_eq!(val("''"), Value::Str(String::new()));
        assert_eq!(val("\"~\""), Value::Str("~".into()));
        let n = one("v: |\n  123\n");
        assert_eq!(n.get("v").unwrap().v, Value::Str("123\n".into()));
    }

    #[test]
    fn timestamps_stay_text() {
        assert!(is_timestamp("2001-12-14"));
        assert!(is_timestamp("2001-12-14t21:59:43.10Z"));
        assert!(is_timestamp("2001-12-14T21:59:43+05:00"));
        assert!(is_timestamp("2001-1-4 1:2:3"));
        assert!(!is_timestamp("2001-13-14"));
        assert!(!is_timestamp("2001-02-30"));
        assert!(!is_timestamp("2001-12-14 21:59:43.10 -5"));
        assert_eq!(val("2001-12-14"), Value::Str("2001-12-14".into()));
        let e = err("2001-12-14: x\n");
        assert!(e.contains("Non-string key at top level"), "{e}");
    }

    #[test]
    fn explicit_core_tags() {
        assert_eq!(val("!!str 5"), Value::Str("5".into()));
        assert_eq!(val("!!str"), Value::Str(String::new()));
        assert_eq!(val("!!int \"5\""), Value::Int(5));
        assert_eq!(val("!!float 1"), Value::Float(1.0));
        assert_eq!(val("!!bool true"), Value::Bool(true));
        assert_eq!(val("!!null ~"), Value::Null);
        assert_eq!(val("!<tag:yaml.org,2002:int> '7'"), Value::Int(7));
        assert_eq!(val("!!binary aGVsbG8="), Value::Str("hello".into()));
        assert_eq!(val("!custom 5"), Value::Str("5".into()));
        assert_eq!(val("! 5"), Value::Int(5));
        assert_eq!(
            err("v: !!int abc\n"),
            "compose.yaml:1: yaml: cannot decode !!str `abc` as a !!int"
        );
        assert_eq!(
            err("v: !!bool yes\n"),
            "compose.yaml:1: yaml: cannot decode !!str `yes` as a !!bool"
        );
        assert!(err("v: !!binary a$==\n").contains("invalid base64"));
    }

    #[test]
    fn values_carry_the_line_of_their_key() {
        let src =
            "services:\n  web:\n    ports:\n      - 80\n\n      - 81\n    image:\n      nginx\n";
        let n = one(src);
        let web = n.get("services").unwrap().get("web").unwrap();
        assert_eq!(web.pos.line, 2);
        let ports = web.get("ports").unwrap();
        assert_eq!(ports.pos.line, 3);
        let items = ports.as_seq().unwrap();
        assert_eq!((items[0].pos.line, items[1].pos.line), (4, 6));
        assert_eq!(web.get("image").unwrap().pos.line, 7);
        // a block scalar item sits at its `|` line, as in yaml.v3
        let n = one("cmd:\n  - x\n  - |\n\n    text\n  - >-\n    folded\n");
        let items = n.get("cmd").unwrap().as_seq().unwrap();
        assert_eq!((items[1].pos.line, items[2].pos.line), (3, 6));
        assert_eq!(&*web.pos.file, "compose.yaml");
    }

    #[test]
    fn alias_is_a_deep_copy_placed_at_the_alias() {
        let src = "x-base: &base\n  image: nginx\n  ports: [80]\nservices:\n  a: *base\n  b:\n    nested: *base\n";
        let n = one(src);
        let svcs = n.get("services").unwrap();
        let a = svcs.get("a").unwrap();
        assert_eq!(a.v, n.get("x-base").unwrap().v);
        assert_eq!(a.pos.line, 5);
        // inner nodes keep the anchored position
        assert_eq!(a.get("image").unwrap().pos.line, 2);
        assert_eq!(svcs.get("b").unwrap().get("nested").unwrap().pos.line, 7);
        let scalar = one("a: &x 5\nb: *x\n");
        assert_eq!(scalar.get("b").unwrap().v, Value::Int(5));
    }

    #[test]
    fn merge_keys() {
        let src = "x-a: &a {image: a, user: a, tty: true}\nx-b: &b {image: b, init: b, user: b}\nservices:\n  s:\n    <<: [*a, *b]\n    image: own\n";
        let n = one(src);
        let s = n
            .get("services")
            .unwrap()
            .get("s")
            .unwrap()
            .as_map()
            .unwrap();
        let keys: Vec<&str> = s.keys().map(String::as_str).collect();
        assert_eq!(keys, ["image", "user", "tty", "init"]);
        assert_eq!(s["image"].as_str(), Some("own"));
        assert_eq!(s["user"].as_str(), Some("a"));
        assert_eq!(s["init"].as_str(), Some("b"));
        // a single map, inline
        let n = one("s:\n  <<: {a: 1, b: 2}\n  b: 3\n");
        let s = n.get("s").unwrap();
        assert_eq!(s.get("a").unwrap().v, Value::Int(1));
        assert_eq!(s.get("b").unwrap().v, Value::Int(3));
        // nested merges: the source's own keys beat its merges
        let n = one("x: &x {a: 1}\ny: &y {<<: *x, a: 2, b: 2}\nz:\n  <<: *y\n");
        let z = n.get("z").unwrap();
        assert_eq!(z.get("a").unwrap().v, Value::Int(2));
        // a quoted "<<" is an ordinary key
        let n = one("\"<<\": 1\n");
        assert!(n.get("<<").is_some());
    }

    #[test]
    fn merge_key_errors() {
        // corpus: cg-merge-key-alias-to-scalar-rejected
        let src = "\nname: test\nx-scalar: &s \"not-a-map\"\nservices:\n  s1:\n    <<: *s\n";
        assert_eq!(
            err(src),
            "compose.yaml:6: yaml: map merge requires map or sequence of maps as the value"
        );
        assert!(err("a:\n  <<: [1]\n").contains("map merge requires"));
        assert!(err("a:\n  <<:\n").contains("map merge requires"));
        assert!(err("a:\n  <<: {x: 1}\n  <<: {y: 1}\n")
            .contains("mapping key \"<<\" already defined at line 2"));
    }

    #[test]
    fn merge_of_an_alias_to_a_sequence_of_maps() {
        // corpus: cg-merge-key-alias-targets-3 (accepted by the recorded Docker Compose)
        let src = "x-list: &alist\n  - image: nginx\n    restart: unless-stopped\nservices:\n  s1:\n    <<: *alist\n";
        let n = one(src);
        let s1 = n.get("services").unwrap().get("s1").unwrap();
        assert_eq!(s1.get("image").unwrap().as_str(), Some("nginx"));
        assert_eq!(s1.get("restart").unwrap().as_str(), Some("unless-stopped"));
    }

    #[test]
    fn reset_and_override_tags() {
        let n = one("a: !reset\nb: !reset []\nc: !override [1]\nd: !override 5\ne: !reset 5\n");
        let a = n.get("a").unwrap();
        assert_eq!((a.tag, &a.v), (Tag::Reset, &Value::Null));
        assert_eq!(n.get("b").unwrap().tag, Tag::Reset);
        assert_eq!(n.get("b").unwrap().v, Value::Seq(vec![]));
        let c = n.get("c").unwrap();
        assert_eq!(c.tag, Tag::Override);
        assert_eq!(c.as_seq().unwrap()[0].v, Value::Int(1));
        // yaml.v3 cannot resolve a scalar under a custom tag: it stays text
        assert_eq!(n.get("d").unwrap().v, Value::Str("5".into()));
        assert_eq!(n.get("d").unwrap().tag, Tag::Override);
        assert_eq!(n.get("e").unwrap().v, Value::Int(5));
        assert_eq!(n.get("e").unwrap().tag, Tag::Reset);
    }

    #[test]
    fn copies_lose_reset_children_and_keep_override_tags() {
        // corpus: cg-nested-alias-reset-2--nc
        let src = "x-inner: &inner\n  ports: !reset []\n\nx-outer: &outer\n  <<: *inner\n\nservices:\n  svc:\n    <<: *outer\n";
        let n = one(src);
        assert_eq!(
            n.get("x-inner").unwrap().get("ports").unwrap().tag,
            Tag::Reset
        );
        assert_eq!(n.get("x-outer").unwrap().as_map().unwrap().len(), 0);
        let svc = n.get("services").unwrap().get("svc").unwrap();
        assert_eq!(svc.as_map().unwrap().len(), 0);
        // corpus: cg-override-tag-with-shared-alias-2
        let n = one("x-override: &ov !override {}\nnetworks:\n  net1: *ov\n");
        assert_eq!(n.get("x-override").unwrap().tag, Tag::Override);
        assert_eq!(
            n.get("networks").unwrap().get("net1").unwrap().tag,
            Tag::Override
        );
    }

    #[test]
    fn nested_alias_sites_are_a_cycle_as_compose_sees_it() {
        // corpus: cg-reset-cycle-5 (compose-go splits keys on dots when comparing paths)
        let src = "services:\n  test.unit: &shared\n    image: alpine\n  test: *shared\n  test.other: *shared\n";
        let e = parse(src, &Arc::from("compose.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "compose.yaml:5: cycle detected: node at path services.test.other references node at path services.test"
        );
        // the same anchor used by sibling services is fine
        let ok = "x: &a {image: alpine}\nservices:\n  a: *a\n  b: *a\n";
        assert!(parse(ok, &Arc::from("compose.yaml")).is_ok());
    }

    #[test]
    fn reset_does_not_count_as_a_duplicate() {
        // corpus: cg-duplicate-reset: compose-go drops the !reset entry before the check
        let n = one("foo:\n  command: hello\n  command: !reset hello world\n");
        let c = n.get("foo").unwrap().get("command").unwrap();
        assert_eq!((c.as_str(), c.tag), (Some("hello"), Tag::Override));
        // a merged value fills a reset key, and resets what came before
        let n = one("x: &x {ports: [80]}\ns:\n  <<: *x\n  ports: !reset []\n");
        let p = n.get("s").unwrap().get("ports").unwrap();
        assert_eq!(p.tag, Tag::Override);
        assert_eq!(p.as_seq().unwrap().len(), 1);
        // `<<: !reset` drops the merge
        let n = one("s:\n  <<: !reset {a: 1}\n  b: 1\n");
        assert!(n.get("s").unwrap().get("a").is_none());
    }

    #[test]
    fn duplicate_keys() {
        // corpus: spec-build-4
        let src = "services:\n base:\n  image: a\n\n\n\n\n\n base:\n  image: b\n";
        assert_eq!(
            err(src),
            "compose.yaml:9: mapping key \"base\" already defined at line 2"
        );
        assert!(err("a: 1\n\"a\": 2\n").contains("already defined at line 1"));
    }

    #[test]
    fn non_string_keys() {
        // corpus: cg-non-string-keys-3 and -2
        let src = "services:\n  dict-env:\n    image: busybox\n    environment:\n      1: FOO\n";
        assert_eq!(
            err(src),
            "compose.yaml:5: Non-string key in services.dict-env.environment: 1"
        );
        let src = "networks:\n  default:\n    ipam:\n      config:\n        - 123: oh dear\n";
        assert_eq!(
            err(src),
            "compose.yaml:5: Non-string key in networks.default.ipam.config[0]: 123"
        );
        assert_eq!(
            err("true: x\n"),
            "compose.yaml:1: Non-string key at top level: true"
        );
        assert_eq!(
            err("a:\n  ~: x\n"),
            "compose.yaml:2: Non-string key in a: <nil>"
        );
        assert_eq!(
            err("a:\n  1.5: x\n"),
            "compose.yaml:2: Non-string key in a: 1.5"
        );
        assert!(err("[a]: x\n").contains("invalid map key"));
        // quoted numbers and YAML 1.1 booleans are strings
        let n = one("\"1\": a\nyes: b\n");
        assert!(n.get("1").is_some() && n.get("yes").is_some());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        // corpus: cg-full-example-yaml (an unfilled %s template)
        let src = "name: x\nservices:\n  bar:\n    build:\n      context: %s\n";
        assert_eq!(
            err(src),
            "compose.yaml:5: yaml: found character that cannot start any token"
        );
        let e = parse("a:\n\tb: 1\n", &file()).unwrap_err();
        assert_eq!(e.kind, crate::model::error::ErrorKind::Invalid);
        assert_eq!(e.pos.line, 2);
        assert!(err("a: *nope\n").contains("unknown anchor 'nope' referenced"));
        assert!(err("a: b: c\n").contains("mapping values are not allowed in this context"));
        assert!(err("a: [1, 2\n").starts_with("compose.yaml:"));
        assert!(err("a: &x [*x]\n").contains("anchor 'x' value contains itself"));
    }

    #[test]
    fn documents() {
        assert!(parse("", &file()).unwrap().is_empty());
        assert!(parse("# only a comment\n", &file()).unwrap().is_empty());
        let docs = parse("---\n", &file()).unwrap();
        assert_eq!(docs.len(), 1);
        assert!(docs[0].is_null());
        // corpus: cg-load-mulmti-document-yaml
        let src = "\nname: load-multi-docs\nservices:\n  test:\n    image: nginx:latest\n---\nservices:\n  test:\n    image: nginx:override\n";
        let docs = parse(src, &file()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].get("services").unwrap().pos.line, 7);
        // anchors reach across documents, as in yaml.v3
        let docs = parse("a: &x 1\n---\nb: *x\n", &file()).unwrap();
        assert_eq!(docs[1].get("b").unwrap().v, Value::Int(1));
    }

    #[test]
    fn bom_and_crlf() {
        let n = one("\u{feff}a: 1\r\nb:\r\n  - x\r\n");
        assert_eq!(n.get("a").unwrap().v, Value::Int(1));
        assert_eq!(n.get("b").unwrap().pos.line, 2);
        assert_eq!(n.get("b").unwrap().as_seq().unwrap()[0].pos.line, 3);
    }

    #[test]
    fn tabs_as_separators() {
        // libyaml accepts a tab after the value indicator; saphyr does not, so parse() turns
        // such tabs into spaces
        assert_eq!(one("a:\t1\n").get("a").unwrap().v, Value::Int(1));
        let n = one("image:\tnginx\nlist:\n  -\tx\n  - \t y\nq: \"a:\tb\"\n");
        assert_eq!(n.get("image").unwrap().as_str(), Some("nginx"));
        let list = n.get("list").unwrap().as_seq().unwrap();
        assert_eq!((list[0].as_str(), list[1].as_str()), (Some("x"), Some("y")));
        assert_eq!(n.get("q").unwrap().as_str(), Some("a:\tb"));
        assert_eq!(one("a: x\t\n").get("a").unwrap().v, Value::Str("x".into()));
        assert_eq!(one("\u{feff}a:\tb\n").get("a").unwrap().as_str(), Some("b"));
        // indentation by tabs stays an error
        assert!(parse("a:\n\tb: 1\n", &file()).is_err());
    }

    #[test]
    fn top_level_must_be_a_mapping() {
        assert_eq!(
            parse_compose("- a\n", &file()).unwrap_err().to_string(),
            "compose.yaml:1: Top-level object must be a mapping"
        );
        assert!(parse_compose("---\n", &file()).is_err());
        assert!(parse_compose("", &file()).unwrap().is_empty());
        assert_eq!(parse_compose("a: 1\n", &file()).unwrap().len(), 1);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(err(&src).contains("excessive aliasing"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let src = "[".repeat(5000) + &"]".repeat(5000);
        // saphyr stops deep flow nesting itself
        assert!(err(&src).contains("recursion limit exceeded"));
        let src = "- ".repeat(3000) + "x\n";
        assert!(err(&src).contains("exceeded max depth"));
        let mut src = String::from("a0: &a0 [1]\n");
        for i in 1..1100 {
            src.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        assert!(err(&src).contains("exceeded max depth"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let pieces = [
            "a", ":", " ", "\n", "-", "[", "]", "{", "}", "&x", "*x", "!", "!!int", "<<", "'",
            "\"", "|", ">", "#", "%", "\t", ",", "?", "---", "...", "0x", "1e", "~", "é",
            "\u{2028}",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let _ = parse(&s, &file());
            seed = seed.wrapping_add(1);
        }
    }

    /// Every YAML file of the corpus parses, except in cases where Docker Compose fails too.
    #[test]
    fn corpus_files_parse() {
        let dir = std::path::Path::new("/work/shared/compose-corpus/cases");
        let Ok(cases) = std::fs::read_dir(dir) else {
            return;
        };
        let mut unexpected = Vec::new();
        let mut refused = 0;
        for case in cases.flatten() {
            let is_error_case = case.path().join("expected.err").exists();
            for f in std::fs::read_dir(case.path()).unwrap().flatten() {
                let name = f.file_name().to_string_lossy().to_string();
                if !(name.ends_with(".yaml") || name.ends_with(".yml"))
                    || name.starts_with("expected")
                {
                    continue;
                }
                let src = std::fs::read_to_string(f.path()).unwrap();
                let fname: Arc<str> = Arc::from(name.as_str());
                if let Err(e) = parse(&src, &fname) {
                    refused += 1;
                    if !is_error_case {
                        unexpected.push(format!("{}: {e}", case.file_name().to_string_lossy()));
                    }
                }
            }
        }
        assert!(unexpected.is_empty(), "{unexpected:#?}");
        assert!(refused >= 5);
    }
}
