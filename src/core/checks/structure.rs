//! Checks of the graph's shape: entry points, unreachable departments, dead ends
//! and cold transfers where policy wants warm ones.

use super::Context;
use crate::core::codes::LintCode;
use crate::core::diagnostic::{Diagnostic, Span};
use crate::core::graph::reachable_from;
use crate::core::rules::TransferMode;

impl Context<'_> {
    pub(super) fn entry_points(&self, fallback: Span, findings: &mut Vec<Diagnostic>) {
        let entries: Vec<usize> = (0..self.rules.departments.len())
            .filter(|&department| self.rules.departments[department].entry)
            .collect();
        if entries.is_empty() {
            let finding = match self.rules.departments.first() {
                Some(first) => Diagnostic::new(
                    LintCode::NoEntryPoint,
                    first.header_span,
                    "no department is marked as an entry point, so no call can start anywhere",
                )
                .with_help("add `entry = true` to the departments your IVR or main number routes calls to"),
                None => Diagnostic::new(
                    LintCode::NoEntryPoint,
                    fallback,
                    "no [[department]] is declared, so no call can start anywhere",
                )
                .with_help("declare the departments calls are routed between and mark where calls start with `entry = true`; `loopguard explain no-entry-point` shows an example"),
            };
            findings.push(finding);
            return;
        }
        let reachable = reachable_from(&entries, &self.successors);
        for (department, reached) in reachable.into_iter().enumerate() {
            if !reached {
                let declared = &self.rules.departments[department];
                findings.push(
                    Diagnostic::new(
                        LintCode::UnreachableDepartment,
                        declared.id_span,
                        format!(
                            "department `{}` cannot be reached from any entry point",
                            declared.id
                        ),
                    )
                    .with_primary_label("no chain of transfers from an entry department leads here")
                    .with_help(format!(
                        "add a [[transfer]] with to = \"{}\", mark it `entry = true`, or remove it",
                        declared.id
                    )),
                );
            }
        }
    }

    pub(super) fn dead_ends(&self, findings: &mut Vec<Diagnostic>) {
        for (index, department) in self.rules.departments.iter().enumerate() {
            if department.handles.is_empty() && self.rules.outgoing(index).is_empty() {
                findings.push(
                    Diagnostic::new(
                        LintCode::DeadEndDepartment,
                        department.id_span,
                        format!(
                            "department `{}` handles no intent and transfers nowhere",
                            department.id
                        ),
                    )
                    .with_primary_label("calls sent here can be neither resolved nor moved on")
                    .with_help(
                        "list the intents it resolves in `handles`, or add a transfer out of it",
                    ),
                );
            }
        }
    }

    pub(super) fn cold_transfers(&self, findings: &mut Vec<Diagnostic>) {
        let policy = &self.rules.policy;
        if !policy.require_warm_transfer {
            return;
        }
        for transfer in &self.rules.transfers {
            if transfer.mode != TransferMode::Cold {
                continue;
            }
            let mut finding = Diagnostic::new(
                LintCode::ColdTransferAllowed,
                transfer.mode_span.unwrap_or(transfer.header_span),
                format!(
                    "cold transfer `{}` → `{}` is allowed, but policy requires warm transfers",
                    self.id(transfer.from),
                    self.id(transfer.to)
                ),
            )
            .with_primary_label("cold (blind) transfer")
            .with_help("set mode = \"warm\", or set require_warm_transfer = false if cold transfers are acceptable");
            if let Some(required) = policy.require_warm_transfer_span {
                finding = finding.with_label(required, "warm transfers required here");
            }
            findings.push(finding);
        }
    }
}
