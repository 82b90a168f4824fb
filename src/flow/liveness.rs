//! The liveness check (本人核验): the location report and a challenge of 2–3 random actions
//! with a single-use nonce, then the frames the App captured per action — decoded, one
//! face per frame found by the face detector, head movement for nod and shake — and the
//! best frame kept, watermarked, for reviewers.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::app_steps::{self, AppStep, Captured};
use super::photos::{self, FinishedPhoto};
use super::quota::take_allowance;
use super::{audit, Actor, FlowError, Services};
use crate::domain::case::PhotoKind;
use crate::domain::geo::{parse_coordinates, ShanghaiBoundary};
use crate::domain::ids::CaseId;
use crate::domain::liveness::LivenessAction;
use crate::error_code::{ErrorCode, ErrorFacts};
use crate::imaging::face::{detect_faces, FaceBox};
use crate::imaging::liveness::{judge, FrameFaces, Verdict};
use crate::imaging::pipeline::{self, LumaImage, PipelineError, Processed};
use crate::pii;
use crate::store::{CaseRecord, ConsumeOutcome, NewSingleUseToken};

/// How long a challenge may be answered.
pub const CHALLENGE_TTL_SECS: i64 = 180;
/// Frames the App sends per action, at least and at most.
pub const MIN_FRAMES: usize = 3;
/// See [`MIN_FRAMES`].
pub const MAX_FRAMES: usize = 8;
/// Liveness challenges one case may take (per round: a rejection starts a new one).
pub const MAX_ATTEMPTS: u32 = 10;
/// Frames are examined at this long edge; enough for the detector, cheap to decode.
const ANALYSIS_LONG_EDGE: u32 = 640;
const CHALLENGE_PURPOSE: &str = "liveness_challenge";

/// Where the App says the capture happens (WGS-84, as phones report it).
#[derive(Debug, Clone, Copy)]
pub struct ReportedLocation {
    /// Degrees.
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// Metres (68 % radius), when the platform reports one.
    pub accuracy_m: Option<f64>,
}

/// A challenge for the App to perform.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The nonce; the frames are posted to `/app/v1/liveness/{id}`.
    pub id: String,
    /// The actions, in the order to perform them.
    pub actions: Vec<LivenessAction>,
    /// When the challenge stops working.
    pub expires_at: DateTime<Utc>,
    /// Challenges left for this case after this one.
    pub attempts_left: u32,
}

/// What the challenge token grants: stored as its subject.
#[derive(Debug, Serialize, Deserialize)]
struct ChallengeSubject {
    case: String,
    actions: Vec<LivenessAction>,
}

/// Checks the location, then issues a challenge. Outside Shanghai is refused (and
/// recorded as "no"); only the yes/no is kept.
pub async fn start(
    svc: &Services,
    case: &CaseRecord,
    location: ReportedLocation,
    actor: &Actor,
) -> Result<Challenge, FlowError> {
    app_steps::ensure_can_capture(case, AppStep::Liveness)?;
    let now = svc.clock.now();
    let at = parse_coordinates(location.latitude, location.longitude, location.accuracy_m)
        .map_err(|e| location_refused(e.code()))?;
    let in_shanghai = boundary()?.contains_coordinates(&at);
    svc.store
        .record_location(&case.id, in_shanghai, now)
        .await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "location.reported",
        Some(&case.id),
        json!({ "in_shanghai": in_shanghai }),
        now,
    )
    .await?;
    if !in_shanghai {
        return Err(location_refused(ErrorCode::OutsideShanghai));
    }
    let used = take_allowance(
        svc,
        case,
        "liveness",
        MAX_ATTEMPTS,
        ErrorCode::LivenessAttemptsExhausted,
    )
    .await?;
    let challenge = Challenge {
        id: hex::encode(rand::thread_rng().gen::<[u8; 16]>()),
        actions: draw_actions(&mut rand::thread_rng()),
        expires_at: now + Duration::seconds(CHALLENGE_TTL_SECS),
        attempts_left: MAX_ATTEMPTS.saturating_sub(used),
    };
    let subject = ChallengeSubject {
        case: case.id.to_string(),
        actions: challenge.actions.clone(),
    };
    svc.store
        .insert_single_use_token(&NewSingleUseToken {
            purpose: CHALLENGE_PURPOSE.into(),
            token_hash: pii::lookup_hmac(&svc.keys, CHALLENGE_PURPOSE, &challenge.id),
            subject: serde_json::to_string(&subject).map_err(anyhow::Error::new)?,
            expires_at: challenge.expires_at,
            created_at: now,
        })
        .await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "liveness.challenge_issued",
        Some(&case.id),
        json!({ "actions": challenge.actions }),
        now,
    )
    .await?;
    Ok(challenge)
}

