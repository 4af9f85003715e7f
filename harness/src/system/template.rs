//! `{placeholder}` templates in system files: `--name {node}`,
//! `--data-dir {data_dir}`. `{{` and `}}` stand for literal braces.

use std::collections::BTreeMap;

/// Values for the placeholders of one template.
pub type Vars = BTreeMap<String, String>;

/// Fills in `template`. An unknown placeholder is an error naming it and
/// listing the known ones.
pub fn render(template: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if tail.starts_with('}') {
            return Err(format!(
                "unmatched '}}' in {template:?} (write '}}}}' for a brace)"
            ));
        } else {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
            let name = &tail[1..end];
            let value = vars.get(name).ok_or_else(|| {
                let known: Vec<String> = vars.keys().map(|k| format!("{{{k}}}")).collect();
                format!("unknown placeholder {{{name}}}; known: {}", known.join(" "))
            })?;
            out.push_str(value);
            rest = &tail[end + 1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("node".into(), "n2".into());
        v.insert("port".into(), "2379".into());
        v
    }

    #[test]
    fn fills_placeholders_and_escapes() {
        assert_eq!(
            render("--name {node}:{port}", &vars()).unwrap(),
            "--name n2:2379"
        );
        assert_eq!(render("{{\"a\":1}}", &vars()).unwrap(), "{\"a\":1}");
        assert_eq!(render("plain", &vars()).unwrap(), "plain");
    }

    #[test]
    fn unknown_and_broken_placeholders_are_errors() {
        let e = render("--name {nod}", &vars()).unwrap_err();
        assert!(e.contains("unknown placeholder {nod}"), "{e}");
        assert!(e.contains("{node}"), "{e}");
        assert!(render("{node", &vars()).unwrap_err().contains("unclosed"));
        assert!(render("a}b", &vars()).unwrap_err().contains("unmatched"));
    }
}
