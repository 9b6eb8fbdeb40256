/*
 * The three convolutions of kernels.c by oneDNN (Debian: libdnnl-dev), directly on NHWC activations
 * (oneDNN's "acdb") and HWIO filters ("cdba"), without a column matrix. Compiled into the addon
 * only when build.mjs finds dnnl.h (it then defines FERNB_DNNL and links -ldnnl); otherwise
 * kernels.c keeps its im2col + OpenBLAS path. Also included by bench/dnnl_conv_bench.c.
 *
 * Needs `Dims` (kernels.c's shape struct) defined before it is included.
 *
 * One primitive per (kind, shape, thread count), cached: oneDNN picks the algorithm and the filter
 * layout it wants ("any"); when that is not HWIO, the filter (forward, input gradient) is reordered
 * into it before the call, or the filter gradient reordered out of it after. The activations are
 * never copied. A forward call may name its filter (filterKey > 0, the same key only ever for the
 * same values: ../wasmNative.ts numbers each tensor once). A filter that comes a second time, as in
 * prediction, where the weights do not change between batches, is then kept reordered
 * (DNNL_FILTER_SLOTS per primitive, least recently used replaced) and reused. In training every
 * step brings new weights, each seen once: nothing is kept, no memory is added. dnnlConv returns 0 when oneDNN has no primitive for the case, or only a reference
 * (plain loop) one (the caller then uses the im2col path), 1 when it computed it.
 *
 * bench/dnnl_conv_bench.c, ResNet-18 at batch 64 on 48×48, on a 2-core AMD EPYC (AVX-512) shared with
 * a training run: the convolutions of a training step take 1.2–1.4× less time than im2col + OpenBLAS
 * ("imagenet" stem), 1.35–1.5× less ("imagenet-nopool"); with HWIO imposed, oneDNN picks its
 * gemm-based convolution and is slower than im2col + OpenBLAS (0.7–0.95×).
 */
#include <oneapi/dnnl/dnnl.h>
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

#define DNNL_CACHE_SIZE 128
/* Reordered filters kept per forward primitive: ResNet-18 has at most 4 convolutions of one shape. */
#define DNNL_FILTER_SLOTS 4

typedef struct {
  double key;        /* the caller's filterKey; 0: empty */
  uint64_t lastUse;
  void *buffer;      /* innerBytes, 64-byte aligned */
} DnnlFilterSlot;

typedef struct {
  int used, which, threads, anyFilter, plainFilter;
  int64_t key[13];
  dnnl_primitive_t prim;
  dnnl_memory_t act, filter, other;  /* which 0: x, w, y · 1: dy, w, dx · 2: x, dw, dy (user layouts) */
  dnnl_primitive_t reorder;          /* HWIO → the primitive's filter layout (0, 1) or back (2); NULL when the same */
  dnnl_memory_t inner;               /* the filter in the primitive's layout, in dnnlFilterBuffer */
  size_t innerBytes;
  DnnlFilterSlot slots[DNNL_FILTER_SLOTS]; /* forward only: reordered filters by key */
  double seen[2 * DNNL_FILTER_SLOTS];      /* keys seen once, not kept (yet) */
  int seenNext;
  char impl[64];
} DnnlEntry;

static DnnlEntry dnnlCache[DNNL_CACHE_SIZE];
static int dnnlNext = 0;
static uint64_t dnnlClock = 0;
/* One buffer for every primitive's reordered filter (the calls come one at a time): one filter's
 * worth of memory instead of one per cached primitive. */
static void *dnnlFilterBuffer = NULL;
static size_t dnnlFilterBytes = 0;
static dnnl_engine_t dnnlEngine = NULL;
static dnnl_stream_t dnnlStream = NULL;
static int dnnlThreads = 1;
/* 1: let oneDNN choose the filter layout (reorder around the call). 0: it must use HWIO. */
static int dnnlAnyFilter = 1;

static void dnnlSetThreads(int n) {
  dnnlThreads = n < 1 ? 1 : n;
#if DNNL_CPU_RUNTIME == DNNL_RUNTIME_OMP
  omp_set_num_threads(dnnlThreads);  /* the calling (Node's main) thread's team size: oneDNN's threads */
#endif
}

