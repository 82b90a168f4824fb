//! "Is the phone in Shanghai?": the location check of DESIGN.md step 5.
//!
//! This module owns the Shanghai boundary shipped in `assets/geo/shanghai.json` (source,
//! licence and extraction in `assets/geo/README.md`), the validation of the coordinates the
//! App reports, and the point-in-polygon decision. It must not store, log or print
//! coordinates: heyan keeps only the yes/no, so [`Coordinates`] hides its values in `Debug`
//! and errors never carry them.
//!
//! Coordinate systems: phones report WGS-84 (GPS), while the boundary, like map data
//! published in mainland China, is in GCJ-02, which is shifted by about 500 m around
//! Shanghai. [`ShanghaiBoundary::contains`] therefore converts the WGS-84 input to GCJ-02
//! with the standard published transform before testing it against the polygon; the
//! transform is exact in that direction, unlike its iterative inverse.

use std::f64::consts::PI;
use std::fmt;

use serde::Deserialize;

use crate::error_code::ErrorCode;

/// Worst location accuracy accepted, in metres. Kunshan's Huaqiao metro station lies
/// 1.4 km from the border with Shanghai's Anting; a coarser fix (cell-tower positioning)
/// cannot tell the two sides apart.
pub const MAX_ACCURACY_M: f64 = 2_000.0;

/// Coordinate system the boundary file must declare in `properties.coordinate_system`.
const BOUNDARY_COORDINATE_SYSTEM: &str = "GCJ-02";

/// The shipped boundary, compiled in so the check works without files at run time.
const BUILTIN_BOUNDARY: &str = include_str!("../../assets/geo/shanghai.json");

/// Longitude and latitude range a mainland China boundary can lie in; a file outside it
/// has its axes swapped or is not in degrees.
const CHINA_LON: (f64, f64) = (73.0, 136.0);
const CHINA_LAT: (f64, f64) = (3.0, 54.0);

/// Why a reported location or a boundary file was refused.
///
/// Messages never contain the reported coordinates.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    /// Latitude, longitude or accuracy is NaN or infinite.
    #[error("{field} is not a finite number")]
    NotFinite {
        /// `latitude`, `longitude` or `accuracy_m`.
        field: &'static str,
    },
    /// Latitude outside −90…90 degrees.
    #[error("latitude must be between -90 and 90 degrees")]
    LatitudeOutOfRange,
    /// Longitude outside −180…180 degrees.
    #[error("longitude must be between -180 and 180 degrees")]
    LongitudeOutOfRange,
    /// Accuracy is negative (iOS reports a negative accuracy for an invalid fix).
    #[error("accuracy must not be negative")]
    NegativeAccuracy,
    /// The fix is coarser than [`MAX_ACCURACY_M`]; the App should ask for a GPS fix.
    #[error("location accuracy of {accuracy_m:.0} m is coarser than the {limit_m:.0} m allowed")]
    AccuracyTooLow {
        /// Accuracy the App reported, in metres.
        accuracy_m: f64,
        /// The limit, [`MAX_ACCURACY_M`].
        limit_m: f64,
    },
    /// The boundary GeoJSON is malformed or not what heyan expects.
    #[error("invalid boundary data: {0}")]
    InvalidBoundary(String),
}

impl GeoError {
    /// The catalog code API clients may branch on; a bad boundary is our fault.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFinite { .. } => ErrorCode::LocationNotFinite,
            Self::LatitudeOutOfRange => ErrorCode::LatitudeOutOfRange,
            Self::LongitudeOutOfRange => ErrorCode::LongitudeOutOfRange,
            Self::NegativeAccuracy => ErrorCode::LocationAccuracyInvalid,
            Self::AccuracyTooLow { .. } => ErrorCode::LocationAccuracyTooLow,
            Self::InvalidBoundary(_) => ErrorCode::InternalError,
        }
    }
}

/// A validated WGS-84 position as reported by the App.
///
/// A precise location is personal data: `Debug` prints no digits.
#[derive(Clone, Copy, PartialEq)]
pub struct Coordinates {
    latitude: f64,
    longitude: f64,
}

