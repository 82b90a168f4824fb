//! The liveness challenge's actions (本人核验): what the App asks the principal to do, with
//! the text and voice prompts it plays. Which actions a challenge holds is random; the
//! wire names are stable.

use serde::{Deserialize, Serialize};

/// One action of a liveness challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LivenessAction {
    /// 眨眼.
    Blink,
    /// 点头: the face moves vertically across the frames.
    Nod,
    /// 摇头: the face moves horizontally across the frames.
    Shake,
    /// 张嘴.
    OpenMouth,
}

impl LivenessAction {
    /// Every action, in a fixed order (a challenge draws from these).
    pub const ALL: [Self; 4] = [Self::Blink, Self::Nod, Self::Shake, Self::OpenMouth];

    /// The wire name (also the multipart field name of its frames).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blink => "blink",
            Self::Nod => "nod",
            Self::Shake => "shake",
            Self::OpenMouth => "open_mouth",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// The action's name inside a Chinese sentence (“点头”).
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Blink => "眨眼",
            Self::Nod => "点头",
            Self::Shake => "摇头",
            Self::OpenMouth => "张嘴",
        }
    }

    /// The action's name inside an English sentence ("the nod").
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Blink => "blink",
            Self::Nod => "nod",
            Self::Shake => "head shake",
            Self::OpenMouth => "mouth opening",
        }
    }

    /// The prompt the App shows, in Chinese.
    pub fn prompt_zh(self) -> &'static str {
        match self {
            Self::Blink => "请正对屏幕，缓慢眨眼",
            Self::Nod => "请正对屏幕，缓慢点头",
            Self::Shake => "请正对屏幕，缓慢左右摇头",
            Self::OpenMouth => "请正对屏幕，张嘴后再合上",
        }
    }

    /// The same in English.
    pub fn prompt_en(self) -> &'static str {
        match self {
            Self::Blink => "Face the screen and blink slowly",
            Self::Nod => "Face the screen and nod slowly",
            Self::Shake => "Face the screen and slowly shake your head",
            Self::OpenMouth => "Face the screen, open your mouth, then close it",
        }
    }

    /// The id of the recorded voice prompt the App plays (the App ships the audio).
    pub fn voice_prompt_id(self) -> &'static str {
        match self {
            Self::Blink => "liveness.blink.zh-CN.v1",
            Self::Nod => "liveness.nod.zh-CN.v1",
            Self::Shake => "liveness.shake.zh-CN.v1",
            Self::OpenMouth => "liveness.open_mouth.zh-CN.v1",
        }
    }

    /// Whether the frames can show the action itself (head movement), beyond a face
    /// being present: nod and shake move the face box; blink and open mouth do not.
    pub fn movement_checked(self) -> bool {
        matches!(self, Self::Nod | Self::Shake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_unknown_names_are_refused() {
        for action in LivenessAction::ALL {
            assert_eq!(LivenessAction::parse(action.as_str()), Some(action));
            let json = serde_json::to_string(&action).expect("json");
            assert_eq!(json, format!("\"{}\"", action.as_str()));
        }
        assert_eq!(LivenessAction::parse("wink"), None);
        assert_eq!(LivenessAction::parse("Blink"), None);
    }

    #[test]
    fn only_head_movements_are_checked_for_movement() {
        let checked: Vec<_> = LivenessAction::ALL
            .into_iter()
            .filter(|a| a.movement_checked())
            .collect();
        assert_eq!(checked, [LivenessAction::Nod, LivenessAction::Shake]);
    }
}
