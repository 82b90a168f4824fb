//! A verification case: what the filing system registers (subject, websites, principals),
//! the eligibility rule of the Shanghai App check, the case's status and the transitions
//! between statuses. Pure: the store persists what these functions decide.

use std::fmt;

use super::domain_name::DomainName;
use super::filing_id::FilingId;
use super::mobile::MobileNumber;
use super::person_name::PersonName;
use super::resident_id::ResidentIdNumber;

/// Who the filing is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectType {
    /// 个人: a person.
    Individual,
    /// 企业: a company or other organisation.
    Enterprise,
}

impl SubjectType {
    /// Parses `individual` or `enterprise`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "individual" => Some(Self::Individual),
            "enterprise" => Some(Self::Enterprise),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Enterprise => "enterprise",
        }
    }
}

/// The principal's identity document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdType {
    /// 居民身份证: the only document the App check accepts.
    ResidentIdCard,
    /// 护照.
    Passport,
    /// 港澳居民来往内地通行证.
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
    /// 外国人永久居留身份证.
    ForeignPermanentResidence,
    /// Anything else the filing system knows.
    Other,
}

impl IdType {
    /// Every accepted name, for error messages and the OpenAPI document.
    pub const NAMES: &'static [&'static str] = &[
        "resident_id_card",
        "passport",
        "hk_macao_permit",
        "taiwan_permit",
        "foreign_permanent_residence",
        "other",
    ];

    /// Parses a stored or submitted name.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw.trim() {
            "resident_id_card" => Self::ResidentIdCard,
            "passport" => Self::Passport,
            "hk_macao_permit" => Self::HkMacaoPermit,
            "taiwan_permit" => Self::TaiwanPermit,
            "foreign_permanent_residence" => Self::ForeignPermanentResidence,
            "other" => Self::Other,
            _ => return None,
        })
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The number on the principal's document: parsed strictly for resident ID cards.
#[derive(Clone, PartialEq, Eq)]
pub enum IdNumber {
    /// A checked 18-character resident ID number.
    Resident(ResidentIdNumber),
    /// Another document's number: 1–64 ASCII letters, digits or dashes.
    Other(String),
}

/// An ID number that does not fit its document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// A resident ID number that fails GB 11643.
    #[error("{0}")]
    Resident(#[from] super::resident_id::ResidentIdNumberError),
    /// Another document's number with bad characters or length.
    #[error("a document number has 1 to 64 letters, digits or dashes")]
    Malformed,
}

impl IdNumberError {
    /// Stable code for field errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Resident(e) => e.code(),
            Self::Malformed => "malformed",
        }
    }
}

impl IdNumber {
    /// Parses `raw` as a number of document type `id_type`.
    pub fn parse(id_type: IdType, raw: &str) -> Result<Self, IdNumberError> {
        if id_type == IdType::ResidentIdCard {
            return Ok(Self::Resident(ResidentIdNumber::parse(raw)?));
        }
        let trimmed = raw.trim();
        let ok = (1..=64).contains(&trimmed.len())
            && trimmed
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self::Other(trimmed.to_ascii_uppercase()))
        } else {
            Err(IdNumberError::Malformed)
        }
    }

    /// The number in the clear (for sealing and HMAC only).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Resident(n) => n.as_str(),
            Self::Other(s) => s,
        }
    }

    /// The masked form for logs and list views.
    pub fn masked(&self) -> String {
        super::mask::mask_id_number(self.as_str())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// The person responsible for a website (网站负责人).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Name as on the document.
    pub name: PersonName,
    /// Document type.
    pub id_type: IdType,
    /// Document number.
    pub id_number: IdNumber,
    /// The mobile number filled in the filing system; the SMS goes here.
    pub mobile: MobileNumber,
}

/// One website of the filing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Website {
    /// Its domain.
    pub domain: DomainName,
    /// Its principal.
    pub principal: Principal,
}

/// The filing's region; only Shanghai filings can use the App check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(String);

