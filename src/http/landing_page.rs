//! The QR landing page (`/d/{token}`): the HTML a phone sees after scanning a case's code.
//!
//! Owns what the page says for each client: in-app browsers (WeChat, QQ, Alipay) are told
//! to reopen it in the system browser, a platform with a configured link gets the download
//! button (and an open-App button for the deep link), any other platform gets the
//! explanation and the ordinary photo method. zh-CN first, English beside it. The HTML lives
//! in `assets/templates/` (compiled in); this module keeps or drops the marked sections and
//! fills `{{placeholders}}` with HTML-escaped values. Pure: it must not look anything up,
//! count scans or log (the handler does that), and the page must stay free of JavaScript and
//! external resources so it works in locked-down in-app browsers.

use std::fmt;

use crate::domain::platform::UserAgentInfo;

const LANDING: &str = include_str!("../../assets/templates/landing.html");
const NOT_FOUND: &str = include_str!("../../assets/templates/landing_not_found.html");

/// What the landing page shows, assembled by the handler from the request and settings.
#[derive(Clone)]
pub struct LandingView {
    /// The client that scanned the code.
    pub ua: UserAgentInfo,
    /// The download link configured for `ua.platform`, if any. Only `http`/`https` links
    /// are shown; anything else counts as no link.
    pub download_url: Option<String>,
    /// App scheme URL that opens the installed App on this case (e.g.
    /// `shbeian://verify?t=…`). Carries the token, so `Debug` hides it.
    pub deep_link: Option<String>,
    /// The App's display name.
    pub app_name: String,
    /// The web capture flow for this case, a path on this server (`/m/{token}`), when it
    /// is turned on. Carries the token, so `Debug` hides it.
    pub web_url: Option<String>,
}

// The deep link carries the case token; `{:?}` in a log line must not leak it.
impl fmt::Debug for LandingView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LandingView")
            .field("ua", &self.ua)
            .field("download_url", &self.download_url)
            .field("deep_link", &self.deep_link.as_ref().map(|_| "<redacted>"))
            .field("app_name", &self.app_name)
            .field("web_url", &self.web_url.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The three shapes the page can take.
#[derive(Debug, PartialEq, Eq)]
enum Page<'a> {
    /// Opened in an in-app browser that blocks downloads: reopen in the system browser.
    InApp,
    /// A download link fits this platform.
    Download {
        url: &'a str,
        deep_link: Option<&'a str>,
    },
    /// No download for this device: explain and point to the ordinary photo method.
    Unsupported,
}

/// Renders the landing page as a complete HTML document (serve as `text/html; charset=utf-8`).
///
/// Without a usable download link the page explains that this device is not supported,
/// even inside WeChat, since reopening it in a browser would not help.
pub fn render(view: &LandingView) -> String {
    let page = choose_page(view);
    let (sections, page_class, url, deep_link): (&[&str], _, _, _) = match &page {
        Page::InApp => (&["in_app"], "in-app", "", ""),
        Page::Download {
            url,
            deep_link: Some(link),
        } => (&["download", "open_app", "steps"], "", url, link),
        Page::Download {
            url,
            deep_link: None,
        } => (&["download", "steps"], "", url, ""),
        Page::Unsupported => (&["unsupported"], "", "", ""),
    };
    // The web flow, when on, comes first: nothing to install. The App stays below it.
    let web_url = view.web_url.as_deref().filter(|u| is_web_flow_path(u));
    let mut kept: Vec<&str> = web_url.iter().map(|_| "web").collect();
    // With the web flow any phone can verify: "not supported" is no longer true.
    if web_url.is_none() || page != Page::Unsupported {
        kept.extend(sections);
    }
    let download_class = if web_url.is_some() {
        "secondary"
    } else {
        "primary"
    };
    let values = [
        ("app_name", view.app_name.as_str()),
        ("page_class", page_class),
        ("web_url", web_url.unwrap_or_default()),
        ("download_class", download_class),
        ("download_url", url),
        ("deep_link", deep_link),
    ];
    fill(&keep_sections(LANDING, &kept), &values)
}

