/*
 * The im2col + OpenBLAS SGEMM convolutions for NHWC tensors and HWIO filters: kernels.c's path
 * where oneDNN is not built in or has no primitive, and the baseline bench/dnnl_conv_bench.c times
 * oneDNN against. `Dims` is the shape of one convolution:
 *   [N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, CO] (PT/PL: top and left padding)
 * Include <cblas.h> before this file.
 */
#ifndef FERNB_IM2COL_H
#define FERNB_IM2COL_H
#include <stdint.h>
#include <string.h>

typedef struct {
  int64_t n, h, w, c, kh, kw, sh, sw, pt, pl, oh, ow, co;
} Dims;

/* True when the convolution reads x directly as the [N·OH·OW, C] matrix (1×1, stride 1, no pad). */
static int isPointwise(const Dims *d) {
  return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pt == 0 && d->pl == 0 && d->oh == d->h && d->ow == d->w;
}

/* col[(b·OH + y)·OW + x][(i·KW + j)·C + c] = x[b, y·SH + i − PT, x·SW + j − PL, c], or 0 outside. */
static void im2col(const float *x, float *col, const Dims *d) {
  const int64_t k = d->kh * d->kw * d->c;
  const int64_t rows = d->n * d->oh * d->ow;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / (d->oh * d->ow), y = (r / d->ow) % d->oh, xo = r % d->ow;
    float *dst = col + r * k;
    for (int64_t i = 0; i < d->kh; i++) {
      const int64_t iy = y * d->sh + i - d->pt;
      for (int64_t j = 0; j < d->kw; j++) {
        const int64_t ix = xo * d->sw + j - d->pl;
        float *cell = dst + (i * d->kw + j) * d->c;
        if (iy < 0 || iy >= d->h || ix < 0 || ix >= d->w) memset(cell, 0, d->c * sizeof(float));
        else memcpy(cell, x + ((b * d->h + iy) * d->w + ix) * d->c, d->c * sizeof(float));
      }
    }
  }
}

/* The adjoint of im2col: dx = scatter-add(col). */
static void col2im(const float *col, float *dx, const Dims *d) {
  const int64_t k = d->kh * d->kw * d->c;
  memset(dx, 0, d->n * d->h * d->w * d->c * sizeof(float));
  for (int64_t b = 0; b < d->n; b++) {
    for (int64_t y = 0; y < d->oh; y++) {
      for (int64_t xo = 0; xo < d->ow; xo++) {
        const float *src = col + ((b * d->oh + y) * d->ow + xo) * k;
        for (int64_t i = 0; i < d->kh; i++) {
          const int64_t iy = y * d->sh + i - d->pt;
          if (iy < 0 || iy >= d->h) continue;
          for (int64_t j = 0; j < d->kw; j++) {
            const int64_t ix = xo * d->sw + j - d->pl;
            if (ix < 0 || ix >= d->w) continue;
            float *out = dx + ((b * d->h + iy) * d->w + ix) * d->c;
            const float *in = src + (i * d->kw + j) * d->c;
            for (int64_t c = 0; c < d->c; c++) out[c] += in[c];
          }
        }
      }
    }
  }
}

/* Floats of scratch im2colConv needs for `d` (0 for a pointwise convolution, which needs none). */
static size_t im2colScratchFloats(const Dims *d) {
  return isPointwise(d) ? 0 : (size_t)(d->n * d->oh * d->ow * d->kh * d->kw * d->c);
}

/* The three convolutions as GEMMs over the [M = N·OH·OW, K = KH·KW·C] column matrix:
 *   0 forward          y[M,CO]  = col(x) · w[K,CO]
 *   1 input gradient   dx       = col2im(dy[M,CO] · wᵀ)      (a pointwise conv writes dx directly)
 *   2 filter gradient  dw[K,CO] = col(x)ᵀ · dy[M,CO]
 * a is x (0, 2) or dy (1); b is w (0, 1) or dy (2); scratch holds im2colScratchFloats(d) floats. */
static void im2colConv(int which, const float *a, const float *b, float *out, const Dims *d, float *scratch) {
  const int m = (int)(d->n * d->oh * d->ow), k = (int)(d->kh * d->kw * d->c), co = (int)d->co;
  if (which == 1) {
    float *dcol = isPointwise(d) ? out : scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, co, 1.0f, a, co, b, co, 0.0f, dcol, k);
    if (dcol != out) col2im(dcol, out, d);
    return;
  }
  const float *col = a;
  if (!isPointwise(d)) {
    im2col(a, scratch, d);
    col = scratch;
  }
  if (which == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, co, k, 1.0f, col, k, b, co, 0.0f, out, co);
  else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, co, m, 1.0f, col, k, b, co, 0.0f, out, co);
}
#endif
