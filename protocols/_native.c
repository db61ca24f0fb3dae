/* protocols._native: the few hot loops that numpy cannot express in one pass (optional; every
 * function has a numpy twin that gives identical output, used when this module is not built).
 *
 * 1. xor_rows — the LPN expansion's inner loop (see protocols/ot/ferret.py, ``lpn_apply``, and the dual EA code's
 * rows in protocols/ot/silent.py, ``ea_rows``): for each output row i, XOR d 128-bit blocks of the
 * base into out[i] (d = 10 for Ferret's code, the expander weight for EA), at indices (w·k) >> 32 of
 * the row's d 32-bit words w of the public AES-CTR stream; optionally normalise the row
 * (z -> z ^ LSB(z)·Δ).
 *
 * Why C: the ten gathers per row are random reads of a multi-MB base.  numpy issues them as ten
 * separate passes (np.take), each with its own index array, so the multiply-shift, the gathers and
 * the XORs each stream through memory; here one pass computes the indices, prefetches the rows a
 * few iterations ahead and XORs them in registers (about 3x less time per row on 2-core x86).
 * The result is bit-identical to the numpy path, which stays as the fallback and the reference
 * (tests/test_ferret.py checks both against the plaintext definition).
 *
 * The GIL is released for the loop: the two parties of an in-process test run in two threads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>

/* name(): whether the CPU passes ``cond`` (__builtin_cpu_supports tests), asked once and cached;
 * used inside the x86-64 GCC blocks that choose a vector path at run time. */
#define CPU_FEATURE_CHECK(name, cond)                                                               \
    static int name(void) {                                                                         \
        static int ok = -1;                                                                         \
        if (ok < 0) {                                                                               \
            __builtin_cpu_init();                                                                   \
            ok = (cond);                                                                            \
        }                                                                                           \
        return ok;                                                                                  \
    }

/* The end of every binding below: the buffers it parsed are released (a NULL-terminated list)
 * and its result passed through (NULL when it raised). */
static PyObject *release(PyObject *result, ...) {
    va_list ap;
    va_start(ap, result);
    for (Py_buffer *b = va_arg(ap, Py_buffer *); b != NULL; b = va_arg(ap, Py_buffer *))
        PyBuffer_Release(b);
    va_end(ap);
    return result;
}

static PyObject *none(void) {
    Py_INCREF(Py_None);
    return Py_None;
}

#define MAX_D 64
#define AHEAD 8 /* rows of prefetch distance */

static PyObject *xor_rows(PyObject *self, PyObject *args) {
    Py_buffer out, base, words;
    unsigned long long k;
    int assign;
    PyObject *delta_obj;
    int D = 10;
    if (!PyArg_ParseTuple(args, "w*y*y*KpO|i", &out, &base, &words, &k, &assign, &delta_obj, &D))
        return NULL;
    PyObject *result = NULL;
    uint64_t dl0 = 0, dl1 = 0;
    int normalize = delta_obj != Py_None;
    Py_ssize_t n = out.len / 16;
    if (D < 1 || D > MAX_D || out.len % 16 || base.len % 16 || (unsigned long long)(base.len / 16) != k ||
        k == 0 || k > 0xffffffffULL || words.len < n * D * 4) {
        PyErr_SetString(PyExc_ValueError, "xor_rows: out (n, 2) u64, base (k, 2) u64, words >= d·n u32, 1 <= d <= 64");
        goto done;
    }
    if (normalize) {
        Py_buffer d;
        if (PyObject_GetBuffer(delta_obj, &d, PyBUF_SIMPLE) < 0)
            goto done;
        if (d.len != 16) {
            PyBuffer_Release(&d);
            PyErr_SetString(PyExc_ValueError, "xor_rows: delta must be 16 bytes");
            goto done;
        }
        memcpy(&dl0, d.buf, 8);
        memcpy(&dl1, (char *)d.buf + 8, 8);
        PyBuffer_Release(&d);
    }
    {
        uint64_t *o = (uint64_t *)out.buf;
        const uint64_t *b = (const uint64_t *)base.buf;
        const uint32_t *w = (const uint32_t *)words.buf;
        const uint64_t kk = (uint64_t)k;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i + AHEAD < n) {
                const uint32_t *wa = w + (i + AHEAD) * D;
                for (int j = 0; j < D; j++)
                    __builtin_prefetch(b + 2 * (((uint64_t)wa[j] * kk) >> 32), 0, 0);
            }
            const uint32_t *wi = w + i * D;
            uint64_t a0 = assign ? 0 : o[2 * i], a1 = assign ? 0 : o[2 * i + 1];
            for (int j = 0; j < D; j++) {
                const uint64_t *r = b + 2 * (((uint64_t)wi[j] * kk) >> 32);
                a0 ^= r[0];
                a1 ^= r[1];
            }
            if (normalize) {
                uint64_t m = (uint64_t)0 - (a0 & 1);
                a0 ^= m & dl0;
                a1 ^= m & dl1;
            }
            o[2 * i] = a0;
            o[2 * i + 1] = a1;
        }
        Py_END_ALLOW_THREADS
    }
    result = none();
done:
    return release(result, &out, &base, &words, NULL);
}

/* 2. pack_fields / unpack_fields — records of F fields with per-field widths (field f keeps the
 * low widths[f] bits), record after record in one little-endian bit stream: the wire format of the
 * arithmetic COTs (protocols/ot/extensions.py, ``pack_fields``) and, with one field per record, the
 * dense stream of RLWE coefficients (protocols/he/rlwe.py, ``_packw`` / ``_unpackw``).  The values
 * are the (F, n) array (value f of record j at [f·n + j]), or with k > 1 the (F/k, n, k) array
 * (slot f = g·k + i of record j at [(g·n + j)·k + i]: a row-broadcast COT's k values stay next to
 * each other, so the caller needs no transposed copy).  numpy loops over the field slots of a
 * group of records — slow when F is large and n small (a LayerNorm's rows each carry thousands of
 * fields) — or over 64 masked passes per block of 64 coefficients.
 * pack: o = the stream (nw words, zeroed here), in = the values; unpack: the reverse. */
static void stream_fields(uint64_t *o, const uint64_t *in, Py_ssize_t nw, const uint8_t *w, Py_ssize_t F,
                          Py_ssize_t n, Py_ssize_t k, int pack) {
    if (pack)
        memset(o, 0, (size_t)nw * 8);
    uint64_t bit = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        /* slot f = g·k + i: block g of the k values of record j */
        for (Py_ssize_t f = 0; f < F; f++) {
            const Py_ssize_t g = f / k, i = f - g * k;
            const int wf = w[f];
            const Py_ssize_t at = (g * n + j) * k + i;
            if (wf == 0) {
                if (!pack)
                    o[at] = 0;
                continue;
            }
            const uint64_t mask = wf == 64 ? ~(uint64_t)0 : (((uint64_t)1 << wf) - 1);
            const Py_ssize_t word = (Py_ssize_t)(bit >> 6);
            const int off = (int)(bit & 63);
            if (pack) {
                const uint64_t x = in[at] & mask;
                o[word] |= x << off;
                if (off + wf > 64)
                    o[word + 1] |= x >> (64 - off);
            } else {
                uint64_t x = in[word] >> off;
                if (off + wf > 64 && word + 1 < nw)
                    x |= in[word + 1] << (64 - off);
                o[at] = x & mask;
            }
            bit += (uint64_t)wf;
        }
    }
}

