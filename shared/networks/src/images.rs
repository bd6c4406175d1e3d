//! Images made ready for a network that limits their size and must not receive their
//! metadata: [`fit_image`] decodes a JPEG, PNG or WEBP (the `image` crate), turns the
//! pixels as the EXIF orientation says, and encodes them again, smaller when the file
//! would be over the limit. Only the pixels (and the colour profile, so colours look the
//! same) survive: EXIF (location, camera, time), XMP, IPTC and text chunks are gone from
//! every image, even one already under the limit.
//!
//! What comes out: a PNG when the source is a PNG or WEBP and its PNG fits (lossless,
//! transparency kept), else a JPEG (quality 90, then 80, then scaled down by the size
//! it overshoots), or, for an image with transparency, a PNG scaled down until it fits.
//! The encoding is deterministic: the same file always gives the same bytes, so an
//! upload repeated by a retry is the same blob.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, GrayAlphaImage, GrayImage, ImageBuffer, ImageDecoder,
    ImageEncoder, ImageFormat, ImageReader, Limits, Pixel, RgbImage, RgbaImage,
};
use std::io::Cursor;

/// The widest or tallest image decoded, in pixels (a phone photo is about 8,000).
pub const MAX_SIDE: u32 = 16_384;
/// The most memory one decode may take, in bytes: a decompression bomb is refused
/// before its pixels are allocated. 160 MiB holds a 48-megapixel colour photo. With
/// the copy made while it is turned (twice this at most), scaling that halves any
/// image over [`SCALE_AT_MOST_PIXELS`] first, and two images at a time per instance
/// (`bluesky::embed`), a worker stays within its 1024 MB.
pub const MAX_DECODED_BYTES: u64 = 160 * 1024 * 1024;

/// An image ready for upload: its bytes, their MIME type and its size in pixels (after
/// the orientation is applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedImage {
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Why an image could not be made ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The bytes are not a JPEG, PNG or WEBP image.
    #[error("the file is not a JPEG, PNG or WEBP image")]
    NotAnImage,
    /// The image is larger than [`MAX_SIDE`] or would take more than
    /// [`MAX_DECODED_BYTES`] to decode.
    #[error("the image is too large to decode (at most {MAX_SIDE} pixels a side): {0}")]
    TooLarge(String),
    /// The bytes claim an image format but do not decode.
    #[error("the image cannot be decoded: {0}")]
    Broken(String),
    /// Even a small version is over the limit (the limit is tiny).
    #[error("the image cannot be made smaller than {0} bytes")]
    CannotFit(usize),
}

/// Decodes `bytes` (a JPEG, PNG or WEBP), applies its EXIF orientation to the pixels,
/// and encodes it again without metadata, within `max_bytes` (scaled down when needed).
pub fn fit_image(bytes: &[u8], max_bytes: usize) -> Result<FittedImage, ImageError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Broken(e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(ImageError::NotAnImage),
    };
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    // The decoders do not all hold `max_alloc` for the pixels themselves: asked here,
    // from the header, before a byte of them is allocated.
    let (width, height) = decoder.dimensions();
    if decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(ImageError::TooLarge(format!(
            "{width} × {height} pixels take {} bytes decoded, over {MAX_DECODED_BYTES}",
            decoder.total_bytes()
        )));
    }
    let orientation = decoder.orientation().map_err(decode_error)?;
    let icc = decoder.icc_profile().ok().flatten();
    let decoded = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let lossless_first = matches!(format, ImageFormat::Png | ImageFormat::WebP);
    let mut current = Pixels::from_decoded(decoded).oriented(orientation);
    // A CMYK JPEG is decoded to RGB: its CMYK profile would misdescribe the pixels.
    // A profile too big to matter next to the pixels would crowd them out of the limit.
    let icc = icc.filter(|profile| {
        profile_describes(profile, &current)
            && profile.len() <= MAX_PROFILE_BYTES.min(max_bytes / 4)
    });
    let alpha = matches!(current, Pixels::Transparent(_) | Pixels::GreyAlpha(_));
    let mut quality_steps: &[u8] = &[90, 80];
    // A PNG is tried at full size (a lossless source), or at every size (transparency).
    let mut try_png = lossless_first;
    loop {
        let (width, height) = current.dimensions();
        let encoded = if try_png {
            let png = encode_png(&current, icc.as_deref())?;
            if png.len() <= max_bytes || alpha {
                Some((png, "image/png"))
            } else {
                None
            }
        } else {
            None
        };
        let (bytes, mime) = match encoded {
            Some(done) => done,
            None => {
                let mut best = Vec::new();
                for q in quality_steps {
                    best = encode_jpeg(&current, *q, icc.as_deref())?;
                    if best.len() <= max_bytes {
                        break;
                    }
                }
                (best, "image/jpeg")
            }
        };
        if bytes.len() <= max_bytes {
            return Ok(FittedImage {
                bytes,
                mime,
                width,
                height,
            });
        }
        if width <= 16 && height <= 16 {
            return Err(ImageError::CannotFit(max_bytes));
        }
        // Bytes grow about with the pixel count: scale by the square root of what is
        // over, a little more to land under.
        let ratio = (max_bytes as f64 / bytes.len() as f64).sqrt() * 0.9;
        current = match shrink_step(width, height, ratio) {
            Shrink::Halve(width, height) => current.halved(width, height),
            Shrink::Scale(width, height) => current.resized(width, height),
        };
        // Scaled: the first quality is enough to try.
        quality_steps = &[80];
        try_png = alpha;
    }
}