static int dnnlInit(void) {
  if (dnnlEngine) return 1;
  if (dnnl_engine_create(&dnnlEngine, dnnl_cpu, 0) != dnnl_success) return 0;
  if (dnnl_stream_create(&dnnlStream, dnnlEngine, dnnl_stream_default_flags) != dnnl_success) {
    dnnl_engine_destroy(dnnlEngine);
    dnnlEngine = NULL;
    return 0;
  }
  return 1;
}

static void dnnlFree(DnnlEntry *e) {
  if (e->prim) dnnl_primitive_destroy(e->prim);
  if (e->reorder) dnnl_primitive_destroy(e->reorder);
  if (e->act) dnnl_memory_destroy(e->act);
  if (e->filter) dnnl_memory_destroy(e->filter);
  if (e->other) dnnl_memory_destroy(e->other);
  if (e->inner) dnnl_memory_destroy(e->inner);
  for (int i = 0; i < DNNL_FILTER_SLOTS; i++) free(e->slots[i].buffer);
  memset(e, 0, sizeof *e);
}

static void dnnlKey(const Dims *d, int64_t key[13]) {
  const int64_t k[13] = {d->n, d->h, d->w, d->c, d->kh, d->kw, d->sh, d->sw, d->pt, d->pl, d->oh, d->ow, d->co};
  memcpy(key, k, sizeof k);
}

