//! `loopguard explain`: what a lint code catches, why it matters, an example and
//! the fix; without a code, the list of codes.

use super::print_out;
use crate::core::codes::LintCode;
use crate::core::rules::did_you_mean;
use crate::exit::{Failure, SUCCESS as EXIT_CLEAN};

pub fn run(code: Option<&str>) -> Result<u8, Failure> {
    let Some(name) = code else {
        let mut text =
            String::from("loopguard lint codes (run `loopguard explain CODE` for details):\n\n");
        for code in LintCode::ALL {
            text.push_str(&format!(
                "  {:<24} {:<8} {}\n",
                code.as_str(),
                code.default_severity(),
                code.summary()
            ));
        }
        print_out(&text);
        return Ok(EXIT_CLEAN);
    };
    let Some(code) = LintCode::parse(name) else {
        let hint = did_you_mean(name, LintCode::ALL.iter().map(|code| code.as_str()))
            .map(|suggestion| format!("; did you mean `{suggestion}`?"))
            .unwrap_or_else(|| "; run `loopguard explain` to list the codes".to_owned());
        return Err(Failure::usage(format!("unknown lint code `{name}`{hint}")));
    };
    let explanation = code.explanation();
    let indent = |text: &str| {
        text.lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    print_out(&format!(
        "{code} ({severity} by default)\n\n{summary}\n\nWhat it catches\n{catches}\nWhy it matters for callers\n{why}\nExample\n{example}\nHow to fix it\n{fix}",
        severity = code.default_severity(),
        summary = code.summary(),
        catches = indent(explanation.catches),
        why = indent(explanation.why),
        example = indent(explanation.example),
        fix = indent(explanation.fix),
    ));
    Ok(EXIT_CLEAN)
}