/// The largest ICC colour profile kept, in bytes (a display profile is a few KB; a
/// PNG's `iCCP` chunk may inflate to megabytes).
const MAX_PROFILE_BYTES: usize = 1024 * 1024;

/// The most pixels scaled with the triangle filter. Its working buffer takes 16 bytes
/// per pixel of the source's width times the new height (`image::imageops::resize`,
/// a vertical pass in `f32` RGBA): 16 megapixels scaled by 0.9 take 230 MB, where a
/// 48-megapixel photo would take 700 MB, twice that with two images at a time.
const SCALE_AT_MOST_PIXELS: u64 = 16_000_000;

/// One step down in size for an image over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shrink {
    /// To this width and height, about half each side, by averaging blocks of source
    /// pixels (`image::imageops::thumbnail`: no working buffer; for a halving, as
    /// good as any filter).
    Halve(u32, u32),
    /// To this width and height with the triangle filter.
    Scale(u32, u32),
}

/// The next size of a `width` × `height` image whose encoding came out `ratio`² too
/// big (`ratio` kept within 0.25–0.9): halved while it is over
/// [`SCALE_AT_MOST_PIXELS`], else scaled by `ratio`.
fn shrink_step(width: u32, height: u32, ratio: f64) -> Shrink {
    let halve = u64::from(width) * u64::from(height) > SCALE_AT_MOST_PIXELS;
    let ratio = if halve { 0.5 } else { ratio.clamp(0.25, 0.9) };
    // The long side is scaled, the short one follows it (rounded), so the shape holds.
    let (long, short) = (width.max(height), width.min(height));
    let new_long = ((f64::from(long) * ratio) as u32).max(1);
    let new_short =
        ((f64::from(short) * f64::from(new_long) / f64::from(long)).round() as u32).max(1);
    let (w, h) = if width >= height {
        (new_long, new_short)
    } else {
        (new_short, new_long)
    };
    if halve {
        Shrink::Halve(w, h)
    } else {
        Shrink::Scale(w, h)
    }
}

/// Decoded pixels at 8 bits a channel, in the four layouts a photo is re-encoded
/// from. Every other decoded layout (16-bit, float) becomes one of them first, so the
/// turning and scaling below exist for four pixel types, not ten.
enum Pixels {
    Grey(GrayImage),
    /// Grey with an alpha channel (kept at 2 bytes a pixel, not widened to 4).
    GreyAlpha(GrayAlphaImage),
    Colour(RgbImage),
    /// With an alpha channel (a PNG or WEBP with transparency).
    Transparent(RgbaImage),
}

