/*
 * fernb's native kernels for the wasm backend: 2-D convolution and its two gradients for NHWC
 * tensors and HWIO filters, as im2col + one OpenBLAS SGEMM each, and the leading-axes sum that
 * batch norm's moments and gradients use. A Node-API addon, called by the wasm backend's kernels
 * in ../wasmNative.ts on tensors that live on the wasm heap (no copies).
 *
 * Shapes come in one Int32Array `dims`:
 *   [N, H, W, C, KH, KW, SH, SW, PT, PL, OH, OW, CO]
 * Every function checks that the arrays it was given are as long as the shapes say, so a wrong
 * call is a thrown error, never a read or write outside the arrays.
 *
 *   conv2d(x, w, out, dims[, filterKey])  out[N,OH,OW,CO]  = conv(x[N,H,W,C], w[KH,KW,C,CO]);
 *                                      filterKey > 0 names w's values (oneDNN keeps its reordered copy)
 *   conv2dBackpropInput(dy, w, dx, dims) dx[N,H,W,C]   = ∂/∂x  (dy[N,OH,OW,CO])
 *   conv2dBackpropFilter(x, dy, dw, dims) dw[KH,KW,C,CO] = ∂/∂w
 *   sumLeading(x, out, outer, scale)   out[j] = scale · Σ_i x[i·inner + j], inner = out.length
 *   batchNorm(x, mean, variance, offset|null, scale|null, epsilon, out)   per channel (last axis)
 *   relu(x, out)
 *   reluGrad(x, dy, dx)                dx = dy where x > 0, else 0
 *   batchNormTraining(x, scale|null, offset|null, epsilon, out, mean, variance)   with this batch's
 *                                      statistics (written to mean, variance: biased, like tf.moments)
 *   batchNormTrainingGrad(x, dy, mean, variance, scale|null, dMean|null, dVariance|null, epsilon, dx, dScale, dOffset)
 *   maxPoolGrad(x, dy, dx, dims)       dims as above with CO = C (the pooled channels)
 *   sgdNesterov(w, g, v, wOut, vOut, lr, momentum, weightDecay)   one SGD step (torch's nesterov=True)
 *   setThreads(n), threads(), config()
 *
 * im2col/col2im run on the calling thread; OpenBLAS's SGEMM uses setThreads(n) threads. (An OpenMP
 * im2col was slower: libgomp's spinning workers took the cores OpenBLAS's threads needed.)
 *
 * Built with oneDNN (build.mjs defines FERNB_DNNL when it finds dnnl.h, Debian: libdnnl-dev), the
 * three convolutions are oneDNN's direct NHWC ones instead (./dnnlconv.h: 1.35–1.4× less time than
 * im2col + SGEMM over a ResNet-18 training step's convolutions, bench/dnnl_conv_bench.c), with
 * setThreads(n) OpenMP threads; a case oneDNN has no primitive for, or FERNB_DNNL=0 in the
 * environment when the addon loads, takes the im2col path.
 *   dnnl()                             "oneDNN 2.6.3" when the convolutions are oneDNN's, else null
 *   convImpl(which, dims)              what computes convolution `which` (0 forward, 1 input
 *                                      gradient, 2 filter gradient) of that shape, e.g.
 *                                      "oneDNN brgconv:avx512_core", or "im2col+OpenBLAS"
 */
#include <node_api.h>
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
extern char *openblas_get_corename(void);

#include "im2col.h"

#ifdef FERNB_DNNL
#include "dnnlconv.h"
/* 0 when FERNB_DNNL=0 was in the environment when the addon loaded. */
static int dnnlOn = 1;
#endif

static float *scratch = NULL;
static size_t scratchLen = 0;

static float *scratchFloats(size_t len) {
  if (len > scratchLen) {
    free(scratch);
    scratch = (float *)malloc(len * sizeof(float));
    scratchLen = scratch ? len : 0;
  }
  return scratch;
}

/* ---- Node-API plumbing ---- */

