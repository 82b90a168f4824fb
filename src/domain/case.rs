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
}

impl CaseStatus {
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

    /// Whether the filing system may redeem a code now.
    pub fn can_redeem(self) -> Result<(), TransitionError> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        // Redeemed is allowed through: the store then answers "already used".
        match self {
            Self::CodeIssued | Self::Redeemed => Ok(()),
            Self::AwaitingApp | Self::Rejected => Err(TransitionError::NoCodeYet),
            _ => Err(TransitionError::AlreadySubmitted),
        }
    }

    /// Whether photos may be pulled now.
    pub fn can_pull_photos(self) -> Result<(), TransitionError> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        match self {
            Self::Redeemed | Self::InReview | Self::Approved | Self::Rejected => Ok(()),
            _ => Err(TransitionError::NotRedeemed),
        }
    }

    /// Whether the case may be submitted for review now.
    pub fn can_submit(self) -> Result<(), TransitionError> {
        if let Some(e) = self.closed() {
            return Err(e);
        }
        match self {
            Self::Redeemed => Ok(()),
            Self::InReview | Self::Approved => Err(TransitionError::AlreadySubmitted),
            _ => Err(TransitionError::NotRedeemed),
        }
    }

    /// Whether the case may be cancelled now.
    pub fn can_cancel(self) -> Result<(), TransitionError> {
        match self {
            Self::Cancelled => Err(TransitionError::Cancelled),
            _ => Ok(()),
        }
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
        assert_eq!(Redeemed.can_submit(), Ok(()));
        assert_eq!(
            InReview.can_submit(),
            Err(TransitionError::AlreadySubmitted)
        );
        assert_eq!(CodeIssued.can_submit(), Err(TransitionError::NotRedeemed));
        assert_eq!(Ineligible.can_submit(), Err(TransitionError::Ineligible));
        assert_eq!(Cancelled.can_cancel(), Err(TransitionError::Cancelled));
        assert_eq!(InReview.can_cancel(), Ok(()));
        assert_eq!(Rejected.can_show_qr(), Ok(()));
        assert_eq!(Ineligible.can_show_qr(), Err(TransitionError::Ineligible));
        assert_eq!(Cancelled.can_show_qr(), Err(TransitionError::Cancelled));
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