impl Coordinates {
    /// Validates untrusted input; see [`parse_coordinates`].
    pub fn parse(latitude: f64, longitude: f64, accuracy_m: Option<f64>) -> Result<Self, GeoError> {
        check_finite("latitude", latitude)?;
        check_finite("longitude", longitude)?;
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(GeoError::LatitudeOutOfRange);
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(GeoError::LongitudeOutOfRange);
        }
        if let Some(accuracy_m) = accuracy_m {
            check_accuracy(accuracy_m)?;
        }
        Ok(Self {
            latitude,
            longitude,
        })
    }

    /// Latitude in degrees, WGS-84.
    pub fn latitude(&self) -> f64 {
        self.latitude
    }

    /// Longitude in degrees, WGS-84.
    pub fn longitude(&self) -> f64 {
        self.longitude
    }
}

impl fmt::Debug for Coordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Coordinates([redacted])")
    }
}

/// Validates a location reported by the App: latitude and longitude finite and in range,
/// and, when given, an accuracy (metres, 68 % radius as phones report it) that is finite,
/// not negative and no coarser than [`MAX_ACCURACY_M`]. A missing accuracy is accepted,
/// since not every platform reports one.
pub fn parse_coordinates(
    latitude: f64,
    longitude: f64,
    accuracy_m: Option<f64>,
) -> Result<Coordinates, GeoError> {
    Coordinates::parse(latitude, longitude, accuracy_m)
}

fn check_finite(field: &'static str, value: f64) -> Result<(), GeoError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(GeoError::NotFinite { field })
    }
}

fn check_accuracy(accuracy_m: f64) -> Result<(), GeoError> {
    check_finite("accuracy_m", accuracy_m)?;
    if accuracy_m < 0.0 {
        return Err(GeoError::NegativeAccuracy);
    }
    if accuracy_m > MAX_ACCURACY_M {
        return Err(GeoError::AccuracyTooLow {
            accuracy_m,
            limit_m: MAX_ACCURACY_M,
        });
    }
    Ok(())
}

/// The land boundary of Shanghai municipality (上海市, including Chongming, Changxing and
/// Hengsha islands, without the Jiangsu part of Chongming island), in GCJ-02.
///
/// Parsing costs a few milliseconds: build it once at startup and share it.
pub struct ShanghaiBoundary {
    polygons: Vec<Polygon>,
}

/// One polygon of the multipolygon: its outer ring and any holes, with a bounding box so
/// most points far away are rejected without walking the rings.
struct Polygon {
    rings: Vec<Vec<Point>>,
    bounds: Bounds,
}

/// A position in GCJ-02 degrees.
#[derive(Clone, Copy)]
struct Point {
    lon: f64,
    lat: f64,
}

#[derive(Clone, Copy)]
struct Bounds {
    min: Point,
    max: Point,
}

impl ShanghaiBoundary {
    /// The boundary shipped in `assets/geo/shanghai.json`.
    pub fn builtin() -> Result<Self, GeoError> {
        Self::from_geojson(BUILTIN_BOUNDARY)
    }

    /// Parses a GeoJSON `Feature` whose geometry is a `MultiPolygon` in GCJ-02 and whose
    /// `properties.coordinate_system` says so.
    pub fn from_geojson(text: &str) -> Result<Self, GeoError> {
        let feature: FeatureDto = serde_json::from_str(text)
            .map_err(|e| invalid(format!("not a GeoJSON feature: {e}")))?;
        feature.check_header()?;
        let polygons = feature
            .geometry
            .coordinates
            .into_iter()
            .map(Polygon::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if polygons.is_empty() {
            return Err(invalid("the multipolygon has no polygons".into()));
        }
        Ok(Self { polygons })
    }

    /// Whether a WGS-84 position (as phones report it) lies in Shanghai. Non-finite input
    /// is never inside. A point exactly on the border may fall either way.
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        if !lat.is_finite() || !lon.is_finite() {
            return false;
        }
        let (lat, lon) = wgs84_to_gcj02(lat, lon);
        let point = Point { lon, lat };
        self.polygons.iter().any(|polygon| polygon.contains(point))
    }