static napi_value throwError(napi_env env, const char *message) {
  napi_throw_error(env, "FERNB_NATIVE", message);
  return NULL;
}

/* The data and element count of a typed array argument of the given type. */
static int typedArg(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  size_t length, offset;
  void *ptr;
  napi_value buffer;
  bool ok = false;
  if (napi_is_typedarray(env, v, &ok) != napi_ok || !ok) return 0;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &buffer, &offset) != napi_ok) return 0;
  if (type != want || (ptr == NULL && length > 0)) return 0;
  *data = ptr;
  *len = length;
  return 1;
}

/* The float data of a Float32Array argument, and its length in floats. */
static int floatArg(napi_env env, napi_value v, float **data, size_t *len) {
  return typedArg(env, v, napi_float32_array, (void **)data, len);
}

static int dimsArg(napi_env env, napi_value v, Dims *d) {
  void *ptr;
  size_t length;
  if (!typedArg(env, v, napi_int32_array, &ptr, &length) || length != 13) return 0;
  const int32_t *a = (const int32_t *)ptr;
  for (int i = 0; i < 13; i++) if (a[i] < 0) return 0;
  d->n = a[0]; d->h = a[1]; d->w = a[2]; d->c = a[3]; d->kh = a[4]; d->kw = a[5]; d->sh = a[6]; d->sw = a[7];
  d->pt = a[8]; d->pl = a[9]; d->oh = a[10]; d->ow = a[11]; d->co = a[12];
  return d->sh >= 1 && d->sw >= 1 && d->kh >= 1 && d->kw >= 1;
}

/* Parses (a, b, out, dims) and checks the three lengths against the dims. */
static int args4(napi_env env, napi_callback_info info, float **a, float **b, float **out, Dims *d, int which, double *key) {
  size_t argc = 5;
  napi_value argv[5];
  size_t la, lb, lo;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || (argc != 4 && argc != 5)) return 0;
  *key = 0;
  napi_valuetype t;
  if (argc == 5 && (napi_typeof(env, argv[4], &t) != napi_ok || (t != napi_undefined && (t != napi_number || napi_get_value_double(env, argv[4], key) != napi_ok || !(*key >= 0)))))
    return 0;
  if (!dimsArg(env, argv[3], d)) return 0;
  const size_t xLen = (size_t)(d->n * d->h * d->w * d->c);
  const size_t wLen = (size_t)(d->kh * d->kw * d->c * d->co);
  const size_t yLen = (size_t)(d->n * d->oh * d->ow * d->co);
  size_t wantA, wantB, wantOut;
  if (which == 0) { wantA = xLen; wantB = wLen; wantOut = yLen; }        /* conv2d */
  else if (which == 1) { wantA = yLen; wantB = wLen; wantOut = xLen; }   /* backprop input */
  else if (which == 2) { wantA = xLen; wantB = yLen; wantOut = wLen; }  /* backprop filter */
  else { wantA = xLen; wantB = yLen; wantOut = xLen; }                   /* max-pool gradient */
  if (!floatArg(env, argv[0], a, &la) || !floatArg(env, argv[1], b, &lb) || !floatArg(env, argv[2], out, &lo)) return 0;
  return la == wantA && lb == wantB && lo == wantOut;
}

static const char *const CONV_NAMES[3] = {"conv2d(x, w, out, dims)", "conv2dBackpropInput(dy, w, dx, dims)", "conv2dBackpropFilter(x, dy, dw, dims)"};

static napi_value convolution(napi_env env, napi_callback_info info, int which) {
  float *a, *b, *out;
  Dims d;
  double key;
  char message[128];
  if (!args4(env, info, &a, &b, &out, &d, which, &key) || (key > 0 && which != 0)) {
    snprintf(message, sizeof message, "%s: bad arguments or lengths", CONV_NAMES[which]);
    return throwError(env, message);
  }
#ifdef FERNB_DNNL
  if (dnnlOn && dnnlConv(which, a, b, out, &d, key)) return NULL;
#endif
  const size_t scratchLen = im2colScratchFloats(&d);
  float *scratch = scratchLen ? scratchFloats(scratchLen) : NULL;
  if (scratchLen && !scratch) {
    snprintf(message, sizeof message, "%s: out of memory for the column matrix", CONV_NAMES[which]);
    return throwError(env, message);
  }
  im2colConv(which, a, b, out, &d, scratch);
  return NULL;
}

