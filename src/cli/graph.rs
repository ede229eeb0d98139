//! `loopguard graph`: the routing graph as Graphviz dot, Mermaid or SVG (the
//! dashboard's layout), whole or for one intent, with entries and owners marked.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{print_out, usage};
use crate::core::lint::lint;
use crate::core::rules::{Rules, did_you_mean};
use crate::exit::{Failure, SUCCESS as EXIT_CLEAN};
use crate::render::graph::{GraphScope, render_dot, render_mermaid};
use crate::render::graph_svg::rules_svg;
use crate::rules_files;

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// Rules directory or file.
    #[arg(long, default_value = "routing-rules", env = "LOOPGUARD_RULES")]
    pub rules: PathBuf,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Only the transfers that allow this intent, and its owners.
    #[arg(long)]
    pub intent: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz: `loopguard graph | dot -Tsvg > routing.svg`.
    Dot,
    /// A Mermaid flowchart, for Markdown on GitHub and GitLab.
    Mermaid,
    /// A standalone SVG drawn with the dashboard's layout (edges routed around the
    /// boxes), for design reviews and docs.
    Svg,
}

pub fn run(args: &GraphArgs) -> Result<u8, Failure> {
    let sources = usage(rules_files::read_rules(&args.rules))?;
    let report = lint(&sources);
    let errors = report.count_at_least(crate::core::diagnostic::Severity::Error);
    if errors > 0 {
        // A graph of what could be read still helps to find the mistake.
        eprintln!(
            "warning: the rules in `{}` have {errors} error{}; the graph shows what could be read (run `loopguard lint {}`)",
            args.rules.display(),
            if errors == 1 { "" } else { "s" },
            args.rules.display()
        );
    }
    let rules = &report.rules;
    let scope = match &args.intent {
        None => GraphScope::All,
        Some(intent) => {
            if !known_intents(rules).any(|known| known == intent) {
                let hint = did_you_mean(intent, known_intents(rules))
                    .map(|suggestion| format!("; did you mean `{suggestion}`?"))
                    .unwrap_or_default();
                return Err(Failure::usage(format!(
                    "no department handles, no transfer lists and no [[intent]] declares `{intent}`{hint}"
                )));
            }
            GraphScope::Intent(intent)
        }
    };
    let output = match args.format {
        GraphFormat::Dot => render_dot(rules, scope),
        GraphFormat::Mermaid => render_mermaid(rules, scope),
        GraphFormat::Svg => rules_svg(rules, scope),
    };
    print_out(&output);
    Ok(EXIT_CLEAN)
}

/// Every intent the rules mention: declared, handled or listed on a transfer.
fn known_intents(rules: &Rules) -> impl Iterator<Item = &str> {
    let declared = rules.intents.iter().map(|intent| intent.id.as_str());
    let handled = rules
        .departments
        .iter()
        .flat_map(|department| department.handles.iter().map(|intent| intent.as_str()));
    let listed = rules.transfers.iter().flat_map(|transfer| {
        transfer
            .intents
            .iter()
            .flatten()
            .map(|intent| intent.as_str())
    });
    declared.chain(handled).chain(listed)
}