static PyObject *fields_stream(PyObject *args, int pack) {
    Py_buffer dst, src, wid;
    Py_ssize_t n, k = 1;
    if (!PyArg_ParseTuple(args, "w*y*y*n|n", &dst, &src, &wid, &n, &k))
        return NULL;
    PyObject *result = NULL;
    const Py_buffer *stream = pack ? &dst : &src, *values = pack ? &src : &dst;
    const Py_ssize_t F = wid.len;
    const uint8_t *w = (const uint8_t *)wid.buf;
    Py_ssize_t L = 0;
    for (Py_ssize_t f = 0; f < F; f++) {
        if (w[f] > 64) {
            PyErr_SetString(PyExc_ValueError, "pack/unpack_fields: widths must be in 0..64");
            goto done;
        }
        L += w[f];
    }
    if (n < 0 || k < 1 || F % k || dst.len % 8 || src.len % 8 || values->len / 8 != F * n ||
        stream->len / 8 < (n * L + 63) / 64) {
        PyErr_SetString(PyExc_ValueError, "pack/unpack_fields: need F·n values, k dividing F and ceil(n·L/64) stream words");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    stream_fields((uint64_t *)dst.buf, (const uint64_t *)src.buf, stream->len / 8, w, F, n, k, pack);
    Py_END_ALLOW_THREADS
    result = none();
done:
    return release(result, &dst, &src, &wid, NULL);
}

static PyObject *pack_fields(PyObject *self, PyObject *args) { return fields_stream(args, 1); }

static PyObject *unpack_fields(PyObject *self, PyObject *args) { return fields_stream(args, 0); }

/* 3. mac_int21 / mac_tlimb — the client's multiply-accumulate of the COP linear layer
 * (protocols/he/rlwe.py, ``mac_packed``) for a few tokens, straight from the compressed operands:
 * numpy converts every row chunk of an int21 operand to float64 (four passes) before a skinny
 * BLAS product that is itself memory-bound, so a short query spends its linear layers converting.
 * Exact int64 arithmetic: |x|, |v| < 2^21 so every product is < 2^42 and n < 2^20 rows sum below
 * 2^62 (mac_int21); the t-limb sums wrap mod 2^64 like the numpy path's uint64 view.  Both are
 * compiled for AVX2 and a baseline (one binary, chosen at load time). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

#define MAC_COLS 256   /* column block: the (T, 256) accumulators stay in L1/L2 while every row passes */
#define MAC_FLUSH 1024 /* rows per exact float64 partial sum: 1024 · 2^43 = 2^53 */

/* The products run in float64 (FMA, 8 lanes per cycle) and are exact: every term is an integer
 * below 2^43 in magnitude and at most MAC_FLUSH of them are summed before the partial sum moves
 * into the int64 / uint64 output. */
#define MAC_ROWS 4 /* operand rows per pass over a block of acc: a quarter of the acc loads/stores */

MULTIVERSION
static void mac_int21_rows(int64_t *restrict out, const int32_t *restrict x, const uint16_t *restrict lo,
                           const uint8_t *restrict hi, Py_ssize_t T, Py_ssize_t n, Py_ssize_t K, int64_t offset,
                           double *restrict v, double *restrict acc) {
    const int32_t off32 = (int32_t)offset; /* 2^20: the residues sit in [0, 2^21) */
    for (Py_ssize_t c0 = 0; c0 < K; c0 += MAC_COLS) {
        const Py_ssize_t B = K - c0 < MAC_COLS ? K - c0 : MAC_COLS;
        for (Py_ssize_t j0 = 0; j0 < n; j0 += MAC_FLUSH) {
            const Py_ssize_t j1 = n - j0 < MAC_FLUSH ? n : j0 + MAC_FLUSH;
            memset(acc, 0, (size_t)(T * B) * sizeof(double));
            for (Py_ssize_t j = j0; j < j1; j += MAC_ROWS) {
                const Py_ssize_t jr = j1 - j < MAC_ROWS ? j1 - j : MAC_ROWS;
                for (Py_ssize_t q = 0; q < MAC_ROWS; q++) {
                    double *vq = v + q * MAC_COLS;
                    if (q < jr) {
                        const uint16_t *l = lo + (j + q) * K + c0;
                        const uint8_t *h = hi + (j + q) * K + c0;
                        for (Py_ssize_t c = 0; c < B; c++)
                            vq[c] = (double)((int32_t)l[c] + ((int32_t)h[c] << 16) - off32);
                    } else {
                        memset(vq, 0, (size_t)B * sizeof(double));
                    }
                }
                for (Py_ssize_t k = 0; k < T; k++) {
                    double xs[MAC_ROWS];
                    for (Py_ssize_t q = 0; q < MAC_ROWS; q++)
                        xs[q] = q < jr ? (double)x[k * n + j + q] : 0.0;
                    double *a = acc + k * B;
                    for (Py_ssize_t c = 0; c < B; c++) {
                        double s = a[c];
                        for (Py_ssize_t q = 0; q < MAC_ROWS; q++)
                            s += xs[q] * v[q * MAC_COLS + c];
                        a[c] = s;
                    }
                }
            }
            for (Py_ssize_t k = 0; k < T; k++)
                for (Py_ssize_t c = 0; c < B; c++)
                    out[k * K + c0 + c] += (int64_t)acc[k * B + c];
        }
    }
}

MULTIVERSION
static void mac_tlimb_rows(uint64_t *restrict out, const int32_t *restrict x0, const int32_t *restrict x1,
                           const uint64_t *restrict raw, Py_ssize_t T, Py_ssize_t n, Py_ssize_t K, int bits,
                           double *restrict d0, double *restrict d1, double *restrict acc) {
    const uint64_t half = (uint64_t)1 << (bits - 1), mask = ((uint64_t)1 << bits) - 1;
    double *lo_acc = acc, *hi_acc = acc + T * MAC_COLS;
    for (Py_ssize_t c0 = 0; c0 < K; c0 += MAC_COLS) {
        const Py_ssize_t B = K - c0 < MAC_COLS ? K - c0 : MAC_COLS;
        for (Py_ssize_t j0 = 0; j0 < n; j0 += MAC_FLUSH) {
            const Py_ssize_t j1 = n - j0 < MAC_FLUSH ? n : j0 + MAC_FLUSH;
            memset(acc, 0, (size_t)(2 * T * MAC_COLS) * sizeof(double));
            for (Py_ssize_t j = j0; j < j1; j += MAC_ROWS) {
                const Py_ssize_t jr = j1 - j < MAC_ROWS ? j1 - j : MAC_ROWS;
                for (Py_ssize_t q = 0; q < MAC_ROWS; q++) {
                    double *e0 = d0 + q * MAC_COLS, *e1 = d1 + q * MAC_COLS;
                    if (q < jr) {
                        const uint64_t *r = raw + (j + q) * K + c0;
                        for (Py_ssize_t c = 0; c < B; c++) { /* balanced digits, as rlwe.digits */
                            const int32_t a = (int32_t)((r[c] + half) & mask) - (int32_t)half;
                            const uint64_t u = (r[c] - (uint64_t)(int64_t)a) >> bits;
                            e0[c] = (double)a;
                            e1[c] = (double)((int32_t)((u + half) & mask) - (int32_t)half);
                        }
                    } else {
                        memset(e0, 0, (size_t)B * sizeof(double));
                        memset(e1, 0, (size_t)B * sizeof(double));
                    }
                }
                for (Py_ssize_t k = 0; k < T; k++) {
                    double a0[MAC_ROWS], a1[MAC_ROWS];
                    for (Py_ssize_t q = 0; q < MAC_ROWS; q++) {
                        a0[q] = q < jr ? (double)x0[k * n + j + q] : 0.0;
                        a1[q] = q < jr ? (double)x1[k * n + j + q] : 0.0;
                    }
                    double *l = lo_acc + k * B, *h = hi_acc + k * B;
                    for (Py_ssize_t c = 0; c < B; c++) {
                        double sl = l[c], sh = h[c];
                        for (Py_ssize_t q = 0; q < MAC_ROWS; q++) {
                            sl += a0[q] * d0[q * MAC_COLS + c];
                            sh += a0[q] * d1[q * MAC_COLS + c] + a1[q] * d0[q * MAC_COLS + c];
                        }
                        l[c] = sl;
                        h[c] = sh;
                    }
                }
            }
            for (Py_ssize_t k = 0; k < T; k++)
                for (Py_ssize_t c = 0; c < B; c++)
                    out[k * K + c0 + c] += (uint64_t)(int64_t)lo_acc[k * B + c] +
                                           ((uint64_t)(int64_t)hi_acc[k * B + c] << bits);
        }
    }
}

static PyObject *mac_int21(PyObject *self, PyObject *args) {
    Py_buffer acc, x, lo, hi;
    Py_ssize_t T, n, K;
    long long offset;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nnnL", &acc, &x, &lo, &hi, &T, &n, &K, &offset))
        return NULL;
    PyObject *result = NULL;
    double *v = NULL;
    if (T < 0 || n < 0 || K < 0 || acc.len != T * K * 8 || x.len != T * n * 4 || lo.len < n * K * 2 ||
        hi.len < n * K) {
        PyErr_SetString(PyExc_ValueError, "mac_int21: need acc (T,K) int64, x (T,n) int32, lo (n,K) uint16, hi (n,K) uint8");
        goto done;
    }
    v = (double *)PyMem_RawMalloc((size_t)(MAC_ROWS + T) * MAC_COLS * sizeof(double));
    if (!v) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    mac_int21_rows((int64_t *)acc.buf, (const int32_t *)x.buf, (const uint16_t *)lo.buf, (const uint8_t *)hi.buf,
                   T, n, K, (int64_t)offset, v, v + MAC_ROWS * MAC_COLS);
    Py_END_ALLOW_THREADS
    result = none();
done:
    PyMem_RawFree(v);
    return release(result, &acc, &x, &lo, &hi, NULL);
}

static PyObject *mac_tlimb(PyObject *self, PyObject *args) {
    Py_buffer acc, x0, x1, raw;
    Py_ssize_t T, n, K;
    int bits;
    if (!PyArg_ParseTuple(args, "w*y*y*y*nnni", &acc, &x0, &x1, &raw, &T, &n, &K, &bits))
        return NULL;
    PyObject *result = NULL;
    double *d = NULL;
    if (T < 0 || n < 0 || K < 0 || bits < 2 || bits > 21 + 1 || acc.len != T * K * 8 || x0.len != T * n * 4 ||
        x1.len != T * n * 4 || raw.len < n * K * 8) {
        PyErr_SetString(PyExc_ValueError, "mac_tlimb: need acc (T,K) uint64, x0/x1 (T,n) int32, raw (n,K) uint64");
        goto done;
    }
    d = (double *)PyMem_RawMalloc((size_t)(2 * MAC_ROWS + 2 * T) * MAC_COLS * sizeof(double));
    if (!d) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    mac_tlimb_rows((uint64_t *)acc.buf, (const int32_t *)x0.buf, (const int32_t *)x1.buf, (const uint64_t *)raw.buf,
                   T, n, K, bits, d, d + MAC_ROWS * MAC_COLS, d + 2 * MAC_ROWS * MAC_COLS);
    Py_END_ALLOW_THREADS
    result = none();
done:
    PyMem_RawFree(d);
    return release(result, &acc, &x0, &x1, &raw, NULL);
}

/* 4. int21_store — the COP client's operand preparation (protocols/he/rlwe.py,
 * ``PreparedMatrix.build``, int21 storage): residues mod p (or raw keystream words, turned into
 * residues by the multiply-shift of ``PRG.integers``), centred to (−p/2, p/2], offset by 2^20 and
 * split into a uint16 low and a uint8 high part — one pass instead of five numpy passes and their
 * temporaries, for every row of every matrix at each session's set-up. */
MULTIVERSION
static void int21_rows(uint16_t *restrict lo, uint8_t *restrict hi, const uint64_t *restrict src, Py_ssize_t rows,
                       Py_ssize_t cols, Py_ssize_t K, Py_ssize_t col0, uint32_t p, int keystream) {
    const uint32_t half = p / 2, off = (uint32_t)1 << 20;
    uint32_t v[1024];
    for (Py_ssize_t r = 0; r < rows; r++)
        for (Py_ssize_t c0 = 0; c0 < cols; c0 += 1024) {
            const Py_ssize_t B = cols - c0 < 1024 ? cols - c0 : 1024;
            const uint64_t *w = src + r * cols + c0;
            uint16_t *lr = lo + r * K + col0 + c0;
            uint8_t *hr = hi + r * K + col0 + c0;
            if (keystream) /* PRG.integers: ((w >> 32) · p) >> 32 */
                for (Py_ssize_t c = 0; c < B; c++)
                    v[c] = (uint32_t)(((w[c] >> 32) * (uint64_t)p) >> 32);
            else
                for (Py_ssize_t c = 0; c < B; c++)
                    v[c] = (uint32_t)w[c];
            for (Py_ssize_t c = 0; c < B; c++) {
                const uint32_t u = v[c] + off - (v[c] > half ? p : 0); /* centred + 2^20, in [0, 2^21) */
                lr[c] = (uint16_t)u;
                hr[c] = (uint8_t)(u >> 16);
            }
        }
}

static PyObject *int21_store(PyObject *self, PyObject *args) {
    Py_buffer lo, hi, src;
    Py_ssize_t rows, cols, K, col0;
    unsigned long long p;
    int keystream;
    if (!PyArg_ParseTuple(args, "w*w*y*nnnnKp", &lo, &hi, &src, &rows, &cols, &K, &col0, &p, &keystream))
        return NULL;
    PyObject *result = NULL;
    if (rows < 0 || cols < 0 || col0 < 0 || col0 + cols > K || lo.len < rows * K * 2 || hi.len < rows * K ||
        src.len != rows * cols * 8 || p < 3 || p > ((unsigned long long)1 << 21)) {
        PyErr_SetString(PyExc_ValueError, "int21_store: need lo (rows,K) uint16, hi (rows,K) uint8, src (rows,cols) "
                                          "8-byte words, col0 + cols <= K, 3 <= p <= 2^21");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    int21_rows((uint16_t *)lo.buf, (uint8_t *)hi.buf, (const uint64_t *)src.buf, rows, cols, K, col0, (uint32_t)p,
               keystream);
    Py_END_ALLOW_THREADS
    result = none();
done:
    return release(result, &lo, &hi, &src, NULL);
}

/* x·w mod q up to one q (Shoup; wp = floor(w·2^64/q), w < q) */
static inline uint64_t shoup_lazy(uint64_t x, uint64_t w, uint64_t wp, uint64_t q) {
    uint64_t hi = (uint64_t)(((unsigned __int128)x * wp) >> 64);
    return x * w - hi * q; /* in [0, 2q) */
}

/* 5. mulmod_const / mul128_const — a·c mod q and the full 128-bit a·c for uint64 arrays and a
 * constant c (the HE multiplication's mask, flooding and CRT steps, protocols/he/simd_mul.py);
 * numpy emulates the 128-bit product with 32-bit limbs in about ten passes.
 */
static PyObject *mulmod_const(PyObject *self, PyObject *args) {
    Py_buffer out, a;
    unsigned long long c, q;
    if (!PyArg_ParseTuple(args, "w*y*KK", &out, &a, &c, &q))
        return NULL;
    PyObject *result = NULL;
    if (q == 0 || q >= (1ULL << 63) || c >= q || a.len % 8 || out.len != a.len) {
        PyErr_SetString(PyExc_ValueError, "mulmod_const: out and a are uint64 arrays of one size, c < q < 2^63");
        goto done;
    }
    {
        uint64_t *o = (uint64_t *)out.buf;
        const uint64_t *x = (const uint64_t *)a.buf;
        Py_ssize_t n = a.len / 8;
        /* Shoup: with c' = floor(c·2^64/q), x·c − floor(x·c'/2^64)·q lies in [0, 2q) for any x */
        uint64_t cp = (uint64_t)(((unsigned __int128)c << 64) / q);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t r = shoup_lazy(x[i], c, cp, q);
            o[i] = r - ((r >= q) ? q : 0);
        }
        Py_END_ALLOW_THREADS
    }
    result = none();
done:
    return release(result, &out, &a, NULL);
}

static PyObject *mul128_const(PyObject *self, PyObject *args) {
    Py_buffer hi, lo, a;
    unsigned long long c;
    if (!PyArg_ParseTuple(args, "w*w*y*K", &hi, &lo, &a, &c))
        return NULL;
    PyObject *result = NULL;
    if (a.len % 8 || hi.len != a.len || lo.len != a.len) {
        PyErr_SetString(PyExc_ValueError, "mul128_const: hi, lo and a are uint64 arrays of one size");
        goto done;
    }
    {
        uint64_t *h = (uint64_t *)hi.buf, *l = (uint64_t *)lo.buf;
        const uint64_t *x = (const uint64_t *)a.buf;
        Py_ssize_t n = a.len / 8;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned __int128 p = (unsigned __int128)x[i] * c;
            h[i] = (uint64_t)(p >> 64);
            l[i] = (uint64_t)p;
        }
        Py_END_ALLOW_THREADS
    }
    result = none();
done:
    return release(result, &hi, &lo, &a, NULL);
}