static napi_value Conv2d(napi_env env, napi_callback_info info) { return convolution(env, info, 0); }
static napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) { return convolution(env, info, 1); }
static napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) { return convolution(env, info, 2); }

/* Float64 accumulators like the JS version it replaces (../wasmSum.ts); AVX2 where the CPU has it. */
__attribute__((target_clones("avx2", "default")))
static void sumRows(const float *x, float *out, int64_t outer, int64_t inner, double scale, double *acc) {
  memset(acc, 0, inner * sizeof(double));
  for (int64_t r = 0; r < outer; r++) {
    const float *row = x + r * inner;
    for (int64_t c = 0; c < inner; c++) acc[c] += row[c];
  }
  for (int64_t c = 0; c < inner; c++) out[c] = (float)(acc[c] * scale);
}

static napi_value SumLeading(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  float *x, *out;
  size_t lx, lo;
  int64_t outer;
  double scale;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[1], &out, &lo) ||
      napi_get_value_int64(env, argv[2], &outer) != napi_ok || napi_get_value_double(env, argv[3], &scale) != napi_ok ||
      outer < 0 || lo == 0 || (size_t)outer * lo != lx)
    return throwError(env, "sumLeading(x, out, outer, scale): bad arguments or lengths");
  static double *acc = NULL;
  static size_t accLen = 0;
  if (lo > accLen) {
    free(acc);
    acc = (double *)malloc(lo * sizeof(double));
    accLen = acc ? lo : 0;
    if (!acc) return throwError(env, "sumLeading: out of memory");
  }
  sumRows(x, out, outer, (int64_t)lo, scale, acc);
  return NULL;
}

__attribute__((target_clones("avx2", "default")))
static void batchNormRows(const float *x, float *out, int64_t rows, int64_t c, const float *mean, const float *factor, const float *offset) {
  for (int64_t r = 0; r < rows; r++) {
    const float *in = x + r * c;
    float *o = out + r * c;
    for (int64_t j = 0; j < c; j++) o[j] = (in[j] - mean[j]) * factor[j] + (offset ? offset[j] : 0.0f);
  }
}

/* batchNorm(x, mean, variance, offset | null, scale | null, epsilon, out): x and out [..., C], the
 * rest [C]: out = (x − mean) · scale / sqrt(variance + epsilon) + offset. */
static napi_value BatchNorm(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  float *x, *mean, *variance, *offset = NULL, *scale = NULL, *out;
  size_t lx, lm, lv, lof = 0, lsc = 0, lo;
  double epsilon;
  napi_valuetype t4, t5;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[1], &mean, &lm) || !floatArg(env, argv[2], &variance, &lv) ||
      napi_typeof(env, argv[3], &t4) != napi_ok || napi_typeof(env, argv[4], &t5) != napi_ok ||
      (t4 != napi_null && !floatArg(env, argv[3], &offset, &lof)) || (t5 != napi_null && !floatArg(env, argv[4], &scale, &lsc)) ||
      napi_get_value_double(env, argv[5], &epsilon) != napi_ok || !floatArg(env, argv[6], &out, &lo) ||
      lm == 0 || lv != lm || (offset && lof != lm) || (scale && lsc != lm) || lo != lx || lx % lm != 0)
    return throwError(env, "batchNorm(x, mean, variance, offset, scale, epsilon, out): bad arguments or lengths");
  float *factor = (float *)malloc(lm * sizeof(float));
  if (!factor) return throwError(env, "batchNorm: out of memory");
  for (size_t j = 0; j < lm; j++) factor[j] = (scale ? scale[j] : 1.0f) / sqrtf(variance[j] + (float)epsilon);
  batchNormRows(x, out, (int64_t)(lx / lm), (int64_t)lm, mean, factor, offset);
  free(factor);
  return NULL;
}

