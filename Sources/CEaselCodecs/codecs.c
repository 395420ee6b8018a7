#include "easel_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <webp/decode.h>
#include <webp/encode.h>

static void set_err(char *err, size_t err_len, const char *msg) {
    if (err && err_len) snprintf(err, err_len, "%s", msg);
}

struct easel_jpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char *err;
    size_t err_len;
};

static void easel_jpeg_error_exit(j_common_ptr cinfo) {
    struct easel_jpeg_error *e = (struct easel_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    set_err(e->err, e->err_len, buffer);
    longjmp(e->jump, 1);
}

/* Warnings (corrupt data that libjpeg can still read) are not errors here; keep them quiet. */
static void easel_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* The error manager for one call: errors longjmp back to the caller's setjmp with the message in err. */
static struct jpeg_error_mgr *easel_jpeg_errors(struct easel_jpeg_error *e, char *err, size_t err_len) {
    struct jpeg_error_mgr *mgr = jpeg_std_error(&e->mgr);
    mgr->error_exit = easel_jpeg_error_exit;
    mgr->output_message = easel_jpeg_output_message;
    e->err = err;
    e->err_len = err_len;
    return mgr;
}

int easel_jpeg_encode(const uint8_t *rgb, int width, int height, int quality, uint8_t **out, size_t *out_size,
                      char *err, size_t err_len) {
    if (!rgb || width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        set_err(err, err_len, "JPEG encode: invalid size");
        return 1;
    }
    if (quality < 1 || quality > 100) {
        set_err(err, err_len, "JPEG encode: quality must be 1...100");
        return 1;
    }
    struct jpeg_compress_struct cinfo;
    struct easel_jpeg_error jerr;
    /* Written by libjpeg through their addresses (so kept in memory, valid after a longjmp). */
    unsigned char *buffer = NULL;
    unsigned long size = 0;
    cinfo.err = easel_jpeg_errors(&jerr, err, err_len);
    if (setjmp(jerr.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buffer);
        return 1;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &buffer, &size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.optimize_coding = TRUE;
    if (quality >= 90) { /* no chroma subsampling: thin coloured edges stay clean */
        cinfo.comp_info[0].h_samp_factor = 1;
        cinfo.comp_info[0].v_samp_factor = 1;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_size = size;
    return 0;
}

int easel_jpeg_decode(const uint8_t *data, size_t size, size_t max_pixels, uint8_t **rgb, int *width, int *height,
                      char *err, size_t err_len) {
    struct jpeg_decompress_struct cinfo;
    struct easel_jpeg_error jerr;
    uint8_t *volatile pixels = NULL;
    cinfo.err = easel_jpeg_errors(&jerr, err, err_len);
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        return 1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        set_err(err, err_len, "JPEG decode: too many pixels");
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    pixels = malloc(stride * cinfo.output_height);
    if (!pixels) {
        set_err(err, err_len, "JPEG decode: out of memory");
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    jpeg_destroy_decompress(&cinfo);
    *rgb = pixels;
    return 0;
}

int easel_webp_encode(const uint8_t *rgb, int width, int height, int quality, int lossless, uint8_t **out,
                      size_t *out_size, char *err, size_t err_len) {
    if (!rgb || width <= 0 || height <= 0 || width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION) {
        set_err(err, err_len, "WebP encode: invalid size (at most 16383 a side)");
        return 1;
    }
    if (quality < 1 || quality > 100) {
        set_err(err, err_len, "WebP encode: quality must be 1...100");
        return 1;
    }
    uint8_t *buffer = NULL;
    size_t size = lossless ? WebPEncodeLosslessRGB(rgb, width, height, width * 3, &buffer)
                           : WebPEncodeRGB(rgb, width, height, width * 3, (float)quality, &buffer);
    if (size == 0 || !buffer) {
        WebPFree(buffer);
        set_err(err, err_len, "WebP encode failed");
        return 1;
    }
    /* Hand back a malloc'd copy so that one free function serves every codec. */
    uint8_t *copy = malloc(size);
    if (!copy) {
        WebPFree(buffer);
        set_err(err, err_len, "WebP encode: out of memory");
        return 1;
    }
    memcpy(copy, buffer, size);
    WebPFree(buffer);
    *out = copy;
    *out_size = size;
    return 0;
}

int easel_webp_decode(const uint8_t *data, size_t size, size_t max_pixels, uint8_t **rgb, int *width, int *height,
                      char *err, size_t err_len) {
    int w = 0, h = 0;
    if (!WebPGetInfo(data, size, &w, &h)) {
        set_err(err, err_len, "WebP decode: not a WebP image");
        return 1;
    }
    if ((size_t)w * (size_t)h > max_pixels) {
        set_err(err, err_len, "WebP decode: too many pixels");
        return 1;
    }
    size_t stride = (size_t)w * 3;
    uint8_t *pixels = malloc(stride * (size_t)h);
    if (!pixels) {
        set_err(err, err_len, "WebP decode: out of memory");
        return 1;
    }
    if (!WebPDecodeRGBInto(data, size, pixels, stride * (size_t)h, (int)stride)) {
        free(pixels);
        set_err(err, err_len, "WebP decode failed");
        return 1;
    }
    *rgb = pixels;
    *width = w;
    *height = h;
    return 0;
}

void easel_codec_free(void *p) { free(p); }