/* 6. ntt_fwd / ntt_inv / modvec — the negacyclic number-theoretic transform mod a prime q < 2^62 and
 * the elementwise product mod q, the arithmetic of our batched BFV (protocols/he/ntt.py,
 * protocols/he/simd_mul.py).  Forward: Cooley-Tukey, natural order in, bit-reversed out, twiddles
 * psi^brv(k) with their Shoup quotients floor(w·2^64/q); inverse: Gentleman-Sande, bit-reversed in,
 * natural out, scaled by 1/N.  Harvey's lazy butterflies keep values in [0, 4q) (q < 2^62 so 4q fits
 * a word) and the last pass reduces to [0, q): the output equals the numpy twin's exactly.
 * Products use Montgomery reduction twice (a·b·R^-1, then ·R^2·R^-1 with R = 2^64): no 128-bit
 * division in the loop; modvec also adds and subtracts mod q without numpy's temporaries.
 */
/* The butterflies of the stages whose half-length t is a multiple of 8 (all but the last three of
 * 13 at N = 8192) run 8 lanes at once on AVX-512 (F + DQ): AVX-512 has no 64x64->128 multiply,
 * so Shoup's quotient takes four 32x32 products; the lazy reductions are unsigned minima
 * (u - 2q wraps above u exactly when u < 2q).  Same values as the scalar loops, lane by lane;
 * chosen at run time (__builtin_cpu_supports), so one binary serves every x86-64. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define NTT_SIMD 1

__attribute__((target("avx512f,avx512dq"))) static inline __m512i mulhi_u64(__m512i a, __m512i b) {
    const __m512i m32 = _mm512_set1_epi64(0xffffffffLL);
    __m512i ah = _mm512_srli_epi64(a, 32), bh = _mm512_srli_epi64(b, 32);
    __m512i ll = _mm512_mul_epu32(a, b), hl = _mm512_mul_epu32(ah, b);
    __m512i lh = _mm512_mul_epu32(a, bh), hh = _mm512_mul_epu32(ah, bh);
    __m512i mid = _mm512_add_epi64(_mm512_srli_epi64(ll, 32), _mm512_and_si512(hl, m32));
    mid = _mm512_add_epi64(mid, _mm512_and_si512(lh, m32));
    __m512i hi = _mm512_add_epi64(hh, _mm512_srli_epi64(hl, 32));
    hi = _mm512_add_epi64(hi, _mm512_srli_epi64(lh, 32));
    return _mm512_add_epi64(hi, _mm512_srli_epi64(mid, 32));
}

__attribute__((target("avx512f,avx512dq"))) static inline __m512i shoup_lazy8(__m512i x, __m512i w, __m512i wp,
                                                                                   __m512i q) {
    return _mm512_sub_epi64(_mm512_mullo_epi64(x, w), _mm512_mullo_epi64(mulhi_u64(x, wp), q));
}

/* one stage (half-length t >= 8, m groups): forward (Cooley-Tukey) or inverse (Gentleman-Sande)
 * butterflies on lazily reduced values in [0, 2q); the group loop is shared, each butterfly loop
 * stays branch-free */