/// 2 or 3 different actions in random order.
pub fn draw_actions(rng: &mut impl Rng) -> Vec<LivenessAction> {
    let mut actions = LivenessAction::ALL.to_vec();
    actions.shuffle(rng);
    actions.truncate(rng.gen_range(2..=3));
    actions
}

/// One uploaded frame: the action it belongs to and its bytes.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The action (the multipart field name).
    pub action: LivenessAction,
    /// JPEG, PNG or WebP bytes.
    pub bytes: Arc<[u8]>,
}

/// A passed check: what the frames showed and the stored best frame.
#[derive(Debug, Clone)]
pub struct Passed {
    /// Per action: frames and measured movement.
    pub verdict: Verdict,
    /// The stored, watermarked best frame.
    pub photo: crate::store::PhotoRecord,
}

/// Checks the frames of a challenge. The challenge is used up whatever the outcome: a
/// failed attempt starts again with a new challenge. Answers with the verdict and the
/// case as it is after it.
pub async fn submit(
    svc: &Services,
    case: &CaseRecord,
    challenge_id: &str,
    frames: Vec<Frame>,
    actor: &Actor,
) -> Result<Captured<Passed>, FlowError> {
    app_steps::ensure_can_capture(case, AppStep::Liveness)?;
    // A place in the gate before the challenge is used up: a busy server costs the person
    // nothing, and the analysis and the best frame's stamping then run in that one place.
    let admission = svc.photo_gate.admit().map_err(|e| photos::gate_error(&e))?;
    let now = svc.clock.now();
    let actions = consume_challenge(svc, &case.id, challenge_id, now).await?;
    let grouped = group_frames(&actions, frames)?;
    let opts = photos::options(svc, case, PhotoKind::Liveness);
    let (verdict, best) = admission
        .run(move || judge_and_stamp(grouped, &opts))
        .await
        .map_err(|e| photos::gate_error(&e))??;
    if !verdict.passed() {
        audit::record(
            svc.store.as_ref(),
            actor,
            "liveness.failed",
            Some(&case.id),
            json!({ "reasons": verdict.reason_codes() }),
            now,
        )
        .await?;
        return Err(failed(&verdict));
    }
    let (action_index, frame_index, processed) = best.ok_or_else(|| {
        FlowError::Internal(anyhow::anyhow!("a passed verdict names no best frame"))
    })?;
    let photo = photos::keep(
        svc,
        &case.id,
        FinishedPhoto::of(PhotoKind::Liveness, processed),
    )
    .await?;
    let summary = json!({
        "actions": verdict.summary(),
        "best_frame": { "action": actions[action_index], "frame": frame_index },
    });
    svc.store
        .record_liveness(&case.id, &summary.to_string(), now)
        .await?;
    audit::record(
        svc.store.as_ref(),
        actor,
        "liveness.passed",
        Some(&case.id),
        json!({ "result": summary, "sha256": photo.sha256, "original_sha256": photo.original_sha256 }),
        now,
    )
    .await?;
    app_steps::captured(svc, &case.id, Passed { verdict, photo }).await
}