    /// [`Self::contains`] for validated coordinates.
    pub fn contains_coordinates(&self, at: &Coordinates) -> bool {
        self.contains(at.latitude, at.longitude)
    }
}

impl fmt::Debug for ShanghaiBoundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vertices: usize = self
            .polygons
            .iter()
            .flat_map(|p| &p.rings)
            .map(Vec::len)
            .sum();
        f.debug_struct("ShanghaiBoundary")
            .field("polygons", &self.polygons.len())
            .field("vertices", &vertices)
            .finish()
    }
}

impl Polygon {
    fn parse(rings: Vec<Vec<[f64; 2]>>) -> Result<Self, GeoError> {
        if rings.is_empty() {
            return Err(invalid("a polygon has no rings".into()));
        }
        let rings = rings
            .into_iter()
            .map(parse_ring)
            .collect::<Result<Vec<_>, _>>()?;
        // Holes lie inside the outer ring, so its box bounds the whole polygon.
        let bounds = Bounds::of(&rings[0]);
        Ok(Self { rings, bounds })
    }

    /// Even-odd rule over all rings, so holes count as outside.
    fn contains(&self, point: Point) -> bool {
        if !self.bounds.contains(point) {
            return false;
        }
        self.rings
            .iter()
            .filter(|ring| ring_contains(ring, point))
            .count()
            % 2
            == 1
    }
}

impl Bounds {
    fn of(ring: &[Point]) -> Self {
        let start = Self {
            min: ring[0],
            max: ring[0],
        };
        ring.iter().fold(start, |b, p| Self {
            min: Point {
                lon: b.min.lon.min(p.lon),
                lat: b.min.lat.min(p.lat),
            },
            max: Point {
                lon: b.max.lon.max(p.lon),
                lat: b.max.lat.max(p.lat),
            },
        })
    }

    fn contains(&self, p: Point) -> bool {
        (self.min.lon..=self.max.lon).contains(&p.lon)
            && (self.min.lat..=self.max.lat).contains(&p.lat)
    }
}

/// Checks one closed ring of `[lon, lat]` pairs and converts it.
fn parse_ring(ring: Vec<[f64; 2]>) -> Result<Vec<Point>, GeoError> {
    if ring.len() < 4 {
        return Err(invalid("a ring has fewer than 4 positions".into()));
    }
    if ring.first() != ring.last() {
        return Err(invalid("a ring is not closed".into()));
    }
    ring.into_iter().map(parse_position).collect()
}

fn parse_position([lon, lat]: [f64; 2]) -> Result<Point, GeoError> {
    let in_china =
        (CHINA_LON.0..=CHINA_LON.1).contains(&lon) && (CHINA_LAT.0..=CHINA_LAT.1).contains(&lat);
    if !in_china {
        return Err(invalid(format!(
            "position [{lon}, {lat}] is outside China; expected [longitude, latitude]"
        )));
    }
    Ok(Point { lon, lat })
}

/// Crossing-number test of one ring (closed, first position repeated last).
fn ring_contains(ring: &[Point], p: Point) -> bool {
    ring.windows(2).fold(false, |inside, edge| {
        let (a, b) = (edge[0], edge[1]);
        let straddles = (a.lat > p.lat) != (b.lat > p.lat);
        // `straddles` guarantees a.lat != b.lat, so the division is safe.
        if straddles && p.lon < a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat) {
            !inside
        } else {
            inside
        }
    })
}

fn invalid(reason: String) -> GeoError {
    GeoError::InvalidBoundary(reason)
}

/// The GeoJSON shape heyan accepts; unknown members are ignored.
#[derive(Deserialize)]
struct FeatureDto {
    #[serde(rename = "type")]
    kind: String,
    properties: PropertiesDto,
    geometry: GeometryDto,
}

