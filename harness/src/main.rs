use clap::Parser;
use faultline::cli::{Cli, Command};
use faultline::exit;

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test(args) => faultline::cmd::test::run(&cli.global, args),
        Command::Check(args) => faultline::cmd::check::run(&cli.global, args),
        Command::Ls(args) => faultline::cmd::ls::run(&cli.global, args),
        Command::Show(args) => faultline::cmd::show::run(&cli.global, args),
        Command::Serve(args) => faultline::cmd::serve::run(&cli.global, args),
    };
    std::process::exit(exit::code_of(result));
}