/// `$made` from the buffer `$p` of whichever layout `$pixels` holds, in that layout.
macro_rules! same_layout {
    ($pixels:expr, $p:ident => $made:expr) => {
        match $pixels {
            Pixels::Grey($p) => Pixels::Grey($made),
            Pixels::GreyAlpha($p) => Pixels::GreyAlpha($made),
            Pixels::Colour($p) => Pixels::Colour($made),
            Pixels::Transparent($p) => Pixels::Transparent($made),
        }
    };
}

impl Pixels {
    fn from_decoded(decoded: DynamicImage) -> Pixels {
        if decoded.has_alpha() && !decoded.color().has_color() {
            Pixels::GreyAlpha(decoded.into_luma_alpha8())
        } else if decoded.has_alpha() {
            Pixels::Transparent(decoded.into_rgba8())
        } else if decoded.color().has_color() {
            Pixels::Colour(decoded.into_rgb8())
        } else {
            Pixels::Grey(decoded.into_luma8())
        }
    }

    /// Turned and flipped as the EXIF `orientation` says.
    fn oriented(self, orientation: Orientation) -> Pixels {
        same_layout!(self, p => orient(p, orientation))
    }

    /// Scaled to `width` × `height` pixels (a triangle filter).
    fn resized(&self, width: u32, height: u32) -> Pixels {
        same_layout!(self, p => imageops::resize(p, width, height, FilterType::Triangle))
    }

    /// Shrunk to `width` × `height` by averaging blocks of pixels.
    fn halved(&self, width: u32, height: u32) -> Pixels {
        same_layout!(self, p => imageops::thumbnail(p, width, height))
    }

    fn dimensions(&self) -> (u32, u32) {
        match self {
            Pixels::Grey(p) => p.dimensions(),
            Pixels::GreyAlpha(p) => p.dimensions(),
            Pixels::Colour(p) => p.dimensions(),
            Pixels::Transparent(p) => p.dimensions(),
        }
    }

    /// The samples, row by row, and their layout.
    fn samples(&self) -> (&[u8], ExtendedColorType) {
        match self {
            Pixels::Grey(p) => (p.as_raw(), ExtendedColorType::L8),
            Pixels::GreyAlpha(p) => (p.as_raw(), ExtendedColorType::La8),
            Pixels::Colour(p) => (p.as_raw(), ExtendedColorType::Rgb8),
            Pixels::Transparent(p) => (p.as_raw(), ExtendedColorType::Rgba8),
        }
    }
}

/// Whether the ICC colour profile `profile` is for pixels laid out as `pixels` are:
/// its header's data colour space (4 bytes at offset 16, ICC.1:2022 section 7.2.6) is
/// `RGB ` for colour and `GRAY` for grey.
fn profile_describes(profile: &[u8], pixels: &Pixels) -> bool {
    let wanted: &[u8; 4] = match pixels {
        Pixels::Grey(_) | Pixels::GreyAlpha(_) => b"GRAY",
        Pixels::Colour(_) | Pixels::Transparent(_) => b"RGB ",
    };
    profile.get(16..20) == Some(wanted.as_slice())
}

/// `pixels` turned and flipped as `orientation` says (as `DynamicImage::apply_orientation`).
fn orient<P: Pixel + 'static>(
    mut pixels: ImageBuffer<P, Vec<P::Subpixel>>,
    orientation: Orientation,
) -> ImageBuffer<P, Vec<P::Subpixel>> {
    match orientation {
        Orientation::NoTransforms => pixels,
        Orientation::Rotate90 => imageops::rotate90(&pixels),
        Orientation::Rotate180 => {
            imageops::rotate180_in_place(&mut pixels);
            pixels
        }
        Orientation::Rotate270 => imageops::rotate270(&pixels),
        Orientation::FlipHorizontal => {
            imageops::flip_horizontal_in_place(&mut pixels);
            pixels
        }
        Orientation::FlipVertical => {
            imageops::flip_vertical_in_place(&mut pixels);
            pixels
        }
        Orientation::Rotate90FlipH => {
            let mut turned = imageops::rotate90(&pixels);
            imageops::flip_horizontal_in_place(&mut turned);
            turned
        }
        Orientation::Rotate270FlipH => {
            let mut turned = imageops::rotate270(&pixels);
            imageops::flip_horizontal_in_place(&mut turned);
            turned
        }
    }
}

