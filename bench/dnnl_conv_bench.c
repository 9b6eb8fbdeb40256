/*
 * Microbenchmark: the ResNet-18 convolutions of a training step at batch 64 (48×48 grayscale input,
 * "imagenet" stem: layer1 maps 12×12; "imagenet-nopool": 24×24), forward, input gradient and filter
 * gradient, by today's im2col + OpenBLAS SGEMM (a copy of kernels.c's path) against oneDNN
 * (kernel/fer/backends/native/dnnlconv.h) with the filter layout of oneDNN's choice ("any", reordered
 * from/to HWIO around each call) and with HWIO imposed. Interleaved A, B, C per shape and
 * repetition; best of REPS. Checks that the results agree (max abs difference / max abs value).
 *
 * Build and run (needs libopenblas-dev and libdnnl-dev):
 *   cc -O3 -fopenmp -I/usr/include/x86_64-linux-gnu/openblas-pthread -Ikernel/fer/backends/native \
 *      bench/dnnl_conv_bench.c -o /tmp/dnnl_conv_bench -lopenblas -ldnnl -lm
 *   /tmp/dnnl_conv_bench [threads=2] [reps=5] [batch=64]
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int);

typedef struct {
  int64_t n, h, w, c, kh, kw, sh, sw, pt, pl, oh, ow, co;
} Dims;

#include "dnnlconv.h"

/* ---- today's path, as in kernel/fer/backends/native/kernels.c ---- */
static int isPointwise(const Dims *d) {
  return d->kh == 1 && d->kw == 1 && d->sh == 1 && d->sw == 1 && d->pt == 0 && d->pl == 0 && d->oh == d->h && d->ow == d->w;
}
static void im2col(const float *x, float *col, const Dims *d) {
  const int64_t k = d->kh * d->kw * d->c, rows = d->n * d->oh * d->ow;
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
static void col2im(const float *col, float *dx, const Dims *d) {
  const int64_t k = d->kh * d->kw * d->c;
  memset(dx, 0, d->n * d->h * d->w * d->c * sizeof(float));
  for (int64_t b = 0; b < d->n; b++)
    for (int64_t y = 0; y < d->oh; y++)
      for (int64_t xo = 0; xo < d->ow; xo++) {
        const float *src = col + ((b * d->oh + y) * d->ow + xo) * k;
        for (int64_t i = 0; i < d->kh; i++) {
          const int64_t iy = y * d->sh + i - d->pt;
          if (iy < 0 || iy >= d->h) continue;
          for (int64_t j = 0; j < d->kw; j++) {
            const int64_t ix = xo * d->sw + j - d->pl;
            if (ix < 0 || ix >= d->w) continue;
            float *o = dx + ((b * d->h + iy) * d->w + ix) * d->c;
            const float *in = src + (i * d->kw + j) * d->c;
            for (int64_t c = 0; c < d->c; c++) o[c] += in[c];
          }
        }
      }
}
static float *scratch;
static void oldConv(int which, const float *a, const float *b, float *out, const Dims *d) {
  const int m = (int)(d->n * d->oh * d->ow), k = (int)(d->kh * d->kw * d->c), co = (int)d->co;
  if (which == 0 || which == 2) {
    const float *col = a;
    if (!isPointwise(d)) { im2col(a, scratch, d); col = scratch; }
    if (which == 0) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, co, k, 1.0f, col, k, b, co, 0.0f, out, co);
    else cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, co, m, 1.0f, col, k, b, co, 0.0f, out, co);
  } else {
    float *dcol = isPointwise(d) ? out : scratch;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, co, 1.0f, a, co, b, co, 0.0f, dcol, k);
    if (dcol != out) col2im(dcol, out, d);
  }
}

/* ---- shapes ---- */
typedef struct { const char *name; int h, c, k, s, co, count; } Conv;

