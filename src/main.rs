//! The `heyan` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    heyan::cli::run()
}
