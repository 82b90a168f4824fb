//! Liveness (本人核验): the challenge, with the location report, and the frames.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AppUser;
use super::session::AppCaseResponse;
use crate::domain::liveness::LivenessAction;
use crate::error_code::ErrorCode;
use crate::flow::app_steps::Captured;
use crate::flow::liveness::{self, Frame, ReportedLocation, MAX_FRAMES, MIN_FRAMES};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::{AppJson, AppMultipart, AppPath};
use crate::http::state::AppState;

/// Where the phone is, as it reports it (WGS-84).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"latitude": 31.2304, "longitude": 121.4737, "accuracy_m": 35.0}))]
pub struct ChallengeRequest {
    /// Degrees north.
    pub latitude: Option<f64>,
    /// Degrees east.
    pub longitude: Option<f64>,
    /// Metres (the platform's horizontal accuracy), when known.
    pub accuracy_m: Option<f64>,
}

/// One action to perform.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionPrompt {
    /// blink, nod, shake or open_mouth: also the multipart field name of its frames.
    #[schema(value_type = String)]
    pub action: LivenessAction,
    /// What to show, in Chinese.
    pub prompt_zh: &'static str,
    /// The same in English.
    pub prompt_en: &'static str,
    /// The voice prompt to play.
    pub voice_prompt_id: &'static str,
}

/// A challenge.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// The nonce: POST the frames to `upload_url` before `expires_at`, once.
    pub challenge_id: String,
    /// Where to POST the frames (multipart/form-data, one part per frame).
    pub upload_url: String,
    /// The actions in the order to perform them.
    pub actions: Vec<ActionPrompt>,
    /// Frames per action, at least.
    pub min_frames_per_action: usize,
    /// Frames per action, at most.
    pub max_frames_per_action: usize,
    /// When the challenge stops working (3 minutes).
    pub expires_at: DateTime<Utc>,
    /// Challenges left for this case after this one.
    pub attempts_left: u32,
}

/// What a passed check showed.
#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessResponse {
    /// Always true (a failure is a 422 with the reasons).
    pub passed: bool,
    /// Per action: frames and, for nod and shake, the measured movement.
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
    /// The watermarked best frame, for the App to show.
    pub preview_url: &'static str,
    /// The case's steps.
    pub case: AppCaseResponse,
}

/// Report the location and get a liveness challenge.
#[utoipa::path(post, path = "/app/v1/liveness/challenge", tag = "app", request_body = ChallengeRequest,
    responses(
        (status = 201, description = "A challenge of 2–3 actions", body = ChallengeResponse),
        (status = 403, description = "`consent_required`", body = ErrorBody),
        (status = 409, description = "`step_out_of_order`, or the case no longer takes captures", body = ErrorBody),
        (status = 422, description = "`outside_shanghai`, `location_required` or an unusable location", body = ErrorBody),
        (status = 429, description = "`liveness_attempts_exhausted`", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn start_challenge(
    State(state): State<AppState>,
    user: AppUser,
    AppJson(body): AppJson<ChallengeRequest>,
) -> ApiResult<(StatusCode, Json<ChallengeResponse>)> {
    let (Some(latitude), Some(longitude)) = (body.latitude, body.longitude) else {
        return Err(ApiError::new(ErrorCode::LocationRequired).with_field("location", "required"));
    };
    let location = ReportedLocation {
        latitude,
        longitude,
        accuracy_m: body.accuracy_m,
    };
    let challenge = liveness::start(&state, &user.case, location, &user.actor()).await?;
    let actions = challenge
        .actions
        .iter()
        .map(|&action| ActionPrompt {
            action,
            prompt_zh: action.prompt_zh(),
            prompt_en: action.prompt_en(),
            voice_prompt_id: action.voice_prompt_id(),
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(ChallengeResponse {
            upload_url: format!("/app/v1/liveness/{}", challenge.id),
            challenge_id: challenge.id,
            actions,
            min_frames_per_action: MIN_FRAMES,
            max_frames_per_action: MAX_FRAMES,
            expires_at: challenge.expires_at,
            attempts_left: challenge.attempts_left,
        }),
    ))
}

/// Send the frames of a challenge: multipart/form-data, each part named after its action
/// (`blink`, `nod`, `shake`, `open_mouth`) holding one JPEG, PNG or WebP frame, in the
/// order captured. At most 10 MiB in all.
#[utoipa::path(post, path = "/app/v1/liveness/{challenge}", tag = "app",
    params(("challenge" = String, Path, description = "The challenge id")),
    request_body(content_type = "multipart/form-data", description = "Frames, one part each, named by action"),
    responses(
        (status = 200, description = "Passed; the best frame is stored", body = LivenessResponse),
        (status = 404, description = "`challenge_not_found`", body = ErrorBody),
        (status = 409, description = "`challenge_used`", body = ErrorBody),
        (status = 410, description = "`challenge_expired`", body = ErrorBody),
        (status = 413, description = "`body_too_large`: over 10 MiB", body = ErrorBody),
        (status = 422, description = "`liveness_failed` with the reasons per frame, `frame_count`, `frame_unreadable`", body = ErrorBody),
    ),
    security(("app_session" = [])))]
pub async fn submit_frames(
    State(state): State<AppState>,
    user: AppUser,
    AppPath(challenge): AppPath<String>,
    AppMultipart(mut multipart): AppMultipart,
) -> ApiResult<Json<LivenessResponse>> {
    let mut frames = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let Some(action) = LivenessAction::parse(&name) else {
            return Err(ApiError::new(ErrorCode::UnknownPart).with_field(
                if name.is_empty() { "part".into() } else { name },
                "unknown",
            ));
        };
        if frames.len() >= MAX_FRAMES * LivenessAction::ALL.len() {
            return Err(liveness::frames_refused(ErrorCode::FrameCount, action).into());
        }
        let bytes = field.bytes().await?;
        frames.push(Frame {
            action,
            bytes: Arc::from(bytes.as_ref()),
        });
    }
    let Captured {
        outcome: passed,
        case,
    } = liveness::submit(&state, &user.case, &challenge, frames, &user.actor()).await?;
    Ok(Json(LivenessResponse {
        passed: true,
        result: serde_json::to_value(passed.verdict.summary()).map_err(ApiError::internal)?,
        preview_url: "/app/v1/photos/liveness",
        case: AppCaseResponse::new(case),
    }))
}