/// The page for an unknown or expired token: asks for a new QR code from the filing
/// system. A complete HTML document; serve it with status 404.
pub fn render_not_found() -> String {
    NOT_FOUND.to_owned()
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Only a path of the web flow on this server is linked.
fn is_web_flow_path(path: &str) -> bool {
    path.strip_prefix("/m/")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn choose_page(view: &LandingView) -> Page<'_> {
    let Some(url) = view.download_url.as_deref().filter(|u| is_web_url(u)) else {
        return Page::Unsupported;
    };
    if view.ua.in_app_browser() {
        return Page::InApp;
    }
    let deep_link = view.deep_link.as_deref().filter(|l| is_app_link(l));
    Page::Download { url, deep_link }
}

// Escaping cannot stop a `javascript:` or `data:` URL in an href from running. Settings
// validation should refuse such links; this is the last guard.
fn is_web_url(url: &str) -> bool {
    url_scheme(url)
        .is_some_and(|s| s.eq_ignore_ascii_case("https") || s.eq_ignore_ascii_case("http"))
}

fn is_app_link(url: &str) -> bool {
    url_scheme(url).is_some_and(|s| {
        !["javascript", "vbscript", "data"]
            .iter()
            .any(|bad| s.eq_ignore_ascii_case(bad))
    })
}

/// The scheme before the first `:` when it is well formed (RFC 3986: a letter, then
/// letters, digits, `+`, `-`, `.`); browsers would otherwise strip or reinterpret it.
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// Keeps the bodies of the named `<!-- section:NAME -->…<!-- end:NAME -->` blocks, drops
/// the other blocks, and removes the marker lines.
fn keep_sections(template: &str, keep: &[&str]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some((before, name, body, after)) = split_section(rest) {
        out.push_str(before);
        if keep.contains(&name) {
            out.push_str(body);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// `(before, name, body, after)` around the first complete section block.
fn split_section(text: &str) -> Option<(&str, &str, &str, &str)> {
    let (before, tail) = text.split_once("<!-- section:")?;
    let (name, tail) = tail.split_once(" -->")?;
    let (body, after) = tail.split_once(&format!("<!-- end:{name} -->"))?;
    Some((before, name, skip_newline(body), skip_newline(after)))
}

fn skip_newline(text: &str) -> &str {
    text.strip_prefix('\n').unwrap_or(text)
}

/// Replaces each `{{name}}` with the escaped value of `name`, in one pass so that a value
/// containing `{{…}}` is never substituted again. Unknown names are left as they are.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some((before, name, after)) = split_placeholder(rest) {
        out.push_str(before);
        match values.iter().find(|(key, _)| *key == name) {
            Some((_, value)) => out.push_str(&escape_html(value)),
            None => {
                out.push_str("{{");
                out.push_str(name);
                out.push_str("}}");
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn split_placeholder(text: &str) -> Option<(&str, &str, &str)> {
    let (before, tail) = text.split_once("{{")?;
    let (name, after) = tail.split_once("}}")?;
    Some((before, name, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::platform::Platform;

    const APK: &str = "https://dl.example.com/heyan.apk?channel=qr&v=2";
    const APK_ESCAPED: &str = "https://dl.example.com/heyan.apk?channel=qr&amp;v=2";
    const DEEP_LINK: &str = "shbeian://verify?t=secret-token&s=1";
    const IN_BROWSER: &str = "请点击右上角「…」，选择「在浏览器打开」";
    const UNSUPPORTED: &str =
        "暂不支持此设备，请使用 Android 或 iPhone 手机扫码，或改用普通拍照方式";

    fn ua(platform: Platform, in_wechat: bool, in_alipay_or_qq: bool) -> UserAgentInfo {
        UserAgentInfo {
            platform,
            in_wechat,
            in_alipay_or_qq,
        }
    }

    fn view(ua: UserAgentInfo, download_url: Option<&str>, deep_link: Option<&str>) -> LandingView {
        LandingView {
            ua,
            download_url: download_url.map(str::to_owned),
            deep_link: deep_link.map(str::to_owned),
            app_name: "上海备案 App".to_owned(),
            web_url: None,
        }
    }

    const WEB: &str = "/m/0123456789abcdef0123456789abcdef";
    const WEB_BUTTON: &str = "在浏览器中完成核验（无需安装）";

    #[test]
    fn the_web_flow_comes_first_and_the_app_stays_below_it() {
        let mut with_link = view(
            ua(Platform::Android, false, false),
            Some(APK),
            Some(DEEP_LINK),
        );
        with_link.web_url = Some(WEB.to_owned());
        let html = render(&with_link);
        assert_complete_document(&html, "web flow with a download link");
        let web = html.find(WEB_BUTTON).expect("the web button");
        let download = html.find(APK_ESCAPED).expect("the download button");
        assert!(web < download, "the web flow first");
        assert!(html.contains(&format!("class=\"button primary\" href=\"{WEB}\"")));
        assert!(html.contains(&format!(
            "class=\"button secondary\" href=\"{APK_ESCAPED}\""
        )));

        // Any phone can use the web flow: no "not supported" where no App exists.
        let mut desktop = view(ua(Platform::Other, false, false), None, None);
        desktop.web_url = Some(WEB.to_owned());
        let html = render(&desktop);
        assert!(html.contains(WEB_BUTTON));
        assert!(!html.contains(UNSUPPORTED));

        // Without the web flow nothing changes, and a script URL is never linked.
        desktop.web_url = Some("javascript:alert(1)".to_owned());
        let html = render(&desktop);
        assert!(!html.contains(WEB_BUTTON) && html.contains(UNSUPPORTED));
    }

    /// Properties every page must have, whatever it shows.
    fn assert_complete_document(html: &str, description: &str) {
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"),
            "{description}"
        );
        assert!(html.contains("<meta charset=\"utf-8\">"), "{description}");
        assert!(html.contains("name=\"viewport\""), "{description}");
        assert!(html.trim_end().ends_with("</html>"), "{description}");
        assert!(!html.contains("{{"), "{description}: unfilled placeholder");
        assert!(
            !html.contains("<!-- section:"),
            "{description}: section marker"
        );
        assert!(!html.contains("<!-- end:"), "{description}: section marker");
        assert!(!html.contains("<script"), "{description}: no JavaScript");
        for external in ["<link", "src=", "url(", "@import"] {
            assert!(
                !html.contains(external),
                "{description}: external resource {external}"
            );
        }
    }

    #[test]
    fn every_variant_is_a_complete_self_contained_document() {
        let cases = [
            (
                "in WeChat",
                view(ua(Platform::Ios, true, false), Some(APK), Some(DEEP_LINK)),
            ),
            (
                "download",
                view(ua(Platform::Android, false, false), Some(APK), None),
            ),
            (
                "download and open",
                view(
                    ua(Platform::Android, false, false),
                    Some(APK),
                    Some(DEEP_LINK),
                ),
            ),
            (
                "unsupported",
                view(ua(Platform::Harmony, false, false), None, None),
            ),
        ];
        for (description, view) in cases {
            assert_complete_document(&render(&view), description);
        }
        assert_complete_document(&render_not_found(), "not found");
    }

    #[test]
    fn in_app_browsers_get_the_open_in_browser_instruction_and_no_links() {
        let cases = [
            ("WeChat on Android", ua(Platform::Android, true, false)),
            ("WeChat on iPhone", ua(Platform::Ios, true, false)),
            ("QQ or Alipay", ua(Platform::Android, false, true)),
        ];
        for (description, ua) in cases {
            let html = render(&view(ua, Some(APK), Some(DEEP_LINK)));

            assert!(html.contains(IN_BROWSER), "{description}");
            assert!(html.contains("Open in Browser"), "{description}");
            assert!(html.contains("class=\"arrow\""), "{description}");
            assert!(!html.contains("href="), "{description}");
            assert!(!html.contains("dl.example.com"), "{description}");
            assert!(!html.contains("shbeian:"), "{description}");
            assert!(!html.contains("class=\"button"), "{description}");
        }
    }

    #[test]
    fn a_platform_with_a_link_gets_the_escaped_download_button() {
        let html = render(&view(ua(Platform::Android, false, false), Some(APK), None));

        assert!(html.contains(&format!("href=\"{APK_ESCAPED}\"")));
        assert!(html.contains("下载 App"));
        assert!(html.contains("Download the App"));
        assert!(html.contains("立即核验"));
        assert!(!html.contains("已安装？打开 App"));
        assert!(!html.contains(IN_BROWSER));
        assert!(!html.contains(UNSUPPORTED));
    }

    #[test]
    fn a_deep_link_adds_the_open_app_button() {
        let html = render(&view(
            ua(Platform::Ios, false, false),
            Some(APK),
            Some(DEEP_LINK),
        ));

        assert!(html.contains(&format!("href=\"{APK_ESCAPED}\"")));
        assert!(html.contains("href=\"shbeian://verify?t=secret-token&amp;s=1\""));
        assert!(html.contains("已安装？打开 App"));
        assert!(html.contains("Already installed? Open the App"));
    }

    #[test]
    fn a_platform_without_a_link_gets_the_explanation_and_the_photo_fallback() {
        let cases = [
            ("HarmonyOS", ua(Platform::Harmony, false, false)),
            ("desktop", ua(Platform::Other, false, false)),
            ("WeChat on HarmonyOS", ua(Platform::Harmony, true, false)),
        ];
        for (description, ua) in cases {
            let html = render(&view(ua, None, Some(DEEP_LINK)));

            assert!(html.contains(UNSUPPORTED), "{description}");
            assert!(
                html.contains("This device is not supported yet"),
                "{description}"
            );
            assert!(html.contains("普通拍照方式："), "{description}");
            assert!(!html.contains("href="), "{description}");
            assert!(!html.contains(IN_BROWSER), "{description}");
        }
    }

    #[test]
    fn markup_in_values_is_escaped() {
        let mut view = view(
            ua(Platform::Android, false, false),
            Some("https://dl.example.com/a.apk\"><script>alert(1)</script>"),
            Some("shbeian://verify?t=x'\"><script>alert(2)</script>"),
        );
        view.app_name = "<img src=x onerror=alert(3)>".to_owned();

        let html = render(&view);

        assert!(!html.contains("<script"));
        assert!(!html.contains("<img"));
        assert!(html.contains(
            "href=\"https://dl.example.com/a.apk&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""
        ));
        assert!(html.contains(
            "href=\"shbeian://verify?t=x&#39;&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;\""
        ));
        assert!(html.contains("<h1>&lt;img src=x onerror=alert(3)&gt;</h1>"));
    }

    #[test]
    fn script_urls_are_never_linked() {
        let android = ua(Platform::Android, false, false);
        let cases = [
            ("javascript download", Some("javascript:alert(1)"), None),
            ("mixed-case scheme", Some("JavaScript:alert(1)"), None),
            ("data download", Some("data:text/html,<b>x</b>"), None),
            ("leading space", Some(" https://dl.example.com/a.apk"), None),
            (
                "javascript deep link",
                Some(APK),
                Some("javascript://%0Aalert(1)"),
            ),
            ("vbscript deep link", Some(APK), Some("VBScript:msgbox")),
        ];
        for (description, download_url, deep_link) in cases {
            let html = render(&view(android, download_url, deep_link));

            assert!(
                !html.to_ascii_lowercase().contains("script:"),
                "{description}"
            );
            assert!(!html.contains("data:"), "{description}");
        }
        let html = render(&view(android, Some("javascript:alert(1)"), None));
        assert!(
            html.contains(UNSUPPORTED),
            "an unusable link counts as none"
        );
    }

    #[test]
    fn placeholders_inside_values_are_not_substituted_again() {
        let mut view = view(ua(Platform::Ios, false, false), Some(APK), Some(DEEP_LINK));
        view.app_name = "{{deep_link}}".to_owned();

        let html = render(&view);

        assert!(html.contains("<h1>{{deep_link}}</h1>"));
        assert_eq!(html.matches("secret-token").count(), 1);
    }

    #[test]
    fn not_found_page_says_the_code_is_invalid_and_asks_for_a_new_one() {
        let html = render_not_found();

        assert!(html.contains("二维码无效或已过期"));
        assert!(html.contains("This QR code is invalid or has expired"));
        assert!(html.contains("重新获取"));
        assert!(html.contains("filing system"));
        assert!(!html.contains("href="));
    }

    #[test]
    fn escape_html_escapes_markup_and_both_quotes() {
        let cases = [
            (
                "script tag",
                "<script>alert(1)</script>",
                "&lt;script&gt;alert(1)&lt;/script&gt;",
            ),
            ("double quotes", r#"a "b""#, "a &quot;b&quot;"),
            ("single quotes", "it's", "it&#39;s"),
            ("ampersand first", "&lt;", "&amp;lt;"),
            ("Chinese untouched", "核验「…」", "核验「…」"),
            ("empty", "", ""),
        ];
        for (description, raw, expected) in cases {
            assert_eq!(escape_html(raw), expected, "{description}");
        }
    }

    #[test]
    fn debug_hides_the_deep_link_token() {
        let view = view(ua(Platform::Ios, false, false), Some(APK), Some(DEEP_LINK));

        let debug = format!("{view:?}");

        assert!(!debug.contains("secret-token"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn sections_and_placeholders_are_parsed_strictly() {
        let template = "a\n<!-- section:x -->\nX {{v}}\n<!-- end:x -->\n<!-- section:y -->\nY\n<!-- end:y -->\nb {{w}}";

        let kept = keep_sections(template, &["x"]);

        assert_eq!(kept, "a\nX {{v}}\nb {{w}}");
        assert_eq!(fill(&kept, &[("v", "<1>")]), "a\nX &lt;1&gt;\nb {{w}}");
    }
}
