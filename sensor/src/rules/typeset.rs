//! A set of event types as a bit mask, for `evt.type` checks and for the
//! per-rule evttype analysis that indexes rules by the events they can match.

use crate::event::EventType;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeSet(u128);

const _: () = assert!(EventType::COUNT < 128, "TypeSet holds ids 1..=127");

impl TypeSet {
    pub const EMPTY: TypeSet = TypeSet(0);

    pub fn all() -> TypeSet {
        let mut s = TypeSet::EMPTY;
        for t in EventType::ALL {
            s.insert(*t);
        }
        s
    }

    pub fn insert(&mut self, t: EventType) {
        self.0 |= 1u128 << t.id();
    }

    pub fn contains(&self, t: EventType) -> bool {
        self.0 & (1u128 << t.id()) != 0
    }

    pub fn union(self, o: TypeSet) -> TypeSet {
        TypeSet(self.0 | o.0)
    }

    pub fn intersect(self, o: TypeSet) -> TypeSet {
        TypeSet(self.0 & o.0)
    }

    pub fn complement(self) -> TypeSet {
        TypeSet(!self.0 & TypeSet::all().0)
    }

    pub fn is_all(&self) -> bool {
        *self == TypeSet::all()
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(move |t| self.contains(*t))
    }
}
