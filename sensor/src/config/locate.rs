//! Where a key is in the config file: the config is deserialised with
//! serde, which forgets positions once parsing succeeded, so errors found
//! by validation look their key up again in the marked node tree of the
//! rules loader's YAML parser.

use crate::rules::yaml::{self, Mark, NodeKind};

/// Position of the deepest part of `path` (`a.b[2].c`) the file sets;
/// `None` when it sets not even the first key.
pub(super) fn key(text: &str, path: &str) -> Option<Mark> {
    let root = yaml::parse(text).ok()??;
    let mut node = &root;
    let mut found = None;
    for part in path.split('.') {
        let (name, indexes) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest)),
            None => (part, None),
        };
        let Some((k, v)) = entry(node, name) else {
            break;
        };
        found = Some(k.mark);
        node = v;
        for index in indexes.into_iter().flat_map(|r| r.split('[')) {
            let Some(i) = index.trim_end_matches(']').parse::<usize>().ok() else {
                return found;
            };
            match &node.kind {
                NodeKind::Seq(items) if i < items.len() => {
                    node = &items[i];
                    found = Some(node.mark);
                }
                _ => return found,
            }
        }
    }
    found
}

fn entry<'a>(node: &'a yaml::Node, key: &str) -> Option<(&'a yaml::Node, &'a yaml::Node)> {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn finds_nested_keys_and_sequence_items() {
        let text = "grpc:\n  listen: x\nresponse:\n  mode: ips\n  policies:\n    - name: a\n      actions: [kill-process]\n    - name: b\n      actions: []\n";
        let at = |p| super::key(text, p).map(|m| (m.line, m.col));
        assert_eq!(at("grpc.listen"), Some((2, 3)));
        assert_eq!(at("response.policies[1]"), Some((8, 7)));
        assert_eq!(at("response.policies[1].actions"), Some((9, 7)));
        // Deepest part the file sets.
        assert_eq!(at("response.queue_capacity"), Some((3, 1)));
        assert_eq!(at("outputs.loki"), None);
    }
}
