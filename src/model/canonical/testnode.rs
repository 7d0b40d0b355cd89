//! Test-only builder for Node trees: `node!({"a": [1, "x", null, {"b": true}]})`.

use crate::model::node::{Node, Value};

pub(crate) trait IntoNode {
    fn into_node(self) -> Node;
}

impl IntoNode for &str {
    fn into_node(self) -> Node {
        Node::str(self)
    }
}
impl IntoNode for i32 {
    fn into_node(self) -> Node {
        Node::synth(Value::Int(i64::from(self)))
    }
}
impl IntoNode for i64 {
    fn into_node(self) -> Node {
        Node::synth(Value::Int(self))
    }
}
impl IntoNode for f64 {
    fn into_node(self) -> Node {
        Node::synth(Value::Float(self))
    }
}
impl IntoNode for bool {
    fn into_node(self) -> Node {
        Node::synth(Value::Bool(self))
    }
}
impl IntoNode for Node {
    fn into_node(self) -> Node {
        self
    }
}

macro_rules! node {
    (null) => {
        $crate::model::node::Node::null()
    };
    ({ $($k:literal : $v:tt),* $(,)? }) => {{
        #[allow(unused_mut)]
        let mut m = $crate::model::node::Map::new();
        $( m.insert($k.to_string(), node!($v)); )*
        $crate::model::node::Node::map(m)
    }};
    ([ $($v:tt),* $(,)? ]) => {
        $crate::model::node::Node::seq(vec![$(node!($v)),*])
    };
    ($e:expr) => {
        $crate::model::canonical::testnode::IntoNode::into_node($e)
    };
}
