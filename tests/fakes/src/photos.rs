//! Photos as phones write them, for tests of the photo pipeline: a JPEG carrying an
//! EXIF segment with an orientation and a GPS position, and pixels no encoder squeezes
//! much (so a small image makes a large file).

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

/// An EXIF APP1 segment as a phone writes it, built by hand (big-endian TIFF): IFD0
/// with Orientation (`orientation`, 1–8 in EXIF 2.3 §4.6.4) and a GPSInfo pointer,
/// and a GPS IFD with the latitude 30° 15' N. Bytes from the APP1 marker (FF E1) on.
pub fn exif_segment(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    // IFD0 at 8: Orientation (SHORT) and GPSInfo (LONG, the GPS IFD at 38).
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    // GPS IFD at 38: GPSLatitudeRef "N" (ASCII), GPSLatitude (3 RATIONALs at 68).
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3, 0, 0, 0, 68]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    for (num, den) in [(30u32, 1u32), (15, 1), (0, 1)] {
        tiff.extend_from_slice(&num.to_be_bytes());
        tiff.extend_from_slice(&den.to_be_bytes());
    }
    assert_eq!(tiff.len(), 92);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut segment = vec![0xFF, 0xE1];
    // The length counts itself: 2 + 6 + 92.
    assert_eq!(payload.len(), 98);
    segment.extend_from_slice(&100u16.to_be_bytes());
    segment.extend_from_slice(&payload);
    segment
}

/// `jpeg` with `segment` put right after its start-of-image marker.
pub fn with_segment(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    [&jpeg[..2], segment, &jpeg[2..]].concat()
}

/// `img` as a baseline JPEG at `quality` (1–100).
///
/// Errors: the image crate's, when its encoder fails.
pub fn jpeg(img: &RgbImage, quality: u8) -> image::ImageResult<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality).encode_image(img)?;
    Ok(out)
}

/// A JPEG of `img` at `quality` carrying [`exif_segment`]`(orientation)`.
///
/// Errors: as [`jpeg`].
pub fn jpeg_with_exif(
    img: &RgbImage,
    quality: u8,
    orientation: u16,
) -> image::ImageResult<Vec<u8>> {
    Ok(with_segment(
        &jpeg(img, quality)?,
        &exif_segment(orientation),
    ))
}

/// `width` × `height` pixels of xorshift noise, the same for the same `seed`: a
/// photo-sized file from few lines of test.
pub fn noise(width: u32, height: u32, seed: u32) -> RgbImage {
    let mut state = seed | 1;
    RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [a, b, c, _] = state.to_le_bytes();
        Rgb([a, b, c])
    })
}
