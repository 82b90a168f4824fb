//! The liveness judgement (本人核验): given the faces [`super::face::detect_faces`] found in
//! each frame of each action of a challenge, did the frames show one person doing what was
//! asked? Pure: no I/O, no decoding; the caller detects the faces.
//!
//! The rules, in order:
//!
//! 1. **Frame count.** Each action needs at least [`MIN_FRAMES`] frames (`too_few_frames`).
//! 2. **One face per frame.** A frame with no face fails (`no_face`), one with more than one
//!    fails (`several_faces`); each such frame is a reason of its own, naming the action
//!    and the frame.
//! 3. **Movement, for nod and shake only.** The range of the face centre across the
//!    one-face frames — vertical for [`LivenessAction::Nod`], horizontal for
//!    [`LivenessAction::Shake`] — divided by the median face height (nod) or width (shake)
//!    must be at least [`MIN_MOVEMENT`] (`no_movement`). It is judged only for an action
//!    that met rules 1 and 2 (otherwise it is still measured and reported). Blink and open
//!    mouth are checked for face presence and frame count only: the detector gives a box,
//!    not the eyes or mouth, so the frames cannot show those actions themselves (reviewers
//!    see the best frame).
//! 4. **Same face size throughout.** Each action's median face size (box width over the
//!    frame's shorter side) is compared across the actions; if the largest is more than
//!    [`MAX_SIZE_RATIO`] times the smallest the face is taken to have changed
//!    (`face_changed`) — a crude hint that someone else stepped in, nothing more.
//!
//! The verdict also names the best frame, the one kept for reviewers (see
//! [`Verdict::best_frame`]).

use serde::{Deserialize, Serialize};

use crate::error_code::LivenessProblem;

use super::face::FaceBox;
use crate::domain::liveness::LivenessAction;

/// Least head movement for nod and shake: the face centre's range across the frames, as a
/// share of the median face height (nod) or width (shake). A deliberate nod moves the face
/// box by a third of its height or more; the box of a still face wobbles by a few per cent
/// between frames (the detector's window step), so 0.12 keeps clear of both.
pub const MIN_MOVEMENT: f64 = 0.12;

/// Least frames per action. The App sends 3–8 (`flow::liveness` refuses other counts
/// before judging); movement needs at least two.
pub const MIN_FRAMES: usize = 3;

/// Greatest ratio between the largest and the smallest per-action median face size.
pub const MAX_SIZE_RATIO: f64 = 2.0;

/// Stable reason codes (also the values in the HTTP error's `fields`), from the catalog.
pub mod codes {
    use crate::error_code::LivenessProblem;

    /// An action has fewer than [`super::MIN_FRAMES`] frames (or the challenge has none).
    pub const TOO_FEW_FRAMES: &str = LivenessProblem::TooFewFrames.code();
    /// A frame shows no face.
    pub const NO_FACE: &str = LivenessProblem::NoFace.code();
    /// A frame shows more than one face.
    pub const SEVERAL_FACES: &str = LivenessProblem::SeveralFaces.code();
    /// A nod or shake whose face did not move enough.
    pub const NO_MOVEMENT: &str = LivenessProblem::NoNod.code();
    /// The face size differs too much between actions.
    pub const FACE_CHANGED: &str = LivenessProblem::FaceChanged.code();
}

/// What the detector found in the frames of one action, frames in capture order.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFaces {
    /// The action the frames answer.
    pub action: LivenessAction,
    /// The faces found in each frame.
    pub faces: Vec<Vec<FaceBox>>,
    /// Each frame's `(width, height)` as the faces were found in it, same order as
    /// `faces`. Face sizes are compared as a share of the frame so that frames scaled
    /// differently compare alike; if any size is missing or zero, raw pixels are compared.
    pub frame_sizes: Vec<(u32, u32)>,
}

/// The outcome for one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The action.
    pub action: LivenessAction,
    /// Whether it met every rule that concerns it alone (rule 4 spans the actions and is
    /// only in the verdict's reasons).
    pub passed: bool,
    /// Frames received.
    pub frames: usize,
    /// Frames holding exactly one face.
    pub frames_with_one_face: usize,
    /// For nod and shake with at least two one-face frames: the measured movement (range
    /// of the face centre over the median face size; compare with [`MIN_MOVEMENT`]).
    pub movement: Option<f64>,
}

