//! POSIX shell quoting: every argument becomes one word, whatever it holds.

/// Quote one argument for `sh`. Plain words stay as they are; anything else
/// goes in single quotes, with embedded single quotes written as `'\''`.
pub fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// An argument vector as one shell command line.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| quote(a.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of a command line: its words, one a line.
    fn words_seen_by_sh(line: &str) -> Vec<String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("for w in {line}; do printf '%s\\0' \"$w\"; done"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    #[test]
    fn plain_words_are_left_alone() {
        assert_eq!(quote("raft-kv"), "raft-kv");
        assert_eq!(quote("--peers=n1=1.2.3.4:7000"), "--peers=n1=1.2.3.4:7000");
    }

    #[test]
    fn hostile_arguments_reach_the_program_intact() {
        let args = [
            "a b",
            "it's",
            "$(touch /tmp/pwned)",
            "`id`",
            "x;y|z&&w",
            "\"q\"",
            "*",
            "new\nline",
            "back\\slash",
            "'",
            "''",
        ];
        assert_eq!(words_seen_by_sh(&command_line(&args)), args);
    }

    #[test]
    fn empty_argument_stays_an_argument() {
        assert_eq!(quote(""), "''");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {}; echo $#", command_line(&["", "x"])))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    }
}