impl Region {
    /// Normalises common spellings of Shanghai to `shanghai`; keeps others lowercased.
    pub fn parse(raw: &str) -> Option<Self> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 32 {
            return None;
        }
        let lower = trimmed.to_lowercase();
        let shanghai = matches!(
            lower.as_str(),
            "shanghai" | "上海" | "上海市" | "31" | "310000"
        );
        Some(Self(if shanghai { "shanghai".into() } else { lower }))
    }

    /// Whether this is Shanghai.
    pub fn is_shanghai(&self) -> bool {
        self.0 == "shanghai"
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated registration from the filing system.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The filing system's id for the filing.
    pub filing_id: FilingId,
    /// The filing's region.
    pub region: Region,
    /// Individual or enterprise.
    pub subject_type: SubjectType,
    /// The subject's name (a person's or a company's).
    pub subject_name: String,
    /// At least one website.
    pub websites: Vec<Website>,
}

/// Why a case cannot use the App check; the customer uses the ordinary photo method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligibility {
    /// The filing is not in Shanghai.
    RegionNotShanghai,
    /// A principal's document is not a mainland resident ID card.
    IdTypeNotResidentCard,
    /// The websites have different principals.
    PrincipalsDiffer,
}

impl Ineligibility {
    /// Parses a stored code.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::RegionNotShanghai,
            Self::IdTypeNotResidentCard,
            Self::PrincipalsDiffer,
        ]
        .into_iter()
        .find(|r| r.code() == raw)
    }

    /// Stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::RegionNotShanghai => "region_not_shanghai",
            Self::IdTypeNotResidentCard => "id_type_not_resident_card",
            Self::PrincipalsDiffer => "principals_differ",
        }
    }

    /// Explanation in Chinese.
    pub fn message_zh(self) -> &'static str {
        match self {
            Self::RegionNotShanghai => "App 核验仅适用于上海地区的备案，请使用普通拍照方式核验。",
            Self::IdTypeNotResidentCard => {
                "负责人证件不是居民身份证，无法使用 App 核验，请使用普通拍照方式核验。"
            }
            Self::PrincipalsDiffer => {
                "各网站负责人不是同一人，无法使用 App 核验，请使用普通拍照方式核验。"
            }
        }
    }

    /// Explanation in English.
    pub fn message_en(self) -> &'static str {
        match self {
            Self::RegionNotShanghai => "The App check is only for filings in Shanghai; use the ordinary photo method.",
            Self::IdTypeNotResidentCard => "A principal's document is not a mainland resident ID card; use the ordinary photo method.",
            Self::PrincipalsDiffer => "The websites have different principals; use the ordinary photo method.",
        }
    }
}

/// The eligibility rule (DESIGN.md step 2): Shanghai only; every principal holds a
/// resident ID card; all websites share one principal (same ID number). The same rule
/// serves individuals (whose websites all belong to the one person) and enterprises.
pub fn eligibility(registration: &Registration) -> Result<(), Ineligibility> {
    if !registration.region.is_shanghai() {
        return Err(Ineligibility::RegionNotShanghai);
    }
    let principals: Vec<&Principal> = registration.websites.iter().map(|w| &w.principal).collect();
    if principals
        .iter()
        .any(|p| p.id_type != IdType::ResidentIdCard)
    {
        return Err(Ineligibility::IdTypeNotResidentCard);
    }
    let first = principals.first().map(|p| &p.id_number);
    if principals.iter().any(|p| Some(&p.id_number) != first) {
        return Err(Ineligibility::PrincipalsDiffer);
    }
    Ok(())
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    /// Not eligible: nothing further is possible.
    Ineligible,
    /// Waiting for the principal to finish the App steps.
    AwaitingApp,
    /// The App finished and an image verification code is ready.
    CodeIssued,
    /// The filing system redeemed the code and may pull photos.
    Redeemed,
    /// Submitted for review; due in one business day.
    InReview,
    /// A reviewer approved.
    Approved,
    /// A reviewer rejected; named steps reopen in the App.
    Rejected,
    /// The filing system cancelled the case; its photos are purged.
    Cancelled,
}

impl CaseStatus {
    const ALL: [Self; 8] = [
        Self::Ineligible,
        Self::AwaitingApp,
        Self::CodeIssued,
        Self::Redeemed,
        Self::InReview,
        Self::Approved,
        Self::Rejected,
        Self::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ineligible => "ineligible",
            Self::AwaitingApp => "awaiting_app",
            Self::CodeIssued => "code_issued",
            Self::Redeemed => "redeemed",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the case can still change (not ineligible, cancelled or approved).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Ineligible | Self::Cancelled | Self::Approved)
    }
}