/* ---- Batch norm in training mode: this batch's statistics, and the gradient through them ---- */

/* Per-channel mean and biased variance of x[rows, c], as two passes with float64 accumulators (the
 * mean as sumLeading computes it; the variance from the squared float32 differences to the float32
 * mean, like tf.moments). */
__attribute__((target_clones("avx2", "default")))
static void channelMoments(const float *x, int64_t rows, int64_t c, double *acc, float *mean, float *variance) {
  sumRows(x, mean, rows, c, 1.0 / (double)rows, acc);
  memset(acc, 0, c * sizeof(double));
  for (int64_t r = 0; r < rows; r++) {
    const float *row = x + r * c;
    for (int64_t j = 0; j < c; j++) {
      const float d = row[j] - mean[j];
      acc[j] += d * d;
    }
  }
  for (int64_t j = 0; j < c; j++) variance[j] = (float)(acc[j] / (double)rows);
}

/* Σ dy and Σ dy·x̂ per channel, x̂ = (x − mean)·invStd. */
__attribute__((target_clones("avx2", "default")))
static void gradSums(const float *x, const float *dy, int64_t rows, int64_t c, const float *mean, const float *invStd, double *sumDy, double *sumDyXhat) {
  memset(sumDy, 0, c * sizeof(double));
  memset(sumDyXhat, 0, c * sizeof(double));
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * c;
    const float *gr = dy + r * c;
    for (int64_t j = 0; j < c; j++) {
      sumDy[j] += gr[j];
      sumDyXhat[j] += gr[j] * ((xr[j] - mean[j]) * invStd[j]);
    }
  }
}

/* dx = k·(dy − meanDy − x̂·meanDyXhat) + a + b·(x − mean), k = scale·invStd; a and b carry
 * gradients that reach the mean and variance outputs directly (a = ∂L/∂mean / rows, b = 2·∂L/∂variance / rows). */
__attribute__((target_clones("avx2", "default")))
static void gradInput(const float *x, const float *dy, float *dx, int64_t rows, int64_t c, const float *mean, const float *invStd, const float *k, const float *meanDy, const float *meanDyXhat, const float *a, const float *b) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * c;
    const float *gr = dy + r * c;
    float *o = dx + r * c;
    for (int64_t j = 0; j < c; j++) {
      const float centred = xr[j] - mean[j];
      o[j] = k[j] * (gr[j] - meanDy[j] - (centred * invStd[j]) * meanDyXhat[j]) + a[j] + b[j] * centred;
    }
  }
}

/* Optional [C] argument: null, or a Float32Array of length c. */
static int optionalChannels(napi_env env, napi_value v, float **data, size_t c) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_null) { *data = NULL; return 1; }
  return floatArg(env, v, data, &len) && len == c;
}

/* batchNormTraining(x, scale | null, offset | null, epsilon, out, mean, variance): x and out [..., C],
 * the rest [C]. mean and variance (biased) are this batch's; out = (x − mean)·scale/√(variance + ε) + offset. */
static napi_value BatchNormTraining(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  float *x, *scale, *offset, *out, *mean, *variance;
  size_t lx, lo, lm, lv;
  double epsilon;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[4], &out, &lo) || !floatArg(env, argv[5], &mean, &lm) ||
      !floatArg(env, argv[6], &variance, &lv) || lm == 0 || lv != lm || lo != lx || lx % lm != 0 || lx == 0 ||
      !optionalChannels(env, argv[1], &scale, lm) || !optionalChannels(env, argv[2], &offset, lm) ||
      napi_get_value_double(env, argv[3], &epsilon) != napi_ok)
    return throwError(env, "batchNormTraining(x, scale, offset, epsilon, out, mean, variance): bad arguments or lengths");
  const int64_t c = (int64_t)lm, rows = (int64_t)(lx / lm);
  double *acc = (double *)malloc(lm * sizeof(double));
  float *factor = (float *)malloc(lm * sizeof(float));
  if (!acc || !factor) { free(acc); free(factor); return throwError(env, "batchNormTraining: out of memory"); }
  channelMoments(x, rows, c, acc, mean, variance);
  for (int64_t j = 0; j < c; j++) factor[j] = (scale ? scale[j] : 1.0f) / sqrtf(variance[j] + (float)epsilon);
  batchNormRows(x, out, rows, c, mean, factor, offset);
  free(acc);
  free(factor);
  return NULL;
}

