//! Pages of `docs/` that are generated from the code, so they cannot drift from it:
//! docs/configuration.md from `Settings` (see `config::reference`). Tests compare the
//! committed pages with fresh output; `UPDATE_DOCS=1 cargo test --lib docs` rewrites them.

/// docs/configuration.md: every setting with its environment variable and default.
pub fn configuration() -> String {
    crate::config::reference::markdown()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Compares `docs/{name}` with `generated`; with `UPDATE_DOCS=1` rewrites it instead.
    fn check_page(name: &str, generated: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        if update_requested() {
            std::fs::write(&path, generated).expect("docs/ is writable");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            let first = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "docs/{name} is out of date with the code (first difference at line {}).\n\
                 Regenerate it with `UPDATE_DOCS=1 cargo test --lib docs` and commit the result.",
                first + 1
            );
        }
    }

    /// Whether `UPDATE_DOCS=1` is set. Read under figment's `Jail` lock: the config tests
    /// clear the process environment inside a `Jail`, and a read racing with them would
    /// see nothing.
    #[allow(clippy::result_large_err)]
    fn update_requested() -> bool {
        let mut update = false;
        figment::Jail::expect_with(|_| {
            update = std::env::var("UPDATE_DOCS").as_deref() == Ok("1");
            Ok(())
        });
        update
    }

    #[test]
    fn docs_configuration_md_is_generated_from_settings() {
        check_page("configuration.md", &configuration());
    }
}
