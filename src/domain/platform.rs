//! What kind of phone and browser opened the QR landing page, read from its User-Agent.
//!
//! Owns the rules that pick the download link (Android, iOS, HarmonyOS) and spot in-app
//! browsers that block app downloads (WeChat, QQ, Alipay). Pure string matching: no I/O,
//! no logging, no client hints or JavaScript. A User-Agent is a claim made by the client;
//! it only chooses which page to show and must never be used to grant anything.

use std::fmt;

/// The phone platform that decides which download link fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Android, including HarmonyOS 2–4, which runs Android apps.
    Android,
    /// iPhone, iPad or iPod touch.
    Ios,
    /// HarmonyOS NEXT / OpenHarmony, which does not run Android apps.
    Harmony,
    /// Anything else: desktops, unknown phones, an empty User-Agent.
    Other,
}

impl Platform {
    /// A stable lowercase name for settings keys and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Ios => "ios",
            Self::Harmony => "harmony",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the landing page needs to know about the client that scanned the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAgentInfo {
    /// The phone platform.
    pub platform: Platform,
    /// Opened in WeChat's (or WeCom's) in-app browser, which blocks app downloads.
    pub in_wechat: bool,
    /// Opened in QQ's or Alipay's in-app browser, which block app downloads the same way.
    pub in_alipay_or_qq: bool,
}

impl UserAgentInfo {
    /// Whether the page must first be reopened in the system browser to download the App.
    pub fn in_app_browser(&self) -> bool {
        self.in_wechat || self.in_alipay_or_qq
    }
}

/// Classifies a User-Agent header value; unknown or empty input gives [`Platform::Other`]
/// with no in-app browser.
///
/// iPadOS Safari sends a desktop-class UA identical to macOS Safari and is reported as
/// `Other` (only a script could tell them apart); iPad app web views that add `Mobile/`
/// to the `Macintosh` UA are reported as `Ios`.
pub fn detect(user_agent: &str) -> UserAgentInfo {
    UserAgentInfo {
        platform: platform(user_agent),
        in_wechat: has_token(user_agent, "MicroMessenger"),
        in_alipay_or_qq: has_token(user_agent, "QQ/") || has_token(user_agent, "AlipayClient"),
    }
}

fn platform(ua: &str) -> Platform {
    let android = has_token(ua, "Android");
    // HarmonyOS 2–4 sends "Android; HarmonyOS" and installs Android packages, so it gets the
    // Android link; only HarmonyOS NEXT (OpenHarmony based, no "Android") needs its own.
    let harmony = has_token(ua, "HarmonyOS") || has_token(ua, "OpenHarmony");
    if harmony && !android {
        Platform::Harmony
    } else if ["iPhone", "iPad", "iPod"].iter().any(|t| has_token(ua, t)) || is_ipad_desktop(ua) {
        Platform::Ios
    } else if android {
        Platform::Android
    } else {
        Platform::Other
    }
}

// Desktop-class iPad web views say "Macintosh" but keep the "Mobile/<build>" token that
// macOS browsers never send.
fn is_ipad_desktop(ua: &str) -> bool {
    has_token(ua, "Macintosh") && has_token(ua, "Mobile/")
}

/// Whether `token` occurs at the start of a word, so `QQ/` does not match inside
/// another product name. Matching is case-sensitive, as clients send these tokens.
fn has_token(ua: &str, token: &str) -> bool {
    ua.match_indices(token).any(|(at, _)| {
        !matches!(ua[..at].chars().next_back(), Some(before) if before.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WECHAT_ANDROID: &str = "Mozilla/5.0 (Linux; Android 13; V2055A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160065 MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64";
    const WECHAT_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN";
    const WECHAT_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129 Flue";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    const SAFARI_IPAD_LEGACY: &str = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1";
    const IPAD_DESKTOP_WEB_VIEW: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
    const SAFARI_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
    const CHROME_ANDROID: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
    const QQ_BROWSER_ANDROID: &str = "Mozilla/5.0 (Linux; U; Android 12; zh-cn; PEGM00 Build/SKQ1.210216.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/89.0.4389.72 MQQBrowser/13.6 Mobile Safari/537.36 COVC/046335";
    const QQ_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 QQ/8.9.28.635 V1_IPH_SQ_8.9.28_1_APP_A Pixel/1170 MiniAppEnable SimpleUISwitch/0 StudyMode/0 CurrentMode/0 CurrentFontScale/1.000000 QQTheme/1000 Core/WKWebView Device/Apple(iPhone 14) NetType/WIFI QBWebViewType/1 WKType/1";
    const ALIPAY_ANDROID: &str = "Mozilla/5.0 (Linux; U; Android 12; zh-CN; M2012K11AC Build/SKQ1.211006.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.59 Mobile Safari/537.36 UCBS/3.22.2.59_230817183232 ChannelId(0) NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:393|0|2.75) AliApp(AP/10.5.26.8000) AlipayClient/10.5.26.8000 Language/zh-Hans useStatusBar/true isConcaveScreen/true";
    const HUAWEI_BROWSER_HARMONY_NEXT: &str = "Mozilla/5.0 (Phone; OpenHarmony 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 ArkWeb/4.1.6.1 Mobile HuaweiBrowser/5.0.6.300";
    const HUAWEI_BROWSER_HARMONY_3: &str = "Mozilla/5.0 (Linux; Android 12; HarmonyOS; NOH-AN00; HMSCore 6.13.0.321) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.5.302 Mobile Safari/537.36";
    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    #[test]
    fn detect_classifies_real_user_agents() {
        use Platform::*;
        // Which in-app browser flags are expected: (in WeChat, in QQ or Alipay).
        const PLAIN: (bool, bool) = (false, false);
        const WECHAT: (bool, bool) = (true, false);
        const QQ_OR_ALIPAY: (bool, bool) = (false, true);
        let cases = [
            ("WeChat on Android", WECHAT_ANDROID, Android, WECHAT),
            ("WeChat on iPhone", WECHAT_IOS, Ios, WECHAT),
            ("WeChat for Windows", WECHAT_WINDOWS, Other, WECHAT),
            ("Safari on iPhone", SAFARI_IPHONE, Ios, PLAIN),
            ("Safari on iPad (iOS 12)", SAFARI_IPAD_LEGACY, Ios, PLAIN),
            (
                "iPad desktop-class web view",
                IPAD_DESKTOP_WEB_VIEW,
                Ios,
                PLAIN,
            ),
            ("Safari on macOS", SAFARI_MAC, Other, PLAIN),
            ("Chrome on Android", CHROME_ANDROID, Android, PLAIN),
            (
                "QQ Browser (not in-app)",
                QQ_BROWSER_ANDROID,
                Android,
                PLAIN,
            ),
            ("QQ on iPhone", QQ_IOS, Ios, QQ_OR_ALIPAY),
            ("Alipay on Android", ALIPAY_ANDROID, Android, QQ_OR_ALIPAY),
            (
                "Huawei Browser, HarmonyOS NEXT",
                HUAWEI_BROWSER_HARMONY_NEXT,
                Harmony,
                PLAIN,
            ),
            (
                "Huawei Browser, HarmonyOS 3",
                HUAWEI_BROWSER_HARMONY_3,
                Android,
                PLAIN,
            ),
            ("Chrome on Windows", CHROME_WINDOWS, Other, PLAIN),
            ("empty", "", Other, PLAIN),
        ];
        for (description, ua, platform, (in_wechat, in_alipay_or_qq)) in cases {
            let expected = UserAgentInfo {
                platform,
                in_wechat,
                in_alipay_or_qq,
            };

            assert_eq!(detect(ua), expected, "{description}");
        }
    }

    #[test]
    fn in_app_browser_covers_wechat_qq_and_alipay_only() {
        assert!(detect(WECHAT_IOS).in_app_browser());
        assert!(detect(QQ_IOS).in_app_browser());
        assert!(detect(ALIPAY_ANDROID).in_app_browser());
        assert!(!detect(SAFARI_IPHONE).in_app_browser());
        assert!(!detect(QQ_BROWSER_ANDROID).in_app_browser());
    }

    #[test]
    fn tokens_match_only_at_the_start_of_a_word() {
        assert!(has_token("QQ/8.9", "QQ/"));
        assert!(has_token("Mobile/15E148 QQ/8.9", "QQ/"));
        assert!(!has_token("MQQ/1.0", "QQ/"));
        assert!(!has_token("NotAndroid 10", "Android"));
    }

    #[test]
    fn platform_names_are_stable() {
        use Platform::*;
        let cases = [
            (Android, "android"),
            (Ios, "ios"),
            (Harmony, "harmony"),
            (Other, "other"),
        ];
        for (platform, name) in cases {
            assert_eq!(platform.as_str(), name);
            assert_eq!(platform.to_string(), name);
        }
    }

    proptest! {
        #[test]
        fn detecting_arbitrary_strings_never_panics(ua in any::<String>()) {
            let _ = detect(&ua);
        }
    }
}
