//! The shortest allowed route from a department to an intent's owner.

use super::model::Rules;

impl Rules {
    /// The shortest allowed transfer path for `intent` from `from` to any department
    /// that handles it, as department indices starting with `from`. Breadth-first,
    /// so ties go to the transfer declared first.
    pub fn route(&self, from: usize, intent: &str) -> Route {
        let owners = self.owners(intent);
        if owners.is_empty() {
            return Route::NoOwner;
        }
        if owners.contains(&from) {
            return Route::Found(vec![from]);
        }
        let mut previous = vec![usize::MAX; self.departments.len()];
        previous[from] = from;
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(current) = queue.pop_front() {
            for &transfer_index in self.outgoing(current) {
                let transfer = &self.transfers[transfer_index];
                if previous[transfer.to] != usize::MAX || !transfer.allows(intent) {
                    continue;
                }
                previous[transfer.to] = current;
                if owners.contains(&transfer.to) {
                    let mut path = vec![transfer.to];
                    let mut step = current;
                    while step != from {
                        path.push(step);
                        step = previous[step];
                    }
                    path.push(from);
                    path.reverse();
                    return Route::Found(path);
                }
                queue.push_back(transfer.to);
            }
        }
        Route::NoPath
    }
}

/// The answer of [`Rules::route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Department indices from the start to an owner (just the start if it owns the intent).
    Found(Vec<usize>),
    /// No department handles the intent.
    NoOwner,
    /// Owners exist but no allowed transfer path leads to one.
    NoPath,
}