__attribute__((target("avx512f,avx512dq"))) static void ntt_stage8(uint64_t *a, Py_ssize_t m, Py_ssize_t t,
                                                                    uint64_t q, const uint64_t *w,
                                                                    const uint64_t *wp, int inverse) {
    const __m512i Q = _mm512_set1_epi64((long long)q), Q2 = _mm512_set1_epi64((long long)(2 * q));
    for (Py_ssize_t i = 0; i < m; i++) {
        const __m512i W = _mm512_set1_epi64((long long)w[m + i]), Wp = _mm512_set1_epi64((long long)wp[m + i]);
        uint64_t *x = a + 2 * i * t, *y = x + t;
        if (!inverse) {
            for (Py_ssize_t j = 0; j < t; j += 8) {
                __m512i u = _mm512_loadu_si512(x + j);
                u = _mm512_min_epu64(u, _mm512_sub_epi64(u, Q2));
                __m512i v = shoup_lazy8(_mm512_loadu_si512(y + j), W, Wp, Q);
                _mm512_storeu_si512(x + j, _mm512_add_epi64(u, v));
                _mm512_storeu_si512(y + j, _mm512_add_epi64(_mm512_sub_epi64(u, v), Q2));
            }
        } else {
            for (Py_ssize_t j = 0; j < t; j += 8) {
                __m512i u = _mm512_loadu_si512(x + j), v = _mm512_loadu_si512(y + j);
                __m512i s = _mm512_add_epi64(u, v);
                _mm512_storeu_si512(x + j, _mm512_min_epu64(s, _mm512_sub_epi64(s, Q2)));
                _mm512_storeu_si512(y + j, shoup_lazy8(_mm512_add_epi64(_mm512_sub_epi64(u, v), Q2), W, Wp, Q));
            }
        }
    }
}

/* Montgomery reduction of x·y (x, y < q), 8 lanes: as mont_reduce */
__attribute__((target("avx512f,avx512dq"))) static inline __m512i mont_mul8(__m512i x, __m512i y, __m512i q,
                                                                             __m512i qneg_inv) {
    __m512i lo = _mm512_mullo_epi64(x, y), hi = mulhi_u64(x, y);
    __m512i m = _mm512_mullo_epi64(lo, qneg_inv);
    __m512i carry = _mm512_maskz_set1_epi64(_mm512_test_epi64_mask(lo, lo), 1);
    __m512i r = _mm512_add_epi64(_mm512_add_epi64(hi, mulhi_u64(m, q)), carry);
    return _mm512_min_epu64(r, _mm512_sub_epi64(r, q));
}

/* modvec's products (op -1, 0, 1) on the first n - n % 8 elements */
__attribute__((target("avx512f,avx512dq"))) static void modvec_mul8(uint64_t *o, const uint64_t *x, const uint64_t *y,
                                                                     Py_ssize_t n, uint64_t q, uint64_t qneg_inv,
                                                                     uint64_t r2, int op) {
    const __m512i Q = _mm512_set1_epi64((long long)q), QI = _mm512_set1_epi64((long long)qneg_inv);
    const __m512i R2 = _mm512_set1_epi64((long long)r2);
    for (Py_ssize_t i = 0; i + 8 <= n; i += 8) {
        __m512i p = mont_mul8(mont_mul8(_mm512_loadu_si512(x + i), _mm512_loadu_si512(y + i), Q, QI), R2, Q, QI);
        if (op > 0) {
            p = _mm512_add_epi64(p, _mm512_loadu_si512(o + i));
            p = _mm512_min_epu64(p, _mm512_sub_epi64(p, Q));
        } else if (op < 0) {
            __m512i d = _mm512_sub_epi64(_mm512_loadu_si512(o + i), p);
            p = _mm512_min_epu64(d, _mm512_add_epi64(d, Q));
        }
        _mm512_storeu_si512(o + i, p);
    }
}