/// A filing-system action that the case's status does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The case was cancelled.
    #[error("the case was cancelled")]
    Cancelled,
    /// The case is not eligible for the App check.
    #[error("the case is not eligible")]
    Ineligible,
    /// The App has not finished (no code yet).
    #[error("no verification code has been issued yet")]
    NoCodeYet,
    /// Photos are pulled and submitted only after redemption.
    #[error("the verification code has not been redeemed")]
    NotRedeemed,
    /// Already submitted or decided.
    #[error("the case was already submitted")]
    AlreadySubmitted,
    /// The App's steps are finished (or the case is past them).
    #[error("the App steps are closed")]
    AppStepsClosed,
    /// A decision needs a case in review.
    #[error("the case is not in review")]
    NotInReview,
    /// The case's photos were purged (idle, or a set time after its decision): it is over.
    #[error("the case was purged")]
    Purged,
    /// After a rejection only the steps it reopened may be taken again.
    #[error("this step was not reopened by the rejection")]
    StepNotReopened,
}

impl CaseStatus {
    /// Statuses in which the App may capture: waiting for the principal, or rejected with
    /// steps reopened. Every capture is stored only while the case is still in one of them.
    pub const OPEN_TO_APP: &'static [Self] = &[Self::AwaitingApp, Self::Rejected];

    /// Statuses in which the principal may sign in to the App: captures open, or the code
    /// issued and not yet redeemed (to see it again or ask for a new one).
    pub const SIGN_IN: &'static [Self] = &[Self::AwaitingApp, Self::CodeIssued, Self::Rejected];

    /// Statuses a reviewer's decision leaves behind; photos are purged a set time after it.
    pub const DECIDED: &'static [Self] = &[Self::Approved, Self::Rejected];

    /// Statuses of a case that never reached review, purged after a spell without activity.
    pub const BEFORE_REVIEW: &'static [Self] = &[
        Self::AwaitingApp,
        Self::CodeIssued,
        Self::Redeemed,
        Self::Cancelled,
    ];

    /// Whether the QR download code may be shown now (not for cancelled or ineligible cases).
    pub fn can_show_qr(self) -> Result<(), TransitionError> {
        self.closed().map_or(Ok(()), Err)
    }

    fn closed(self) -> Option<TransitionError> {
        match self {
            Self::Cancelled => Some(TransitionError::Cancelled),
            Self::Ineligible => Some(TransitionError::Ineligible),
            _ => None,
        }
    }

    /// Whether the App may (re)take a step now, on a case in this status that was or was
    /// not purged: the case is open to the App and, after a rejection, the step is one the
    /// decision reopened (the decision cleared it, or it was taken again since). The
    /// store's conditional write of a capture applies the same rule in SQL.
    pub fn check_capture<T: PartialOrd>(
        self,
        purged: bool,
        step_done_at: Option<T>,
        decided_at: Option<T>,
    ) -> Result<(), TransitionError> {
        if let Some(closed) = self.closed() {
            return Err(closed);
        }
        if purged {
            return Err(TransitionError::Purged);
        }
        if !Self::OPEN_TO_APP.contains(&self) {
            return Err(TransitionError::AppStepsClosed);
        }
        match (self, step_done_at, decided_at) {
            (Self::Rejected, Some(done), Some(decided)) if done <= decided => {
                Err(TransitionError::StepNotReopened)
            }
            _ => Ok(()),
        }
    }

    /// Whether the filing system may present a code now. A redeemed case is let through so
    /// that the store can answer "already used" rather than "no code".
    pub fn can_redeem(self) -> Result<(), TransitionError> {
        match self {
            Self::Redeemed => Ok(()),
            _ => Transition::Redeem.check(self),
        }
    }

    /// Whether photos may be pulled now.
    pub fn can_pull_photos(self) -> Result<(), TransitionError> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        // A rejected case shows nothing until its new code is redeemed: the photos may be
        // half retaken.
        match self {
            Self::Redeemed | Self::InReview | Self::Approved => Ok(()),
            _ => Err(TransitionError::NotRedeemed),
        }
    }
}