async fn consume_challenge(
    svc: &Services,
    case_id: &CaseId,
    challenge_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<LivenessAction>, FlowError> {
    let not_found = FlowError::from(ErrorCode::ChallengeNotFound);
    if challenge_id.len() != 32 || !challenge_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found);
    }
    let hash = pii::lookup_hmac(&svc.keys, CHALLENGE_PURPOSE, challenge_id);
    let subject = match svc
        .store
        .consume_single_use_token(CHALLENGE_PURPOSE, &hash, now)
        .await?
    {
        ConsumeOutcome::Consumed { subject } => subject,
        ConsumeOutcome::AlreadyUsed => return Err(ErrorCode::ChallengeUsed.into()),
        ConsumeOutcome::Expired => return Err(ErrorCode::ChallengeExpired.into()),
        ConsumeOutcome::Unknown => return Err(not_found),
    };
    let subject: ChallengeSubject =
        serde_json::from_str(&subject).map_err(|e| anyhow::anyhow!("challenge subject: {e}"))?;
    // Another case's challenge answers like a missing one.
    if subject.case != case_id.as_str() {
        return Err(not_found);
    }
    Ok(subject.actions)
}

type Grouped = Vec<(LivenessAction, Vec<Arc<[u8]>>)>;

/// Puts frames under the challenge's actions, in challenge order, checking that each
/// action has between MIN and MAX frames and that no other action was sent.
fn group_frames(actions: &[LivenessAction], frames: Vec<Frame>) -> Result<Grouped, FlowError> {
    let mut by_action: BTreeMap<LivenessAction, Vec<Arc<[u8]>>> = BTreeMap::new();
    for frame in frames {
        if !actions.contains(&frame.action) {
            return Err(frames_refused(ErrorCode::UnexpectedAction, frame.action));
        }
        by_action.entry(frame.action).or_default().push(frame.bytes);
    }
    actions
        .iter()
        .map(|action| {
            let frames = by_action.remove(action).unwrap_or_default();
            if (MIN_FRAMES..=MAX_FRAMES).contains(&frames.len()) {
                Ok((*action, frames))
            } else {
                Err(frames_refused(ErrorCode::FrameCount, *action))
            }
        })
        .collect()
}

/// The best frame of a passed challenge, stamped: which action, which frame, the result.
type BestFrame = Option<(usize, usize, Processed)>;

/// Finds the faces of every frame, judges them and, when they pass, runs the best frame
/// through the pipeline: all the CPU work of a submission, for one place in the gate.
fn judge_and_stamp(
    grouped: Grouped,
    opts: &pipeline::Options,
) -> Result<(Verdict, BestFrame), FlowError> {
    let analysed = analyse(&grouped, opts)?;
    let verdict = judge(&analysed);
    let Some((action, frame)) = verdict.best_frame().filter(|_| verdict.passed()) else {
        return Ok((verdict, None));
    };
    let processed = pipeline::process(&grouped[action].1[frame], pipeline::PhotoKind::Frame, opts)
        .map_err(|e| photos::refused(PhotoKind::Liveness, &e))?;
    Ok((verdict, Some((action, frame, processed))))
}

/// Decodes every frame small and finds its faces.
fn analyse(grouped: &Grouped, opts: &pipeline::Options) -> Result<Vec<FrameFaces>, FlowError> {
    let mut analysed = Vec::new();
    for (action, frames) in grouped {
        let mut faces = Vec::with_capacity(frames.len());
        let mut frame_sizes = Vec::with_capacity(frames.len());
        for (index, bytes) in frames.iter().enumerate() {
            let luma = pipeline::luma_preview(bytes, opts, ANALYSIS_LONG_EDGE)
                .map_err(|e| frame_unreadable(*action, index, &e))?;
            faces.push(faces_of(&luma));
            frame_sizes.push((luma.width, luma.height));
        }
        analysed.push(FrameFaces {
            action: *action,
            faces,
            frame_sizes,
        });
    }
    Ok(analysed)
}

fn faces_of(luma: &LumaImage) -> Vec<FaceBox> {
    detect_faces(&luma.pixels, luma.width, luma.height)
}

fn frame_unreadable(action: LivenessAction, index: usize, err: &PipelineError) -> FlowError {
    let facts = ErrorFacts {
        action: Some(action),
        frame: Some(index),
        cause: Some(err.code()),
        ..err.facts()
    };
    let path = format!("frames.{}[{index}]", action.as_str());
    FlowError::refused(
        ErrorCode::FrameUnreadable,
        facts.with_field(path, err.code().as_str()),
    )
}

