//! Test data: real JPEG files, and the App's part of the flow (photos kept, code issued)
//! done through heyan's own flow functions until the App API exists.

use heyan::domain::case::PhotoKind;
use heyan::domain::ids::CaseId;
use heyan::flow::photos::{keep, FinishedPhoto};
use heyan::flow::{codes, Actor};
use image::codecs::jpeg::JpegEncoder;
use image::{ImageBuffer, Rgb};

use crate::helpers::TestApp;

/// A real baseline JPEG of `width`×`height`: a colour gradient that differs by `seed`.
pub fn jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = ImageBuffer::from_fn(width, height, |x, y| {
        Rgb([
            (x % 256) as u8,
            (y % 256) as u8,
            seed.wrapping_add(((x + y) % 256) as u8),
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .expect("encode JPEG");
    out
}

/// Stores the four photos of a finished App session and issues a code; returns the code.
pub async fn finish_app(app: &TestApp, case_id: &str) -> String {
    let id = CaseId::parse(case_id).expect("case id");
    for (i, kind) in PhotoKind::ALL.into_iter().enumerate() {
        let photo = FinishedPhoto {
            kind,
            jpeg: jpeg(320, 240, i as u8),
            width: 320,
            height: 240,
            original_sha256: "0".repeat(64),
        };
        keep(&app.state.services, &id, photo)
            .await
            .expect("photo kept");
    }
    issue_code(app, case_id).await
}

/// Issues a (new) code for a case, as completing the App does.
pub async fn issue_code(app: &TestApp, case_id: &str) -> String {
    let id = CaseId::parse(case_id).expect("case id");
    let case = app.state.store.get_case(&id).await.expect("case");
    let actor = Actor {
        kind: "app",
        id: case_id.to_owned(),
        ip: None,
    };
    let code = codes::issue(&app.state.services, &case, &actor)
        .await
        .expect("code issued");
    code.code.as_str().to_owned()
}