/* batchNormTrainingGrad(x, dy, mean, variance, scale | null, dMean | null, dVariance | null, epsilon,
 * dx, dScale, dOffset): the gradient with respect to x (through the batch's mean and variance too),
 * scale and offset, given dy = ∂L/∂out and, when they are used beyond out, ∂L/∂mean and ∂L/∂variance. */
static napi_value BatchNormTrainingGrad(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  float *x, *dy, *mean, *variance, *scale, *dMean, *dVariance, *dx, *dScale, *dOffset;
  size_t lx, ly, lm, lv, ldx, lds, ldo;
  double epsilon;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 11 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[1], &dy, &ly) || !floatArg(env, argv[2], &mean, &lm) ||
      !floatArg(env, argv[3], &variance, &lv) || !floatArg(env, argv[8], &dx, &ldx) || !floatArg(env, argv[9], &dScale, &lds) ||
      !floatArg(env, argv[10], &dOffset, &ldo) || lm == 0 || lx == 0 || lx % lm != 0 || ly != lx || ldx != lx ||
      lv != lm || lds != lm || ldo != lm || !optionalChannels(env, argv[4], &scale, lm) ||
      !optionalChannels(env, argv[5], &dMean, lm) || !optionalChannels(env, argv[6], &dVariance, lm) ||
      napi_get_value_double(env, argv[7], &epsilon) != napi_ok)
    return throwError(env, "batchNormTrainingGrad(x, dy, mean, variance, scale, dMean, dVariance, epsilon, dx, dScale, dOffset): bad arguments or lengths");
  const int64_t c = (int64_t)lm, rows = (int64_t)(lx / lm);
  double *sums = (double *)malloc(2 * lm * sizeof(double));
  float *f = (float *)malloc(6 * lm * sizeof(float));
  if (!sums || !f) { free(sums); free(f); return throwError(env, "batchNormTrainingGrad: out of memory"); }
  float *invStd = f, *k = f + lm, *meanDy = f + 2 * lm, *meanDyXhat = f + 3 * lm, *a = f + 4 * lm, *b = f + 5 * lm;
  for (int64_t j = 0; j < c; j++) {
    invStd[j] = 1.0f / sqrtf(variance[j] + (float)epsilon);
    k[j] = (scale ? scale[j] : 1.0f) * invStd[j];
    a[j] = dMean ? (float)(dMean[j] / (double)rows) : 0.0f;
    b[j] = dVariance ? (float)(2.0 * dVariance[j] / (double)rows) : 0.0f;
  }
  gradSums(x, dy, rows, c, mean, invStd, sums, sums + lm);
  for (int64_t j = 0; j < c; j++) {
    dOffset[j] = (float)sums[j];
    dScale[j] = (float)sums[lm + j];
    meanDy[j] = (float)(sums[j] / (double)rows);
    meanDyXhat[j] = (float)(sums[lm + j] / (double)rows);
  }
  gradInput(x, dy, dx, rows, c, mean, invStd, k, meanDy, meanDyXhat, a, b);
  free(sums);
  free(f);
  return NULL;
}

/* reluGrad(x, dy, dx): dx = dy where x > 0, else 0 (tf's Relu gradient: dy · step(x)). */
__attribute__((target_clones("avx2", "default")))
static void reluGradAll(const float *x, const float *dy, float *dx, size_t n) {
  for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

static napi_value ReluGrad(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  float *x, *dy, *dx;
  size_t lx, ly, ld;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[1], &dy, &ly) || !floatArg(env, argv[2], &dx, &ld) || ly != lx || ld != lx)
    return throwError(env, "reluGrad(x, dy, dx): bad arguments or lengths");
  reluGradAll(x, dy, dx, lx);
  return NULL;
}