/// Why the check failed; the hint for the App user comes from the catalog
/// (`error_code::LivenessProblem`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// What went wrong; its code is one of [`codes`].
    pub problem: LivenessProblem,
    /// Index of the action in the challenge, when the reason concerns one.
    pub action_index: Option<usize>,
    /// The action, when the reason concerns one.
    pub action: Option<LivenessAction>,
    /// Index of the frame within the action (0-based; the hints count from 1).
    pub frame: Option<usize>,
}

impl Reason {
    /// The stable code, one of [`codes`].
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// What to do, in Chinese.
    pub fn hint_zh(&self) -> String {
        self.problem.hint_zh(self.action, self.frame)
    }

    /// The same in English.
    pub fn hint_en(&self) -> String {
        self.problem.hint_en(self.action, self.frame)
    }

    /// Where the reason points in the upload: `frames.nod[1]`, `frames.nod` or `frames`
    /// (the multipart field name is the action's wire name).
    pub fn path(&self) -> String {
        match (self.action, self.frame) {
            (Some(action), Some(frame)) => format!("frames.{}[{frame}]", action.as_str()),
            (Some(action), None) => format!("frames.{}", action.as_str()),
            (None, _) => "frames".into(),
        }
    }
}

/// The judgement of a whole challenge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    actions: Vec<ActionResult>,
    reasons: Vec<Reason>,
    best_frame: Option<(usize, usize)>,
}

impl Verdict {
    /// Whether the challenge passed: no reason to refuse it.
    pub fn passed(&self) -> bool {
        self.reasons.is_empty()
    }

    /// Per action, in challenge order.
    pub fn actions(&self) -> &[ActionResult] {
        &self.actions
    }

    /// The same, for a JSON summary (what the case record keeps).
    pub fn summary(&self) -> &[ActionResult] {
        &self.actions
    }

    /// Why it failed, in rule order (empty when it passed).
    pub fn reasons(&self) -> &[Reason] {
        &self.reasons
    }

    /// The reason codes alone, in order, for audit records.
    pub fn reason_codes(&self) -> Vec<&'static str> {
        self.reasons.iter().map(Reason::code).collect()
    }

    /// The frame to keep for reviewers, as `(action index, frame index)`. Candidates are
    /// the frames with exactly one face, looked for in three tiers, the first tier with any
    /// candidate winning: (1) blink and open-mouth frames, where the face is still and
    /// frontal; (2) the first action's frames; (3) any frame. Within the tier the highest
    /// detector score wins, the earliest frame on a tie. `None` only when no frame has
    /// exactly one face, so always `Some` for a passed verdict.
    pub fn best_frame(&self) -> Option<(usize, usize)> {
        self.best_frame
    }
}

/// Judges the frames of a challenge, actions in challenge order. See the module
/// documentation for the rules.
pub fn judge(actions: &[FrameFaces]) -> Verdict {
    let mut reasons = Vec::new();
    if actions.is_empty() {
        reasons.push(Reason {
            problem: LivenessProblem::NoFrames,
            action_index: None,
            action: None,
            frame: None,
        });
    }
    let relative = actions.iter().all(|a| {
        a.frame_sizes.len() == a.faces.len() && a.frame_sizes.iter().all(|&(w, h)| w > 0 && h > 0)
    });

    let mut results = Vec::with_capacity(actions.len());
    // Per action: the median face size (relative or raw), when any frame has one face.
    let mut sizes: Vec<Option<f64>> = Vec::with_capacity(actions.len());
    for (index, observed) in actions.iter().enumerate() {
        let before = reasons.len();
        let action = observed.action;
        let frames = observed.faces.len();
        if frames < MIN_FRAMES {
            reasons.push(too_few_frames(index, action));
        }
        for (frame, faces) in observed.faces.iter().enumerate() {
            match faces.len() {
                1 => {}
                0 => reasons.push(no_face(index, action, frame)),
                _ => reasons.push(several_faces(index, action, frame)),
            }
        }
        let single: Vec<(usize, &FaceBox)> = observed
            .faces
            .iter()
            .enumerate()
            .filter(|(_, faces)| faces.len() == 1)
            .map(|(frame, faces)| (frame, &faces[0]))
            .collect();
        let movement = measure_movement(action, &single);
        if let Some(moved) = movement {
            // Only judged when the frames were otherwise fine: a missing face already says
            // what to fix.
            if reasons.len() == before && moved < MIN_MOVEMENT {
                reasons.push(no_movement(index, action));
            }
        }
        sizes.push(median(single.iter().map(|&(frame, face)| {
            let width = f64::from(face.width);
            match observed.frame_sizes.get(frame) {
                Some(&(w, h)) if relative => width / f64::from(w.min(h)),
                _ => width,
            }
        })));
        results.push(ActionResult {
            action,
            passed: reasons.len() == before,
            frames,
            frames_with_one_face: single.len(),
            movement,
        });
    }

    if let Some(reason) = face_changed(actions, &sizes) {
        reasons.push(reason);
    }
    Verdict {
        best_frame: best_frame(actions),
        actions: results,
        reasons,
    }
}

