//! Department names as small numbers for the statistics index, counted by the calls
//! that mention them, with a bound on how many names outside the rules are kept.
//!
//! A platform may send any department name. Names the rules know are always kept;
//! at most `max_unknown` other names are kept at a time, and any further new name is
//! counted under [`UNTRACKED`] ("other unknown departments") until kept names are
//! released by the calls that used them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A kept department name.
pub type NameId = u32;

/// Every unknown name beyond the bound.
pub const UNTRACKED: NameId = NameId::MAX;

#[derive(Debug, Clone)]
struct Entry {
    name: Arc<str>,
    references: u64,
    /// Whether the name counted against the unknown-name bound when it was kept.
    unknown: bool,
}

#[derive(Debug, Clone)]
pub struct Names {
    by_name: HashMap<Arc<str>, NameId>,
    entries: Vec<Option<Entry>>,
    free: Vec<NameId>,
    known: HashSet<Arc<str>>,
    unknown_kept: usize,
    max_unknown: usize,
}

impl Names {
    pub fn new(max_unknown: usize) -> Self {
        Self {
            by_name: HashMap::new(),
            entries: Vec::new(),
            free: Vec::new(),
            known: HashSet::new(),
            unknown_kept: 0,
            max_unknown,
        }
    }

    /// The departments of the rules in force: these are always kept.
    pub fn set_known<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        self.known = names.into_iter().map(Arc::from).collect();
    }

    /// One more reference to `name`; [`UNTRACKED`] when it is unknown and the bound is
    /// reached.
    pub fn acquire(&mut self, name: &str) -> NameId {
        if let Some(&id) = self.by_name.get(name) {
            if let Some(entry) = self.entries[id as usize].as_mut() {
                entry.references += 1;
            }
            return id;
        }
        let unknown = !self.known.contains(name);
        if unknown && self.unknown_kept >= self.max_unknown {
            return UNTRACKED;
        }
        self.unknown_kept += usize::from(unknown);
        let name: Arc<str> = Arc::from(name);
        let entry = Entry {
            name: name.clone(),
            references: 1,
            unknown,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = Some(entry);
                id
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as NameId
            }
        };
        self.by_name.insert(name, id);
        id
    }

    /// Gives back a reference taken by [`Names::acquire`].
    pub fn release(&mut self, id: NameId) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(entry) = slot.as_mut() else {
            return;
        };
        entry.references -= 1;
        if entry.references == 0 {
            self.by_name.remove(&entry.name);
            self.unknown_kept -= usize::from(entry.unknown);
            *slot = None;
            self.free.push(id);
        }
    }

    pub fn name(&self, id: NameId) -> Option<&str> {
        self.entries
            .get(id as usize)
            .and_then(Option::as_ref)
            .map(|entry| &*entry.name)
    }

    pub fn id(&self, name: &str) -> Option<NameId> {
        self.by_name.get(name).copied()
    }

    /// Names kept now that count against the unknown-name bound.
    pub fn unknown_kept(&self) -> usize {
        self.unknown_kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_beyond_the_bound_are_untracked_until_one_is_released() {
        let mut names = Names::new(2);
        names.set_known(["billing"]);
        let a = names.acquire("a");
        let b = names.acquire("b");
        assert_eq!(names.acquire("c"), UNTRACKED);
        assert_ne!(
            names.acquire("billing"),
            UNTRACKED,
            "known names always kept"
        );
        assert_eq!(names.acquire("a"), a);
        names.release(b);
        assert_eq!(names.unknown_kept(), 1);
        let c = names.acquire("c");
        assert_ne!(c, UNTRACKED);
        assert_eq!(names.name(c), Some("c"));
        names.release(a);
        assert_eq!(names.name(a), Some("a"), "still referenced once");
        names.release(a);
        assert_eq!(names.id("a"), None);
    }
}