__attribute__((target_clones("avx2", "default")))
static void reluAll(const float *x, float *out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static napi_value Relu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  float *x, *out;
  size_t lx, lo;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      !floatArg(env, argv[0], &x, &lx) || !floatArg(env, argv[1], &out, &lo) || lo != lx)
    return throwError(env, "relu(x, out): bad arguments or lengths");
  reluAll(x, out, lx);
  return NULL;
}

/* Each output's gradient goes to the first maximum of its window in row-major order (padding
 * ignored), as in the cpu backend and ../wasmMaxPoolGrad.ts, which this replaces. */
static napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  float *x, *dy, *dx;
  Dims d;
  /* Lengths as for a convolution's input gradient: dy [N,OH,OW,C] and x, dx [N,H,W,C]. */
  double key;
  if (!args4(env, info, &x, &dy, &dx, &d, 3, &key) || key != 0 || d.co != d.c) return throwError(env, "maxPoolGrad(x, dy, dx, dims): bad arguments or lengths");
  const int64_t c = d.c;
  float *best = (float *)malloc(c * sizeof(float));
  int64_t *bestAt = (int64_t *)malloc(c * sizeof(int64_t));
  if (!best || !bestAt) {
    free(best);
    free(bestAt);
    return throwError(env, "maxPoolGrad: out of memory");
  }
  memset(dx, 0, d.n * d.h * d.w * c * sizeof(float));
  for (int64_t b = 0; b < d.n; b++) {
    for (int64_t r = 0; r < d.oh; r++) {
      const int64_t r0 = r * d.sh - d.pt, rs = r0 < 0 ? 0 : r0, re = r0 + d.kh < d.h ? r0 + d.kh : d.h;
      for (int64_t q = 0; q < d.ow; q++) {
        const int64_t q0 = q * d.sw - d.pl, qs = q0 < 0 ? 0 : q0, qe = q0 + d.kw < d.w ? q0 + d.kw : d.w;
        for (int64_t k = 0; k < c; k++) { best[k] = -INFINITY; bestAt[k] = -1; }
        for (int64_t i = rs; i < re; i++) {
          for (int64_t j = qs; j < qe; j++) {
            const int64_t base = ((b * d.h + i) * d.w + j) * c;
            for (int64_t k = 0; k < c; k++) {
              if (x[base + k] > best[k]) { best[k] = x[base + k]; bestAt[k] = base + k; }
            }
          }
        }
        const float *g = dy + ((b * d.oh + r) * d.ow + q) * c;
        for (int64_t k = 0; k < c; k++) if (bestAt[k] >= 0) dx[bestAt[k]] += g[k];
      }
    }
  }
  free(best);
  free(bestAt);
  return NULL;
}

/* The same float32 operations, in the same order, as the tf-op version in ../../train.ts. */
__attribute__((target_clones("avx2", "default")))
static void sgdStep(const float *w, const float *g, const float *v, float *wOut, float *vOut, size_t n, float lr, float momentum, float wd) {
  for (size_t i = 0; i < n; i++) {
    const float gi = wd != 0.0f ? g[i] + w[i] * wd : g[i];
    const float vel = v[i] * momentum + gi;
    vOut[i] = vel;
    wOut[i] = w[i] - (gi + vel * momentum) * lr;
  }
}

