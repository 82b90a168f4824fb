//! Pages of `docs/` that are generated from the code, so they cannot drift from it:
//! docs/configuration.md from `Settings` (see `config::reference`) and docs/routes.md from
//! the OpenAPI document (`http::openapi`). Tests compare the committed pages with fresh
//! output; `UPDATE_DOCS=1 cargo test --lib docs` rewrites them. Further tests check that
//! the hand-written pages (README.md, the rest of docs/) name only settings, environment
//! variables, routes and commands that exist.

use std::fmt::Write as _;

/// docs/configuration.md: every setting with its environment variable and default.
pub fn configuration() -> String {
    crate::config::reference::markdown()
}

/// docs/routes.md: every operation of the OpenAPI document, grouped by audience (tag) in
/// the document's tag order, then by path and method.
pub fn routes() -> String {
    let spec = serde_json::to_value(crate::http::openapi()).expect("the OpenAPI document is JSON");
    let tags: Vec<(String, String)> = spec["tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let text = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                    (text("name"), text("description"))
                })
                .collect()
        })
        .unwrap_or_default();
    // (tag, path, method, summary), in path order with methods in a fixed order.
    let mut operations = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            for method in [
                "get", "put", "post", "patch", "delete", "head", "options", "trace",
            ] {
                let Some(operation) = item.get(method) else {
                    continue;
                };
                let tag = operation["tags"][0].as_str().unwrap_or_default().to_owned();
                let summary = operation["summary"].as_str().unwrap_or_default().to_owned();
                operations.push((tag, path.clone(), method.to_ascii_uppercase(), summary));
            }
        }
    }
    let mut out = format!(
        "# Route index\n\n\
         <!-- Generated from the OpenAPI document by `UPDATE_DOCS=1 cargo test --lib docs`; do not edit. -->\n\n\
         Every operation heyan answers ({} in all), by audience. The full contract, with\n\
         request and response schemas and error codes, is the OpenAPI document itself:\n\
         `GET /openapi.json` on a running server, or `heyan openapi`.\n",
        operations.len()
    );
    let mut listed = 0;
    let untagged = (String::new(), "Operations without a tag.".to_owned());
    for (name, description) in tags.iter().chain(std::iter::once(&untagged)) {
        let rows: Vec<_> = operations.iter().filter(|(tag, ..)| tag == name).collect();
        if rows.is_empty() {
            continue;
        }
        let title = if name.is_empty() { "untagged" } else { name };
        let _ = write!(
            out,
            "\n## `{title}`\n\n{}\n\n| method | path | summary |\n| --- | --- | --- |\n",
            one_line(description)
        );
        for (_, path, method, summary) in rows {
            let _ = writeln!(out, "| {method} | `{path}` | {} |", one_line(summary));
            listed += 1;
        }
    }
    // An operation whose tag is not declared at the top of the document still appears.
    for (tag, path, method, summary) in &operations {
        if !tag.is_empty() && !tags.iter().any(|(name, _)| name == tag) {
            let _ = writeln!(
                out,
                "| {method} | `{path}` | {} ({tag}) |",
                one_line(summary)
            );
            listed += 1;
        }
    }
    debug_assert_eq!(listed, operations.len());
    out
}

