//! Lays what the user wrote (file, then `-o`) over the serialized defaults,
//! key by key. Serde's `#[serde(default)]` alone fills a missing field from
//! the *field type's* `Default`, so a partial nested section (e.g.
//! `outputs.slack.forward.aggregation.window_secs: 3`) would lose the
//! defaults its parent sets for it (Slack's Warning minimum and aggregation).
//! Deserializing the overlaid document keeps every default the parent chose.

use serde_yaml::Value;

/// Free-form maps: what the user writes there is the whole map, not a patch
/// of the defaults (writing `extra_labels: {team: a}` in the file means only
/// that label). `-o` still adds one entry to whatever the map is.
const FREE_MAPS: &[&[&str]] = &[
    &["outputs", "webhook", "headers"],
    &["outputs", "loki", "extra_labels"],
    &["outputs", "alertmanager", "extra_labels"],
];

/// True when `path` names a free-form map.
pub(super) fn is_free_map(path: &[&str]) -> bool {
    FREE_MAPS.contains(&path)
}

/// `user` laid over `defaults`: sections are merged key by key, anything
/// else (scalars, lists, free-form maps, optional sections) is replaced. An
/// empty section (`forward:` with every key commented out) keeps its defaults.
pub(super) fn overlay(defaults: Value, user: Value) -> Value {
    overlay_at(defaults, user, &mut Vec::new())
}

fn overlay_at(defaults: Value, user: Value, path: &mut Vec<String>) -> Value {
    let free = {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        is_free_map(&p)
    };
    match (defaults, user) {
        (Value::Mapping(mut base), Value::Mapping(top)) if !free => {
            for (key, value) in top {
                match (key.as_str().map(str::to_string), base.get_mut(&key)) {
                    (Some(name), Some(slot)) => {
                        path.push(name);
                        *slot = overlay_at(std::mem::take(slot), value, path);
                        path.pop();
                    }
                    // Unknown keys stay, so deserialization names them.
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
            Value::Mapping(base)
        }
        (base @ Value::Mapping(_), Value::Null) => base,
        (_, user) => user,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn nested_sections_merge_and_leaves_replace() {
        let defaults = yaml("a: {b: 1, c: {d: 2, e: [x, y]}}\nf: null\n");
        let user = yaml("a: {c: {e: [z]}}\nf: {g: 1}\n");
        assert_eq!(
            overlay(defaults, user),
            yaml("a: {b: 1, c: {d: 2, e: [z]}}\nf: {g: 1}\n")
        );
    }

    #[test]
    fn free_maps_are_replaced_whole() {
        let defaults = yaml("outputs: {loki: {extra_labels: {job: falco}, tenant: ''}}");
        let user = yaml("outputs: {loki: {extra_labels: {team: a}}}");
        assert_eq!(
            overlay(defaults, user),
            yaml("outputs: {loki: {extra_labels: {team: a}, tenant: ''}}")
        );
    }

    #[test]
    fn empty_section_keeps_defaults_and_unknown_keys_survive() {
        let defaults = yaml("s: {a: 1}\n");
        assert_eq!(overlay(defaults.clone(), yaml("s:\n")), defaults);
        assert_eq!(
            overlay(defaults, yaml("s: {zz: 1}")),
            yaml("s: {a: 1, zz: 1}")
        );
    }
}
