/* Resolve the reference lists of a closure graph document to record positions.
 *
 * resolve(paths, texts) takes the records' store paths (a list of str, in the
 * order the document lists them) and each record's "references" as its raw
 * JSON text (a list of bytes-like objects, e.g. msgspec.Raw).  When every path
 * is ASCII without a backslash and listed once, and every text is `null`, `[]`
 * or an array of strings written plainly (`["/nix/store/...","/nix/store/..."]`:
 * no escape, no white space) each of which is exactly one of the paths, it
 * returns `(counts, targets)`: native int64 arrays as bytes, the number of
 * references of each record and, record after record, the position in
 * `paths` of each reference.  Otherwise it returns None, and the caller
 * decodes the references the general way (which also words every error).
 *
 * Paths are found through an open-addressing table keyed by the 8 characters
 * that follow the directory (the start of a store hash), hashed by Fibonacci
 * hashing (Knuth, The Art of Computer Programming, vol. 3, section 6.4); every
 * candidate is compared byte for byte, so a reference matches only the path it
 * spells exactly.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t tag;
    int32_t pos; /* -1: empty */
} Slot;

static inline uint64_t load_word(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t slot_of(uint64_t word, int bits) {
    return (word * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
}

typedef struct {
    const char **data; /* each path's characters, inside blob */
    Py_ssize_t *size;
    char *blob;        /* all paths back to back: compared against in one compact block of memory */
    Slot *table;
    int bits;
    Py_ssize_t dir; /* where the hash starts: the first path's directory length */
} Index;

/* Position of the path spelled s[0:n], or -1. */
static inline Py_ssize_t find(const Index *ix, const char *s, Py_ssize_t n) {
    if (n < ix->dir + 8) {
        return -1;
    }
    uint64_t word = load_word(s + ix->dir);
    uint32_t tag = (uint32_t)(word >> 32);
    uint64_t mask = ((uint64_t)1 << ix->bits) - 1;
    for (uint64_t at = slot_of(word, ix->bits);; at = (at + 1) & mask) {
        const Slot *slot = &ix->table[at];
        if (slot->pos < 0) {
            return -1;
        }
        if (slot->tag == tag && ix->size[slot->pos] == n && memcmp(ix->data[slot->pos], s, (size_t)n) == 0) {
            return slot->pos;
        }
    }
}

/* 1: built; 0: not applicable (a path not ASCII, too short, with a backslash or listed twice); -1: error. */
static int build_index(Index *ix, PyObject *paths, Py_ssize_t n) {
    if (n > INT32_MAX / 2) {
        return 0;
    }
    ix->data = PyMem_Malloc(sizeof(char *) * (size_t)(n ? n : 1));
    ix->size = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n ? n : 1));
    ix->bits = 4;
    while (((Py_ssize_t)1 << ix->bits) < 2 * n) {
        ix->bits++;
    }
    ix->table = PyMem_Malloc(sizeof(Slot) * ((size_t)1 << ix->bits));
    if (!ix->data || !ix->size || !ix->table) {
        PyErr_NoMemory();
        return -1;
    }
    uint64_t mask = ((uint64_t)1 << ix->bits) - 1;
    for (uint64_t i = 0; i <= mask; i++) {
        ix->table[i].pos = -1;
        ix->table[i].tag = 0;
    }
    ix->dir = 0;
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyList_GET_ITEM(paths, i);
        if (!PyUnicode_CheckExact(p) || !PyUnicode_IS_ASCII(p)) {
            return 0;
        }
        total += (size_t)PyUnicode_GET_LENGTH(p);
    }
    ix->blob = PyMem_Malloc(total ? total : 1);
    if (!ix->blob) {
        PyErr_NoMemory();
        return -1;
    }
    char *at_blob = ix->blob;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PyList_GET_ITEM(paths, i);
        ix->size[i] = PyUnicode_GET_LENGTH(p);
        memcpy(at_blob, PyUnicode_1BYTE_DATA(p), (size_t)ix->size[i]);
        ix->data[i] = at_blob;
        at_blob += ix->size[i];
        if (i == 0) {
            const char *slash = NULL;
            for (Py_ssize_t j = 0; j < ix->size[0]; j++) {
                if (ix->data[0][j] == '/') {
                    slash = ix->data[0] + j;
                }
            }
            ix->dir = slash ? slash - ix->data[0] + 1 : 0;
        }
        if (ix->size[i] < ix->dir + 8 || memchr(ix->data[i], '\\', (size_t)ix->size[i]) != NULL) {
            return 0;
        }
        if (find(ix, ix->data[i], ix->size[i]) >= 0) {
            return 0; /* listed twice */
        }
        uint64_t word = load_word(ix->data[i] + ix->dir);
        uint64_t at = slot_of(word, ix->bits);
        while (ix->table[at].pos >= 0) {
            at = (at + 1) & mask;
        }
        ix->table[at].pos = (int32_t)i;
        ix->table[at].tag = (uint32_t)(word >> 32);
    }
    return 1;
}

