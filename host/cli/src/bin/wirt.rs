//! `wirt`: the virsh-style command line.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(wirt_cli::main(args));
}