/* Builds the primitive for one kind and shape into e; 0 when oneDNN cannot. */
static int dnnlBuild(DnnlEntry *e, int which, const Dims *d) {
  /* TensorFlow's padding: top/left given; bottom/right what makes the output size come out. */
  const int64_t pb = (d->oh - 1) * d->sh + d->kh - d->h - d->pt, pr = (d->ow - 1) * d->sw + d->kw - d->w - d->pl;
  dnnl_dims_t xDims = {d->n, d->c, d->h, d->w}, wDims = {d->co, d->c, d->kh, d->kw}, yDims = {d->n, d->co, d->oh, d->ow};
  dnnl_dims_t strides = {d->sh, d->sw}, padL = {d->pt, d->pl}, padR = {pb < 0 ? 0 : pb, pr < 0 ? 0 : pr};
  dnnl_memory_desc_t xMd, yMd, wUser, wAny;
  dnnl_convolution_desc_t fwdDesc, desc;
  dnnl_primitive_desc_t fwdPd = NULL, pd = NULL, rPd = NULL;
  int ok = 0;
  if (dnnl_memory_desc_init_by_tag(&xMd, 4, xDims, dnnl_f32, dnnl_acdb) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&yMd, 4, yDims, dnnl_f32, dnnl_acdb) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&wUser, 4, wDims, dnnl_f32, dnnl_cdba) != dnnl_success ||
      dnnl_memory_desc_init_by_tag(&wAny, 4, wDims, dnnl_f32, dnnlAnyFilter ? dnnl_format_tag_any : dnnl_cdba) != dnnl_success)
    return 0;
  if (dnnl_convolution_forward_desc_init(&fwdDesc, which == 0 ? dnnl_forward_inference : dnnl_forward_training, dnnl_convolution_auto,
                                         &xMd, &wAny, NULL, &yMd, strides, padL, padR) != dnnl_success ||
      dnnl_primitive_desc_create(&fwdPd, &fwdDesc, NULL, dnnlEngine, NULL) != dnnl_success)
    goto done;
  if (which == 0) {
    pd = fwdPd;
    fwdPd = NULL;
  } else {
    dnnl_status_t s = which == 1
      ? dnnl_convolution_backward_data_desc_init(&desc, dnnl_convolution_auto, &xMd, &wAny, &yMd, strides, padL, padR)
      : dnnl_convolution_backward_weights_desc_init(&desc, dnnl_convolution_auto, &xMd, &wAny, NULL, &yMd, strides, padL, padR);
    if (s != dnnl_success || dnnl_primitive_desc_create(&pd, &desc, NULL, dnnlEngine, fwdPd) != dnnl_success) goto done;
  }
  const dnnl_memory_desc_t *wMd = dnnl_primitive_desc_query_md(pd, which == 2 ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
  /* The activations must be the user's NHWC (they are: not "any"); check anyway. */
  const dnnl_memory_desc_t *aMd = dnnl_primitive_desc_query_md(pd, which == 1 ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *oMd = dnnl_primitive_desc_query_md(pd, which == 0 ? dnnl_query_dst_md : which == 1 ? dnnl_query_diff_src_md : dnnl_query_diff_dst_md, 0);
  if (!wMd || !aMd || !oMd || !dnnl_memory_desc_equal(aMd, which == 1 ? &yMd : &xMd) || !dnnl_memory_desc_equal(oMd, which == 1 ? &xMd : &yMd)) goto done;
  if (dnnl_primitive_create(&e->prim, pd) != dnnl_success) goto done;
  if (dnnl_memory_create(&e->act, which == 1 ? &yMd : &xMd, dnnlEngine, DNNL_MEMORY_NONE) != dnnl_success ||
      dnnl_memory_create(&e->filter, &wUser, dnnlEngine, DNNL_MEMORY_NONE) != dnnl_success ||
      dnnl_memory_create(&e->other, which == 1 ? &xMd : &yMd, dnnlEngine, DNNL_MEMORY_NONE) != dnnl_success)
    goto done;
  e->plainFilter = dnnl_memory_desc_equal(wMd, &wUser);
  if (!e->plainFilter) {
    if (dnnl_memory_create(&e->inner, wMd, dnnlEngine, DNNL_MEMORY_NONE) != dnnl_success) goto done;
    e->innerBytes = dnnl_memory_desc_get_size(wMd);
    dnnl_status_t s = which == 2 ? dnnl_reorder_primitive_desc_create(&rPd, wMd, dnnlEngine, &wUser, dnnlEngine, NULL)
                                 : dnnl_reorder_primitive_desc_create(&rPd, &wUser, dnnlEngine, wMd, dnnlEngine, NULL);
    if (s != dnnl_success || dnnl_primitive_create(&e->reorder, rPd) != dnnl_success) goto done;
  }
  /* oneDNN's reference implementations (plain loops) are slower than im2col + SGEMM: not those. */
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl || strncmp(impl, "ref", 3) == 0) goto done;
  snprintf(e->impl, sizeof e->impl, "%s%s", impl, e->plainFilter ? "" : "+reorder");
  ok = 1;
done:
  if (fwdPd) dnnl_primitive_desc_destroy(fwdPd);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (rPd) dnnl_primitive_desc_destroy(rPd);
  return ok;
}

/* The cached primitive for (which, d) at the current thread count, built on first use; NULL when
 * oneDNN has none (remembered too, so the im2col path is not preceded by a retry every call). */
static DnnlEntry *dnnlFind(int which, const Dims *d) {
  int64_t key[13];
  dnnlKey(d, key);
  for (int i = 0; i < DNNL_CACHE_SIZE; i++) {
    DnnlEntry *e = &dnnlCache[i];
    if (e->used && e->which == which && e->threads == dnnlThreads && e->anyFilter == dnnlAnyFilter && memcmp(e->key, key, sizeof key) == 0) return e->prim ? e : NULL;
  }
  if (!dnnlInit()) return NULL;
  DnnlEntry *e = &dnnlCache[dnnlNext];
  dnnlNext = (dnnlNext + 1) % DNNL_CACHE_SIZE;
  if (e->used) dnnlFree(e);
  if (!dnnlBuild(e, which, d)) dnnlFree(e);  /* a failed build is remembered as an entry without a primitive */
  e->used = 1;
  e->which = which;
  e->threads = dnnlThreads;
  e->anyFilter = dnnlAnyFilter;
  memcpy(e->key, key, sizeof key);
  return e->prim ? e : NULL;
}

/* The slot for filterKey in a forward entry: found (*hit = 1), or, on the key's second sighting,
 * the least recently used one, emptied (key 0) for the caller to fill and then name (*hit = 0);
 * NULL on its first sighting (remembered, nothing kept) or when a buffer cannot be allocated. */
