//! Review decisions: the reason codes a reviewer rejects with, which capture step each may
//! name, and the steps a rejection reopens in the App.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::case::PhotoKind;

/// Why a case is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// 看不清人脸.
    FaceNotVisible,
    /// 证件不清晰.
    IdUnreadable,
    /// 证件信息与登记不符.
    IdMismatch,
    /// 本人核验未通过.
    LivenessFailed,
    /// 手持证件照不合格.
    HandheldInvalid,
    /// 其他 (a note says what).
    Other,
}

impl ReasonCode {
    /// Every code, in the order the console lists them.
    pub const ALL: [Self; 6] = [
        Self::FaceNotVisible,
        Self::IdUnreadable,
        Self::IdMismatch,
        Self::LivenessFailed,
        Self::HandheldInvalid,
        Self::Other,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FaceNotVisible => "face_not_visible",
            Self::IdUnreadable => "id_unreadable",
            Self::IdMismatch => "id_mismatch",
            Self::LivenessFailed => "liveness_failed",
            Self::HandheldInvalid => "handheld_invalid",
            Self::Other => "other",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// The reason as the principal and the filing system read it, in Chinese.
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::FaceNotVisible => "看不清人脸",
            Self::IdUnreadable => "证件不清晰",
            Self::IdMismatch => "证件信息与登记不符",
            Self::LivenessFailed => "本人核验未通过",
            Self::HandheldInvalid => "手持证件照不合格",
            Self::Other => "其他",
        }
    }

    /// The same in English.
    pub fn label_en(self) -> &'static str {
        match self {
            Self::FaceNotVisible => "Face not visible",
            Self::IdUnreadable => "ID card unreadable",
            Self::IdMismatch => "ID card does not match the registration",
            Self::LivenessFailed => "Liveness check failed",
            Self::HandheldInvalid => "Handheld photo invalid",
            Self::Other => "Other",
        }
    }

    /// The capture steps this reason may name.
    pub fn steps(self) -> &'static [PhotoKind] {
        use PhotoKind::{Back, Front, Handheld, Liveness};
        match self {
            Self::FaceNotVisible => &[Liveness, Handheld],
            Self::IdUnreadable | Self::IdMismatch => &[Handheld, Front, Back],
            Self::LivenessFailed => &[Liveness],
            Self::HandheldInvalid => &[Handheld],
            Self::Other => &[Liveness, Handheld, Front, Back],
        }
    }
}

/// One reason of a rejection: the code and the step it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reason {
    /// Why.
    pub code: ReasonCode,
    /// Which capture.
    pub step: PhotoKind,
}

/// What is wrong with a rejection's reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// A rejection needs at least one reason.
    #[error("a rejection needs at least one reason")]
    NoReasons,
    /// An unknown reason code (index given).
    #[error("reasons[{0}].code is not a known reason")]
    UnknownCode(usize),
    /// An unknown step, or one the code may not name (index given).
    #[error("reasons[{0}].step is not a step this reason may name")]
    StepNotAllowed(usize),
    /// `other` needs a note saying what is wrong.
    #[error("the reason `other` needs a note")]
    NoteRequired,
    /// An approval takes no reasons.
    #[error("an approval takes no reasons")]
    ReasonsOnApproval,
}

impl ReasonError {
    /// The field the problem is in, and its stable code.
    pub fn field(&self) -> (String, &'static str) {
        match self {
            Self::NoReasons => ("reasons".into(), "required"),
            Self::UnknownCode(i) => (format!("reasons[{i}].code"), "unknown"),
            Self::StepNotAllowed(i) => (format!("reasons[{i}].step"), "not_allowed"),
            Self::NoteRequired => ("note".into(), "required"),
            Self::ReasonsOnApproval => ("reasons".into(), "not_allowed"),
        }
    }
}

/// Parses a rejection's reasons (wire names), deduplicated and sorted.
pub fn parse_reasons(
    raw: &[(String, String)],
    note: Option<&str>,
) -> Result<Vec<Reason>, ReasonError> {
    if raw.is_empty() {
        return Err(ReasonError::NoReasons);
    }
    let mut reasons = BTreeSet::new();
    for (i, (code, step)) in raw.iter().enumerate() {
        let code = ReasonCode::parse(code).ok_or(ReasonError::UnknownCode(i))?;
        let step = PhotoKind::parse(step)
            .filter(|s| code.steps().contains(s))
            .ok_or(ReasonError::StepNotAllowed(i))?;
        reasons.insert(Reason { code, step });
    }
    let has_note = note.is_some_and(|n| !n.trim().is_empty());
    if reasons.iter().any(|r| r.code == ReasonCode::Other) && !has_note {
        return Err(ReasonError::NoteRequired);
    }
    Ok(reasons.into_iter().collect())
}

/// The steps a rejection reopens: exactly the ones its reasons name, in App order.
pub fn reopened_steps(reasons: &[Reason]) -> Vec<PhotoKind> {
    PhotoKind::ALL
        .into_iter()
        .filter(|kind| reasons.iter().any(|r| r.step == *kind))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(c, s)| ((*c).to_owned(), (*s).to_owned()))
            .collect()
    }

    #[test]
    fn an_unreadable_front_reopens_the_front_only() {
        let reasons = parse_reasons(&raw(&[("id_unreadable", "front")]), None).expect("valid");
        assert_eq!(reopened_steps(&reasons), [PhotoKind::Front]);
    }

    #[test]
    fn several_reasons_reopen_their_steps_once_each_in_app_order() {
        let reasons = parse_reasons(
            &raw(&[
                ("id_unreadable", "back"),
                ("liveness_failed", "liveness"),
                ("id_mismatch", "back"),
                ("face_not_visible", "handheld"),
            ]),
            None,
        )
        .expect("valid");
        assert_eq!(
            reopened_steps(&reasons),
            [PhotoKind::Liveness, PhotoKind::Handheld, PhotoKind::Back]
        );
    }

    #[test]
    fn duplicates_collapse() {
        let reasons = parse_reasons(
            &raw(&[("id_unreadable", "front"), ("id_unreadable", "front")]),
            None,
        )
        .expect("valid");
        assert_eq!(reasons.len(), 1);
    }

    #[test]
    fn refusals_name_the_field() {
        assert_eq!(parse_reasons(&[], None), Err(ReasonError::NoReasons));
        let unknown = parse_reasons(
            &raw(&[("id_unreadable", "front"), ("blurry", "front")]),
            None,
        );
        assert_eq!(unknown, Err(ReasonError::UnknownCode(1)));
        assert_eq!(
            unknown.unwrap_err().field(),
            ("reasons[1].code".to_owned(), "unknown")
        );
        assert_eq!(
            parse_reasons(&raw(&[("liveness_failed", "front")]), None),
            Err(ReasonError::StepNotAllowed(0))
        );
        assert_eq!(
            parse_reasons(&raw(&[("id_unreadable", "selfie")]), None),
            Err(ReasonError::StepNotAllowed(0))
        );
        assert_eq!(
            parse_reasons(&raw(&[("other", "back")]), Some("  ")),
            Err(ReasonError::NoteRequired)
        );
        assert!(parse_reasons(&raw(&[("other", "back")]), Some("证件过期")).is_ok());
    }

    #[test]
    fn every_code_names_at_least_one_step_and_round_trips() {
        for code in ReasonCode::ALL {
            assert!(!code.steps().is_empty());
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
        }
    }
}
