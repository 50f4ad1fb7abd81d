/* Look counts up in a popularity document without decoding it.
 *
 * A popularity table (Nixery's popularity.json) is a JSON object of
 * "name-version" -> count with tens of thousands of entries, of which a
 * closure of a few hundred paths reads a few hundred.  Decoding the whole
 * object makes one string, one integer and one dict entry per entry; this
 * module instead checks the document in one pass and keeps, per entry, only
 * where its key lies in the document and its count.
 *
 * index(data) takes the document's bytes.  When the document is an object
 * whose keys are ASCII strings (under 64 KiB) written without escapes or control characters
 * and whose values are integers from 0 to 2**32 - 1 (white
 * space as JSON allows it), it returns (entries, table): the number of
 * distinct keys and an open-addressing hash table as bytes, each slot the
 * key's offset in the document, its length and hash bits, and its count.  A key written
 * twice keeps its last count, as a JSON decoder's dict does.  For anything
 * else, valid JSON or not, it returns None, and the caller decodes the
 * document the general way (which also words every error).
 *
 * lookup(data, table, names, default) returns a tuple with each name's count,
 * or default for a name the table does not hold.  Keys are hashed eight bytes
 * at a time and finished with MurmurHash3's 64-bit finaliser; every candidate
 * is compared byte for byte, so a name matches only the key it spells exactly.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint32_t off;   /* where the key's characters start in the document (never 0); 0: a free slot */
    uint32_t check; /* the key's length (16 bits) and 16 more bits of its hash: most mismatches stop here */
    uint32_t count;
} Slot;

static inline uint32_t check_of(uint64_t hash, Py_ssize_t n) { return ((uint32_t)n << 16) | (uint32_t)(hash >> 48); }

static inline uint64_t hash_key(const unsigned char *s, Py_ssize_t n) {
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    if (i < n) {
        uint64_t w = 0;
        for (int shift = 0; i < n; i++, shift += 8) {
            w |= (uint64_t)s[i] << shift;
        }
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    }
    /* MurmurHash3's finaliser (Appleby): every input bit reaches the low bits the table uses */
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
}

/* Whether the key stored at off spells s[0:n]: keys hold no quote, so one ends at the first quote after it. */
static inline int same_key(const unsigned char *p, Py_ssize_t size, uint32_t off, const unsigned char *s, Py_ssize_t n) {
    return (Py_ssize_t)off + n < size && p[off + n] == '"' && memcmp(p + off, s, (size_t)n) == 0;
}

static inline int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline Py_ssize_t skip_space(const unsigned char *p, Py_ssize_t at, Py_ssize_t n) {
    while (at < n && is_space(p[at])) {
        at++;
    }
    return at;
}

typedef struct {
    uint32_t off; /* 0: none */
    Py_ssize_t len;
    uint64_t hash;
    uint32_t count;
} Entry;

/* Put an entry into the table; 1 when its key is new. */
static inline int put(const unsigned char *p, Py_ssize_t n, Slot *slots, uint64_t mask, const Entry *e) {
    uint32_t check = check_of(e->hash, e->len);
    for (uint64_t i = e->hash & mask;; i = (i + 1) & mask) {
        Slot *slot = &slots[i];
        if (slot->off == 0) {
            slot->off = e->off;
            slot->check = check;
            slot->count = e->count;
            return 1;
        }
        if (slot->check == check && same_key(p, n, slot->off, p + e->off, e->len)) {
            slot->count = e->count; /* written twice: the last count stands */
            return 0;
        }
    }
}

/* Fill the zeroed table (mask + 1 slots, at least twice the number of entries) from the document.
 * Returns the number of distinct keys, or -1 when the document is not in the simple form. */
static Py_ssize_t fill(const unsigned char *p, Py_ssize_t n, Slot *slots, uint64_t mask) {
    Py_ssize_t distinct = 0;
    Entry pending = {0, 0, 0, 0};
    Py_ssize_t at = skip_space(p, 0, n);
    if (at >= n || p[at] != '{') {
        return -1;
    }
    at = skip_space(p, at + 1, n);
    if (at < n && p[at] == '}') {
        at++;
    } else {
        for (;;) {
            if (at >= n || p[at] != '"') {
                return -1;
            }
            Py_ssize_t start = ++at;
            const unsigned char *close = memchr(p + at, '"', (size_t)(n - at));
            if (!close) {
                return -1;
            }
            Py_ssize_t len = close - (p + start);
            unsigned bad = 0; /* an escape, a control character or a byte beyond ASCII */
            for (Py_ssize_t i = 0; i < len; i++) {
                unsigned char c = p[start + i];
                bad |= (c == '\\') | (c < 0x20) | (c >= 0x80);
            }
            if (bad || len > 0xFFFF) {
                return -1;
            }
            at = skip_space(p, start + len + 1, n);
            if (at >= n || p[at] != ':') {
                return -1;
            }
            at = skip_space(p, at + 1, n);
            if (at >= n || p[at] < '0' || p[at] > '9') {
                return -1; /* negative, fractional, quoted or not a number: the general decoder words it */
            }
            Py_ssize_t first = at;
            uint64_t value = 0;
            while (at < n && p[at] >= '0' && p[at] <= '9' && at - first < 11) {
                value = value * 10 + (uint64_t)(p[at] - '0');
                at++;
            }
            if (value > UINT32_MAX || (at < n && p[at] >= '0' && p[at] <= '9')) {
                return -1; /* a count past 32 bits */
            }
            if ((at - first > 1 && p[first] == '0') || (at < n && (p[at] == '.' || p[at] == 'e' || p[at] == 'E'))) {
                return -1;
            }
            /* The slot is fetched while the next entry is read, and filled after it. */
            uint64_t hash = hash_key(p + start, len);
            __builtin_prefetch(&slots[hash & mask], 1);
            if (pending.off) {
                distinct += put(p, n, slots, mask, &pending);
            }
            pending.off = (uint32_t)start;
            pending.len = len;
            pending.hash = hash;
            pending.count = (uint32_t)value;
            at = skip_space(p, at, n);
            if (at < n && p[at] == ',') {
                at = skip_space(p, at + 1, n);
                continue;
            }
            if (at < n && p[at] == '}') {
                at++;
                break;
            }
            return -1;
        }
    }
    if (skip_space(p, at, n) != n) {
        return -1;
    }
    if (pending.off) {
        distinct += put(p, n, slots, mask, &pending);
    }
    return distinct;
}