/// A change of a case's status. Each transition declares the statuses it may start from
/// and the one it leads to; the store applies it as one compare-and-set on the status, in
/// the same transaction as the audit entry and the webhook event that go with it, so no
/// other copy of these rules exists (in SQL or elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The App finished: a (new) image verification code is issued.
    IssueCode,
    /// The filing system redeemed the code.
    Redeem,
    /// The filing system submitted the photos for review.
    Submit,
    /// A reviewer approved.
    Approve,
    /// A reviewer rejected; named steps reopen in the App.
    Reject,
    /// The filing system cancelled the case.
    Cancel,
}

impl Transition {
    /// Every transition, for tests and documentation.
    pub const ALL: [Self; 6] = [
        Self::IssueCode,
        Self::Redeem,
        Self::Submit,
        Self::Approve,
        Self::Reject,
        Self::Cancel,
    ];

    /// The statuses this transition may start from.
    pub fn sources(self) -> &'static [CaseStatus] {
        use CaseStatus::*;
        match self {
            // Asking again before redemption replaces the code; a rejection asks for a new one.
            Self::IssueCode => &[AwaitingApp, CodeIssued, Rejected],
            Self::Redeem => &[CodeIssued],
            Self::Submit => &[Redeemed],
            Self::Approve | Self::Reject => &[InReview],
            Self::Cancel => &[
                Ineligible,
                AwaitingApp,
                CodeIssued,
                Redeemed,
                InReview,
                Approved,
                Rejected,
            ],
        }
    }

    /// The status it leads to.
    pub fn target(self) -> CaseStatus {
        match self {
            Self::IssueCode => CaseStatus::CodeIssued,
            Self::Redeem => CaseStatus::Redeemed,
            Self::Submit => CaseStatus::InReview,
            Self::Approve => CaseStatus::Approved,
            Self::Reject => CaseStatus::Rejected,
            Self::Cancel => CaseStatus::Cancelled,
        }
    }

    /// The audit action recorded with it.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::IssueCode => "code.issued",
            Self::Redeem => "code.redeemed",
            Self::Submit => "case.submitted",
            Self::Approve | Self::Reject => "case.decided",
            Self::Cancel => "case.cancelled",
        }
    }

    /// Whether it may start on a case in `from` that was or was not purged. A purged case
    /// is terminal: only a cancellation still applies to it.
    pub fn check_case(self, from: CaseStatus, purged: bool) -> Result<(), TransitionError> {
        if purged && self != Self::Cancel {
            return from.closed().map_or(Err(TransitionError::Purged), Err);
        }
        self.check(from)
    }

    /// Whether it may start from `from`; when not, why not, in the filing system's terms.
    pub fn check(self, from: CaseStatus) -> Result<(), TransitionError> {
        if self.sources().contains(&from) {
            return Ok(());
        }
        if let Some(closed) = from.closed() {
            return Err(closed);
        }
        use CaseStatus::*;
        Err(match (self, from) {
            (Self::Redeem, AwaitingApp | Rejected) => TransitionError::NoCodeYet,
            (Self::Submit, AwaitingApp | CodeIssued | Rejected) => TransitionError::NotRedeemed,
            (Self::IssueCode, _) => TransitionError::AppStepsClosed,
            (Self::Approve | Self::Reject, _) => TransitionError::NotInReview,
            _ => TransitionError::AlreadySubmitted,
        })
    }
}

/// The kinds of stored photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PhotoKind {
    /// The principal holding the ID card.
    Handheld,
    /// ID card front (portrait side).
    Front,
    /// ID card back (national emblem side).
    Back,
    /// The best liveness frame.
    Liveness,
}

impl PhotoKind {
    /// In the order the App takes them, liveness first.
    pub const ALL: [Self; 4] = [Self::Liveness, Self::Handheld, Self::Front, Self::Back];

