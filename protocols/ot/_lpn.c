/* The LPN expansion's inner loop (see protocols/ot/ferret.py, ``lpn_apply``, and the dual EA code's
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
#include <string.h>

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
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&base);
    PyBuffer_Release(&words);
    return result;
}

static PyMethodDef methods[] = {
    {"xor_rows", xor_rows, METH_VARARGS,
     "xor_rows(out, base, words, k, assign, delta_or_None, d=10): out[i] (^)= XOR_{j<d} base[(words[d*i+j]*k)>>32], "
     "then z -> z ^ LSB(z)*delta if delta is given."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_lpn", "LPN expansion kernel (see ferret.lpn_apply)", -1,
                                    methods};

PyMODINIT_FUNC PyInit__lpn(void) { return PyModule_Create(&module); }
