//! Views are registered components: a new one gets its `:` command, its keys,
//! help and footer hints from the one registration; the docs list every key.
#![allow(clippy::unwrap_used)]

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use falco_console::app::{State, View};
use falco_console::b;
use falco_console::components::{Component, key_reference};
use falco_console::keys::{Action, Binding, ch};
use falco_console::ui::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Widget;

/// A view that exists only in this test.
struct Dummy;

static DUMMY_KEYS: &[Binding] = &[b!(
    [ch('u')],
    Action::Local("dummy-bump"),
    "bump the dummy counter",
    "bump"
)];

impl Component for Dummy {
    fn view(&self) -> View {
        View("dummy")
    }
    fn bindings(&self) -> &'static [Binding] {
        DUMMY_KEYS
    }
    fn commands(&self) -> &'static [&'static str] {
        &["dummy"]
    }
    fn on_action(&self, st: &mut State, action: Action) -> bool {
        if action == Action::Local("dummy-bump") {
            st.message = Some("bumped".into());
            return true;
        }
        false
    }
    fn render(&self, _st: &State, _t: Theme, area: Rect, buf: &mut Buffer) {
        Line::from("the dummy view").render(area, buf);
    }
}

fn screen(st: &State) -> String {
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    t.draw(|f| f.render_widget(st, f.area())).unwrap();
    t.backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect::<Vec<_>>()
        .chunks(80)
        .map(|l| l.concat())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_registered_view_gets_command_keys_help_and_footer() {
    let mut st = State::new("t", common::NOW_NS);
    st.register(Dummy);
    st.run_command("dummy");
    assert_eq!(st.view(), View("dummy"));
    let s = screen(&st);
    assert!(s.contains("the dummy view"), "{s}");
    assert!(s.contains("u bump"), "footer hint from the binding:\n{s}");
    st.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::NONE));
    assert_eq!(st.message.as_deref(), Some("bumped"));
    st.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    let s = screen(&st);
    assert!(s.contains("keys of <dummy>"), "{s}");
    assert!(
        s.contains("bump the dummy counter"),
        "help lists the view's keys:\n{s}"
    );
    st.run_command("nope");
    assert!(
        st.message.as_deref().unwrap().contains("dummy"),
        "{:?}",
        st.message
    );
    let mut reg = falco_console::components::Registry::standard();
    reg.register(Dummy);
    assert!(key_reference(&reg).contains("| `u` | bump the dummy counter |"));
}

#[test]
fn docs_list_every_key() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- keys:begin -->\n", "<!-- keys:end -->");
    let generated = key_reference(&falco_console::components::Registry::standard());
    let (Some(i), Some(j)) = (doc.find(begin), doc.find(end)) else {
        panic!("{} needs the {begin} and {end} markers", path.display());
    };
    let current = &doc[i + begin.len()..j];
    if current != generated {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let new = format!("{}{begin}{generated}{}", &doc[..i], &doc[j..]);
            std::fs::write(&path, new).unwrap();
        } else {
            panic!(
                "docs/console.md's key reference is out of date; run \
                 UPDATE_DOCS=1 cargo test -p falco-console --test registry"
            );
        }
    }
}