/// Text fit for one Markdown table cell.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
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

    #[test]
    fn docs_routes_md_is_generated_from_the_openapi_document() {
        check_page("routes.md", &routes());
    }

    #[test]
    fn the_route_index_lists_every_operation_of_the_openapi_document() {
        let spec = serde_json::to_value(crate::http::openapi()).expect("JSON");
        let index = routes();
        let mut count = 0;
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if method == "parameters" {
                    continue;
                }
                count += 1;
                let row = format!("| {} | `{path}` |", method.to_ascii_uppercase());
                assert!(index.contains(&row), "missing {row}");
            }
        }
        assert!(
            index.contains(&format!("({count} in all)")),
            "the total is {count}"
        );
        assert!(index.contains("| GET | `/openapi.json` |"));
    }

    /// README.md and the hand-written pages of docs/ (not the generated ones).
    fn hand_written_pages() -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut pages = vec![(
            "README.md".to_owned(),
            std::fs::read_to_string(root.join("README.md")).expect("README.md"),
        )];
        for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let generated = ["configuration.md", "routes.md"].contains(&name);
            if name.ends_with(".md") && !generated {
                let text = std::fs::read_to_string(&path).expect("UTF-8 page");
                pages.push((format!("docs/{name}"), text));
            }
        }
        pages
    }

    /// The code of a Markdown page: inline code spans, and each line of fenced blocks.
    fn code_spans(text: &str) -> Vec<String> {
        let mut spans = Vec::new();
        let mut prose = String::new();
        let mut fenced = false;
        let flush = |prose: &mut String, spans: &mut Vec<String>| {
            spans.extend(
                prose
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            );
            prose.clear();
        };
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                flush(&mut prose, &mut spans);
                fenced = !fenced;
            } else if fenced {
                spans.push(line.to_owned());
            } else {
                prose.push_str(line);
                prose.push('\n');
            }
        }
        flush(&mut prose, &mut spans);
        spans
    }

    fn documented_settings() -> Vec<String> {
        crate::config::reference::SECTIONS
            .iter()
            .flat_map(|s| {
                s.settings
                    .iter()
                    .map(|d| crate::config::reference::path(s.name, d.key))
            })
            .collect()
    }

    #[test]
    fn every_environment_variable_in_the_docs_is_a_setting() {
        let mut known: Vec<String> = documented_settings()
            .iter()
            .map(|p| crate::config::reference::env_name(p))
            .collect();
        known.push("HEYAN_CONFIG".to_owned());
        for (page, text) in hand_written_pages() {
            for (start, _) in text.match_indices("HEYAN_") {
                let name: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                // `HEYAN_` on its own is the prefix, in prose about the naming rule.
                if name != "HEYAN_" {
                    assert!(known.contains(&name), "{page}: no setting reads {name}");
                }
            }
        }
    }

    #[test]
    fn every_setting_in_the_docs_exists() {
        let settings = documented_settings();
        let sections: Vec<&str> = crate::config::reference::SECTIONS
            .iter()
            .map(|s| s.name)
            .filter(|n| !n.is_empty())
            .collect();
        let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        for (page, text) in hand_written_pages() {
            for span in code_spans(&text) {
                for section in &sections {
                    for (start, _) in span.match_indices(&format!("{section}.")) {
                        let before = span[..start].chars().next_back();
                        if before.is_some_and(|c| word(c) || matches!(c, '.' | '/' | '-')) {
                            continue;
                        }
                        let rest = &span[start + section.len() + 1..];
                        let key: String = rest.chars().take_while(|c| word(*c)).collect();
                        // `sms.tencent_*` names a family of settings.
                        if key.is_empty() || rest[key.len()..].starts_with('*') {
                            continue;
                        }
                        let path = format!("{section}.{key}");
                        assert!(settings.contains(&path), "{page}: no setting `{path}`");
                    }
                }
                if let Some(name) = span.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    if !name.is_empty() && name.chars().all(word) {
                        assert!(sections.contains(&name), "{page}: no section `[{name}]`");
                    }
                }
            }
        }
    }

    /// `METHOD /path` in the docs names an operation of the OpenAPI document; `{…}` and
    /// `$VAR` segments stand for any value.
    #[test]
    fn every_route_in_the_docs_exists() {
        let spec = serde_json::to_value(crate::http::openapi()).expect("JSON");
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                operations.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let wild = |s: &str| s.starts_with('{') || s.starts_with('$');
        let matches = |template: &str, path: &str| {
            let (a, b): (Vec<_>, Vec<_>) =
                (template.split('/').collect(), path.split('/').collect());
            a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || wild(x) || wild(y))
        };
        let mut checked = 0;
        for (page, text) in hand_written_pages() {
            for span in code_spans(&text) {
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
                    for (start, _) in span.match_indices(&format!("{method} /")) {
                        let path: String = span[start + method.len() + 1..]
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '?')
                            .collect();
                        assert!(
                            operations
                                .iter()
                                .any(|(m, t)| m == method && matches(t, &path)),
                            "{page}: no operation `{method} {path}`"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(
            checked > 20,
            "the scan finds the documented routes ({checked})"
        );
    }

    /// `heyan …` and `cargo run --release -- …` in the docs name real subcommands and
    /// flags.
    #[test]
    fn every_command_in_the_docs_exists() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let mut checked = 0;
        for (page, text) in hand_written_pages() {
            for span in code_spans(&text) {
                let mut rests = Vec::new();
                for prefix in [
                    "heyan ",
                    "cargo run --release -- ",
                    "--features turbojpeg -- ",
                ] {
                    for (start, _) in span.match_indices(prefix) {
                        let before = span[..start].chars().next_back();
                        if prefix != "heyan " || before.is_none_or(|c| c.is_whitespace()) {
                            rests.push(&span[start + prefix.len()..]);
                        }
                    }
                }
                for rest in rests {
                    let words: Vec<&str> = rest
                        .split_whitespace()
                        .take_while(|w| !w.starts_with('#') && *w != "/")
                        .collect();
                    let Some(first) = words.first() else { continue };
                    if !first.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                        continue;
                    }
                    let mut command = cli
                        .find_subcommand(first)
                        .unwrap_or_else(|| panic!("{page}: `heyan {first}` is not a command"));
                    let mut name = format!("heyan {first}");
                    if command.has_subcommands() {
                        if let Some(second) = words.get(1).filter(|w| !w.starts_with('-')) {
                            command = command.find_subcommand(second).unwrap_or_else(|| {
                                panic!("{page}: `{name} {second}` is not a command")
                            });
                            name = format!("{name} {second}");
                        }
                    }
                    for flag in words.iter().filter_map(|w| {
                        w.trim_start_matches('[').strip_prefix("--").map(|f| {
                            f.trim_end_matches(']')
                                .split(['=', ']'])
                                .next()
                                .unwrap_or_default()
                        })
                    }) {
                        let known = command
                            .get_arguments()
                            .chain(cli.get_arguments())
                            .any(|a| a.get_long() == Some(flag));
                        assert!(known, "{page}: `{name}` has no --{flag}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(
            checked > 10,
            "the scan finds the documented commands ({checked})"
        );
    }
}