/// Range of the face centre along the action's axis over the median face size along it;
/// `None` for actions without movement or with fewer than two one-face frames.
fn measure_movement(action: LivenessAction, single: &[(usize, &FaceBox)]) -> Option<f64> {
    if !action.movement_checked() || single.len() < 2 {
        return None;
    }
    let vertical = action == LivenessAction::Nod;
    let along = |face: &FaceBox| {
        let (x, y) = face.centre();
        if vertical {
            y
        } else {
            x
        }
    };
    let (low, high) = single
        .iter()
        .map(|(_, face)| along(face))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let size = median(
        single
            .iter()
            .map(|(_, face)| f64::from(if vertical { face.height } else { face.width })),
    )?;
    if size <= 0.0 {
        return Some(0.0);
    }
    Some((high - low) / size)
}

/// Rule 4: the action (the later of the largest and the smallest median) whose face size
/// differs too much from another action's.
fn face_changed(actions: &[FrameFaces], sizes: &[Option<f64>]) -> Option<Reason> {
    let known: Vec<(usize, f64)> = sizes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    let &(small_at, smallest) = known.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let &(large_at, largest) = known.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    if smallest <= 0.0 || largest <= MAX_SIZE_RATIO * smallest {
        return None;
    }
    let index = small_at.max(large_at);
    Some(Reason {
        problem: LivenessProblem::FaceChanged,
        action_index: Some(index),
        action: Some(actions[index].action),
        frame: None,
    })
}

/// See [`Verdict::best_frame`].
fn best_frame(actions: &[FrameFaces]) -> Option<(usize, usize)> {
    let candidates = |tier: &dyn Fn(usize, LivenessAction) -> bool| {
        let mut best: Option<((usize, usize), f64)> = None;
        for (a, observed) in actions.iter().enumerate() {
            if !tier(a, observed.action) {
                continue;
            }
            for (f, faces) in observed.faces.iter().enumerate() {
                if let [face] = faces.as_slice() {
                    if !matches!(best, Some((_, score)) if score >= face.score) {
                        best = Some(((a, f), face.score));
                    }
                }
            }
        }
        best.map(|(at, _)| at)
    };
    candidates(&|_, action| !action.movement_checked())
        .or_else(|| candidates(&|index, _| index == 0))
        .or_else(|| candidates(&|_, _| true))
}

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn too_few_frames(index: usize, action: LivenessAction) -> Reason {
    Reason {
        problem: LivenessProblem::TooFewFrames,
        action_index: Some(index),
        action: Some(action),
        frame: None,
    }
}

fn no_face(index: usize, action: LivenessAction, frame: usize) -> Reason {
    Reason {
        problem: LivenessProblem::NoFace,
        action_index: Some(index),
        action: Some(action),
        frame: Some(frame),
    }
}

fn several_faces(index: usize, action: LivenessAction, frame: usize) -> Reason {
    Reason {
        problem: LivenessProblem::SeveralFaces,
        action_index: Some(index),
        action: Some(action),
        frame: Some(frame),
    }
}