static DnnlFilterSlot *dnnlFilterSlot(DnnlEntry *e, double filterKey, int *hit) {
  DnnlFilterSlot *lru = &e->slots[0];
  for (int i = 0; i < DNNL_FILTER_SLOTS; i++) {
    DnnlFilterSlot *s = &e->slots[i];
    if (s->key == filterKey && s->buffer) {
      s->lastUse = ++dnnlClock;
      *hit = 1;
      return s;
    }
    if (s->lastUse < lru->lastUse) lru = s;
  }
  int again = 0;
  for (int i = 0; i < 2 * DNNL_FILTER_SLOTS; i++) again |= e->seen[i] == filterKey;
  if (!again) {
    e->seen[e->seenNext] = filterKey;
    e->seenNext = (e->seenNext + 1) % (2 * DNNL_FILTER_SLOTS);
    return NULL;
  }
  if (!lru->buffer) lru->buffer = aligned_alloc(64, (e->innerBytes + 63) / 64 * 64);
  if (!lru->buffer) return NULL;
  lru->key = 0;
  lru->lastUse = ++dnnlClock;
  *hit = 0;
  return lru;
}

/* which 0: out = conv(a = x, b = w) · 1: out = dx from (a = dy, b = w) · 2: out = dw from (a = x, b = dy).
 * filterKey > 0 (forward only): names the filter's values, so its reordered copy can be reused. */
static int dnnlConv(int which, const float *a, const float *b, float *out, const Dims *d, double filterKey) {
  DnnlEntry *e = dnnlFind(which, d);
  if (!e) return 0;
  const float *filter = which == 2 ? out : b;
  const float *other = which == 2 ? b : out;
  if (dnnl_memory_set_data_handle(e->act, (void *)a) != dnnl_success ||
      dnnl_memory_set_data_handle(e->filter, (void *)filter) != dnnl_success ||
      dnnl_memory_set_data_handle(e->other, (void *)other) != dnnl_success)
    return 0;
  /* The filter in the primitive's layout: in its kept slot (forward calls that name it), else in
   * the shared buffer; reordered into it unless the slot already holds it. */
  int kept = 0;
  DnnlFilterSlot *slot = !e->plainFilter && which == 0 && filterKey > 0 ? dnnlFilterSlot(e, filterKey, &kept) : NULL;
  if (!e->plainFilter && !slot && e->innerBytes > dnnlFilterBytes) {
    free(dnnlFilterBuffer);
    dnnlFilterBuffer = aligned_alloc(64, (e->innerBytes + 63) / 64 * 64);
    dnnlFilterBytes = dnnlFilterBuffer ? e->innerBytes : 0;
    if (!dnnlFilterBuffer) return 0;
  }
  if (!e->plainFilter && dnnl_memory_set_data_handle(e->inner, slot ? slot->buffer : dnnlFilterBuffer) != dnnl_success) return 0;
  dnnl_memory_t w = e->plainFilter ? e->filter : e->inner;
  if (which != 2 && e->reorder && !kept) {
    dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->filter}, {DNNL_ARG_TO, e->inner}};
    if (dnnl_primitive_execute(e->reorder, dnnlStream, 2, r) != dnnl_success) return 0;
    if (slot) slot->key = filterKey;  /* only once it holds the filter */
  }
  dnnl_exec_arg_t args[3];
  if (which == 0) {
    args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->act};
    args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w};
    args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, e->other};
  } else if (which == 1) {
    args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->act};
    args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w};
    args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, e->other};
  } else {
    args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, e->act};
    args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, w};
    args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, e->other};
  }
  if (dnnl_primitive_execute(e->prim, dnnlStream, 3, args) != dnnl_success) return 0;
  if (which == 2 && e->reorder) {
    dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, e->inner}, {DNNL_ARG_TO, e->filter}};
    if (dnnl_primitive_execute(e->reorder, dnnlStream, 2, r) != dnnl_success) return 0;
  }
  return dnnl_stream_wait(dnnlStream) == dnnl_success;
}