/* TensorFlow "same": out = ceil(in / s), top pad = floor(total / 2). */
static Dims same(int n, const Conv *v) {
  Dims d = {n, v->h, v->h, v->c, v->k, v->k, v->s, v->s, 0, 0, 0, 0, v->co};
  d.oh = d.ow = (v->h + v->s - 1) / v->s;
  int64_t total = (d.oh - 1) * v->s + v->k - v->h;
  if (total < 0) total = 0;
  d.pt = d.pl = total / 2;
  return d;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fill(float *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    p[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

static double relDiff(const float *a, const float *b, size_t n) {
  double m = 0, s = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = fabs((double)a[i] - b[i]);
    if (d > m) m = d;
    if (fabs(a[i]) > s) s = fabs(a[i]);
  }
  return s > 0 ? m / s : m;
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5, batch = argc > 3 ? atoi(argv[3]) : 64;
  openblas_set_num_threads(threads);
  dnnlSetThreads(threads);
  /* name, input size, in channels, kernel, stride, out channels, how many in the network */
  const Conv imagenet[] = {
    {"conv1 7x7/2", 48, 1, 7, 2, 64, 1},
    {"l1 3x3", 12, 64, 3, 1, 64, 4},
    {"l2 3x3/2", 12, 64, 3, 2, 128, 1}, {"l2 1x1/2", 12, 64, 1, 2, 128, 1}, {"l2 3x3", 6, 128, 3, 1, 128, 3},
    {"l3 3x3/2", 6, 128, 3, 2, 256, 1}, {"l3 1x1/2", 6, 128, 1, 2, 256, 1}, {"l3 3x3", 3, 256, 3, 1, 256, 3},
    {"l4 3x3/2", 3, 256, 3, 2, 512, 1}, {"l4 1x1/2", 3, 256, 1, 2, 512, 1}, {"l4 3x3", 2, 512, 3, 1, 512, 3},
  };
  const Conv nopool[] = {
    {"conv1 7x7/2", 48, 1, 7, 2, 64, 1},
    {"l1 3x3", 24, 64, 3, 1, 64, 4},
    {"l2 3x3/2", 24, 64, 3, 2, 128, 1}, {"l2 1x1/2", 24, 64, 1, 2, 128, 1}, {"l2 3x3", 12, 128, 3, 1, 128, 3},
    {"l3 3x3/2", 12, 128, 3, 2, 256, 1}, {"l3 1x1/2", 12, 128, 1, 2, 256, 1}, {"l3 3x3", 6, 256, 3, 1, 256, 3},
    {"l4 3x3/2", 6, 256, 3, 2, 512, 1}, {"l4 1x1/2", 6, 256, 1, 2, 512, 1}, {"l4 3x3", 3, 512, 3, 1, 512, 3},
  };
  const struct { const char *stem; const Conv *convs; int count; } stems[] = {
    {"imagenet", imagenet, sizeof imagenet / sizeof *imagenet}, {"imagenet-nopool", nopool, sizeof nopool / sizeof *nopool},
  };
  const char *kinds[3] = {"fwd", "dx", "dw"};
  const char *modes[3] = {"im2col+OpenBLAS", "oneDNN any", "oneDNN hwio"};
  printf("threads %d, batch %d, best of %d interleaved repetitions; times in ms\n", threads, batch, reps);
  for (int s = 0; s < 2; s++) {
    double total[3][3] = {{0}};  /* [mode][kind], weighted by count */
    printf("\n== stem %s ==\n%-12s %-4s %9s %9s %9s %7s %7s  %-9s %-9s  %s\n", stems[s].stem, "conv", "op", modes[0], "dnnl-any", "dnnl-hwio", "A/B", "A/C", "diff B", "diff C", "oneDNN impl (any | hwio)");
    for (int v = 0; v < stems[s].count; v++) {
      const Conv *cv = &stems[s].convs[v];
      Dims d = same(batch, cv);
      const size_t xl = d.n * d.h * d.w * d.c, wl = d.kh * d.kw * d.c * d.co, yl = d.n * d.oh * d.ow * d.co;
      float *x = malloc(xl * 4), *w = malloc(wl * 4), *y = malloc(yl * 4);
      float *out[3] = {malloc((xl > wl ? (xl > yl ? xl : yl) : (wl > yl ? wl : yl)) * 4), NULL, NULL};
      const size_t ol = xl > wl ? (xl > yl ? xl : yl) : (wl > yl ? wl : yl);
      out[1] = malloc(ol * 4);
      out[2] = malloc(ol * 4);
      free(scratch);
      scratch = malloc((size_t)d.n * d.oh * d.ow * d.kh * d.kw * d.c * 4);
      fill(x, xl, 1 + v);
      fill(w, wl, 7 + v);
      fill(y, yl, 13 + v);
      for (int which = 0; which < 3; which++) {
        if (which == 1 && v == 0) continue;  /* the stem's input gradient is never computed */
        const float *a = which == 1 ? y : x, *b = which == 2 ? y : w;
        const size_t len = which == 0 ? yl : which == 1 ? xl : wl;
        double best[3] = {1e30, 1e30, 1e30};
        char impl[2][64] = {"", ""};
        int okB = 1, okC = 1;
        for (int r = 0; r <= reps; r++) {  /* r = 0: warm-up (primitive creation) */
          for (int m = 0; m < 3; m++) {
            const double t0 = now();
            int ok = 1;
            if (m == 0) oldConv(which, a, b, out[0], &d);
            else {
              dnnlAnyFilter = m == 1;
              ok = dnnlConv(which, a, b, out[m], &d);
              if (m == 1) okB = okB && ok; else okC = okC && ok;
            }
            const double t = now() - t0;
            if (r > 0 && ok && t < best[m]) best[m] = t;
          }
        }
        for (int m = 1; m < 3; m++) {
          dnnlAnyFilter = m == 1;
          DnnlEntry *e = dnnlFind(which, &d);
          if (e) snprintf(impl[m - 1], sizeof impl[0], "%s", e->impl);
        }
        const double dB = okB ? relDiff(out[0], out[1], len) : NAN, dC = okC ? relDiff(out[0], out[2], len) : NAN;
        for (int m = 0; m < 3; m++) total[m][which] += cv->count * (best[m] < 1e29 ? best[m] : best[0]);
        printf("%-12s %-4s %9.2f %9.2f %9.2f %7.2f %7.2f  %-9.1e %-9.1e  %s | %s  (x%d)\n", cv->name, kinds[which], best[0] * 1e3, best[1] * 1e3, best[2] * 1e3,
               best[0] / best[1], best[0] / best[2], dB, dC, impl[0], impl[1], cv->count);
        fflush(stdout);
      }
      free(x); free(w); free(y); free(out[0]); free(out[1]); free(out[2]);
    }
    printf("-- %s totals (weighted by count), ms: op: old / any / hwio (old/any, old/hwio)\n", stems[s].stem);
    double all[3] = {0};
    for (int which = 0; which < 3; which++) {
      printf("   %-4s %9.2f %9.2f %9.2f  (%.2fx, %.2fx)\n", kinds[which], total[0][which] * 1e3, total[1][which] * 1e3, total[2][which] * 1e3,
             total[0][which] / total[1][which], total[0][which] / total[2][which]);
      for (int m = 0; m < 3; m++) all[m] += total[m][which];
    }
    printf("   step %9.2f %9.2f %9.2f  (%.2fx, %.2fx)\n", all[0] * 1e3, all[1] * 1e3, all[2] * 1e3, all[0] / all[1], all[0] / all[2]);
  }
  return 0;
}