#[derive(Deserialize)]
struct PropertiesDto {
    coordinate_system: String,
}

#[derive(Deserialize)]
struct GeometryDto {
    #[serde(rename = "type")]
    kind: String,
    coordinates: Vec<Vec<Vec<[f64; 2]>>>,
}

impl FeatureDto {
    fn check_header(&self) -> Result<(), GeoError> {
        if self.kind != "Feature" {
            return Err(invalid(format!("expected a Feature, found {}", self.kind)));
        }
        if self.geometry.kind != "MultiPolygon" {
            return Err(invalid(format!(
                "expected a MultiPolygon, found {}",
                self.geometry.kind
            )));
        }
        // A WGS-84 file would pass every other check and be wrong by ~500 m at the border.
        if self.properties.coordinate_system != BOUNDARY_COORDINATE_SYSTEM {
            return Err(invalid(format!(
                "coordinate_system is {}, expected {BOUNDARY_COORDINATE_SYSTEM}",
                self.properties.coordinate_system
            )));
        }
        Ok(())
    }
}

/// Semi-major axis of the Krasovsky 1940 ellipsoid that GCJ-02 is defined on, in metres.
const GCJ_A: f64 = 6_378_245.0;
/// Its first eccentricity squared.
const GCJ_EE: f64 = 0.006_693_421_622_965_943;

/// WGS-84 → GCJ-02 with the standard published formula (as in the MIT-licensed
/// `eviltransform` reference implementations). Outside mainland China's box GCJ-02 is
/// undefined and the input is returned unchanged, as those implementations do.
fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat) {
        return (lat, lon);
    }
    let (d_lat, d_lon) = gcj_offset(lon - 105.0, lat - 35.0);
    let rad_lat = lat.to_radians();
    let magic = 1.0 - GCJ_EE * rad_lat.sin().powi(2);
    let sqrt_magic = magic.sqrt();
    let d_lat = (d_lat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = (d_lon * 180.0) / (GCJ_A / sqrt_magic * rad_lat.cos() * PI);
    (lat + d_lat, lon + d_lon)
}