/* Appends the references of one text; 1: done, 0: not applicable, -1: error set. */
static int scan_text(const Index *ix, const unsigned char *p, Py_ssize_t len, int64_t *count, int64_t **out,
                     Py_ssize_t *used, Py_ssize_t *cap) {
    const unsigned char *end = p + len;
    *count = 0;
    if (len == 4 && memcmp(p, "null", 4) == 0) {
        return 1;
    }
    if (len < 2 || p[0] != '[' || end[-1] != ']') {
        return 0;
    }
    if (len == 2) {
        return 1;
    }
    p++;
    end--; /* the closing bracket */
    for (;;) {
        if (p >= end || *p != '"') {
            return 0;
        }
        const unsigned char *s = ++p;
        const unsigned char *q = memchr(s, '"', (size_t)(end - s));
        if (q == NULL) {
            return 0;
        }
        /* The text up to the next quote is taken as the string: it is one when it
         * holds no backslash, which a string equal to a path cannot hold (paths
         * hold none); JSON allows no raw control character, and paths are ASCII. */
        Py_ssize_t at = find(ix, (const char *)s, q - s);
        if (at < 0) {
            return 0;
        }
        if (*used == *cap) {
            Py_ssize_t grown = *cap * 2 + 1024;
            int64_t *bigger = PyMem_Realloc(*out, sizeof(int64_t) * (size_t)grown);
            if (bigger == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            *out = bigger;
            *cap = grown;
        }
        (*out)[(*used)++] = at;
        (*count)++;
        p = q + 1;
        if (p == end) {
            return 1;
        }
        if (*p != ',') {
            return 0;
        }
        p++;
    }
}

static PyObject *resolve(PyObject *module, PyObject *args) {
    PyObject *paths, *texts;
    if (!PyArg_ParseTuple(args, "O!O!:resolve", &PyList_Type, &paths, &PyList_Type, &texts)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(paths);
    if (PyList_GET_SIZE(texts) != n) {
        Py_RETURN_NONE;
    }
    Index ix = {NULL, NULL, NULL, NULL, 0, 0};
    PyObject *counts = NULL, *result = NULL;
    int64_t *targets = NULL;
    Py_ssize_t used = 0, cap = 0;
    int state = build_index(&ix, paths, n);
    if (state <= 0) {
        goto done;
    }
    counts = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(int64_t) * n);
    if (counts == NULL) {
        state = -1;
        goto done;
    }
    int64_t *count = (int64_t *)PyBytes_AS_STRING(counts);
    for (Py_ssize_t k = 0; k < n && state == 1; k++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PyList_GET_ITEM(texts, k), &view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            state = 0;
            break;
        }
        state = scan_text(&ix, view.buf, view.len, &count[k], &targets, &used, &cap);
        PyBuffer_Release(&view);
    }
    if (state == 1) {
        PyObject *found = PyBytes_FromStringAndSize((const char *)targets, (Py_ssize_t)sizeof(int64_t) * used);
        if (found == NULL) {
            state = -1;
        } else {
            result = PyTuple_Pack(2, counts, found);
            Py_DECREF(found);
            if (result == NULL) {
                state = -1;
            }
        }
    }
done:
    Py_XDECREF(counts);
    PyMem_Free(targets);
    PyMem_Free(ix.data);
    PyMem_Free(ix.size);
    PyMem_Free(ix.blob);
    PyMem_Free(ix.table);
    if (state < 0) {
        return NULL;
    }
    if (result == NULL) {
        Py_RETURN_NONE;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"resolve", resolve, METH_VARARGS,
     "resolve(paths, texts) -> (counts, targets) | None\n\n"
     "Each record's references (raw JSON texts) as positions in paths; see the module source."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(module_doc,
             "Reference lists of a closure graph document resolved in C (see the source for the rules).\n"
             "\n"
             "Example:\n"
             "    >>> import numpy as np\n"
             "    >>> paths = [\"/s/aaaaaaaa-x\", \"/s/bbbbbbbb-y\"]\n"
             "    >>> counts, targets = resolve(paths, [b'[\"/s/bbbbbbbb-y\"]', b\"null\"])\n"
             "    >>> np.frombuffer(counts, dtype=np.int64).tolist(), np.frombuffer(targets, dtype=np.int64).tolist()\n"
             "    ([1, 0], [1])\n"
             "    >>> resolve(paths, [b'[ \"/s/aaaaaaaa-x\" ]', b\"[]\"]) is None  # white space: the general way\n"
             "    True\n");

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "layerlab.sources._refscan", module_doc, -1, methods,
};

PyMODINIT_FUNC PyInit__refscan(void) { return PyModule_Create(&module); }
