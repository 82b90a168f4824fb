//! Applies the EXIF orientation (1–8) so the pixels stand as the photo is meant to be
//! seen; the output carries no orientation tag, so this is the only chance to get it
//! right.

use super::Rgb;

/// Side of the square blocks a transpose copies at once.
const BLOCK: usize = 8;

pub(crate) fn apply(image: Rgb, orientation: u8) -> Rgb {
    if !(2..=8).contains(&orientation) {
        return image;
    }
    let (w, h) = (image.width as usize, image.height as usize);
    let transposed = orientation >= 5;
    let out_w = if transposed { h } else { w };
    let (wi, hi, ow) = (w as isize, h as isize, out_w as isize);
    // Output pixel index of input pixel (x, y) is origin + x·dx + y·dy.
    let (origin, dx, dy): (isize, isize, isize) = match orientation {
        2 => (wi - 1, -1, wi),
        3 => ((hi - 1) * wi + wi - 1, -1, -wi),
        4 => ((hi - 1) * wi, 1, -wi),
        5 => (0, ow, 1),
        6 => (hi - 1, ow, -1),
        7 => ((wi - 1) * ow + hi - 1, -ow, -1),
        _ => ((wi - 1) * ow, -ow, 1),
    };
    let src = &image.data;
    let mut dst = vec![0u8; src.len()];
    if transposed {
        // dy is ±1 here: BLOCK consecutive input rows land, column by column, on BLOCK
        // consecutive output pixels. Full blocks go through fixed-size arrays (no bounds
        // checks in the inner loops); the ragged right and bottom edges pixel by pixel.
        let (full_w, full_h) = (w / BLOCK * BLOCK, h / BLOCK * BLOCK);
        for y0 in (0..full_h).step_by(BLOCK) {
            for x0 in (0..full_w).step_by(BLOCK) {
                let mut block = [[0u8; BLOCK * 3]; BLOCK];
                for (i, line) in block.iter_mut().enumerate() {
                    let at = ((y0 + i) * w + x0) * 3;
                    line.copy_from_slice(&src[at..at + BLOCK * 3]);
                }
                for j in 0..BLOCK {
                    let first = origin + (x0 + j) as isize * dx + y0 as isize * dy;
                    let low = if dy > 0 {
                        first
                    } else {
                        first - (BLOCK as isize - 1)
                    } as usize;
                    let run: &mut [u8; BLOCK * 3] = (&mut dst[low * 3..(low + BLOCK) * 3])
                        .try_into()
                        .expect("BLOCK pixels");
                    for (i, line) in block.iter().enumerate() {
                        let t = if dy > 0 { i } else { BLOCK - 1 - i };
                        run[t * 3..t * 3 + 3].copy_from_slice(&line[j * 3..j * 3 + 3]);
                    }
                }
            }
        }
        let mut copy = |x: usize, y: usize| {
            let o = (origin + x as isize * dx + y as isize * dy) as usize * 3;
            dst[o..o + 3].copy_from_slice(&src[(y * w + x) * 3..(y * w + x) * 3 + 3]);
        };
        for y in 0..h {
            let from = if y < full_h { full_w } else { 0 };
            for x in from..w {
                copy(x, y);
            }
        }
    } else {
        // Flips: whole rows, reversed pixel by pixel when dx is −1.
        for y in 0..h {
            let row = &src[y * w * 3..(y + 1) * w * 3];
            let out_y = ((origin + y as isize * dy) as usize) / w;
            let out = &mut dst[out_y * w * 3..(out_y + 1) * w * 3];
            if dx > 0 {
                out.copy_from_slice(row);
            } else {
                for (o, px) in out.chunks_exact_mut(3).zip(row.chunks_exact(3).rev()) {
                    o.copy_from_slice(px);
                }
            }
        }
    }
    let (width, height) = if transposed {
        (image.height, image.width)
    } else {
        (image.width, image.height)
    };
    Rgb {
        width,
        height,
        data: dst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 image whose pixels are numbered 1..=6 in reading order.
    fn numbered() -> Rgb {
        Rgb {
            width: 3,
            height: 2,
            data: (1..=6u8).flat_map(|v| [v, v, v]).collect(),
        }
    }

    /// Width, height and pixel numbers in reading order.
    type Layout = (u32, u32, Vec<u8>);

    fn layout(img: &Rgb) -> Layout {
        (
            img.width,
            img.height,
            img.data.chunks(3).map(|p| p[0]).collect(),
        )
    }

    #[test]
    fn each_exif_orientation_maps_pixels_as_the_standard_says() {
        // Stored 1 2 3 / 4 5 6; what a viewer shows after applying the tag.
        let cases: [(u8, Layout); 8] = [
            (1, (3, 2, vec![1, 2, 3, 4, 5, 6])),
            (2, (3, 2, vec![3, 2, 1, 6, 5, 4])),
            (3, (3, 2, vec![6, 5, 4, 3, 2, 1])),
            (4, (3, 2, vec![4, 5, 6, 1, 2, 3])),
            (5, (2, 3, vec![1, 4, 2, 5, 3, 6])),
            (6, (2, 3, vec![4, 1, 5, 2, 6, 3])),
            (7, (2, 3, vec![6, 3, 5, 2, 4, 1])),
            (8, (2, 3, vec![3, 6, 2, 5, 1, 4])),
        ];
        for (orientation, want) in cases {
            assert_eq!(
                layout(&apply(numbered(), orientation)),
                want,
                "orientation {orientation}"
            );
        }
    }

    #[test]
    fn large_transposes_cross_tile_edges_correctly() {
        let (w, h) = (70usize, 45usize);
        let data = (0..w * h)
            .flat_map(|i| {
                let b = i.to_le_bytes();
                [b[0], b[1], 0]
            })
            .collect();
        let img = Rgb {
            width: w as u32,
            height: h as u32,
            data,
        };
        let back = apply(apply(img.clone(), 6), 8);
        assert_eq!(back, img);
    }
}