static PyObject *index_document(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len;
    if (n >= (Py_ssize_t)UINT32_MAX) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    /* Every entry has a colon: their number bounds the number of entries. */
    Py_ssize_t colons = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        colons += p[i] == ':';
    }
    int bits = 4;
    while (((Py_ssize_t)1 << bits) < 2 * colons) {
        bits++;
    }
    Py_ssize_t size = (Py_ssize_t)1 << bits;
    PyObject *table = PyBytes_FromStringAndSize(NULL, size * (Py_ssize_t)sizeof(Slot));
    if (!table) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Slot *slots = (Slot *)PyBytes_AS_STRING(table);
    memset(slots, 0, (size_t)size * sizeof(Slot));
    Py_ssize_t distinct = fill(p, n, slots, (uint64_t)size - 1);
    PyBuffer_Release(&view);
    if (distinct < 0) {
        Py_DECREF(table);
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(nN)", distinct, table);
}

static PyObject *lookup(PyObject *module, PyObject *args) {
    Py_buffer data, table;
    PyObject *names, *missing;
    if (!PyArg_ParseTuple(args, "y*y*OO:lookup", &data, &table, &names, &missing)) {
        return NULL;
    }
    PyObject *result = NULL, *seq = NULL;
    Py_ssize_t size = table.len / (Py_ssize_t)sizeof(Slot);
    if (size == 0 || (size & (size - 1)) != 0 || size * (Py_ssize_t)sizeof(Slot) != table.len) {
        PyErr_SetString(PyExc_ValueError, "not a table made by index()");
        goto done;
    }
    seq = PySequence_Fast(names, "names must be a sequence of str");
    if (!seq) {
        goto done;
    }
    const unsigned char *p = data.buf;
    const Slot *slots = table.buf;
    uint64_t mask = (uint64_t)size - 1;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    result = PyTuple_New(count);
    if (!result) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t n;
        const char *name = PyUnicode_Check(items[i]) ? PyUnicode_AsUTF8AndSize(items[i], &n) : NULL;
        if (!name) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "names must be str, not %.100s", Py_TYPE(items[i])->tp_name);
            }
            Py_CLEAR(result);
            goto done;
        }
        PyObject *value = NULL;
        uint64_t hash = hash_key((const unsigned char *)name, n);
        uint32_t check = check_of(hash, n);
        for (uint64_t at = hash & mask; n <= 0xFFFF; at = (at + 1) & mask) {
            const Slot *s = &slots[at];
            if (s->off == 0) {
                break;
            }
            if (s->check == check && same_key(p, data.len, s->off, (const unsigned char *)name, n)) {
                value = PyLong_FromUnsignedLong(s->count);
                if (!value) {
                    Py_CLEAR(result);
                    goto done;
                }
                break;
            }
        }
        if (!value) {
            value = Py_NewRef(missing);
        }
        PyTuple_SET_ITEM(result, i, value);
    }
done:
    Py_XDECREF(seq);
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    return result;
}

static PyMethodDef methods[] = {
    {"index", index_document, METH_O,
     "index(data, /) -> (entries, table) or None\n\n"
     "Check a popularity document (bytes) and index its keys; None when it is not in the simple form.\n\n"
     "Example:\n"
     "    >>> doc = b'{\"glibc-2.36\": 900, \"hello-2.12\": 3, \"glibc-2.36\": 901}'\n"
     "    >>> entries, table = index(doc)\n"
     "    >>> entries\n"
     "    2\n"
     "    >>> index(b'{\"caf\\\\u00e9\": 1}') is None  # an escape: the general way\n"
     "    True\n"},
    {"lookup", lookup, METH_VARARGS,
     "lookup(data, table, names, default, /) -> tuple\n\n"
     "The count of each name in the document indexed by table, or default where it has none.\n\n"
     "Example:\n"
     "    >>> doc = b'{\"glibc-2.36\": 900, \"hello-2.12\": 3}'\n"
     "    >>> lookup(doc, index(doc)[1], [\"hello-2.12\", \"glibc-2.36\", \"zlib-1\"], 1)\n"
     "    (3, 900, 1)\n"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_popindex",
    "Counts of a popularity document looked up without decoding it (see the source's header).", -1, methods,
};

PyMODINIT_FUNC PyInit__popindex(void) { return PyModule_Create(&module); }
