use clap::Parser;
use faultline::cli::{Cli, Command};
use faultline::exit;

fn main() {
    // Bad flags exit 254 (bad input), not clap's 2, which would read as "unknown".
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let _ = e.print();
        std::process::exit(if e.use_stderr() { exit::BAD_INPUT } else { 0 });
    });
    if let Err(e) = faultline::logging::init(cli.global.log_level.as_deref()) {
        std::process::exit(exit::code_of(Err(e)));
    }
    let result = match cli.command {
        Command::Test(args) => faultline::cmd::test::run(&cli.global, *args),
        Command::Check(args) => faultline::cmd::check::run(&cli.global, args),
        Command::Ls(args) => faultline::cmd::ls::run(&cli.global, args),
        Command::Show(args) => faultline::cmd::show::run(&cli.global, args),
        Command::Serve(args) => faultline::cmd::serve::run(&cli.global, args),
        Command::Heal(args) => faultline::cmd::heal::run(&cli.global, args),
    };
    std::process::exit(exit::code_of(result));
}
