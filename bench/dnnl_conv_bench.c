/*
 * Microbenchmark: the ResNet-18 convolutions of a training step at batch 64 (48×48 grayscale input,
 * "imagenet" stem: layer1 maps 12×12; "imagenet-nopool": 24×24), forward, input gradient and filter
 * gradient, by today's im2col + OpenBLAS SGEMM (kernels.c's path, ./im2col.h) against oneDNN
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

/* Today's path, kernels.c's own: im2colConv (kernel/fer/backends/native/im2col.h). */
#include "im2col.h"
#include "dnnlconv.h"

static float *scratch;

/* ---- shapes ---- */
typedef struct { const char *name; int h, c, k, s, co, count; } Conv;

/* ResNet-18's convolutions on a 48×48×1 face whose layer1 maps are s×s (12: the "imagenet" stem,
 * 24: "imagenet-nopool"): name, input size, in channels, kernel, stride, out channels, how many. */
#define RESNET_CONVS 11
static void resnetConvs(int s, Conv v[RESNET_CONVS]) {
  int n = 0;
  v[n++] = (Conv){"conv1 7x7/2", 48, 1, 7, 2, 64, 1};
  v[n++] = (Conv){"l1 3x3", s, 64, 3, 1, 64, 4};
  static const char *const names[3][3] = {{"l2 3x3/2", "l2 1x1/2", "l2 3x3"}, {"l3 3x3/2", "l3 1x1/2", "l3 3x3"}, {"l4 3x3/2", "l4 1x1/2", "l4 3x3"}};
  for (int stage = 0, size = s, width = 64; stage < 3; stage++, size = (size + 1) / 2, width *= 2) {
    v[n++] = (Conv){names[stage][0], size, width, 3, 2, 2 * width, 1};
    v[n++] = (Conv){names[stage][1], size, width, 1, 2, 2 * width, 1};
    v[n++] = (Conv){names[stage][2], (size + 1) / 2, 2 * width, 3, 1, 2 * width, 3};
  }
}

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
  Conv imagenet[RESNET_CONVS], nopool[RESNET_CONVS];
  resnetConvs(12, imagenet);
  resnetConvs(24, nopool);
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
      const size_t ol = xl > wl ? (xl > yl ? xl : yl) : (wl > yl ? wl : yl);
      float *out[3] = {malloc(ol * 4), malloc(ol * 4), malloc(ol * 4)};
      free(scratch);
      scratch = malloc(im2colScratchFloats(&d) * 4);
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
            if (m == 0) im2colConv(which, a, b, out[0], &d, scratch);
            else {
              dnnlAnyFilter = m == 1;
              ok = dnnlConv(which, a, b, out[m], &d, 0);
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