CPU_FEATURE_CHECK(ntt_simd_ok, __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"))
#else
#define NTT_SIMD 0
#endif

static void ntt_fwd_one(uint64_t *a, Py_ssize_t n, uint64_t q, const uint64_t *w, const uint64_t *wp) {
    const uint64_t q2 = 2 * q;
    Py_ssize_t t = n;
    for (Py_ssize_t m = 1; m < n; m <<= 1) {
        t >>= 1;
#if NTT_SIMD
        if (t >= 8 && ntt_simd_ok()) {
            ntt_stage8(a, m, t, q, w, wp, 0);
            continue;
        }
#endif
        for (Py_ssize_t i = 0; i < m; i++) {
            uint64_t W = w[m + i], Wp = wp[m + i];
            uint64_t *x = a + 2 * i * t, *y = x + t;
            for (Py_ssize_t j = 0; j < t; j++) {
                uint64_t u = x[j];
                u -= (u >= q2) ? q2 : 0;
                uint64_t v = shoup_lazy(y[j], W, Wp, q);
                x[j] = u + v;
                y[j] = u - v + q2;
            }
        }
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        uint64_t u = a[j];
        u -= (u >= q2) ? q2 : 0;
        a[j] = u - ((u >= q) ? q : 0);
    }
}

static void ntt_inv_one(uint64_t *a, Py_ssize_t n, uint64_t q, const uint64_t *w, const uint64_t *wp,
                        uint64_t ninv, uint64_t ninvp) {
    const uint64_t q2 = 2 * q;
    Py_ssize_t t = 1;
    for (Py_ssize_t m = n >> 1; m >= 1; m >>= 1) {
#if NTT_SIMD
        if (t >= 8 && ntt_simd_ok()) {
            ntt_stage8(a, m, t, q, w, wp, 1);
            t <<= 1;
            continue;
        }
#endif
        for (Py_ssize_t i = 0; i < m; i++) {
            uint64_t W = w[m + i], Wp = wp[m + i];
            uint64_t *x = a + 2 * i * t, *y = x + t;
            for (Py_ssize_t j = 0; j < t; j++) {
                uint64_t u = x[j], v = y[j];
                uint64_t s = u + v;
                x[j] = s - ((s >= q2) ? q2 : 0);
                y[j] = shoup_lazy(u - v + q2, W, Wp, q);
            }
        }
        t <<= 1;
    }
    for (Py_ssize_t j = 0; j < n; j++) {
        uint64_t u = shoup_lazy(a[j], ninv, ninvp, q);
        a[j] = u - ((u >= q) ? q : 0);
    }
}

static PyObject *ntt_run(PyObject *args, int inverse) {
    Py_buffer a, w, wp;
    unsigned long long q, ninv = 0, ninvp = 0;
    if (inverse ? !PyArg_ParseTuple(args, "w*Ky*y*KK", &a, &q, &w, &wp, &ninv, &ninvp)
                : !PyArg_ParseTuple(args, "w*Ky*y*", &a, &q, &w, &wp))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = w.len / 8;
    if (q == 0 || q >= (1ULL << 62) || n < 2 || (n & (n - 1)) || wp.len != w.len || a.len % (8 * n)) {
        PyErr_SetString(PyExc_ValueError, "ntt: a is (count, N) uint64, w and wp (N,) uint64 tables, N a power of "
                                          "two, 0 < q < 2^62");
        goto done;
    }
    {
        uint64_t *x = (uint64_t *)a.buf;
        const uint64_t *W = (const uint64_t *)w.buf, *Wp = (const uint64_t *)wp.buf;
        Py_ssize_t count = a.len / (8 * n);
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t c = 0; c < count; c++) {
            if (inverse)
                ntt_inv_one(x + c * n, n, q, W, Wp, ninv, ninvp);
            else
                ntt_fwd_one(x + c * n, n, q, W, Wp);
        }
        Py_END_ALLOW_THREADS
    }
    result = none();
done:
    return release(result, &a, &w, &wp, NULL);
}

static PyObject *ntt_fwd(PyObject *self, PyObject *args) { return ntt_run(args, 0); }

static PyObject *ntt_inv(PyObject *self, PyObject *args) { return ntt_run(args, 1); }

static inline uint64_t mont_reduce(unsigned __int128 x, uint64_t q, uint64_t qneg_inv) {
    uint64_t lo = (uint64_t)x, hi = (uint64_t)(x >> 64);
    uint64_t m = lo * qneg_inv;
    uint64_t r = hi + (uint64_t)(((unsigned __int128)m * q) >> 64) + (lo != 0);
    return r - ((r >= q) ? q : 0);
}

/* out = a·b, out + a·b, out − a·b, a + b or a − b mod q (op 0, 1, -1, 2, 3), elementwise on n
 * entries, for a, b (and out when read) in [0, q) */
static void modvec_block(uint64_t *o, const uint64_t *x, const uint64_t *y, Py_ssize_t n, uint64_t q,
                         uint64_t qneg_inv, uint64_t r2, int op) {
    if (op == 2) {
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t s = x[i] + y[i];
            o[i] = s - ((s >= q) ? q : 0);
        }
        return;
    }
    if (op == 3) {
        for (Py_ssize_t i = 0; i < n; i++)
            o[i] = x[i] - y[i] + ((x[i] < y[i]) ? q : 0);
        return;
    }
    Py_ssize_t i0 = 0;
#if NTT_SIMD
    if (ntt_simd_ok()) {
        modvec_mul8(o, x, y, n, q, qneg_inv, r2, op);
        i0 = n - n % 8;
    }
#endif
    for (Py_ssize_t i = i0; i < n; i++) {
        uint64_t p = mont_reduce((unsigned __int128)x[i] * y[i], q, qneg_inv);
        p = mont_reduce((unsigned __int128)p * r2, q, qneg_inv);
        if (op > 0) {
            p += o[i];
            p -= (p >= q) ? q : 0;
        } else if (op < 0) {
            p = o[i] - p + ((o[i] < p) ? q : 0);
        }
        o[i] = p;
    }
}

/* modvec over a (and out) of any length that is a multiple of b's: b repeats (one polynomial
 * times every row of a batch, without materialising the broadcast) */
static PyObject *modvec(PyObject *self, PyObject *args) {
    Py_buffer out, a, b;
    unsigned long long q, qneg_inv, r2;
    int op;
    if (!PyArg_ParseTuple(args, "w*y*y*KKKi", &out, &a, &b, &q, &qneg_inv, &r2, &op))
        return NULL;
    PyObject *result = NULL;
    if (!(q & 1) || q >= (1ULL << 62) || op < -1 || op > 3 || a.len % 8 || b.len % 8 || out.len != a.len ||
        (b.len == 0 ? a.len != 0 : a.len % b.len != 0)) {
        PyErr_SetString(PyExc_ValueError, "modvec: out, a are uint64 arrays of one size, a multiple of b's; "
                                          "q odd < 2^62, op in -1..3");
        goto done;
    }
    {
        uint64_t *o = (uint64_t *)out.buf;
        const uint64_t *x = (const uint64_t *)a.buf, *y = (const uint64_t *)b.buf;
        Py_ssize_t n = a.len / 8, nb = b.len / 8;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < n; r += nb)
            modvec_block(o + r, x + r, y, nb, q, qneg_inv, r2, op);
        Py_END_ALLOW_THREADS
    }
    result = none();
