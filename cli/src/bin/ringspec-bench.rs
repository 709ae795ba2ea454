//! `ringspec-bench [N]`: io_uring vs syscall latency of the proposed opcodes
//! on the running kernel (oracle::opbench), N ops per measurement (default
//! 2000), in a private tmpfs when root. Meant for the patched gate kernel:
//! `scripts/bench-proposed.sh` boots it with vng and runs this inside.
//! Exit 0 measured, 3 an opcode unsupported here or the environment unusable.

use std::os::fd::AsRawFd;
use std::process::ExitCode;

fn main() -> ExitCode {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("ringspec-bench: usage: ringspec-bench [N>0]");
            return ExitCode::from(2);
        }
    };
    let p = match backends::sqe::ProposedOpcodes::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ringspec-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let scratch = match sys::scratch::Scratch::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ringspec-bench: scratch: {e}");
            return ExitCode::from(3);
        }
    };
    let roots = match scratch.roots("bench") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringspec-bench: scratch: {e}");
            return ExitCode::from(3);
        }
    };
    println!(
        "ringspec-bench: kernel {}, {} ops each, on {}",
        backends::proposed::running_release(),
        n,
        scratch.describe()
    );
    let mut rows = Vec::new();
    let mut code = 0;
    for r in oracle::opbench::run(roots.main.as_raw_fd(), &p, n) {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => {
                println!("ringspec-bench: {e}");
                code = 3;
            }
        }
    }
    print!("{}", oracle::opbench::table(&rows));
    ExitCode::from(code)
}
