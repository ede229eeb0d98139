//! `loopguard route`: where a call for an intent should go from a department: the
//! owner(s) and the shortest allowed path.

use std::path::PathBuf;

use clap::ValueEnum;

use super::print_out;
use crate::core::rules::{Route, did_you_mean};
use crate::exit::{FINDINGS_OR_RUNTIME_FAILURE as EXIT_FINDINGS, Failure, SUCCESS as EXIT_CLEAN};
use crate::rules_files;

#[derive(Debug, clap::Args)]
pub struct RouteArgs {
    /// Rules directory or file.
    #[arg(long, default_value = "routing-rules", env = "LOOPGUARD_RULES")]
    pub rules: PathBuf,
    /// Department the call is in now: its id, or one of its `aliases` (an
    /// extension, a SIP URI such as sip:2001@pbx.example.com).
    #[arg(long)]
    pub from: String,
    /// What the caller needs.
    #[arg(long)]
    pub intent: String,
    #[arg(long, value_enum, default_value_t = RouteFormat::Text)]
    pub format: RouteFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RouteFormat {
    Text,
    Json,
}

pub fn run(args: &RouteArgs) -> Result<u8, Failure> {
    let rules = match rules_files::load_clean_rules(&args.rules) {
        Ok(rules) => rules,
        Err(rules_files::LoadFailure::Unreadable(error)) => {
            return Err(Failure::usage(error.to_string()));
        }
        Err(rules_files::LoadFailure::Findings { .. }) => {
            return Err(Failure::usage(format!(
                "the rules in `{}` have errors; run `loopguard lint {}` to see them",
                args.rules.display(),
                args.rules.display()
            )));
        }
    };
    let rules = &rules;
    let Some(from) = rules.resolve(&args.from) else {
        let hint = did_you_mean(
            &args.from,
            rules
                .departments
                .iter()
                .map(|department| department.id.as_str()),
        )
        .map(|suggestion| format!("; did you mean `{suggestion}`?"))
        .unwrap_or_default();
        return Err(Failure::usage(format!(
            "`{}` is neither a department id nor an alias in the rules{hint}",
            args.from
        )));
    };
    let from_name = rules.departments[from].id.as_str();
    // Say which department an alias stands for, so the answer can be checked.
    let alias_note = if from_name == args.from {
        String::new()
    } else {
        format!("`{}` is `{from_name}`: ", args.from)
    };
    let owners: Vec<&str> = rules
        .owners(&args.intent)
        .iter()
        .map(|&owner| rules.departments[owner].id.as_str())
        .collect();
    let route = rules.route(from, &args.intent);
    let path: Option<Vec<&str>> = match &route {
        Route::Found(path) => Some(
            path.iter()
                .map(|&step| rules.departments[step].id.as_str())
                .collect(),
        ),
        Route::NoOwner | Route::NoPath => None,
    };
    let reason = match &route {
        Route::Found(_) => None,
        Route::NoOwner => Some(format!("no department handles `{}`", args.intent)),
        Route::NoPath => Some(format!(
            "no allowed transfer path for `{}` leads from `{}` to {}",
            args.intent,
            from_name,
            owners
                .iter()
                .map(|owner| format!("`{owner}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    };
    match args.format {
        RouteFormat::Json => {
            let answer = serde_json::json!({
                "from": from_name,
                "identity": args.from,
                "intent": args.intent,
                "owners": owners,
                "path": path,
                "hops": path.as_ref().map(|path| path.len() - 1),
                "reason": reason,
            });
            print_out(&format!(
                "{}\n",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            ));
        }
        RouteFormat::Text => match (&path, &reason) {
            (Some(path), _) if path.len() == 1 => print_out(&format!(
                "{alias_note}`{from_name}` handles `{}` itself: keep the call (0 hops)\n",
                args.intent
            )),
            (Some(path), _) => print_out(&format!(
                "{alias_note}route `{}` to `{}`: {} ({} hop{})\n",
                args.intent,
                path[path.len() - 1],
                path.join(" → "),
                path.len() - 1,
                if path.len() == 2 { "" } else { "s" }
            )),
            (None, Some(reason)) => print_out(&format!("{alias_note}no route: {reason}\n")),
            (None, None) => {}
        },
    }
    Ok(if path.is_some() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}
