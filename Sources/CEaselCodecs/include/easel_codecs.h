#ifndef EASEL_CODECS_H
#define EASEL_CODECS_H
#include <stddef.h>
#include <stdint.h>

/* JPEG (libjpeg-turbo) and WebP (libwebp) for 8-bit RGB images. libjpeg reports errors by calling a handler that
 * must not return; these wrappers catch it with setjmp, which Swift cannot, so every failure comes back as a
 * non-zero return with a message in err. Buffers returned through out are freed with easel_codec_free. */

/* Baseline JPEG, 4:2:0 below quality 90 and 4:4:4 from 90, optimized Huffman tables. quality 1...100. */
int easel_jpeg_encode(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *out_size,
                      char *err, size_t err_len);
/* Any JPEG libjpeg reads, as RGB; refuses images over max_pixels before decoding them. */
int easel_jpeg_decode(const uint8_t *data, size_t size, size_t max_pixels, uint8_t **rgb, int *width, int *height,
                      char *err, size_t err_len);
/* Lossy WebP at quality 1...100, or lossless when lossless is non-zero (quality then sets the effort). */
int easel_webp_encode(const uint8_t *rgb, int width, int height, int quality, int lossless, uint8_t **out,
                      size_t *out_size, char *err, size_t err_len);
int easel_webp_decode(const uint8_t *data, size_t size, size_t max_pixels, uint8_t **rgb, int *width, int *height,
                      char *err, size_t err_len);
void easel_codec_free(void *p);

#endif