static napi_value SgdNesterov(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  float *w, *g, *v, *wOut, *vOut;
  size_t lw, lg, lv, lwo, lvo;
  double lr, momentum, wd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8 ||
      !floatArg(env, argv[0], &w, &lw) || !floatArg(env, argv[1], &g, &lg) || !floatArg(env, argv[2], &v, &lv) ||
      !floatArg(env, argv[3], &wOut, &lwo) || !floatArg(env, argv[4], &vOut, &lvo) ||
      napi_get_value_double(env, argv[5], &lr) != napi_ok || napi_get_value_double(env, argv[6], &momentum) != napi_ok ||
      napi_get_value_double(env, argv[7], &wd) != napi_ok || lg != lw || lv != lw || lwo != lw || lvo != lw)
    return throwError(env, "sgdNesterov(w, g, v, wOut, vOut, lr, momentum, weightDecay): bad arguments or lengths");
  sgdStep(w, g, v, wOut, vOut, lw, (float)lr, (float)momentum, (float)wd);
  return NULL;
}

static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_int32(env, argv[0], &n) != napi_ok || n < 1)
    return throwError(env, "setThreads(n): n must be a positive integer");
  openblas_set_num_threads(n);
#ifdef FERNB_DNNL
  dnnlSetThreads(n);
#endif
  return NULL;
}

static napi_value Threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_int32(env, openblas_get_num_threads(), &v);
  return v;
}

static napi_value Config(napi_env env, napi_callback_info info) {
  (void)info;
  char text[512];
  napi_value v;
  snprintf(text, sizeof text, "%s (%s kernels)", openblas_get_config(), openblas_get_corename());
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value Dnnl(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
#ifdef FERNB_DNNL
  if (dnnlOn) {
    const dnnl_version_t *version = dnnl_version();
    char text[64];
    snprintf(text, sizeof text, "oneDNN %d.%d.%d", version->major, version->minor, version->patch);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
    return v;
  }
#endif
  napi_get_null(env, &v);
  return v;
}

static napi_value ConvImpl(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], v;
  int32_t which = -1;
  Dims d;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 || napi_get_value_int32(env, argv[0], &which) != napi_ok ||
      which < 0 || which > 2 || !dimsArg(env, argv[1], &d))
    return throwError(env, "convImpl(which, dims): bad arguments");
  const char *impl = "im2col+OpenBLAS";
  char text[96];
#ifdef FERNB_DNNL
  DnnlEntry *e = dnnlOn ? dnnlFind(which, &d) : NULL;
  if (e) {
    snprintf(text, sizeof text, "oneDNN %s", e->impl);
    impl = text;
  }
#else
  (void)text;
#endif
  napi_create_string_utf8(env, impl, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value Init(napi_env env, napi_value exports) {
#ifdef FERNB_DNNL
  const char *off = getenv("FERNB_DNNL");
  dnnlOn = !(off && strcmp(off, "0") == 0);
#endif
  napi_property_descriptor props[] = {
    {"conv2d", NULL, Conv2d, NULL, NULL, NULL, napi_default, NULL},
    {"conv2dBackpropInput", NULL, Conv2dBackpropInput, NULL, NULL, NULL, napi_default, NULL},
    {"conv2dBackpropFilter", NULL, Conv2dBackpropFilter, NULL, NULL, NULL, napi_default, NULL},
    {"sumLeading", NULL, SumLeading, NULL, NULL, NULL, napi_default, NULL},
    {"batchNorm", NULL, BatchNorm, NULL, NULL, NULL, napi_default, NULL},
    {"relu", NULL, Relu, NULL, NULL, NULL, napi_default, NULL},
    {"reluGrad", NULL, ReluGrad, NULL, NULL, NULL, napi_default, NULL},
    {"batchNormTraining", NULL, BatchNormTraining, NULL, NULL, NULL, napi_default, NULL},
    {"batchNormTrainingGrad", NULL, BatchNormTrainingGrad, NULL, NULL, NULL, napi_default, NULL},
    {"maxPoolGrad", NULL, MaxPoolGrad, NULL, NULL, NULL, napi_default, NULL},
    {"sgdNesterov", NULL, SgdNesterov, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
    {"threads", NULL, Threads, NULL, NULL, NULL, napi_default, NULL},
    {"config", NULL, Config, NULL, NULL, NULL, napi_default, NULL},
    {"dnnl", NULL, Dnnl, NULL, NULL, NULL, napi_default, NULL},
    {"convImpl", NULL, ConvImpl, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