    /// The stored and URL name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handheld => "handheld",
            Self::Front => "front",
            Self::Back => "back",
            Self::Liveness => "liveness",
        }
    }

    /// Parses a stored or URL name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_A: &str = "11010519491231002X";

    fn id_b() -> String {
        let first17 = "31010119900307102";
        let check = crate::domain::resident_id::check_char(first17).expect("digits");
        format!("{first17}{check}")
    }

    fn website(domain: &str, id_type: IdType, id: &str) -> Website {
        Website {
            domain: DomainName::parse(domain).expect("domain"),
            principal: Principal {
                name: PersonName::parse("张三").expect("name"),
                id_type,
                id_number: IdNumber::parse(id_type, id).expect("id"),
                mobile: MobileNumber::parse("13812345678").expect("mobile"),
            },
        }
    }

    fn registration(region: &str, subject: SubjectType, websites: Vec<Website>) -> Registration {
        Registration {
            filing_id: FilingId::parse("F-1").expect("filing id"),
            region: Region::parse(region).expect("region"),
            subject_type: subject,
            subject_name: "张三".into(),
            websites,
        }
    }

    #[test]
    fn eligibility_follows_the_design_rules() {
        let rid = IdType::ResidentIdCard;
        let cases = [
            (
                "individual with a resident card",
                registration(
                    "上海",
                    SubjectType::Individual,
                    vec![website("a.cn", rid, ID_A)],
                ),
                Ok(()),
            ),
            (
                "enterprise, one principal on all sites",
                registration(
                    "shanghai",
                    SubjectType::Enterprise,
                    vec![website("a.cn", rid, ID_A), website("b.cn", rid, ID_A)],
                ),
                Ok(()),
            ),
            (
                "enterprise, two principals",
                registration(
                    "310000",
                    SubjectType::Enterprise,
                    vec![website("a.cn", rid, ID_A), website("b.cn", rid, &id_b())],
                ),
                Err(Ineligibility::PrincipalsDiffer),
            ),
            (
                "passport",
                registration(
                    "上海市",
                    SubjectType::Individual,
                    vec![website("a.cn", IdType::Passport, "E12345678")],
                ),
                Err(Ineligibility::IdTypeNotResidentCard),
            ),
            (
                "HK permit on the second site",
                registration(
                    "31",
                    SubjectType::Enterprise,
                    vec![
                        website("a.cn", rid, ID_A),
                        website("b.cn", IdType::HkMacaoPermit, "H1234567801"),
                    ],
                ),
                Err(Ineligibility::IdTypeNotResidentCard),
            ),
            (
                "Beijing",
                registration(
                    "北京",
                    SubjectType::Individual,
                    vec![website("a.cn", rid, ID_A)],
                ),
                Err(Ineligibility::RegionNotShanghai),
            ),
        ];
        for (what, reg, want) in cases {
            assert_eq!(eligibility(&reg), want, "{what}");
        }
    }

    #[test]
    fn reasons_round_trip_and_explain_themselves() {
        for r in [
            Ineligibility::RegionNotShanghai,
            Ineligibility::IdTypeNotResidentCard,
            Ineligibility::PrincipalsDiffer,
        ] {
            assert_eq!(Ineligibility::parse(r.code()), Some(r));
            assert!(r.message_zh().contains("普通拍照"));
            assert!(r.message_en().contains("ordinary photo method"));
        }
    }

    #[test]
    fn statuses_and_kinds_round_trip() {
        for s in CaseStatus::ALL {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        for k in PhotoKind::ALL {
            assert_eq!(PhotoKind::parse(k.as_str()), Some(k));
        }
        for name in IdType::NAMES {
            assert_eq!(IdType::parse(name).map(IdType::as_str), Some(*name));
        }
    }

    #[test]
    fn filing_actions_follow_the_status() {
        use CaseStatus::*;
        assert_eq!(AwaitingApp.can_redeem(), Err(TransitionError::NoCodeYet));
        assert_eq!(CodeIssued.can_redeem(), Ok(()));
        assert_eq!(Cancelled.can_redeem(), Err(TransitionError::Cancelled));
        assert_eq!(
            CodeIssued.can_pull_photos(),
            Err(TransitionError::NotRedeemed)
        );
        assert_eq!(Redeemed.can_pull_photos(), Ok(()));
        assert_eq!(
            Rejected.can_pull_photos(),
            Err(TransitionError::NotRedeemed),
            "a rejected case shows its photos again only after a new redemption"
        );
        assert_eq!(Redeemed.can_redeem(), Ok(()));
        assert_eq!(
            InReview.can_redeem(),
            Err(TransitionError::AlreadySubmitted)
        );
        let submit = Transition::Submit;
        assert_eq!(submit.check(Redeemed), Ok(()));
        assert_eq!(
            submit.check(InReview),
            Err(TransitionError::AlreadySubmitted)
        );
        assert_eq!(submit.check(CodeIssued), Err(TransitionError::NotRedeemed));
        assert_eq!(submit.check(Rejected), Err(TransitionError::NotRedeemed));
        assert_eq!(submit.check(Ineligible), Err(TransitionError::Ineligible));
        assert_eq!(
            Transition::Cancel.check(Cancelled),
            Err(TransitionError::Cancelled)
        );
        assert_eq!(Transition::Cancel.check(InReview), Ok(()));
        assert_eq!(
            Transition::IssueCode.check(Redeemed),
            Err(TransitionError::AppStepsClosed)
        );
        assert_eq!(
            Transition::Approve.check(Redeemed),
            Err(TransitionError::NotInReview)
        );
        assert_eq!(Rejected.can_show_qr(), Ok(()));
        assert_eq!(Ineligible.can_show_qr(), Err(TransitionError::Ineligible));
        assert_eq!(Cancelled.can_show_qr(), Err(TransitionError::Cancelled));
    }

    #[test]
    fn a_purged_case_takes_nothing_but_a_cancellation() {
        use CaseStatus::*;
        for t in Transition::ALL {
            for s in t.sources() {
                let expected = if t == Transition::Cancel {
                    Ok(())
                } else {
                    Err(TransitionError::Purged)
                };
                assert_eq!(t.check_case(*s, true), expected, "{t:?} from purged {s:?}");
                assert_eq!(t.check_case(*s, false), Ok(()), "{t:?} from {s:?}");
            }
        }
        assert_eq!(
            Transition::IssueCode.check_case(Cancelled, true),
            Err(TransitionError::Cancelled)
        );
    }

    #[test]
    fn captures_need_an_open_case_and_after_a_rejection_a_reopened_step() {
        use CaseStatus::*;
        assert_eq!(AwaitingApp.check_capture(false, Some(5), None), Ok(()));
        assert_eq!(
            AwaitingApp.check_capture(true, None::<i64>, None),
            Err(TransitionError::Purged)
        );
        assert_eq!(
            CodeIssued.check_capture(false, Some(5), None),
            Err(TransitionError::AppStepsClosed)
        );
        assert_eq!(
            Cancelled.check_capture(true, Some(5), None),
            Err(TransitionError::Cancelled)
        );
        // Rejected at 10: a step the decision cleared, or one retaken at 12, may be taken
        // (again); one left from before the decision may not.
        assert_eq!(Rejected.check_capture(false, None, Some(10)), Ok(()));
        assert_eq!(Rejected.check_capture(false, Some(12), Some(10)), Ok(()));
        assert_eq!(
            Rejected.check_capture(false, Some(8), Some(10)),
            Err(TransitionError::StepNotReopened)
        );
    }

    #[test]
    fn every_transition_leads_out_of_its_sources_and_never_from_a_closed_case() {
        for t in Transition::ALL {
            assert!(!t.sources().is_empty(), "{t:?} has sources");
            assert!(
                !t.sources().contains(&CaseStatus::Cancelled),
                "{t:?} must not start from a cancelled case"
            );
            for s in CaseStatus::ALL {
                assert_eq!(
                    t.check(s).is_ok(),
                    t.sources().contains(&s),
                    "{t:?} from {s:?}"
                );
            }
        }
        // Only cancelling ends an ineligible case; nothing else may start from it.
        for t in Transition::ALL
            .into_iter()
            .filter(|t| *t != Transition::Cancel)
        {
            assert_eq!(
                t.check(CaseStatus::Ineligible),
                Err(TransitionError::Ineligible)
            );
        }
    }

    #[test]
    fn other_document_numbers_are_checked_loosely_and_masked() {
        let n = IdNumber::parse(IdType::Passport, " e1234567 ").expect("passport");
        assert_eq!(n.as_str(), "E1234567");
        assert_eq!(
            format!("{n:?}"),
            "IdNumber(E1234567)"
                .replace("E1234567", &crate::domain::mask::mask_id_number("E1234567"))
        );
        assert_eq!(
            IdNumber::parse(IdType::Passport, "E 1234"),
            Err(IdNumberError::Malformed)
        );
        assert!(IdNumber::parse(IdType::ResidentIdCard, "123").is_err());
    }
}
