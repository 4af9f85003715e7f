//! JUnit XML, so a CI system shows each checker's verdict as a test result:
//! one test suite a history, one test case a checker. `invalid` is a failure
//! (with the evidence as its text), `unknown` an error (it is not a pass).

use faultline_checkers::evidence::render_text;
use faultline_checkers::{Results, Verdict};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// Renders `results` as a JUnit document. `suite` names the history or run;
/// `durations` holds each check's time, in `results.checks` order.
pub fn render(suite: &str, results: &Results, durations: &[Duration]) -> String {
    let count = |v: Verdict| results.checks.iter().filter(|c| c.verdict == v).count();
    let (tests, failures, errors) = (
        results.checks.len(),
        count(Verdict::Invalid),
        count(Verdict::Unknown),
    );
    let total: f64 = durations.iter().map(Duration::as_secs_f64).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{total:.3}\">",
        escape(suite)
    );
    for (i, check) in results.checks.iter().enumerate() {
        let time = durations.get(i).map_or(0.0, Duration::as_secs_f64);
        let _ = write!(
            out,
            "    <testcase classname=\"faultline.{}\" name=\"{}\" time=\"{time:.3}\"",
            escape(suite),
            escape(&check.checker)
        );
        let tag = match check.verdict {
            Verdict::Valid => {
                out.push_str("/>\n");
                continue;
            }
            Verdict::Invalid => "failure",
            Verdict::Unknown => "error",
        };
        let _ = writeln!(
            out,
            ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
            escape(&check.summary),
            check.verdict,
            escape(&render_text(check))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// Writes the document to `path`.
pub fn write(
    path: &Path,
    suite: &str,
    results: &Results,
    durations: &[Duration],
) -> std::io::Result<()> {
    std::fs::write(path, render(suite, results, durations))
}

/// Escapes text for XML content and attribute values, dropping the control
/// characters XML 1.0 cannot carry at all.
pub fn escape(text: &str) -> String {
    let carried: String = text
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || !(c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}')
        })
        .collect();
    // The HTML escapes are XML's too (`&#39;` for `'`); a newline in an
    // attribute value must be a reference to survive.
    crate::report::html::escape(&carried).replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::CheckResult;

    fn check(name: &str, verdict: Verdict, summary: &str) -> CheckResult {
        CheckResult {
            verdict,
            ..CheckResult::unknown(name, summary.into())
        }
    }

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
        assert_eq!(escape("x\ny"), "x&#10;y");
    }

    #[test]
    fn one_case_per_checker_with_failures_and_errors() {
        let results = Results::new(vec![
            check(
                "linearizable",
                Verdict::Invalid,
                "op 7 <read 3> cannot be placed",
            ),
            check("set", Verdict::Valid, "fine"),
            check("lock", Verdict::Unknown, "timed out"),
        ]);
        let xml = render("reg/2026", &results, &[Duration::from_millis(1500)]);
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("name=\"set\" time=\"0.000\"/>"), "{xml}");
        assert!(
            xml.contains(
                "<failure message=\"op 7 &lt;read 3&gt; cannot be placed\" type=\"invalid\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<error message=\"timed out\" type=\"unknown\">"),
            "{xml}"
        );
        assert!(xml.contains("time=\"1.500\""), "{xml}");
        // Every opened element is closed.
        assert_eq!(xml.matches("<testcase").count(), 3);
        assert_eq!(
            xml.matches("</testcase>").count() + xml.matches("/>").count(),
            3
        );
    }
}