fn decode_error(e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => ImageError::TooLarge(l.to_string()),
        image::ImageError::Unsupported(u) => ImageError::Broken(u.to_string()),
        other => ImageError::Broken(other.to_string()),
    }
}

fn encode_error(e: image::ImageError) -> ImageError {
    ImageError::Broken(format!("encoding: {e}"))
}

fn encode_jpeg(pixels: &Pixels, quality: u8, icc: Option<&[u8]>) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
    if let Some(icc) = icc {
        // At most MAX_PROFILE_BYTES (filtered in fit_image): within what a JPEG holds.
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    let (width, height) = pixels.dimensions();
    match pixels {
        // A JPEG has no transparency: its colours go (a PNG or WEBP with alpha is
        // always sent as a PNG, so only a JPEG decoded with alpha comes here).
        Pixels::GreyAlpha(p) => {
            let opaque = DynamicImage::ImageLumaA8(p.clone()).into_luma8();
            encoder.write_image(opaque.as_raw(), width, height, ExtendedColorType::L8)
        }
        Pixels::Transparent(p) => {
            let opaque = DynamicImage::ImageRgba8(p.clone()).into_rgb8();
            encoder.write_image(opaque.as_raw(), width, height, ExtendedColorType::Rgb8)
        }
        _ => {
            let (samples, layout) = pixels.samples();
            encoder.write_image(samples, width, height, layout)
        }
    }
    .map_err(encode_error)?;
    Ok(out)
}

