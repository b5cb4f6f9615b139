//! A YAML document as a tree that keeps, for every node, where it stands in the file and the tag
//! written on it. authentik blueprints use custom tags (`!Find`, `!KeyOf`, `!Env`) that serde
//! formats cannot carry, and every error must point at file:line:column.

use std::collections::HashMap;
use std::fmt;

use granit_parser::{Event, Parser, ScalarStyle};

/// A position in the source: line and column, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A node with its position and tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The content: a scalar, a sequence or a mapping.
    pub value: Value,
    /// Where the node starts (its tag, if it has one).
    pub pos: Pos,
    /// The tag as written (`!Find`, `!!str`), if any.
    pub tag: Option<String>,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar; `plain` when unquoted (so `true`, `1`, `null` keep their YAML meaning).
    Scalar {
        /// The text after escape processing.
        text: String,
        /// Whether it was written without quotes or block style.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    /// Where in the text the error is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// The scalar's text, unless the node is a collection or null.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } if !self.is_null() => Some(text),
            _ => None,
        }
    }

    /// Whether the node is a YAML null (`~`, `null`, or empty, unquoted).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
            && self.tag.is_none()
    }

    /// A plain `true`/`false`.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A plain integer.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar { text, plain: true } => text.parse().ok(),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    /// What kind of node this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar { .. } if self.is_null() => "null",
            Value::Scalar { .. } => "a scalar",
        }
    }

    /// Converts to JSON: plain scalars keep their YAML type; tags must have been resolved.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => serde_json::Value::Null,
            Value::Scalar { text, plain } => {
                if *plain && self.tag.is_none() {
                    if let Some(b) = self.as_bool() {
                        return b.into();
                    }
                    if let Some(i) = self.as_i64() {
                        return i.into();
                    }
                    if let Ok(f) = text.parse::<f64>()
                        && f.is_finite()
                        && text.chars().any(|c| c.is_ascii_digit())
                    {
                        return serde_json::json!(f);
                    }
                }
                text.clone().into()
            }
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

/// The most bytes a YAML text may have (scenario files, configuration, blueprints).
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting of collections.
pub const MAX_DEPTH: usize = 64;
/// The most nodes a text may expand to, aliases counted as the nodes they copy: a few hundred
/// bytes of nested aliases ("billion laughs") would otherwise expand to gigabytes.
pub const MAX_NODES: usize = 100_000;

/// Why a YAML file gave no text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// It is larger than [`MAX_BYTES`].
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    /// A byte that is not UTF-8, at this place.
    #[error("{at}: the file is not UTF-8 text (byte 0x{byte:02x})")]
    NotUtf8 {
        /// Where the first bad byte is.
        at: Pos,
        /// The byte that is not valid where it is.
        byte: u8,
    },
}

impl From<ReadError> for std::io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Reads a YAML file's text: at most [`MAX_BYTES`] (a larger file is not read to its end), UTF-8.
pub fn read_file(path: &std::path::Path) -> Result<String, ReadError> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
        ReadError::NotUtf8 { at: Pos { line, col }, byte: e.as_bytes()[valid.len()] }
    })
}

/// Parses every document of a YAML stream, within [`MAX_BYTES`], [`MAX_DEPTH`] and [`MAX_NODES`].
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError {
            pos: Pos { line: 1, col: 1 },
            message: format!("the text is {} bytes, more than the {MAX_BYTES} this reads", text.len()),
        });
    }
    let mut documents = Vec::new();
    let mut stack: Vec<(Node, Option<Node>)> = Vec::new();
    // Each anchored node with the number of nodes it holds, which an alias to it adds.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut nodes = 0usize;
    // Anchor ids of collections still open, to register them when they close.
    let mut open_anchors: Vec<usize> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos { line: e.marker().line(), col: e.marker().col() + 1 },
            message: e.info(),
        })?;
        let start = span.tag_start.unwrap_or(span.start);
        let pos = Pos { line: start.line(), col: start.col() + 1 };
        let tag_of = |tag: Option<std::borrow::Cow<'_, granit_parser::Tag>>| {
            tag.map(|t| format!("{}{}", t.original_handle(), t.suffix()))
        };
        let complete = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    value: Value::Scalar { text: text.into_owned(), plain: style == ScalarStyle::Plain },
                    pos,
                    tag: tag_of(tag),
                };
                count(&mut nodes, 1, pos)?;
                if anchor != 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                Some(node)
            }
            Event::Alias(id) => {
                let (node, size) = anchors.get(&id).ok_or(YamlError { pos, message: "unknown alias".into() })?;
                count(&mut nodes, *size, pos)?;
                Some(node.clone())
            }
            Event::SequenceStart(_, anchor, tag) => {
                count(&mut nodes, 1, pos)?;
                open(&stack, pos)?;
                open_anchors.push(anchor);
                stack.push((Node { value: Value::Seq(Vec::new()), pos, tag: tag_of(tag) }, None));
                None
            }
            Event::MappingStart(_, anchor, tag) => {
                count(&mut nodes, 1, pos)?;
                open(&stack, pos)?;
                open_anchors.push(anchor);
                stack.push((Node { value: Value::Map(Vec::new()), pos, tag: tag_of(tag) }, None));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, _) = stack.pop().ok_or(YamlError { pos, message: "unbalanced collection".into() })?;
                let anchor = open_anchors.pop().unwrap_or(0);
                if anchor != 0 {
                    anchors.insert(anchor, (node.clone(), size_of(&node)));
                }
                Some(node)
            }
            _ => None,
        };
        let Some(node) = complete else { continue };
        attach(&mut stack, &mut documents, node)?;
    }
    Ok(documents)
}