fn failed(verdict: &Verdict) -> FlowError {
    let reasons = verdict.reasons();
    let mut facts = ErrorFacts {
        reasons: reasons.to_vec(),
        ..ErrorFacts::default()
    };
    for reason in reasons {
        facts = facts.with_field(reason.path(), reason.code());
    }
    FlowError::refused(ErrorCode::LivenessFailed, facts)
}

/// Frames refused for `action` (`frame_count`, `unexpected_action`).
pub(crate) fn frames_refused(code: ErrorCode, action: LivenessAction) -> FlowError {
    let facts = ErrorFacts {
        action: Some(action),
        frames: Some((MIN_FRAMES, MAX_FRAMES)),
        ..ErrorFacts::default()
    };
    let path = format!("frames.{}", action.as_str());
    FlowError::refused(code, facts.with_field(path, code.as_str()))
}

fn location_refused(code: ErrorCode) -> FlowError {
    FlowError::refused(
        code,
        ErrorFacts::default().with_field("location", code.as_str()),
    )
}

fn boundary() -> Result<&'static ShanghaiBoundary, FlowError> {
    static BOUNDARY: OnceLock<Option<ShanghaiBoundary>> = OnceLock::new();
    BOUNDARY
        .get_or_init(|| ShanghaiBoundary::builtin().ok())
        .as_ref()
        .ok_or_else(|| {
            FlowError::Internal(anyhow::anyhow!(
                "the built-in Shanghai boundary does not parse"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn challenges_hold_two_or_three_different_actions_in_varying_order() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut lengths = std::collections::BTreeSet::new();
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let actions = draw_actions(&mut rng);
            let unique: std::collections::BTreeSet<_> = actions.iter().collect();
            assert_eq!(unique.len(), actions.len(), "{actions:?}");
            lengths.insert(actions.len());
            firsts.insert(actions[0]);
        }
        assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(firsts.len(), 4, "every action comes first sometimes");
    }

    fn frame(action: LivenessAction) -> Frame {
        Frame {
            action,
            bytes: Arc::from(vec![0u8; 4]),
        }
    }

    #[test]
    fn frames_are_grouped_in_challenge_order_and_counted() {
        let actions = [LivenessAction::Shake, LivenessAction::Blink];
        let mut frames: Vec<_> = (0..3).map(|_| frame(LivenessAction::Blink)).collect();
        frames.extend((0..4).map(|_| frame(LivenessAction::Shake)));
        let grouped = group_frames(&actions, frames).expect("grouped");
        let shape: Vec<_> = grouped.iter().map(|(a, f)| (*a, f.len())).collect();
        assert_eq!(
            shape,
            [(LivenessAction::Shake, 4), (LivenessAction::Blink, 3)]
        );
    }

    #[test]
    fn too_few_too_many_or_foreign_frames_are_refused_with_the_action_named() {
        let actions = [LivenessAction::Nod, LivenessAction::Blink];
        let code_and_field = |frames: Vec<Frame>| match group_frames(&actions, frames) {
            Err(FlowError::Refused { code, facts }) => (code.as_str(), facts.fields[0].0.clone()),
            other => panic!("expected a refusal, got {other:?}"),
        };
        let few: Vec<_> = (0..MIN_FRAMES - 1)
            .map(|_| frame(LivenessAction::Nod))
            .chain((0..3).map(|_| frame(LivenessAction::Blink)))
            .collect();
        assert_eq!(code_and_field(few), ("frame_count", "frames.nod".into()));
        let many: Vec<_> = (0..3)
            .map(|_| frame(LivenessAction::Nod))
            .chain((0..=MAX_FRAMES).map(|_| frame(LivenessAction::Blink)))
            .collect();
        assert_eq!(code_and_field(many), ("frame_count", "frames.blink".into()));
        let foreign = vec![frame(LivenessAction::OpenMouth)];
        assert_eq!(
            code_and_field(foreign),
            ("unexpected_action", "frames.open_mouth".into())
        );
    }
}
