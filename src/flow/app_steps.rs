//! The App's steps in order (phone, consent, liveness, handheld, front, back, complete):
//! which are done, which comes next, and the gates every capture passes — the case must be
//! open to the App, consent given, and the earlier steps done.

use chrono::{DateTime, Utc};

use super::{FlowError, Services};
use crate::domain::case::{CaseStatus, PhotoKind};
use crate::domain::ids::CaseId;
use crate::error_code::{ErrorCode, ErrorFacts};
use crate::store::CaseRecord;

/// The case as the App sees it: the record (status and steps done) and the websites the
/// one check covers. What every App answer carries.
#[derive(Debug, Clone)]
pub struct AppCaseView {
    /// The case as it is now.
    pub case: CaseRecord,
    /// The websites' domains, in filing order.
    pub websites: Vec<String>,
}

/// An App capture's outcome with the case as it is after it.
#[derive(Debug)]
pub struct Captured<T> {
    /// What the capture produced.
    pub outcome: T,
    /// The case, read again after the capture changed it.
    pub case: AppCaseView,
}

/// The App's view of `case` (adds its websites).
pub async fn view_of(svc: &Services, case: CaseRecord) -> Result<AppCaseView, FlowError> {
    let websites = svc.store.list_websites(&case.id).await?;
    Ok(AppCaseView {
        case,
        websites: websites.into_iter().map(|w| w.domain).collect(),
    })
}

/// The App's view of the case `id` as stored now (after a capture changed it).
pub async fn current_view(svc: &Services, id: &CaseId) -> Result<AppCaseView, FlowError> {
    let case = svc.store.get_case(id).await?;
    view_of(svc, case).await
}

/// Pairs a capture's outcome with the case as it is now.
pub(super) async fn captured<T>(
    svc: &Services,
    id: &CaseId,
    outcome: T,
) -> Result<Captured<T>, FlowError> {
    Ok(Captured {
        outcome,
        case: current_view(svc, id).await?,
    })
}

/// One step of the App check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppStep {
    /// The SMS check.
    Phone,
    /// The consent.
    Consent,
    /// The liveness challenge.
    Liveness,
    /// The handheld photo.
    Handheld,
    /// The ID card's front.
    Front,
    /// The ID card's back.
    Back,
    /// The image verification code.
    Complete,
}

impl AppStep {
    /// In the order the App takes them.
    pub const ALL: [Self; 7] = [
        Self::Phone,
        Self::Consent,
        Self::Liveness,
        Self::Handheld,
        Self::Front,
        Self::Back,
        Self::Complete,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Consent => "consent",
            Self::Liveness => "liveness",
            Self::Handheld => "handheld",
            Self::Front => "front",
            Self::Back => "back",
            Self::Complete => "complete",
        }
    }

    /// What the App shows for the step, in Chinese.
    pub fn prompt_zh(self) -> &'static str {
        match self {
            Self::Phone => "验证手机号",
            Self::Consent => "阅读并同意个人信息处理说明",
            Self::Liveness => "本人核验：按提示完成动作",
            Self::Handheld => "拍摄手持身份证照片",
            Self::Front => "拍摄身份证人像面",
            Self::Back => "拍摄身份证国徽面",
            Self::Complete => "提交并获取图片验证码",
        }
    }

    /// The same in English.
    pub fn prompt_en(self) -> &'static str {
        match self {
            Self::Phone => "Verify your phone",
            Self::Consent => "Read and accept the consent",
            Self::Liveness => "Liveness check: follow the prompts",
            Self::Handheld => "Photograph yourself holding your ID card",
            Self::Front => "Photograph the front of your ID card",
            Self::Back => "Photograph the back of your ID card",
            Self::Complete => "Finish and get the image verification code",
        }
    }

    /// The step a stored photo belongs to.
    pub fn of_photo(kind: PhotoKind) -> Self {
        match kind {
            PhotoKind::Liveness => Self::Liveness,
            PhotoKind::Handheld => Self::Handheld,
            PhotoKind::Front => Self::Front,
            PhotoKind::Back => Self::Back,
        }
    }

    /// When a capture step was last taken (`None` for the other steps and for steps not
    /// taken).
    pub fn done_at(self, case: &CaseRecord) -> Option<DateTime<Utc>> {
        let p = &case.progress;
        match self {
            Self::Liveness => p.liveness_at,
            Self::Handheld => p.handheld_at,
            Self::Front => p.front_at,
            Self::Back => p.back_at,
            _ => None,
        }
    }

    /// Whether the case has done this step. A rejection (issue 6) clears the steps it
    /// reopens, and the code must be issued again after it.
    pub fn is_done(self, case: &CaseRecord) -> bool {
        let p = &case.progress;
        match self {
            Self::Phone => p.phone_verified_at.is_some(),
            Self::Consent => p.consent_at.is_some(),
            Self::Liveness => p.liveness_at.is_some(),
            Self::Handheld => p.handheld_at.is_some(),
            Self::Front => p.front_at.is_some(),
            Self::Back => p.back_at.is_some(),
            Self::Complete => p.code_issued_at.is_some() && case.status != CaseStatus::Rejected,
        }
    }
}

/// The first step not done, if any.
pub fn next_step(case: &CaseRecord) -> Option<AppStep> {
    AppStep::ALL.into_iter().find(|s| !s.is_done(case))
}

/// The steps before `Complete` that are not done.
pub fn missing_for_completion(case: &CaseRecord) -> Vec<AppStep> {
    AppStep::ALL
        .into_iter()
        .filter(|s| *s != AppStep::Complete && !s.is_done(case))
        .collect()
}

/// Whether the App may capture `step` now: the case is open to the App (and, after a
/// rejection, the step is one it reopened), consent was given, and every earlier step is
/// done. A step already done may be retaken while the case is waiting for the App. The
/// store applies the same case rule again when it writes the capture.
pub fn ensure_can_capture(case: &CaseRecord, step: AppStep) -> Result<(), FlowError> {
    case.status.check_capture(
        case.purged_at.is_some(),
        step.done_at(case),
        case.decided_at,
    )?;
    if !AppStep::Consent.is_done(case) {
        return Err(ErrorCode::ConsentRequired.into());
    }
    let mut earlier = AppStep::ALL.into_iter().take_while(|s| *s != step);
    match earlier.find(|s| !s.is_done(case)) {
        Some(next) => {
            let facts = ErrorFacts {
                steps: vec![next],
                ..ErrorFacts::default()
            };
            let facts = facts.with_field("next_step", next.as_str());
            Err(FlowError::refused(ErrorCode::StepOutOfOrder, facts))
        }
        None => Ok(()),
    }
}

/// Whether the case still takes captures from the App: open, not purged and not yet
/// finished (a rejected case is open again for the steps the decision reopened).
pub fn ensure_open_to_app(case: &CaseRecord) -> Result<(), FlowError> {
    case.status
        .check_capture(case.purged_at.is_some(), None, case.decided_at)?;
    Ok(())
}