/// Puts a complete node in the innermost open collection (as a map key or value) or, at the top, among the documents.
fn attach(stack: &mut [(Node, Option<Node>)], documents: &mut Vec<Node>, node: Node) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => documents.push(node),
        Some((parent, pending_key)) => match &mut parent.value {
            Value::Seq(items) => items.push(node),
            Value::Map(entries) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Some(name) = key.as_str()
                        && entries.iter().any(|(k, _)| k.as_str() == Some(name))
                    {
                        return Err(YamlError { pos: key.pos, message: format!("duplicate key `{name}`") });
                    }
                    entries.push((key, node));
                }
            },
            Value::Scalar { .. } => unreachable!("scalars are never pushed on the stack"),
        },
    }
    Ok(())
}

/// Adds `more` nodes to the count, or fails at [`MAX_NODES`].
fn count(nodes: &mut usize, more: usize, pos: Pos) -> Result<(), YamlError> {
    *nodes = nodes.saturating_add(more);
    if *nodes > MAX_NODES {
        return Err(YamlError {
            pos,
            message: format!("the document grows past {MAX_NODES} nodes here (aliases count as what they copy)"),
        });
    }
    Ok(())
}

/// Fails when one more collection would nest deeper than [`MAX_DEPTH`].
fn open(stack: &[(Node, Option<Node>)], pos: Pos) -> Result<(), YamlError> {
    if stack.len() >= MAX_DEPTH {
        return Err(YamlError { pos, message: format!("collections nest deeper than {MAX_DEPTH} levels here") });
    }
    Ok(())
}

/// The number of nodes in a tree.
fn size_of(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(size_of).sum(),
        Value::Map(entries) => entries.iter().map(|(k, v)| size_of(k) + size_of(v)).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_BYTES, MAX_NODES, Pos, parse};

    #[test]
    fn keeps_positions_and_tags() {
        let docs = parse("a: 1\nb:\n  - !Find [x, [y, z]]\n  - !Env SECRET\nc: 'true'\n").expect("parse");
        let root = &docs[0];
        let b = root.get("b").expect("b").as_seq().expect("seq");
        assert_eq!(b[0].tag.as_deref(), Some("!Find"));
        assert_eq!(b[0].pos, Pos { line: 3, col: 5 });
        assert_eq!(b[1].tag.as_deref(), Some("!Env"));
        assert_eq!(b[1].as_str(), Some("SECRET"));
        assert_eq!(root.get("a").and_then(|n| n.as_i64()), Some(1));
        assert_eq!(root.get("c").and_then(|n| n.as_bool()), None);
        assert_eq!(root.get("c").map(|n| n.to_json()), Some(serde_json::json!("true")));
    }

    #[test]
    fn errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").expect_err("must fail");
        assert!(err.pos.line >= 1, "{err}");
        let err = parse("a: 1\na: 2\n").expect_err("must fail");
        assert_eq!(err.to_string(), "2:1: duplicate key `a`");
    }

    #[test]
    fn aliases_resolve() {
        let docs = parse("x: &v [1, 2]\ny: *v\n").expect("parse");
        assert_eq!(docs[0].get("y").map(|n| n.to_json()), Some(serde_json::json!([1, 2])));
    }

    #[test]
    fn nested_aliases_cannot_blow_up() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).expect_err("a billion laughs");
        assert!(err.message.contains(&format!("past {MAX_NODES} nodes")), "{err}");
        assert!(err.pos.line > 1 && err.pos.line <= 12, "{err}");
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let err = parse(&deep).expect_err("too deep");
        assert_eq!(err.to_string(), "1:65: collections nest deeper than 64 levels here");
        let big = format!("a: \"{}\"\n", "x".repeat(MAX_BYTES));
        assert!(parse(&big).expect_err("too big").message.contains("more than the 1048576"));
    }
}