/// The published polynomial-and-sine offset, in "metres-like" units before scaling;
/// `x` and `y` are longitude − 105° and latitude − 35°.
fn gcj_offset(x: f64, y: f64) -> (f64, f64) {
    let shared = (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    let d_lat = -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt()
        + shared
        + (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0
        + (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let d_lon = 300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt()
        + shared
        + (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0
        + (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    (d_lat, d_lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boundary() -> ShanghaiBoundary {
        ShanghaiBoundary::builtin().expect("the shipped boundary parses")
    }

    /// `(description, latitude, longitude)`, WGS-84 degrees.
    type Place = (&'static str, f64, f64);

    // Coordinates are as given in the English Wikipedia infobox of each place (WGS-84)
    // unless noted otherwise; "supplied with the task" marks values that came with the
    // work request. Each point lies more than 1.2 km from the shipped border, over twice
    // the GCJ-02 shift, so a coordinate read off a shifted map still lands on its side.
    const INSIDE: &[Place] = &[
        // "Shanghai" infobox, "Coordinates (People's Square)": 31°13′43″N 121°28′29″E.
        ("People's Square (Wikipedia)", 31.22861, 121.47472),
        // People's Square, supplied with the task.
        ("People's Square (task value)", 31.2304, 121.4737),
        // "Shanghai Pudong International Airport": 31°8′36″N 121°48′19″E; 4 km from the coast.
        ("Pudong International Airport", 31.14333, 121.80528),
        // Chongming island, Shanghai part, supplied with the task; 3 km from the coast.
        ("Chongming island, Shanghai part", 31.62, 121.40),
        // "Chongming Island": 31°40′N 121°30′E.
        ("Chongming Island (article point)", 31.667, 121.5),
        // "Jinshan District" (ru/cs Wikipedia): 30°44′38″N 121°20′14″E.
        ("Jinshan District", 30.74389, 121.33722),
        // "East Changji Road station" (Line 11, Anting branch, Jiading): 31°17′37″N 121°12′01″E;
        // the Shanghai side of the Anting–Huaqiao border, 4 km from it.
        ("East Changji Road station, Jiading", 31.29361, 121.20028),
    ];

    const OUTSIDE: &[Place] = &[
        // "Kunshan": 31°19′19″N 120°59′06″E.
        ("Kunshan (Wikipedia)", 31.322, 120.985),
        // Kunshan, supplied with the task.
        ("Kunshan (task value)", 31.385, 120.98),
        // "Jiaxing", municipal government: 30°44′49″N 120°45′22″E.
        ("Jiaxing (Wikipedia)", 30.747, 120.756),
        // Jiaxing, supplied with the task.
        ("Jiaxing (task value)", 30.75, 120.76),
        // "Suzhou", municipal government: 31°17′59″N 120°35′07″E.
        ("Suzhou", 31.29972, 120.58528),
        // "Nantong", government: 31°58′52″N 120°53′38″E; across the Yangtze.
        ("Nantong", 31.981, 120.894),
        // "Tiananmen" (simple Wikipedia): 39°54′26.4″N 116°23′27.9″E.
        ("Beijing, Tiananmen", 39.907333, 116.391083),
        // "Huaqiao station (Shanghai Metro)": 31°18′02″N 121°05′59″E; Kunshan, Jiangsu,
        // 1.4 km from the border with Anting.
        ("Huaqiao station, Kunshan", 31.3006, 121.0998),
        // "Haiyong": 31°47′20″N 121°25′35″E; Haimen (Jiangsu) town on Chongming island,
        // 1.3 km north of the Shanghai part.
        (
            "Haiyong, Jiangsu part of Chongming island",
            31.78889,
            121.42639,
        ),
        // "Qilong Township" (de Wikipedia, government): 31.7741, 121.4563; Qidong (Jiangsu)
        // on Chongming island, 1.5 km north of the Shanghai part.
        (
            "Qilong, Jiangsu part of Chongming island",
            31.7741,
            121.4563,
        ),
        // Null Island: outside China, where no GCJ-02 shift applies.
        ("0, 0", 0.0, 0.0),
    ];

    // Pairs 150 m either side of the shipped border, built from the boundary itself: the
    // border crossing of the given meridian or parallel in GCJ-02, moved 150 m across it,
    // then converted to WGS-84 by inverting `wgs84_to_gcj02` numerically (round trip
    // error < 0.1 m). The GCJ-02 shift (~215 m south, ~430 m east here) is larger than
    // 150 m, so in each pair one point lands on the wrong side if the conversion is
    // skipped or reversed.
    const NEAR_BORDER: &[(&str, Place, Place)] = &[
        (
            "Jiading | Kunshan (Huaqiao), crossing of 31.34°N at 121.1299°E (GCJ-02)",
            ("Jiading side", 31.341811, 121.126847),
            ("Kunshan side", 31.341808, 121.123688),
        ),
        (
            "Jinshan | Zhejiang, crossing of 121.15°E at 30.7791°N (GCJ-02)",
            ("Jinshan side", 30.782570, 121.145463),
            ("Zhejiang side", 30.779859, 121.145463),
        ),
        (
            "Chongming | Qidong on Chongming island, crossing of 121.47°E at 31.7567°N (GCJ-02)",
            ("Chongming side", 31.757160, 121.465405),
            ("Jiangsu side", 31.759873, 121.465405),
        ),
    ];

    #[test]
    fn shipped_boundary_parses() {
        let shown = format!("{:?}", boundary());
        assert!(shown.contains("polygons: 11"), "{shown}");
    }

    #[test]
    fn places_in_shanghai_are_inside() {
        let boundary = boundary();
        for (what, lat, lon) in INSIDE {
            assert!(
                boundary.contains(*lat, *lon),
                "{what} should be in Shanghai"
            );
        }
    }

    #[test]
    fn places_outside_shanghai_are_outside() {
        let boundary = boundary();
        for (what, lat, lon) in OUTSIDE {
            assert!(
                !boundary.contains(*lat, *lon),
                "{what} should not be in Shanghai"
            );
        }
    }

    #[test]
    fn points_150_m_either_side_of_the_border_fall_on_their_side() {
        let boundary = boundary();
        for (border, (inner, in_lat, in_lon), (outer, out_lat, out_lon)) in NEAR_BORDER {
            assert!(
                boundary.contains(*in_lat, *in_lon),
                "{border}: {inner} should be inside"
            );
            assert!(
                !boundary.contains(*out_lat, *out_lon),
                "{border}: {outer} should be outside"
            );
        }
    }

    #[test]
    fn contains_coordinates_agrees_with_contains() {
        let at = parse_coordinates(31.22861, 121.47472, Some(15.0)).expect("valid");
        assert!(boundary().contains_coordinates(&at));
    }

    #[test]
    fn non_finite_points_are_never_inside() {
        let boundary = boundary();
        assert!(!boundary.contains(f64::NAN, 121.47));
        assert!(!boundary.contains(31.23, f64::INFINITY));
    }

    #[test]
    fn wgs84_to_gcj02_matches_the_reference_implementation() {
        // Test vectors of googollee/eviltransform, go/transform_test.go (MIT licence):
        // WGS-84 input and the GCJ-02 output of the reference implementation.
        let vectors = [
            (
                "shanghai",
                (31.1774276, 121.5272106),
                (31.17530398364597, 121.531541859215),
            ),
            (
                "shenzhen",
                (22.543847, 113.912316),
                (22.540796131694766, 113.9171764808363),
            ),
            (
                "beijing",
                (39.911954, 116.377817),
                (39.91334545536069, 116.38404722455657),
            ),
        ];
        for (city, (lat, lon), (gcj_lat, gcj_lon)) in vectors {
            let (got_lat, got_lon) = wgs84_to_gcj02(lat, lon);
            assert!(
                (got_lat - gcj_lat).abs() < 1e-9,
                "{city} latitude {got_lat}"
            );
            assert!(
                (got_lon - gcj_lon).abs() < 1e-9,
                "{city} longitude {got_lon}"
            );
        }
    }

    #[test]
    fn wgs84_to_gcj02_leaves_points_outside_china_alone() {
        assert_eq!(wgs84_to_gcj02(51.5, -0.12), (51.5, -0.12));
    }

    #[test]
    fn parse_coordinates_accepts_valid_input() {
        let cases = [
            ("typical GPS fix", 31.23, 121.47, Some(12.0)),
            ("no accuracy reported", 31.23, 121.47, None),
            ("accuracy at the limit", 31.23, 121.47, Some(MAX_ACCURACY_M)),
            ("zero accuracy", 31.23, 121.47, Some(0.0)),
            ("range corners", -90.0, 180.0, None),
            ("range corners", 90.0, -180.0, None),
        ];
        for (what, lat, lon, accuracy) in cases {
            let at =
                parse_coordinates(lat, lon, accuracy).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((at.latitude(), at.longitude()), (lat, lon), "{what}");
        }
    }

    #[test]
    fn parse_coordinates_refuses_invalid_input_with_a_code() {
        let cases = [
            ("NaN latitude", f64::NAN, 121.0, None, "location_not_finite"),
            (
                "infinite longitude",
                31.0,
                f64::NEG_INFINITY,
                None,
                "location_not_finite",
            ),
            (
                "NaN accuracy",
                31.0,
                121.0,
                Some(f64::NAN),
                "location_not_finite",
            ),
            (
                "latitude above 90",
                90.0001,
                121.0,
                None,
                "latitude_out_of_range",
            ),
            (
                "latitude below -90",
                -91.0,
                121.0,
                None,
                "latitude_out_of_range",
            ),
            (
                "longitude above 180",
                31.0,
                180.5,
                None,
                "longitude_out_of_range",
            ),
            (
                "negative accuracy (iOS invalid fix)",
                31.0,
                121.0,
                Some(-1.0),
                "location_accuracy_invalid",
            ),
            (
                "accuracy just over the limit",
                31.0,
                121.0,
                Some(2_000.1),
                "location_accuracy_too_low",
            ),
            (
                "cell-tower accuracy",
                31.0,
                121.0,
                Some(5_000.0),
                "location_accuracy_too_low",
            ),
        ];
        for (what, lat, lon, accuracy, code) in cases {
            let err = parse_coordinates(lat, lon, accuracy).expect_err(what);
            assert_eq!(err.code(), code, "{what}");
        }
    }

    #[test]
    fn errors_and_debug_do_not_reveal_the_position() {
        let at = parse_coordinates(31.234567, 121.476543, None).expect("valid");
        let shown = format!("{at:?}");
        assert!(
            !shown.contains("31.23") && !shown.contains("121.47"),
            "{shown}"
        );
        let err = parse_coordinates(31.234567, 121.476543, Some(3_000.0)).expect_err("too coarse");
        let message = err.to_string();
        assert!(
            !message.contains("31.23") && !message.contains("121.47"),
            "{message}"
        );
        assert!(message.contains("3000 m"), "{message}");
    }

    fn feature(coordinate_system: &str, geometry: &str) -> String {
        format!(
            r#"{{"type":"Feature","properties":{{"coordinate_system":"{coordinate_system}"}},"geometry":{geometry}}}"#
        )
    }

    const SQUARE: &str = r#"{"type":"MultiPolygon","coordinates":[[[[121,31],[122,31],[122,32],[121,32],[121,31]]]]}"#;

    #[test]
    fn from_geojson_reads_a_minimal_feature_and_respects_holes() {
        let with_hole = r#"{"type":"MultiPolygon","coordinates":[[
            [[121,31],[122,31],[122,32],[121,32],[121,31]],
            [[121.4,31.4],[121.6,31.4],[121.6,31.6],[121.4,31.6],[121.4,31.4]]]]}"#;
        let boundary =
            ShanghaiBoundary::from_geojson(&feature("GCJ-02", with_hole)).expect("parses");
        assert!(
            boundary.contains(31.2, 121.2),
            "in the square, outside the hole"
        );
        assert!(!boundary.contains(31.5, 121.5), "in the hole");
        assert!(!boundary.contains(32.5, 121.5), "north of the square");
    }

    #[test]
    fn from_geojson_refuses_unexpected_data() {
        let cases = [
            ("not JSON", "{".to_owned()),
            ("WGS-84 file", feature("WGS-84", SQUARE)),
            ("missing coordinate system", SQUARE.to_owned()),
            (
                "plain polygon",
                feature(
                    "GCJ-02",
                    r#"{"type":"Polygon","coordinates":[[[121,31],[122,31],[122,32],[121,31]]]}"#,
                ),
            ),
            (
                "no polygons",
                feature("GCJ-02", r#"{"type":"MultiPolygon","coordinates":[]}"#),
            ),
            (
                "polygon without rings",
                feature("GCJ-02", r#"{"type":"MultiPolygon","coordinates":[[]]}"#),
            ),
            (
                "open ring",
                feature(
                    "GCJ-02",
                    r#"{"type":"MultiPolygon","coordinates":[[[[121,31],[122,31],[122,32],[121,32]]]]}"#,
                ),
            ),
            (
                "short ring",
                feature(
                    "GCJ-02",
                    r#"{"type":"MultiPolygon","coordinates":[[[[121,31],[122,31],[121,31]]]]}"#,
                ),
            ),
            (
                "latitude and longitude swapped",
                feature(
                    "GCJ-02",
                    r#"{"type":"MultiPolygon","coordinates":[[[[31,121],[31,122],[32,122],[31,121]]]]}"#,
                ),
            ),
        ];
        for (what, text) in cases {
            let err = ShanghaiBoundary::from_geojson(&text).expect_err(what);
            assert!(matches!(err, GeoError::InvalidBoundary(_)), "{what}");
        }
    }
}