fn no_movement(index: usize, action: LivenessAction) -> Reason {
    Reason {
        problem: if action == LivenessAction::Nod {
            LivenessProblem::NoNod
        } else {
            LivenessProblem::NoShake
        },
        action_index: Some(index),
        action: Some(action),
        frame: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LivenessAction::{Blink, Nod, OpenMouth, Shake};

    const FRAME: (u32, u32) = (640, 480);

    fn face(x: i32, y: i32, size: u32, score: f64) -> FaceBox {
        FaceBox {
            x,
            y,
            width: size,
            height: size,
            score,
        }
    }

    /// One face of `size` per frame, at the given top-left corners, all scoring 20.
    fn frames(action: LivenessAction, size: u32, corners: &[(i32, i32)]) -> FrameFaces {
        FrameFaces {
            action,
            faces: corners
                .iter()
                .map(|&(x, y)| vec![face(x, y, size, 20.0)])
                .collect(),
            frame_sizes: vec![FRAME; corners.len()],
        }
    }

    fn still(action: LivenessAction) -> FrameFaces {
        frames(
            action,
            100,
            &[(270, 190), (271, 190), (270, 191), (269, 190)],
        )
    }

    fn nod() -> FrameFaces {
        frames(Nod, 100, &[(270, 160), (270, 190), (270, 220), (270, 190)])
    }

    fn shake() -> FrameFaces {
        frames(
            Shake,
            100,
            &[(240, 190), (270, 190), (300, 190), (270, 190)],
        )
    }

    #[test]
    fn a_good_challenge_passes_with_movement_measured_for_nod_and_shake_only() {
        let verdict = judge(&[nod(), still(Blink), shake()]);
        assert!(verdict.passed(), "{:?}", verdict.reasons());
        assert!(verdict.reason_codes().is_empty());
        let summary: Vec<_> = verdict
            .actions()
            .iter()
            .map(|r| {
                (
                    r.action,
                    r.passed,
                    r.frames,
                    r.frames_with_one_face,
                    r.movement,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Nod, true, 4, 4, Some(0.6)),
                (Blink, true, 4, 4, None),
                (Shake, true, 4, 4, Some(0.6)),
            ]
        );
        assert_eq!(verdict.best_frame(), Some((1, 0)));
    }

    #[test]
    fn the_summary_serialises_with_wire_names() {
        let verdict = judge(&[nod(), still(OpenMouth)]);
        let json = serde_json::to_value(verdict.summary()).expect("json");
        assert_eq!(json[0]["action"], "nod");
        assert_eq!(json[0]["movement"], 0.6);
        assert_eq!(json[1]["action"], "open_mouth");
        assert!(json[1]["movement"].is_null());
    }

    #[test]
    fn a_frame_without_a_face_is_named_by_action_and_frame() {
        let mut blink = still(Blink);
        blink.faces[1].clear();
        let verdict = judge(&[nod(), blink]);
        assert!(!verdict.passed());
        assert_eq!(verdict.reason_codes(), [codes::NO_FACE]);
        let reason = &verdict.reasons()[0];
        assert_eq!(
            (reason.action_index, reason.action, reason.frame),
            (Some(1), Some(Blink), Some(1))
        );
        assert_eq!(reason.path(), "frames.blink[1]");
        assert_eq!(
            reason.hint_zh(),
            "“眨眼”动作的第 2 张照片中未检测到人脸，请正对镜头、保持光线充足后重试"
        );
        assert_eq!(
            reason.hint_en(),
            "No face found in frame 2 of the blink; face the camera in good light and try again"
        );
        assert!(verdict.actions()[0].passed);
        assert!(!verdict.actions()[1].passed);
        assert_eq!(verdict.actions()[1].frames_with_one_face, 3);
    }

    #[test]
    fn a_frame_with_two_faces_fails_as_several_faces() {
        let mut shake = shake();
        shake.faces[2].push(face(20, 20, 90, 8.0));
        let verdict = judge(&[shake, still(Blink)]);
        assert_eq!(verdict.reason_codes(), [codes::SEVERAL_FACES]);
        let reason = &verdict.reasons()[0];
        assert_eq!((reason.action, reason.frame), (Some(Shake), Some(2)));
        assert_eq!(reason.path(), "frames.shake[2]");
        assert!(
            reason.hint_zh().contains("第 3 张照片中检测到多张人脸"),
            "{}",
            reason.hint_zh()
        );
        assert!(reason
            .hint_en()
            .starts_with("More than one face in frame 3 of the head shake"));
        // The three one-face frames still move enough; the failure is the extra face.
        assert!(verdict.actions()[0].movement.expect("measured") >= MIN_MOVEMENT);
    }

    #[test]
    fn every_bad_frame_is_a_reason_of_its_own() {
        let mut blink = still(Blink);
        blink.faces[0].clear();
        blink.faces[3].clear();
        let verdict = judge(&[blink]);
        let frames: Vec<_> = verdict.reasons().iter().map(|r| r.frame).collect();
        assert_eq!(frames, [Some(0), Some(3)]);
    }

    #[test]
    fn a_still_nod_or_shake_fails_as_no_movement() {
        let mut still_nod = still(Nod);
        let verdict = judge(&[still_nod.clone(), still(Blink)]);
        assert_eq!(verdict.reason_codes(), [codes::NO_MOVEMENT]);
        let reason = &verdict.reasons()[0];
        assert_eq!((reason.action, reason.frame), (Some(Nod), None));
        assert_eq!(reason.path(), "frames.nod");
        assert!(reason.hint_zh().contains("点头"), "{}", reason.hint_zh());
        assert!(verdict.actions()[0].movement.expect("measured") < MIN_MOVEMENT);

        // Horizontal movement does not make a nod, nor vertical a shake.
        still_nod.faces = shake().faces;
        assert_eq!(judge(&[still_nod]).reason_codes(), [codes::NO_MOVEMENT]);
        let mut vertical_shake = nod();
        vertical_shake.action = Shake;
        let verdict = judge(&[vertical_shake]);
        assert_eq!(verdict.reason_codes(), [codes::NO_MOVEMENT]);
        assert!(verdict.reasons()[0].hint_en().contains("head shake"));
    }

    #[test]
    fn movement_passes_at_exactly_the_minimum_and_fails_just_below() {
        // Face 100 px: a 12 px range is 0.12, an 11 px range 0.11.
        let at = judge(&[frames(Nod, 100, &[(270, 190), (270, 202), (270, 196)])]);
        assert_eq!(at.actions()[0].movement, Some(0.12));
        assert!(at.passed(), "{:?}", at.reasons());
        let below = judge(&[frames(Nod, 100, &[(270, 190), (270, 201), (270, 196)])]);
        assert_eq!(below.actions()[0].movement, Some(0.11));
        assert_eq!(below.reason_codes(), [codes::NO_MOVEMENT]);
        // Shake measures across, against the width.
        let at = judge(&[frames(Shake, 200, &[(100, 100), (124, 100), (112, 100)])]);
        assert_eq!(at.actions()[0].movement, Some(0.12));
        assert!(at.passed());
        let below = judge(&[frames(Shake, 200, &[(100, 100), (123, 100), (112, 100)])]);
        assert_eq!(below.reason_codes(), [codes::NO_MOVEMENT]);
    }

    #[test]
    fn movement_is_relative_to_the_median_face_size() {
        // The same 30 px nod: plenty for a 100 px face, not enough for a 300 px one.
        assert!(judge(&[frames(Nod, 100, &[(0, 0), (0, 30), (0, 15)])]).passed());
        let close_up = judge(&[frames(Nod, 300, &[(0, 0), (0, 30), (0, 15)])]);
        assert_eq!(close_up.reason_codes(), [codes::NO_MOVEMENT]);
        assert_eq!(close_up.actions()[0].movement, Some(0.1));
    }

    #[test]
    fn too_few_frames_fail_and_hide_the_movement_judgement() {
        let short = frames(Nod, 100, &[(270, 190), (270, 191)]);
        let verdict = judge(&[short, still(Blink)]);
        assert_eq!(verdict.reason_codes(), [codes::TOO_FEW_FRAMES]);
        let reason = &verdict.reasons()[0];
        assert_eq!((reason.action, reason.frame), (Some(Nod), None));
        assert!(
            reason.hint_zh().contains("少于 3 张"),
            "{}",
            reason.hint_zh()
        );
        assert!(
            verdict.actions()[0].movement.is_some(),
            "still measured for the record"
        );

        let empty = FrameFaces {
            action: Blink,
            faces: Vec::new(),
            frame_sizes: Vec::new(),
        };
        let verdict = judge(&[empty]);
        assert_eq!(verdict.reason_codes(), [codes::TOO_FEW_FRAMES]);
        assert_eq!(verdict.best_frame(), None);
    }

    #[test]
    fn an_empty_challenge_fails() {
        let verdict = judge(&[]);
        assert_eq!(verdict.reason_codes(), [codes::TOO_FEW_FRAMES]);
        assert_eq!(verdict.reasons()[0].path(), "frames");
        assert!(verdict.actions().is_empty());
        assert_eq!(verdict.best_frame(), None);
    }

    #[test]
    fn a_face_twice_the_size_is_fine_but_more_is_face_changed() {
        let near = |size| frames(OpenMouth, size, &[(100, 100), (101, 100), (100, 101)]);
        assert!(judge(&[still(Blink), near(200)]).passed());
        let verdict = judge(&[still(Blink), nod(), near(201)]);
        assert_eq!(verdict.reason_codes(), [codes::FACE_CHANGED]);
        let reason = &verdict.reasons()[0];
        assert_eq!(
            (reason.action_index, reason.action),
            (Some(2), Some(OpenMouth))
        );
        assert!(reason.hint_en().contains("changed size"));
        // Per-action results stay passed: the rule spans the actions.
        assert!(verdict.actions().iter().all(|r| r.passed));
        // The smaller face coming later is named just the same.
        let verdict = judge(&[near(250), still(Blink)]);
        assert_eq!(verdict.reasons()[0].action_index, Some(1));
    }

    #[test]
    fn face_sizes_compare_as_a_share_of_the_frame() {
        // The same face in frames scaled to half the size: not a change.
        let mut half = frames(Blink, 50, &[(100, 100), (101, 100), (100, 101)]);
        half.frame_sizes = vec![(320, 240); 3];
        let full = frames(OpenMouth, 110, &[(100, 100), (101, 100), (100, 101)]);
        assert!(judge(&[half.clone(), full.clone()]).passed());
        // Without sizes the raw boxes are compared, and 110 > 2 × 50.
        half.frame_sizes.clear();
        assert_eq!(judge(&[half, full]).reason_codes(), [codes::FACE_CHANGED]);
    }

    #[test]
    fn the_best_frame_prefers_still_actions_then_the_first_action_then_any() {
        // Tier 1: the blink's best score wins over a higher-scoring nod frame.
        let mut n = nod();
        n.faces[2][0].score = 90.0;
        let mut b = still(Blink);
        b.faces[2][0].score = 30.0;
        b.faces[3][0].score = 30.0;
        assert_eq!(
            judge(&[n.clone(), b]).best_frame(),
            Some((1, 2)),
            "earliest on a tie"
        );

        // Tier 2: no still action, so the first action's best.
        let mut s = shake();
        s.faces[0][0].score = 95.0;
        assert_eq!(judge(&[n.clone(), s.clone()]).best_frame(), Some((0, 2)));

        // Tier 3: the still action has no one-face frame, nor has the first action.
        let mut b = still(Blink);
        for f in &mut b.faces {
            f.clear();
        }
        let mut first = nod();
        for f in &mut first.faces {
            f.push(face(0, 0, 100, 50.0));
        }
        let verdict = judge(&[first, s, b]);
        assert!(!verdict.passed());
        assert_eq!(verdict.best_frame(), Some((1, 0)));
    }

    #[test]
    fn a_frame_with_several_faces_is_never_the_best() {
        let mut b = still(Blink);
        b.faces[0].push(face(0, 0, 100, 99.0));
        b.faces[0][0].score = 99.0;
        b.faces[1][0].score = 25.0;
        assert_eq!(judge(&[b]).best_frame(), Some((0, 1)));
    }

    #[test]
    fn failures_are_listed_action_by_action_in_challenge_order() {
        let mut b = still(Blink);
        b.faces[0].clear();
        let short = frames(OpenMouth, 100, &[(0, 0)]);
        let verdict = judge(&[still(Nod), b, short]);
        assert_eq!(
            verdict.reason_codes(),
            [codes::NO_MOVEMENT, codes::NO_FACE, codes::TOO_FEW_FRAMES]
        );
        let passed: Vec<_> = verdict.actions().iter().map(|r| r.passed).collect();
        assert_eq!(passed, [false, false, false]);
    }
}