fn encode_png(pixels: &Pixels, icc: Option<&[u8]>) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    let mut encoder = PngEncoder::new(&mut out);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    let (width, height) = pixels.dimensions();
    let (samples, layout) = pixels.samples();
    encoder
        .write_image(samples, width, height, layout)
        .map_err(encode_error)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crosspost_fakes::photos;

    /// The seed these tests' noise has always had.
    const NOISE_SEED: u32 = 0x9E37_79B9;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    #[test]
    fn pixels_over_160_mib_are_refused_before_they_are_decoded() {
        // 9,000 × 9,000 RGB: 243,000,000 bytes of pixels in a PNG of a few hundred KB
        // (two of them at once took a worker past its memory before the cap).
        let mut png = Vec::new();
        RgbImage::new(9_000, 9_000)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        assert!(png.len() < 2_000_000, "{}", png.len());
        match fit_image(&png, 2_000_000) {
            Err(ImageError::TooLarge(_)) => {}
            other => panic!("{:?}", other.map(|f| (f.width, f.height))),
        }
    }

    fn has_exif(bytes: &[u8]) -> bool {
        bytes.windows(6).any(|w| w == b"Exif\0\0") || bytes.windows(4).any(|w| w == b"eXIf")
    }

    #[test]
    fn an_image_over_the_limit_comes_out_under_it_without_its_location() {
        let big = photos::jpeg_with_exif(&photos::noise(1600, 1200, NOISE_SEED), 100, 1).unwrap();
        assert!(big.len() > 2_000_000, "{} bytes", big.len());
        assert!(has_exif(&big));
        let fitted = fit_image(&big, 2_000_000).unwrap();
        assert!(fitted.bytes.len() <= 2_000_000, "{}", fitted.bytes.len());
        assert_eq!(fitted.mime, "image/jpeg");
        assert!(!has_exif(&fitted.bytes), "EXIF and its GPS are gone");
        let back = image::load_from_memory(&fitted.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (fitted.width, fitted.height));
        // Same shape (a 4:3 photo stays 4:3).
        let ratio = f64::from(fitted.width) / f64::from(fitted.height);
        assert!((ratio - 4.0 / 3.0).abs() < 0.01, "{ratio}");
    }

    #[test]
    fn a_small_jpeg_loses_its_exif_too_and_is_the_same_on_every_call() {
        let small = photos::jpeg_with_exif(&photos::noise(64, 48, NOISE_SEED), 90, 1).unwrap();
        let fitted = fit_image(&small, 2_000_000).unwrap();
        assert!(!has_exif(&fitted.bytes));
        assert_eq!((fitted.width, fitted.height), (64, 48), "not scaled");
        assert_eq!(
            fit_image(&small, 2_000_000).unwrap(),
            fitted,
            "deterministic"
        );
    }

    #[test]
    fn the_exif_orientation_is_applied_to_the_pixels() {
        // 40 wide, 20 tall, red on the left half and blue on the right.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        // 6: the camera was turned; the picture is shown rotated 90° clockwise.
        let turned = photos::jpeg_with_exif(&img, 95, 6).unwrap();
        let fitted = fit_image(&turned, 2_000_000).unwrap();
        assert_eq!(
            (fitted.width, fitted.height),
            (20, 40),
            "width and height swapped"
        );
        let back = image::load_from_memory(&fitted.bytes).unwrap().to_rgb8();
        // Rotated clockwise, the left (red) half is now on top.
        let top = back.get_pixel(10, 5);
        let bottom = back.get_pixel(10, 35);
        assert!(top[0] > 200 && top[2] < 60, "{top:?}");
        assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");
        assert!(!has_exif(&fitted.bytes));
    }

    #[test]
    fn every_exif_orientation_turns_the_pixels_as_the_image_crate_does() {
        // Four colour blocks, so that every turn and flip looks different.
        let img = RgbImage::from_fn(48, 24, |x, y| match (x < 24, y < 12) {
            (true, true) => Rgb([250, 20, 20]),
            (false, true) => Rgb([20, 250, 20]),
            (true, false) => Rgb([20, 20, 250]),
            (false, false) => Rgb([240, 240, 20]),
        });
        let plain = photos::jpeg(&img, 95).unwrap();
        for tag in 1..=8u16 {
            let fitted = fit_image(
                &photos::with_segment(&plain, &photos::exif_segment(tag)),
                2_000_000,
            )
            .unwrap();
            let ours = image::load_from_memory(&fitted.bytes).unwrap().to_rgb8();
            // The reference: the image crate's own EXIF orientation on the same pixels.
            let mut theirs = image::load_from_memory(&plain).unwrap();
            theirs.apply_orientation(image::metadata::Orientation::from_exif(tag as u8).unwrap());
            let theirs = theirs.to_rgb8();
            assert_eq!(ours.dimensions(), theirs.dimensions(), "orientation {tag}");
            let off = ours
                .as_raw()
                .iter()
                .zip(theirs.as_raw())
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>()
                / ours.as_raw().len() as u64;
            assert!(off < 8, "orientation {tag}: mean difference {off}");
        }
    }

    #[test]
    fn images_over_16_megapixels_are_halved_before_the_triangle_filter_scales_them() {
        // 48 megapixels: halved twice over the steps, whatever the ratio asked.
        assert_eq!(shrink_step(8000, 6000, 0.9), Shrink::Halve(4000, 3000));
        assert_eq!(shrink_step(4000, 3000, 0.3), Shrink::Scale(1200, 900));
        assert_eq!(shrink_step(4001, 4000, 0.5), Shrink::Halve(2000, 2000));
        // The ratio stays within 0.25–0.9; a side never goes to 0.
        assert_eq!(shrink_step(1000, 10, 0.1), Shrink::Scale(250, 3));
        assert_eq!(shrink_step(100, 1, 0.95), Shrink::Scale(90, 1));
        // A thin image keeps its shape: the short side follows the long one.
        assert_eq!(shrink_step(16384, 17, 0.25), Shrink::Scale(4096, 4));
        assert_eq!(shrink_step(17, 16384, 0.3), Shrink::Scale(5, 4915));
        assert_eq!(shrink_step(3000, 1001, 0.5), Shrink::Scale(1500, 501));
        // End to end: a 17.6-megapixel photo over the limit comes out within it,
        // at most half its sides, the same shape.
        let big = RgbImage::from_fn(4800, 3660, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        });
        let fitted = fit_image(&photos::jpeg(&big, 90).unwrap(), 300_000).unwrap();
        assert!(fitted.bytes.len() <= 300_000, "{}", fitted.bytes.len());
        let (width, height) = (fitted.width, fitted.height);
        assert!(width <= 2400 && height <= 1830, "{width} x {height}");
        let ratio = f64::from(fitted.width) / f64::from(fitted.height);
        assert!((ratio - 4800.0 / 3660.0).abs() < 0.01, "{ratio}");
    }

    /// An ICC profile header (128 bytes) for the data colour space `space`.
    fn profile_for(space: &[u8; 4]) -> Vec<u8> {
        let mut profile = vec![0u8; 128];
        profile[..4].copy_from_slice(&128u32.to_be_bytes());
        profile[12..16].copy_from_slice(b"mntr");
        profile[16..20].copy_from_slice(space);
        profile[36..40].copy_from_slice(b"acsp");
        profile
    }

    fn jpeg_with_profile(img: &RgbImage, profile: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 90);
        encoder.set_icc_profile(profile).unwrap();
        encoder.encode_image(img).unwrap();
        out
    }

    #[test]
    fn a_colour_profile_stays_only_when_it_describes_the_pixels_sent() {
        let img = photos::noise(40, 30, NOISE_SEED);
        let has = |bytes: &[u8], space: &[u8]| {
            bytes.windows(12).any(|w| w == b"ICC_PROFILE\0") && bytes.windows(4).any(|w| w == space)
        };
        // An RGB profile on RGB pixels stays, so colours look the same.
        let fitted = fit_image(&jpeg_with_profile(&img, profile_for(b"RGB ")), 2_000_000).unwrap();
        assert!(has(&fitted.bytes, b"RGB "));
        // A CMYK profile (as a CMYK JPEG carries) on the RGB pixels sent goes.
        let fitted = fit_image(&jpeg_with_profile(&img, profile_for(b"CMYK")), 2_000_000).unwrap();
        assert!(!has(&fitted.bytes, b"CMYK"));
        assert!(!fitted.bytes.windows(12).any(|w| w == b"ICC_PROFILE\0"));
        // A profile of megabytes goes: it would leave no room for the pixels.
        let mut huge = profile_for(b"RGB ");
        huge.resize(600_000, 0);
        let fitted = fit_image(&jpeg_with_profile(&img, huge), 2_000_000).unwrap();
        assert!(!fitted.bytes.windows(12).any(|w| w == b"ICC_PROFILE\0"));
        assert_eq!((fitted.width, fitted.height), (40, 30));
        // A grey profile on colour pixels goes too; a truncated one never panics.
        let colour = Pixels::Colour(img.clone());
        assert!(!profile_describes(&profile_for(b"GRAY"), &colour));
        assert!(!profile_describes(&[0; 10], &colour));
        assert!(profile_describes(
            &profile_for(b"GRAY"),
            &Pixels::GreyAlpha(image::GrayAlphaImage::new(1, 1))
        ));
    }

    #[test]
    fn deep_and_grey_images_come_out_as_eight_bit_in_their_own_colours() {
        // A 16-bit colour PNG: an 8-bit PNG of the same colours.
        let deep = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_fn(20, 10, |x, _| {
            Rgb([if x < 10 { 0xFFFF } else { 0x8080 }, 0x4040, 0])
        });
        let mut png = Vec::new();
        DynamicImage::ImageRgb16(deep)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let fitted = fit_image(&png, 2_000_000).unwrap();
        assert_eq!(fitted.mime, "image/png");
        let back = image::load_from_memory(&fitted.bytes).unwrap();
        assert_eq!(back.color(), image::ColorType::Rgb8);
        assert_eq!(back.to_rgb8().get_pixel(0, 0), &Rgb([255, 64, 0]));
        assert_eq!(back.to_rgb8().get_pixel(19, 0), &Rgb([128, 64, 0]));
        // Grey with alpha keeps its transparency.
        let grey_alpha =
            image::GrayAlphaImage::from_fn(8, 8, |x, _| image::LumaA([90, x as u8 * 30]));
        let mut png = Vec::new();
        DynamicImage::ImageLumaA8(grey_alpha)
            .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
            .unwrap();
        let back = image::load_from_memory(&fit_image(&png, 2_000_000).unwrap().bytes)
            .unwrap()
            .to_rgba8();
        assert_eq!(back.get_pixel(3, 0), &Rgba([90, 90, 90, 90]));
        assert_eq!(
            image::load_from_memory(&fit_image(&png, 2_000_000).unwrap().bytes)
                .unwrap()
                .color(),
            image::ColorType::La8,
            "grey with alpha stays two channels"
        );
        // A grey JPEG stays a grey JPEG.
        let grey = GrayImage::from_fn(32, 32, |x, y| image::Luma([(x * 8 + y) as u8]));
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&grey)
            .unwrap();
        let fitted = fit_image(&jpeg, 2_000_000).unwrap();
        assert_eq!(fitted.mime, "image/jpeg");
        let back = image::load_from_memory(&fitted.bytes).unwrap();
        assert_eq!(back.color(), image::ColorType::L8);
    }

    #[test]
    fn a_png_stays_a_png_with_its_transparency_and_shrinks_when_over() {
        let img = RgbaImage::from_fn(30, 10, |x, _| Rgba([200, 100, 50, (x * 8) as u8]));
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(img.as_raw(), 30, 10, image::ExtendedColorType::Rgba8)
            .unwrap();
        let fitted = fit_image(&png, 2_000_000).unwrap();
        assert_eq!(fitted.mime, "image/png");
        let back = image::load_from_memory(&fitted.bytes).unwrap().to_rgba8();
        assert_eq!(back.get_pixel(0, 0)[3], 0);
        assert_eq!(back.get_pixel(29, 0)[3], 232);

        // An opaque PNG over the limit becomes a JPEG under it.
        let opaque = photos::noise(800, 600, NOISE_SEED);
        let mut big = Vec::new();
        PngEncoder::new(&mut big)
            .write_image(opaque.as_raw(), 800, 600, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert!(big.len() > 1_000_000);
        let fitted = fit_image(&big, 1_000_000).unwrap();
        assert!(fitted.bytes.len() <= 1_000_000);
        assert_eq!(fitted.mime, "image/jpeg");

        // A transparent PNG over the limit stays a PNG, scaled down.
        let noisy = RgbaImage::from_fn(600, 600, |x, y| {
            let p = opaque.get_pixel(x, y);
            Rgba([p[0], p[1], p[2], (x % 256) as u8])
        });
        let mut big = Vec::new();
        PngEncoder::new(&mut big)
            .write_image(noisy.as_raw(), 600, 600, image::ExtendedColorType::Rgba8)
            .unwrap();
        assert!(big.len() > 500_000);
        let fitted = fit_image(&big, 500_000).unwrap();
        assert!(fitted.bytes.len() <= 500_000);
        assert_eq!(fitted.mime, "image/png");
        assert!(fitted.width < 600);
    }

    #[test]
    fn a_file_that_is_no_image_is_refused_naming_why() {
        assert_eq!(
            fit_image(b"<!DOCTYPE html><html></html>", 2_000_000),
            Err(ImageError::NotAnImage)
        );
        assert_eq!(
            fit_image(&[], 2_000_000).unwrap_err().to_string(),
            "the file is not a JPEG, PNG or WEBP image"
        );
        // A PNG cut after its header: the kind is known, the pixels are missing.
        let mut cut = Vec::new();
        PngEncoder::new(&mut cut)
            .write_image(
                photos::noise(64, 64, NOISE_SEED).as_raw(),
                64,
                64,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let err = fit_image(&cut[..40], 2_000_000).unwrap_err();
        assert!(matches!(err, ImageError::Broken(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("the image cannot be decoded"),
            "{err}"
        );
        // A header claiming 100,000 pixels a side is refused before decoding.
        let mut huge = Vec::new();
        PngEncoder::new(&mut huge)
            .write_image(&[0; 3], 1, 1, image::ExtendedColorType::Rgb8)
            .unwrap();
        huge[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let err = fit_image(&huge, 2_000_000).unwrap_err();
        assert!(
            matches!(err, ImageError::TooLarge(_) | ImageError::Broken(_)),
            "{err:?}"
        );
    }
}