done:
    return release(result, &out, &a, &b, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * 7. The tweakable correlation-robust hash of the OT layer, fused, on AES-NI.
 *
 * H(x) = π(σ) ⊕ σ with σ = (xL ⊕ xR, xL ⊕ t) and π fixed-key AES-128 (Guo et al. 2020), as the
 * numpy paths compute it (protocols/ot/cot.crhash, ot_n.hash_rows, extensions._hash_words): there
 * every hash takes four array passes plus one call into OpenSSL per chunk; here one pass, eight
 * blocks in flight through the AES rounds.  Per input block i: (xL, xR) = x[i] ⊕ Δ (Δ optional),
 * t_i = tweaks[i] or base + i, and P expansions j with tweak t_i + j·2^56, of which the first k
 * words are kept (k = 2P or 2P − 1).  Same bytes as the numpy path: the block in memory is the AES
 * block (two little-endian words), as OpenSSL's ECB reads it.  Chosen at run time (AES-NI).
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <wmmintrin.h>
#define TCCR_AESNI 1

#define TCCR_EXPAND(k, rcon) tccr_expand_step((k), _mm_aeskeygenassist_si128((k), (rcon)))
__attribute__((target("aes,sse2"))) static inline __m128i tccr_expand_step(__m128i key, __m128i kg) {
    kg = _mm_shuffle_epi32(kg, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, kg);
}

/* AES-128 round keys of ``key`` */
__attribute__((target("aes,sse2"))) static void tccr_schedule(__m128i rk[11], const uint8_t *key) {
    rk[0] = _mm_loadu_si128((const __m128i *)key);
    rk[1] = TCCR_EXPAND(rk[0], 0x01);
    rk[2] = TCCR_EXPAND(rk[1], 0x02);
    rk[3] = TCCR_EXPAND(rk[2], 0x04);
    rk[4] = TCCR_EXPAND(rk[3], 0x08);
    rk[5] = TCCR_EXPAND(rk[4], 0x10);
    rk[6] = TCCR_EXPAND(rk[5], 0x20);
    rk[7] = TCCR_EXPAND(rk[6], 0x40);
    rk[8] = TCCR_EXPAND(rk[7], 0x80);
    rk[9] = TCCR_EXPAND(rk[8], 0x1b);
    rk[10] = TCCR_EXPAND(rk[9], 0x36);
}

/* h[u] = π(σ[u]) ⊕ σ[u] for g ≤ 8 blocks, their AES rounds interleaved */
__attribute__((target("aes,sse2"))) static inline void tccr_hash8(__m128i h[8], const __m128i sg[8], int g,
                                                                   const __m128i rk[11]) {
    for (int u = 0; u < g; u++)
        h[u] = _mm_xor_si128(sg[u], rk[0]);
    for (int r = 1; r < 10; r++)
        for (int u = 0; u < g; u++)
            h[u] = _mm_aesenc_si128(h[u], rk[r]);
    for (int u = 0; u < g; u++)
        h[u] = _mm_xor_si128(_mm_aesenclast_si128(h[u], rk[10]), sg[u]);
}

__attribute__((target("aes,sse2"))) static void tccr_run(uint64_t *out, const uint64_t *x, Py_ssize_t n,
                                                         const uint8_t *key, const uint64_t *tweaks, uint64_t base,
                                                         const uint64_t *delta, int P, int k) {
    __m128i rk[11];
    tccr_schedule(rk, key);
    const uint64_t d0 = delta ? delta[0] : 0, d1 = delta ? delta[1] : 0;
    Py_ssize_t i = 0; /* block and expansion of the next hash: running counters, no division */
    int j = 0;
    uint64_t xl = 0, xr = 0, t = 0;
    if (n) {
        xl = x[0] ^ d0, xr = x[1] ^ d1;
        t = tweaks ? tweaks[0] : base;
    }
    while (i < n) {
        __m128i sg[8], b[8];
        uint64_t *dst[8];
        int keep2[8], m = 0;
        for (; m < 8 && i < n; m++) {
            sg[m] = _mm_set_epi64x((long long)(xl ^ (t + ((uint64_t)j << 56))), (long long)(xl ^ xr));
            dst[m] = out + i * k + 2 * j;
            keep2[m] = 2 * j + 1 < k;
            if (++j == P) {
                j = 0;
                if (++i < n) {
                    xl = x[2 * i] ^ d0, xr = x[2 * i + 1] ^ d1;
                    t = tweaks ? tweaks[i] : base + (uint64_t)i;
                }
            }
        }
        tccr_hash8(b, sg, m, rk);
        for (int u = 0; u < m; u++) {
            if (keep2[u])
                _mm_storeu_si128((__m128i *)dst[u], b[u]);
            else
                dst[u][0] = (uint64_t)_mm_cvtsi128_si64(b[u]);
        }
    }
}

CPU_FEATURE_CHECK(tccr_ok, __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2"))
#else
#define TCCR_AESNI 0
#endif

static PyObject *tccr_available(PyObject *self, PyObject *args) {
#if TCCR_AESNI
    return PyBool_FromLong(tccr_ok());
#else
    return PyBool_FromLong(0);
#endif
}

/* 1 when the AES-NI kernels can run here; else 0 with a RuntimeError naming ``who``. */
static int aesni_ready(const char *who) {
#if TCCR_AESNI
    if (tccr_ok())
        return 1;
    PyErr_Format(PyExc_RuntimeError, "%s: this CPU has no AES-NI", who);
#else
    PyErr_Format(PyExc_RuntimeError, "%s: built without AES-NI support", who);
#endif
    return 0;
}

static PyObject *tccr(PyObject *self, PyObject *args) {
    Py_buffer out, x, key, tw, dl;
    unsigned long long base;
    int P, k;
    if (!PyArg_ParseTuple(args, "w*y*y*y*Ky*ii", &out, &x, &key, &tw, &base, &dl, &P, &k))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = x.len / 16;
    if (x.len % 16 || key.len != 16 || P < 1 || k < 2 * P - 1 || k > 2 * P || out.len != n * k * 8 ||
        (tw.len != 0 && tw.len != n * 8) || (dl.len != 0 && dl.len != 16)) {
        PyErr_SetString(PyExc_ValueError, "tccr: x (n,2) uint64, key 16 bytes, tweaks empty or (n,) uint64, delta "
                                          "empty or 2 uint64, out n*k uint64 with k in {2P-1, 2P}");
        goto done;
    }
    if (!aesni_ready("tccr"))
        goto done;
#if TCCR_AESNI
    {
        uint64_t *o = (uint64_t *)out.buf;
        const uint64_t *xp = (const uint64_t *)x.buf;
        const uint8_t *kp = (const uint8_t *)key.buf;
        const uint64_t *tp = tw.len ? (const uint64_t *)tw.buf : NULL;
        const uint64_t *dp = dl.len ? (const uint64_t *)dl.buf : NULL;
        Py_BEGIN_ALLOW_THREADS
        tccr_run(o, xp, n, kp, tp, (uint64_t)base, dp, P, k);
        Py_END_ALLOW_THREADS
    }
#endif
    result = none();
done:
    return release(result, &out, &x, &key, &tw, &dl, NULL);
}

/* 8. The pads of the 1-of-N OTs (protocols/ot/ot_n.NOTSender._pads), fused: per instance the N
 * combined keys Y_k = XOR_i (bit i of k ? B_i : A_i) by doubling in a stack buffer, then
 * H(Y_k) with tweak (base + j·N + k) | 2^63 through the same AES-NI hash as section 7, keeping the
 * low nbits of the low word, written row-major (instance, k) as uint8 (nbits ≤ 8) or uint64.
 * numpy builds the (N, c, 2) Y and tweak arrays and transposes the result: three passes over
 * N·c blocks that this one avoids. */
#if TCCR_AESNI
__attribute__((target("aes,sse2"))) static void ot_pads_run(void *out, int wide, const uint64_t *A,
                                                            const uint64_t *B, Py_ssize_t c, int m, int N,
                                                            const uint8_t *key, uint64_t base, uint64_t mask) {
    __m128i rk[11];
    tccr_schedule(rk, key);
    uint64_t Y[256][2];
    for (Py_ssize_t j = 0; j < c; j++) {
        /* A and B are (c, m, 2), as the key hashes come: key i of instance j at (j*m + i)*2 */
        const uint64_t *Aj = A + 2 * j * m, *Bj = B + 2 * j * m;
        Y[0][0] = Aj[0], Y[0][1] = Aj[1];
        Y[1][0] = Bj[0], Y[1][1] = Bj[1];
        for (int i = 1; i < m; i++) {
            const uint64_t *a = Aj + 2 * i, *b = Bj + 2 * i;
            int h = 1 << i;
            for (int t = 0; t < h; t++) {
                Y[h + t][0] = Y[t][0] ^ b[0], Y[h + t][1] = Y[t][1] ^ b[1];
                Y[t][0] ^= a[0], Y[t][1] ^= a[1];
            }
        }
        uint64_t tw0 = base + (uint64_t)j * (uint64_t)N;
        for (int k0 = 0; k0 < N; k0 += 8) {
            int g = N - k0 < 8 ? N - k0 : 8;
            __m128i sg[8], b[8];
            for (int u = 0; u < g; u++) {
                uint64_t yl = Y[k0 + u][0], yr = Y[k0 + u][1];
                uint64_t t = (tw0 + (uint64_t)(k0 + u)) | (1ULL << 63);
                sg[u] = _mm_set_epi64x((long long)(yl ^ t), (long long)(yl ^ yr));
            }
            tccr_hash8(b, sg, g, rk);
            for (int u = 0; u < g; u++) {
                uint64_t v = (uint64_t)_mm_cvtsi128_si64(b[u]) & mask;
                if (wide)
                    ((uint64_t *)out)[j * N + k0 + u] = v;
                else
                    ((uint8_t *)out)[j * N + k0 + u] = (uint8_t)v;
            }
        }
    }
}
#endif

static PyObject *ot_pads(PyObject *self, PyObject *args) {
    Py_buffer out, A, B, key;
    unsigned long long base, mask;
    int m, N, wide;
    if (!PyArg_ParseTuple(args, "w*y*y*y*iiKKi", &out, &A, &B, &key, &m, &N, &base, &mask, &wide))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t c = (m > 0) ? A.len / (16 * m) : 0;
    if (m < 1 || m > 8 || N != (1 << m) || key.len != 16 || A.len != B.len || A.len != c * 16 * m ||
        out.len != c * N * (wide ? 8 : 1)) {
        PyErr_SetString(PyExc_ValueError, "ot_pads: A, B (c, m, 2) uint64, N = 2^m <= 256, key 16 bytes, out (c, N) "
                                          "uint64 (wide) or uint8");
        goto done;
    }
    if (!aesni_ready("ot_pads"))
        goto done;
#if TCCR_AESNI
    {
        void *o = out.buf;
        const uint64_t *a = (const uint64_t *)A.buf, *b = (const uint64_t *)B.buf;
        const uint8_t *kp = (const uint8_t *)key.buf;
        Py_BEGIN_ALLOW_THREADS
        ot_pads_run(o, wide, a, b, c, m, N, kp, (uint64_t)base, (uint64_t)mask);
        Py_END_ALLOW_THREADS
    }
#endif
    result = none();
done:
    return release(result, &out, &A, &B, &key, NULL);
}

/* 9. acot_fields — the arithmetic COTs' elementwise passes (protocols/ot/extensions.acot) over the
 * (F, n, k) words of a batch (field f of OT i carries k values; every value of an OT shares its
 * choice bit and every value of a field its width mask m_f), one pass instead of numpy's four or
 * five over arrays of tens of MB when a row-broadcast product carries whole rows:
 *   mode 0 (sender's message):   out = (a − out + v) & m_f            (a = H(q), out = H(q ⊕ Δ), v = x)
 *   mode 1 (sender's share):     out = (d ? out + v : −out) & m_f     (out = H(q), v = x, d the peer's bit)
 *   mode 2 (receiver's share):   out = ±(out + (b ? v : 0)) & m_f, − when d  (out = H(t), v = the
 *                                 peer's correction, b its COT choice, d = chosen ⊕ b)
 * a, d, b may be empty where the mode does not read them. */
static void acot_pass(int mode, uint64_t *out, const uint64_t *a, const uint64_t *v, const uint8_t *d,
                      const uint8_t *b, const uint64_t *masks, Py_ssize_t F, Py_ssize_t n, Py_ssize_t k) {
    for (Py_ssize_t f = 0; f < F; f++) {
        const uint64_t m = masks[f];
        for (Py_ssize_t i = 0; i < n; i++) {
            const Py_ssize_t at = (f * n + i) * k;
            uint64_t *o = out + at;
            const uint64_t *vv = v + at;
            if (mode == 0) {
                const uint64_t *aa = a + at;
                for (Py_ssize_t j = 0; j < k; j++)
                    o[j] = (aa[j] - o[j] + vv[j]) & m;
            } else if (mode == 1) {
                const uint64_t dm = (uint64_t)0 - (uint64_t)(d[f * n + i] & 1);
                for (Py_ssize_t j = 0; j < k; j++)
                    o[j] = (dm - (o[j] ^ dm) + (vv[j] & dm)) & m;
            } else {
                const uint64_t dm = (uint64_t)0 - (uint64_t)(d[f * n + i] & 1);
                const uint64_t bm = (uint64_t)0 - (uint64_t)(b[f * n + i] & 1);
                for (Py_ssize_t j = 0; j < k; j++)
                    o[j] = ((((vv[j] & bm) + o[j]) ^ dm) - dm) & m;
            }
        }
    }
}

static PyObject *acot_fields(PyObject *self, PyObject *args) {
    int mode;
    Py_buffer out, a, v, d, b, masks;
    Py_ssize_t F, n, k;
    if (!PyArg_ParseTuple(args, "iw*y*y*y*y*y*nnn", &mode, &out, &a, &v, &d, &b, &masks, &F, &n, &k))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t words = F * n * k;
    if (mode < 0 || mode > 2 || F < 0 || n < 0 || k < 1 || out.len != words * 8 || v.len != words * 8 ||
        masks.len != F * 8 || (mode == 0 && a.len != words * 8) || (mode >= 1 && d.len != F * n) ||
        (mode == 2 && b.len != F * n)) {
        PyErr_SetString(PyExc_ValueError, "acot_fields: need mode 0..2, (F, n, k) uint64 out and v (and a in "
                                          "mode 0), (F, n) uint8 bits d (modes 1, 2) and b (mode 2), F masks");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    acot_pass(mode, (uint64_t *)out.buf, (const uint64_t *)a.buf, (const uint64_t *)v.buf, (const uint8_t *)d.buf,
              (const uint8_t *)b.buf, (const uint64_t *)masks.buf, F, n, k);
    Py_END_ALLOW_THREADS
    result = none();
done:
    return release(result, &out, &a, &v, &d, &b, &masks, NULL);
}

/* 10. pack_bytes — values of nbits ≤ 8 bits held in bytes (the 1-of-N OTs' masked tables,
 * protocols/ot/ot_n.pack_values) into one little-endian bit stream: numpy expands every byte to
 * nbits bytes and packs them back (3, 5, 6, 7 bits), two passes over 8× the data. */
static void pack_bytes_run(uint8_t *out, const uint8_t *in, Py_ssize_t n, int nbits) {
    const uint64_t mask = ((uint64_t)1 << nbits) - 1;
    uint64_t acc = 0;
    int fill = 0;
    Py_ssize_t o = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        acc |= ((uint64_t)in[i] & mask) << fill;
        fill += nbits;
        if (fill >= 56) { /* flush whole bytes, keep the rest */
            while (fill >= 8) {
                out[o++] = (uint8_t)acc;
                acc >>= 8;
                fill -= 8;
            }
        }
    }
    while (fill > 0) {
        out[o++] = (uint8_t)acc;
        acc >>= 8;
        fill -= 8;
    }
}

static PyObject *pack_bytes(PyObject *self, PyObject *args) {
    Py_buffer out, in;
    int nbits;
    if (!PyArg_ParseTuple(args, "w*y*i", &out, &in, &nbits))
        return NULL;
    PyObject *result = NULL;
    if (nbits < 1 || nbits > 8 || out.len != (in.len * nbits + 7) / 8) {
        PyErr_SetString(PyExc_ValueError, "pack_bytes: need 1 ≤ nbits ≤ 8 and ceil(n·nbits/8) output bytes");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    pack_bytes_run((uint8_t *)out.buf, (const uint8_t *)in.buf, in.len, nbits);
    Py_END_ALLOW_THREADS
    result = none();
done:
    return release(result, &out, &in, NULL);
}

/* 11. rot_table — the masked tables of a lookup on shares (protocols/lut.py through
 * protocols/ot/ot_n.RotatedTable): entry k of instance i is table[(shift_i + (k ⊕ d_i)) mod N],
 * with the millionaires' lowest-digit bit [gt_i > N − 1 − (k ⊕ d_i)] at bit gt_bit when gt is given,
 * XOR the owner's mask, XORed into the pads in place.  numpy's gather, comparison and two XORs
 * build (c, N) temporaries per step. */
static void rot_table_run(uint8_t *pads, Py_ssize_t c, Py_ssize_t N, const uint8_t *tab, const int64_t *shift,
                          const int64_t *d, const uint8_t *mask, const int64_t *gt, int gt_bit) {
    for (Py_ssize_t i = 0; i < c; i++) {
        uint8_t *row = pads + i * N;
        const int64_t s = shift[i], di = d[i], g = gt ? gt[i] : 0;
        const uint8_t m = mask[i];
        for (Py_ssize_t k = 0; k < N; k++) {
            const int64_t j = (int64_t)k ^ di;
            uint8_t v = tab[(s + j) & (N - 1)];
            if (gt)
                v |= (uint8_t)((g > (int64_t)N - 1 - j) << gt_bit);
            row[k] ^= (uint8_t)(v ^ m);
        }
    }
}

static PyObject *rot_table(PyObject *self, PyObject *args) {
    Py_buffer pads, tab, shift, d, mask, gt;
    int gt_bit;
    if (!PyArg_ParseTuple(args, "w*y*y*y*y*y*i", &pads, &tab, &shift, &d, &mask, &gt, &gt_bit))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t N = tab.len, c = mask.len;
    if (N < 1 || (N & (N - 1)) || pads.len != c * N || shift.len != c * 8 || d.len != c * 8 ||
        (gt.len && gt.len != c * 8) || gt_bit < 0 || gt_bit > 7) {
        PyErr_SetString(PyExc_ValueError, "rot_table: need (c, N) uint8 pads, N (a power of two) table bytes, "
                                          "c int64 shifts, d (and gt) and c mask bytes, 0 <= gt_bit < 8");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    rot_table_run((uint8_t *)pads.buf, c, N, (const uint8_t *)tab.buf, (const int64_t *)shift.buf,
                  (const int64_t *)d.buf, (const uint8_t *)mask.buf, gt.len ? (const int64_t *)gt.buf : NULL, gt_bit);
    Py_END_ALLOW_THREADS
    result = none();
done:
    return release(result, &pads, &tab, &shift, &d, &mask, &gt, NULL);
}

static PyMethodDef methods[] = {
    {"mulmod_const", mulmod_const, METH_VARARGS, "mulmod_const(out, a, c, q): out = a*c mod q (uint64, 128-bit product)."},
    {"mul128_const", mul128_const, METH_VARARGS, "mul128_const(hi, lo, a, c): (hi, lo) = the 128-bit product a*c."},
    {"pack_fields", pack_fields, METH_VARARGS,
     "pack_fields(out_words, values, widths_u8, n, k=1): the (F, n) values (or (F/k, n, k)) as n records of F "
     "fields in one bit stream."},
    {"unpack_fields", unpack_fields, METH_VARARGS,
     "unpack_fields(out_values, words, widths_u8, n, k=1): the inverse of pack_fields into out_values."},
    {"mac_int21", mac_int21, METH_VARARGS,
     "mac_int21(acc, x, lo, hi, T, n, K, offset): acc (T,K) int64 += x (T,n) int32 @ (lo + 65536*hi - offset)."},
    {"mac_tlimb", mac_tlimb, METH_VARARGS,
     "mac_tlimb(acc, x0, x1, raw, T, n, K, bits): acc (T,K) uint64 += x0@d0 + (x0@d1 + x1@d0) << bits, "
     "d0, d1 the balanced digits of raw (n,K) uint64."},
    {"int21_store", int21_store, METH_VARARGS,
     "int21_store(lo, hi, src, rows, cols, K, col0, p, keystream): centred residues (or keystream words "
     "made residues) of src (rows,cols) into the int21 parts lo/hi (rows,K) at column col0."},
    {"ntt_fwd", ntt_fwd, METH_VARARGS,
     "ntt_fwd(a, q, w, wp): in place, each row of a (count, N) uint64: negacyclic NTT mod q (bit-reversed out)."},
    {"ntt_inv", ntt_inv, METH_VARARGS,
     "ntt_inv(a, q, w, wp, ninv, ninvp): in place, the inverse of ntt_fwd (bit-reversed in, scaled by 1/N)."},
    {"modvec", modvec, METH_VARARGS,
     "modvec(out, a, b, q, qneg_inv, r2, op): out = a*b (op 0), out + a*b (1), out - a*b (-1), a + b (2) or "
     "a - b (3) mod q elementwise, b repeated over a's length (operands < q; products by Montgomery "
     "reduction, R = 2^64, r2 = R^2 mod q)."},
    {"tccr", tccr, METH_VARARGS,
     "tccr(out, x, key16, tweaks, base, delta, P, k): the OT layer's tweakable hash on AES-NI (see section 7)."},
    {"ot_pads", ot_pads, METH_VARARGS,
     "ot_pads(out, A, B, key16, m, N, base, mask, wide): the 1-of-N OT pads of section 8."},
    {"acot_fields", acot_fields, METH_VARARGS,
     "acot_fields(mode, out, a, v, d, b, masks, F, n, k): the arithmetic COTs' passes of section 9."},
    {"pack_bytes", pack_bytes, METH_VARARGS,
     "pack_bytes(out, values_u8, nbits): values < 2^nbits (nbits <= 8) as one little-endian bit stream."},
    {"rot_table", rot_table, METH_VARARGS,
     "rot_table(pads, table_u8, shift_i64, d_i64, mask_u8, gt_i64_or_empty, gt_bit): section 11's masked lookup tables."},
    {"tccr_available", tccr_available, METH_NOARGS, "tccr_available(): whether this CPU runs tccr (AES-NI)."},
    {"xor_rows", xor_rows, METH_VARARGS,
     "xor_rows(out, base, words, k, assign, delta_or_None, d=10): out[i] (^)= XOR_{j<d} base[(words[d*i+j]*k)>>32], "
     "then z -> z ^ LSB(z)*delta if delta is given."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native",
                                    "compiled kernels of protocols (see protocols/native.py)", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
