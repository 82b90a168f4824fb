//! Photo pipeline benchmark and threshold calibration, on phone-style JPEGs made from the
//! real photographs in assets/samples (see its README).
//!
//!     taskset -c 0 cargo bench --bench pipeline              # timings, one core
//!     cargo bench --bench pipeline -- --calibrate            # quality figures
//!     cargo bench --bench pipeline -- --quick                # 5 runs instead of 21
//!     cargo bench --bench pipeline -- --write-samples DIR    # keep the generated JPEGs
//!
//! For each image it prints the median time of the whole pipeline and of each stage,
//! megapixels per second, peak memory, and, measured in the same run, the floor: a bare
//! libjpeg-turbo decode at the DCT scale the pipeline picks and a re-encode at the same
//! quality, with the ratio of the pipeline to it. The pipeline's codec is the build's JPEG
//! backend, named in the first line. The floor needs libjpeg-turbo linked in:
//!
//!     taskset -c 0 cargo bench --bench pipeline --features bench-floor   # pure-Rust build
//!     taskset -c 0 cargo bench --bench pipeline --features turbojpeg     # accelerated build
//!
//! (`bench-floor` links libjpeg-turbo into this benchmark only; the pipeline stays pure
//! Rust.) Without either feature the floor columns are empty.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use heyan::imaging::pipeline::testdata::{
    card_on_plain_desk, degrade, handheld_on_white_wall, phone_jpeg, Degradation,
};
use heyan::imaging::pipeline::{
    inspect, process, Options, PhotoKind, Processed, Thresholds, JPEG_BACKEND,
};

/// Counts live heap bytes and their peak, to report the pipeline's Rust allocations
/// (with `turbojpeg`, libjpeg-turbo's own buffers are C allocations, seen in the RSS figure
/// instead).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SAMPLES: [(&str, &[u8]); 7] = [
    ("boats", include_bytes!("../assets/samples/boats.jpg")),
    ("forest", include_bytes!("../assets/samples/forest.jpg")),
    ("cups", include_bytes!("../assets/samples/cups.jpg")),
    ("dusk", include_bytes!("../assets/samples/dusk.jpg")),
    (
        "pier-gray",
        include_bytes!("../assets/samples/pier-gray.jpg"),
    ),
    (
        "astronaut",
        include_bytes!("../assets/samples/astronaut.jpg"),
    ),
    (
        "coffee-small",
        include_bytes!("../assets/samples/coffee-small.jpg"),
    ),
];

/// The drawn ID samples, made into the bright scenes of the calibration.
const ID_FRONT: &[u8] = include_bytes!("../assets/samples/id-front-sample.jpg");
const ID_BACK: &[u8] = include_bytes!("../assets/samples/id-back-sample.jpg");
const HANDHELD: &[u8] = include_bytes!("../assets/samples/handheld-sample.jpg");

fn sample(name: &str) -> &'static [u8] {
    SAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .expect("known sample")
}

/// (name, JPEG): the phone-style inputs of the benchmark.
fn bench_inputs() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "boats 4032x3024 q92".into(),
            phone_jpeg(sample("boats"), 4032, 3024, 92, 3.0, 1),
        ),
        (
            "forest 4032x3024 q92".into(),
            phone_jpeg(sample("forest"), 4032, 3024, 92, 3.0, 1),
        ),
        // Shown portrait, stored 4032×3024 sideways with orientation 6, as an upright phone.
        (
            "astronaut 4032x3024 q92 o6".into(),
            phone_jpeg(sample("astronaut"), 3024, 4032, 92, 3.0, 6),
        ),
        (
            "cups 6000x4500 q92".into(),
            phone_jpeg(sample("cups"), 6000, 4500, 92, 3.0, 1),
        ),
        (
            "boats 7200x5400 q90".into(),
            phone_jpeg(sample("boats"), 7200, 5400, 90, 3.0, 1),
        ),
    ]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The DCT scaling numerator the pipeline picks for a long edge (as `decode::dct_numerator`).
