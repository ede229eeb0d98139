//! Per-agent statistics: the transfers each agent made from each department, for
//! coaching. The output types and the batch function over call records (the
//! reference model); the index keeps the same numbers on its own timeline.
//!
//! An agent is whoever the platform named in a transfer's `agent_id`; transfers
//! without one are not counted here. The index keeps at most
//! [`MAX_AGENTS_KEPT`](super::MAX_AGENTS_KEPT) agents apart; the rest add up in one
//! "other agents" row.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Calls, Window, is_cold, is_loop, lacks_callback_number};

/// The name of the row adding up agents beyond those the index keeps apart.
pub const OTHER_AGENTS: &str = "other agents";

/// The transfers one agent made from one department in the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentRow {
    pub agent_id: String,
    /// The department the agent transferred from.
    pub department: String,
    /// Transfers made (every verdict).
    pub transfers_out: u64,
    /// Of those, with a loop finding.
    pub loops_caused: u64,
    /// Of those, cold (blind).
    pub cold_out: u64,
    /// Of those, without a callback number.
    pub missing_callback_out: u64,
    /// Whether this row adds up agents beyond those kept apart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub merged: bool,
}

/// One page of the agents table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentPage {
    pub window: Window,
    /// Rows in the table, on every page.
    pub total: u64,
    pub items: Vec<AgentRow>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Orders agent rows: most transfers first, then agent and department.
pub fn sort_agents(rows: &mut [AgentRow]) {
    rows.sort_by(|a, b| {
        b.transfers_out
            .cmp(&a.transfers_out)
            .then_with(|| a.agent_id.cmp(&b.agent_id))
            .then_with(|| a.department.cmp(&b.department))
    });
}

/// One row per (agent, department) with a transfer in the window, most transfers first.
pub fn agents_table<'a>(calls: impl Calls<'a>, window: &Window) -> Vec<AgentRow> {
    let mut rows: BTreeMap<(String, String), AgentRow> = BTreeMap::new();
    for call in calls {
        for hop in call
            .hops
            .iter()
            .filter(|hop| window.contains(hop.occurred_at))
        {
            let Some(agent) = hop.agent_id.as_deref() else {
                continue;
            };
            let row = rows
                .entry((agent.to_owned(), hop.from.clone()))
                .or_insert_with(|| AgentRow {
                    agent_id: agent.to_owned(),
                    department: hop.from.clone(),
                    transfers_out: 0,
                    loops_caused: 0,
                    cold_out: 0,
                    missing_callback_out: 0,
                    merged: false,
                });
            row.transfers_out += 1;
            row.loops_caused += u64::from(is_loop(hop));
            row.cold_out += u64::from(is_cold(hop));
            row.missing_callback_out += u64::from(lacks_callback_number(hop));
        }
    }
    let mut rows: Vec<AgentRow> = rows.into_values().collect();
    sort_agents(&mut rows);
    rows
}
