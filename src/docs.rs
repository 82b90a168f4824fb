//! Pages of `docs/` that are generated from the code, so they cannot drift from it:
//! docs/configuration.md from `Settings` (see `config::reference`) and docs/routes.md from
//! the OpenAPI document (`http::openapi`). Tests compare the committed pages with fresh
//! output; `UPDATE_DOCS=1 cargo test --lib docs` rewrites them.

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
}