#[cfg(any(feature = "turbojpeg", feature = "bench-floor"))]
fn dct_numerator(long: usize, max_long_edge: usize) -> usize {
    (1..=8)
        .find(|n| (long * n).div_ceil(8) >= max_long_edge * 95 / 100)
        .unwrap_or(8)
}

/// The floor: libjpeg-turbo alone, decoding at the DCT scale the pipeline would pick and
/// re-encoding that at the same quality and subsampling.
#[cfg(any(feature = "turbojpeg", feature = "bench-floor"))]
fn floor_once(jpeg: &[u8], quality: u8, max_long_edge: usize) -> usize {
    let mut d = turbojpeg::Decompressor::new().expect("decompressor");
    let header = d.read_header(jpeg).expect("header");
    let n = dct_numerator(header.width.max(header.height), max_long_edge);
    let factor = turbojpeg::ScalingFactor::new(n, 8);
    d.set_scaling_factor(factor).expect("factor");
    let scaled = header.scaled(factor);
    let mut image = turbojpeg::Image {
        pixels: vec![0u8; scaled.width * scaled.height * 3],
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: turbojpeg::PixelFormat::RGB,
    };
    d.decompress(jpeg, image.as_deref_mut()).expect("decodes");
    let mut c = turbojpeg::Compressor::new().expect("compressor");
    c.set_quality(i32::from(quality)).expect("quality");
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2).expect("subsamp");
    c.compress_to_vec(image.as_deref()).expect("encodes").len()
}

/// Without libjpeg-turbo linked in there is no floor to measure.
#[cfg(not(any(feature = "turbojpeg", feature = "bench-floor")))]
fn floor_once(_jpeg: &[u8], _quality: u8, _max_long_edge: usize) -> usize {
    0
}

/// Whether `floor_once` measures libjpeg-turbo.
const HAS_FLOOR: bool = cfg!(any(feature = "turbojpeg", feature = "bench-floor"));

fn read_status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak memory of one run, measured in a fresh child process (this binary with
/// `--peak-memory FILE`), so that allocator caches from earlier runs cannot hide it:
/// (Rust heap peak, RSS high-water mark above the RSS just before the run). The RSS figure
/// includes libjpeg-turbo's C buffers, if any; Linux only.
fn peak_memory(jpeg: &[u8]) -> (Option<f64>, Option<f64>) {
    let path = std::env::temp_dir().join(format!("heyan-bench-{}.jpg", std::process::id()));
    std::fs::write(&path, jpeg).expect("temp file");
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .arg("--peak-memory")
        .arg(&path)
        .output()
        .expect("child runs");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut figures = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    (figures.next().flatten(), figures.next().flatten())
}

fn peak_memory_child(path: &str) {
    let jpeg = std::fs::read(path).expect("input");
    let opts = Options {
        footer: "2026-11-26 · 案件 3F9A21".into(),
        ..Options::default()
    };
    let base_heap = LIVE.load(Ordering::Relaxed);
    PEAK.store(base_heap, Ordering::Relaxed);
    let base_rss = read_status_kb("VmRSS:");
    let out = process(&jpeg, PhotoKind::Front, &opts).expect("bench input passes");
    let hwm = read_status_kb("VmHWM:");
    drop(out);
    let heap = (PEAK.load(Ordering::Relaxed) - base_heap) as f64 / 1048576.0;
    let rss = match (base_rss, hwm) {
        (Some(b), Some(h)) => format!("{:.1}", h.saturating_sub(b) as f64 / 1024.0),
        _ => "n/a".into(),
    };
    println!("{heap:.1} {rss}");
}

fn bench(runs: usize) {
    let opts = Options {
        footer: "2026-11-26 · 案件 3F9A21".into(),
        ..Options::default()
    };
    println!("jpeg codec: {JPEG_BACKEND}");
    println!(
        "runs per figure: {runs} (median); stage times in ms; floor = bare libjpeg-turbo DCT-scaled decode + encode q{}{}",
        opts.jpeg_quality,
        if HAS_FLOOR { "" } else { " (not built: add --features bench-floor)" }
    );
    println!();
    println!("| image | MB | out | decode | orient | scale | checks | watermark | encode | total | MP/s | floor | ratio | heap MB | RSS MB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, jpeg) in bench_inputs() {
        for _ in 0..2 {
            let _ = process(&jpeg, PhotoKind::Front, &opts).expect("bench input passes");
            floor_once(&jpeg, opts.jpeg_quality, opts.max_long_edge as usize);
        }
        let mut runs_out: Vec<Processed> = Vec::new();
        let mut floors = Vec::new();
        // Interleaved, so that both see the same machine state.
        for _ in 0..runs {
            let out = process(&jpeg, PhotoKind::Front, &opts).expect("bench input passes");
            runs_out.push(Processed {
                jpeg: Vec::new(),
                ..out
            });
            let t = Instant::now();
            floor_once(&jpeg, opts.jpeg_quality, opts.max_long_edge as usize);
            floors.push(t.elapsed());
        }
        let stage = |f: fn(&Processed) -> Duration| median(runs_out.iter().map(f).collect());
        let total = stage(|p| p.timings.total);
        let floor = median(floors);
        let first = &runs_out[0];
        let mp = f64::from(first.original_width) * f64::from(first.original_height) / 1e6;
        let (heap, rss) = peak_memory(&jpeg);
        let (floor_ms, ratio) = if HAS_FLOOR {
            (
                format!("{:.1}", ms(floor)),
                format!("{:.2}", total.as_secs_f64() / floor.as_secs_f64()),
            )
        } else {
            ("–".to_string(), "–".to_string())
        };
        println!(
            "| {name} | {:.1} | {}x{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | **{:.1}** | {:.0} | {floor_ms} | **{ratio}** | {} | {} |",
            jpeg.len() as f64 / 1048576.0,
            first.width,
            first.height,
            ms(stage(|p| p.timings.decode)),
            ms(stage(|p| p.timings.orient)),
            ms(stage(|p| p.timings.scale)),
            ms(stage(|p| p.timings.checks)),
            ms(stage(|p| p.timings.watermark)),
            ms(stage(|p| p.timings.encode)),
            ms(total),
            mp / total.as_secs_f64(),
            heap.map_or("n/a".to_string(), |r| format!("{r:.1}")),
            rss.map_or("n/a".to_string(), |r| format!("{r:.1}")),
        );
    }
}

fn calibrate() {
    let t = Thresholds::default();
    let opts = Options::default();
    println!("jpeg codec: {JPEG_BACKEND}");
    println!(
        "thresholds (on the subject): sharpness ≥ {} (whole photo), mean luma ≥ {}, p5 ≤ {}, \
         clipped ≤ {} (glare) / ≤ {} (overexposure) / ≤ {} when the median is above {}",
        t.min_sharpness,
        t.min_mean_luma,
        t.max_shadow_luma,
        t.max_clipped_fraction,
        t.overexposed_clipped_fraction,
        t.lifted_clipped_fraction,
        t.max_median_luma
    );
    println!();
    println!("| input | version | sharpness | photo median | photo clipped | subject | mean | p5 | median | p95 | clipped | verdict |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut inputs: Vec<(String, PhotoKind, Vec<u8>)> = SAMPLES
        .iter()
        .filter(|(n, _)| *n != "coffee-small")
        .map(|(n, d)| {
            // The face photo is below the minimum size; calibrate on it at 1024 px.
            let d = if *n == "astronaut" {
                phone_jpeg(d, 1024, 1024, 92, 0.0, 1)
            } else {
                d.to_vec()
            };
            (n.to_string(), PhotoKind::Front, d)
        })
        .collect();
    for name in ["boats", "forest", "astronaut"] {
        inputs.push((
            format!("{name} 12MP phone"),
            PhotoKind::Front,
            phone_jpeg(sample(name), 4032, 3024, 92, 3.0, 1),
        ));
    }
    // Bright scenes: the drawn card on a plain light desk, the principal before a white wall.
    for (side, kind, photo) in [
        ("front", PhotoKind::Front, ID_FRONT),
        ("back", PhotoKind::Back, ID_BACK),
    ] {
        for desk in [225, 245] {
            inputs.push((
                format!("card {side} on {desk} desk"),
                kind,
                card_on_plain_desk(photo, desk, 2000, 1500),
            ));
        }
    }
    inputs.push((
        "handheld sample".into(),
        PhotoKind::Handheld,
        HANDHELD.to_vec(),
    ));
    for wall in [235, 242] {
        inputs.push((
            format!("handheld, {wall} wall"),
            PhotoKind::Handheld,
            handheld_on_white_wall(HANDHELD, wall),
        ));
    }
    let versions = [
        None,
        Some(Degradation::Blur(1)),
        Some(Degradation::Blur(2)),
        Some(Degradation::Blur(4)),
        Some(Degradation::Exposure(0.45)),
        Some(Degradation::Exposure(0.3)),
        Some(Degradation::Exposure(0.2)),
        Some(Degradation::Exposure(0.1)),
        Some(Degradation::Exposure(1.3)),
        Some(Degradation::Exposure(1.6)),
        Some(Degradation::Exposure(2.2)),
        Some(Degradation::Exposure(3.0)),
        Some(Degradation::WashedOut(0.5)),
        Some(Degradation::WashedOut(0.3)),
        Some(Degradation::Glare(0.03)),
        Some(Degradation::Glare(0.10)),
        Some(Degradation::Glare(0.20)),
    ];
    for (name, kind, jpeg) in &inputs {
        for v in versions {
            let input = match v {
                None => jpeg.clone(),
                Some(how) => degrade(jpeg, how),
            };
            let label = v.map_or("original".to_string(), |v| v.to_string());
            let verdict = match process(&input, *kind, &opts) {
                Ok(_) => "pass".to_string(),
                Err(e) => e.code().to_string(),
            };
            match inspect(&input, &opts) {
                Ok(r) => println!(
                    "| {name} | {label} | {:.1} | {:.0} | {:.4} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {:.4} | {verdict} |",
                    r.sharpness,
                    r.median_luma,
                    r.clipped_fraction,
                    if r.subject_found {
                        format!("{}×{}", r.subject.width, r.subject.height)
                    } else {
                        "centre".to_string()
                    },
                    r.subject_mean_luma,
                    r.subject_p5_luma,
                    r.subject_median_luma,
                    r.subject_p95_luma,
                    r.subject_clipped_fraction
                ),
                Err(e) => println!("| {name} | {label} | – | – | – | – | – | – | – | – | – | {} |", e.code()),
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write-samples") {
        let dir = std::path::PathBuf::from(args.get(i + 1).expect("--write-samples DIR"));
        std::fs::create_dir_all(&dir).expect("sample dir");
        for (name, jpeg) in bench_inputs() {
            let file = dir.join(format!("{}.jpg", name.replace(' ', "-")));
            std::fs::write(&file, jpeg).expect("writes sample");
            println!("wrote {}", file.display());
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--peak-memory") {
        peak_memory_child(args.get(i + 1).expect("--peak-memory FILE"));
        return;
    }
    if args.iter().any(|a| a == "--calibrate") {
        calibrate();
        return;
    }
    // `cargo test --benches` runs this binary with --bench absent; keep that quick.
    let runs = if args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench") {
        5
    } else {
        21
    };
    bench(runs);
}
