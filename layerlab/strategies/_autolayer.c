/* nixpkgs dockerTools' auto-layer on a small closure graph, in C.
 *
 * layers(refs, nar, limit) takes each path's references (a tuple of tuples of
 * path indices; self-references and cycles allowed), each path's narSize (a
 * tuple of ints) and the limit on distinct labels.  It returns
 * `(layers, primaries, k)`: the `k` primaries (path indices, in the candidate
 * order) and, in output order, one `(closure size, members, layer size, reach
 * set, root)` tuple per layer, exactly as `layerlab.strategies.auto_layer._layers`
 * gives them (that module's docstring explains the algorithm and why a path's
 * label follows from its reach set).  On input it does not take (not tuples, an
 * index out of range, a negative size, sizes whose sum exceeds 63 bits, a graph
 * above MAX_PATHS paths) it returns None and the caller runs the Python code.
 *
 * Steps: every path's closure as a bit set, from the strongly connected
 * components found by Tarjan's algorithm (R. Tarjan, "Depth-first search and
 * linear graph algorithms", SIAM J. Comput. 1(2), 1972), which emits a
 * component after every component it reaches, so each component's closure is
 * its members and the closures of the components they reference; candidates
 * by descending narSize, ties by descending index; then the paths are split
 * candidate by candidate (each class of equal reach sets into the paths inside
 * and outside the candidate's closure) until one more candidate would make more
 * than `limit` classes; a class's closure size is the narSize sum over the union
 * of its members' closures.  No global state: everything is allocated per call
 * and freed before it returns.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Above this many paths the bit sets (paths squared bits) would grow too large: the caller's way. */
#define MAX_PATHS 16384

typedef struct {
    int64_t size;
    int32_t index;
} Candidate;

typedef struct {
    int64_t closure;
    int32_t first;
    int32_t cls;
} Rank;

/* Candidate a comes before b: the larger narSize, then the larger index. */
static inline int before(const Candidate *a, const Candidate *b) {
    return a->size > b->size || (a->size == b->size && a->index > b->index);
}

/* Binary heap (J. W. J. Williams, "Algorithm 232: Heapsort", CACM 7(6), 1964): the candidates are taken
 * one at a time and a run takes a few more than its limit, so the order is never sorted in full. */
static void sift_down(Candidate *heap, Py_ssize_t size, Py_ssize_t at) {
    Candidate moving = heap[at];
    for (;;) {
        Py_ssize_t child = 2 * at + 1;
        if (child >= size) {
            break;
        }
        if (child + 1 < size && before(&heap[child + 1], &heap[child])) {
            child++;
        }
        if (!before(&heap[child], &moving)) {
            break;
        }
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = moving;
}

static int32_t take_first(Candidate *heap, Py_ssize_t *size) {
    int32_t out = heap[0].index;
    heap[0] = heap[--*size];
    sift_down(heap, *size, 0);
    return out;
}

static int by_rank(const void *a, const void *b) {
    const Rank *x = a, *y = b;
    if (x->closure != y->closure) {
        return x->closure < y->closure ? -1 : 1;
    }
    return x->first < y->first ? -1 : (x->first > y->first ? 1 : 0);
}

typedef struct {
    Py_ssize_t n, words;
    int64_t *nar;
    Py_ssize_t *start; /* references of path v: target[start[v] .. start[v + 1]] */
    int32_t *target;
    int32_t *comp;      /* each path's component */
    uint64_t *closure;  /* words per component */
    int32_t *order;     /* candidate order */
    int32_t *cls;       /* each path's class */
    /* scratch */
    int32_t *index, *low, *stack, *work;
    Py_ssize_t *edge;
    char *on_stack;
} Run;

static void run_free(Run *r) {
    PyMem_Free(r->nar);
    PyMem_Free(r->start);
    PyMem_Free(r->target);
    PyMem_Free(r->comp);
    PyMem_Free(r->closure);
    PyMem_Free(r->order);
    PyMem_Free(r->cls);
    PyMem_Free(r->index);
    PyMem_Free(r->low);
    PyMem_Free(r->stack);
    PyMem_Free(r->work);
    PyMem_Free(r->edge);
    PyMem_Free(r->on_stack);
}

static void *alloc(size_t count, size_t size) {
    return PyMem_Calloc(count ? count : 1, size);
}

/* An int in 0..max into *out.  1: read; 0: not taken (not an int, or out of range); -1: error set. */
static int read_count(PyObject *obj, long long max, long long *out) {
    if (!PyLong_Check(obj)) {
        return 0;
    }
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || value < 0 || value > max) {
        return 0;
    }
    *out = value;
    return 1;
}

/* 1: read; 0: not taken; -1: error set. */
static int read_input(Run *r, PyObject *refs, PyObject *nar) {
    Py_ssize_t n = r->n;
    r->nar = alloc((size_t)n, sizeof(int64_t));
    r->start = alloc((size_t)n + 1, sizeof(Py_ssize_t));
    if (!r->nar || !r->start) {
        PyErr_NoMemory();
        return -1;
    }
    int64_t total = 0;
    Py_ssize_t edges = 0;
    for (Py_ssize_t v = 0; v < n; v++) {
        long long value;
        int got = read_count(PyTuple_GET_ITEM(nar, v), INT64_MAX - total, &value);
        if (got <= 0) {
            return got;
        }
        total += value;
        r->nar[v] = value;
        PyObject *out = PyTuple_GET_ITEM(refs, v);
        if (!PyTuple_Check(out)) {
            return 0;
        }
        r->start[v] = edges;
        edges += PyTuple_GET_SIZE(out);
    }
    r->start[n] = edges;
    r->target = alloc((size_t)edges, sizeof(int32_t));
    if (!r->target) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t v = 0; v < n; v++) {
        PyObject *out = PyTuple_GET_ITEM(refs, v);
        Py_ssize_t m = PyTuple_GET_SIZE(out);
        for (Py_ssize_t e = 0; e < m; e++) {
            long long at;
            int got = read_count(PyTuple_GET_ITEM(out, e), (long long)n - 1, &at);
            if (got <= 0) {
                return got;
            }
            r->target[r->start[v] + e] = (int32_t)at;
        }
    }
    return 1;
}

/* Components by an iterative Tarjan's search and each component's closure; 0 or -1 (error set). */
static int closures(Run *r) {
    Py_ssize_t n = r->n, words = r->words;
    r->comp = alloc((size_t)n, sizeof(int32_t));
    r->index = alloc((size_t)n, sizeof(int32_t));
    r->low = alloc((size_t)n, sizeof(int32_t));
    r->stack = alloc((size_t)n, sizeof(int32_t));
    r->work = alloc((size_t)n, sizeof(int32_t));
    r->edge = alloc((size_t)n, sizeof(Py_ssize_t));
    r->on_stack = alloc((size_t)n, 1);
    r->closure = alloc((size_t)n * (size_t)words, sizeof(uint64_t));
    if (!r->comp || !r->index || !r->low || !r->stack || !r->work || !r->edge || !r->on_stack || !r->closure) {
        PyErr_NoMemory();
        return -1;
    }
    int32_t counter = 1, comps = 0;
    Py_ssize_t depth = 0, top = 0; /* work stack (the search path) and Tarjan's stack */
    for (Py_ssize_t root = 0; root < n; root++) {
        if (r->index[root]) {
            continue;
        }
        r->index[root] = r->low[root] = counter++;
        r->stack[top++] = (int32_t)root;
        r->on_stack[root] = 1;
        r->work[depth] = (int32_t)root;
        r->edge[depth++] = r->start[root];
        while (depth) {
            int32_t v = r->work[depth - 1];
            Py_ssize_t e = r->edge[depth - 1];
            if (e < r->start[v + 1]) {
                r->edge[depth - 1] = e + 1;
                int32_t w = r->target[e];
                if (!r->index[w]) {
                    r->index[w] = r->low[w] = counter++;
                    r->stack[top++] = w;
                    r->on_stack[w] = 1;
                    r->work[depth] = w;
                    r->edge[depth++] = r->start[w];
                } else if (r->on_stack[w] && r->index[w] < r->low[v]) {
                    r->low[v] = r->index[w];
                }
                continue;
            }
            depth--;
            if (depth && r->low[v] < r->low[r->work[depth - 1]]) {
                r->low[r->work[depth - 1]] = r->low[v];
            }
            if (r->low[v] != r->index[v]) {
                continue;
            }
            /* v roots a component: the stack down to v; every component it reaches is done. */
            uint64_t *bits = r->closure + (size_t)comps * (size_t)words;
            Py_ssize_t from = top;
            do {
                from--;
                r->comp[r->stack[from]] = comps;
                r->on_stack[r->stack[from]] = 0;
            } while (r->stack[from] != v);
            for (Py_ssize_t s = from; s < top; s++) {
                int32_t u = r->stack[s];
                bits[u >> 6] |= (uint64_t)1 << (u & 63);
            }
            /* A path already in the bit set came with its closure (a union of closures is closed). */
            for (Py_ssize_t s = from; s < top; s++) {
                int32_t u = r->stack[s];
                for (Py_ssize_t f = r->start[u]; f < r->start[u + 1]; f++) {
                    int32_t w = r->target[f];
                    if (!(bits[w >> 6] >> (w & 63) & 1)) {
                        const uint64_t *other = r->closure + (size_t)r->comp[w] * (size_t)words;
                        for (Py_ssize_t i = 0; i < words; i++) {
                            bits[i] |= other[i];
                        }
                    }
                }
            }
            top = from;
            comps++;
        }
    }
    return 0;
}

/* The reach set of path d over the first k candidates (rows: their closures), as a Python int. */
static PyObject *reach_of(const uint64_t *const *rows, int32_t d, Py_ssize_t k) {
    Py_ssize_t digits = (k + 3) / 4;
    char *text = PyMem_Malloc((size_t)digits + 2);
    if (!text) {
        return PyErr_NoMemory();
    }
    text[0] = '0';
    for (Py_ssize_t i = 0; i < digits; i++) {
        int nibble = 0;
        for (int b = 0; b < 4; b++) {
            Py_ssize_t j = 4 * (digits - 1 - i) + b;
            if (j < k && (rows[j][d >> 6] >> (d & 63) & 1)) {
                nibble |= 1 << b;
            }
        }
        text[i + 1] = "0123456789abcdef"[nibble];
    }
    text[digits + 1] = '\0';
    PyObject *out = PyLong_FromString(text, NULL, 16);
    PyMem_Free(text);
    return out;
}

static PyObject *layers(PyObject *module, PyObject *args) {
    PyObject *refs, *nar;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!O!n:layers", &PyTuple_Type, &refs, &PyTuple_Type, &nar, &limit)) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(refs);
    if (PyTuple_GET_SIZE(nar) != n || n > MAX_PATHS) {
        Py_RETURN_NONE;
    }
    Run r;
    memset(&r, 0, sizeof(r));
    r.n = n;
    r.words = (n + 63) / 64;
    PyObject *result = NULL;
    Candidate *candidates = NULL;
    Rank *ranks = NULL;
    int32_t *split = NULL, *first = NULL, *count = NULL, *root = NULL, *members = NULL, *offset = NULL;
    int32_t *csize = NULL, *inside = NULL;
    uint64_t *scratch = NULL, **rows = NULL;
    int state = read_input(&r, refs, nar);
    if (state <= 0) {
        goto done;
    }
    if (closures(&r) < 0) {
        state = -1;
        goto done;
    }
    state = -1;
    candidates = alloc((size_t)n, sizeof(Candidate));
    r.order = alloc((size_t)n, sizeof(int32_t));
    r.cls = alloc((size_t)n, sizeof(int32_t));
    split = alloc((size_t)n + 1, sizeof(int32_t));
    csize = alloc((size_t)n + 1, sizeof(int32_t));
    inside = alloc((size_t)n + 1, sizeof(int32_t));
    if (!candidates || !r.order || !r.cls || !split || !csize || !inside) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t v = 0; v < n; v++) {
        candidates[v].size = r.nar[v];
        candidates[v].index = (int32_t)v;
    }
    Py_ssize_t heap_size = n;
    for (Py_ssize_t at = n / 2 - 1; at >= 0; at--) {
        sift_down(candidates, n, at);
    }

    /* Split the classes candidate by candidate while they stay within the limit: a class
     * splits when the candidate's closure holds some of its members but not all. */
    Py_ssize_t classes = 1, k = 0;
    csize[0] = (int32_t)n;
    for (; k < n; k++) {
        r.order[k] = take_first(candidates, &heap_size);
        const uint64_t *row = r.closure + (size_t)r.comp[r.order[k]] * (size_t)r.words;
        memset(inside, 0, sizeof(int32_t) * (size_t)classes);
        for (Py_ssize_t i = 0; i < r.words; i++) {
            for (uint64_t word = row[i]; word; word &= word - 1) {
                inside[r.cls[64 * i + __builtin_ctzll(word)]]++;
            }
        }
        Py_ssize_t more = 0;
        for (Py_ssize_t c = 0; c < classes; c++) {
            more += inside[c] && inside[c] < csize[c];
        }
        if (classes + more > limit) {
            break;
        }
        Py_ssize_t next = classes;
        for (Py_ssize_t c = 0; c < classes; c++) {
            if (inside[c] && inside[c] < csize[c]) {
                split[c] = (int32_t)next;
                csize[next++] = inside[c];
                csize[c] -= inside[c];
            } else {
                split[c] = -1;
            }
        }
        if (more) {
            for (Py_ssize_t i = 0; i < r.words; i++) {
                for (uint64_t word = row[i]; word; word &= word - 1) {
                    Py_ssize_t d = 64 * i + __builtin_ctzll(word);
                    if (split[r.cls[d]] >= 0) {
                        r.cls[d] = split[r.cls[d]];
                    }
                }
            }
        }
        classes = next;
    }
    if (!n) {
        classes = 0;
    }

    /* Each class's members (ascending), own size, root and closure size. */
    first = alloc((size_t)classes, sizeof(int32_t));
    count = alloc((size_t)classes, sizeof(int32_t));
    root = alloc((size_t)classes, sizeof(int32_t));
    offset = alloc((size_t)classes + 1, sizeof(int32_t));
    members = alloc((size_t)n, sizeof(int32_t));
    ranks = alloc((size_t)classes, sizeof(Rank));
    scratch = alloc((size_t)r.words, sizeof(uint64_t));
    rows = alloc((size_t)k, sizeof(uint64_t *));
    if (!first || !count || !root || !offset || !members || !ranks || !scratch || !rows) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        root[c] = -1;
    }
    for (Py_ssize_t d = n - 1; d >= 0; d--) {
        first[r.cls[d]] = (int32_t)d;
        count[r.cls[d]]++;
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        offset[c + 1] = offset[c] + count[c];
        count[c] = 0;
    }
    for (Py_ssize_t d = 0; d < n; d++) {
        int32_t c = r.cls[d];
        members[offset[c] + count[c]++] = (int32_t)d;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        root[r.cls[r.order[j]]] = r.order[j]; /* on one cycle: the latest primary */
        rows[j] = r.closure + (size_t)r.comp[r.order[j]] * (size_t)r.words;
    }
    for (Py_ssize_t c = 0; c < classes; c++) {
        memset(scratch, 0, sizeof(uint64_t) * (size_t)r.words);
        for (int32_t m = offset[c]; m < offset[c + 1]; m++) {
            int32_t d = members[m];
            if (scratch[d >> 6] >> (d & 63) & 1) {
                continue; /* its closure is in the union already */
            }
            const uint64_t *bits = r.closure + (size_t)r.comp[d] * (size_t)r.words;
            for (Py_ssize_t i = 0; i < r.words; i++) {
                scratch[i] |= bits[i];
            }
        }
        int64_t total = 0;
        for (Py_ssize_t i = 0; i < r.words; i++) {
            uint64_t word = scratch[i];
            while (word) {
                total += r.nar[64 * i + __builtin_ctzll(word)];
                word &= word - 1;
            }
        }
        ranks[c].closure = total;
        ranks[c].first = first[c];
        ranks[c].cls = (int32_t)c;
    }
    qsort(ranks, (size_t)classes, sizeof(Rank), by_rank);

    PyObject *out = PyList_New(classes);
    if (!out) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < classes; i++) {
        int32_t c = ranks[i].cls;
        PyObject *list = PyList_New(offset[c + 1] - offset[c]);
        int64_t own = 0;
        if (list) {
            for (int32_t m = offset[c]; m < offset[c + 1]; m++) {
                PyObject *d = PyLong_FromLong(members[m]);
                if (!d) {
                    Py_CLEAR(list);
                    break;
                }
                PyList_SET_ITEM(list, m - offset[c], d);
                own += r.nar[members[m]];
            }
        }
        PyObject *item = NULL;
        if (list) {
            PyObject *reach = reach_of((const uint64_t *const *)rows, first[c], k);
            if (reach) {
                if (root[c] >= 0) {
                    item = Py_BuildValue("(LNLNi)", (long long)ranks[i].closure, list, (long long)own, reach, root[c]);
                } else {
                    item = Py_BuildValue("(LNLNO)", (long long)ranks[i].closure, list, (long long)own, reach, Py_None);
                }
                list = NULL; /* the N format took it, built or not */
            }
            Py_XDECREF(list);
        }
        if (!item) {
            Py_DECREF(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, item);
    }
    PyObject *primaries = PyList_New(k);
    if (!primaries) {
        Py_DECREF(out);
        goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        PyObject *p = PyLong_FromLong(r.order[j]);
        if (!p) {
            Py_DECREF(primaries);
            Py_DECREF(out);
            goto done;
        }
        PyList_SET_ITEM(primaries, j, p);
    }
    result = Py_BuildValue("(NNn)", out, primaries, k);
    state = result ? 1 : -1;
done:
    run_free(&r);
    PyMem_Free(candidates);
    PyMem_Free(ranks);
    PyMem_Free(split);
    PyMem_Free(first);
    PyMem_Free(count);
    PyMem_Free(root);
    PyMem_Free(members);
    PyMem_Free(offset);
    PyMem_Free(csize);
    PyMem_Free(inside);
    PyMem_Free(scratch);
    PyMem_Free(rows);
    if (state < 0) {
        return NULL;
    }
    if (!result) {
        Py_RETURN_NONE;
    }
    return result;
}

static PyMethodDef methods[] = {
    {"layers", layers, METH_VARARGS,
     "layers(refs, nar, limit) -> (layers, primaries, k) | None\n\n"
     "auto-layer's layers of a small graph in output order; see the module source."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(module_doc,
             "auto-layer's layers of a small closure graph, in C (see the source for the rules).\n"
             "\n"
             "Example:\n"
             "    >>> layers(((2,), (2,), ()), (50, 40, 30), 2)  # a and b use c\n"
             "    ([(70, [1], 40, 0, None), (80, [0, 2], 80, 1, 0)], [0], 1)\n"
             "    >>> layers(((5,),), (1,), 2) is None  # a reference out of range: the Python way\n"
             "    True\n");

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "layerlab.strategies._autolayer", module_doc, 0, methods,
};

PyMODINIT_FUNC PyInit__autolayer(void) { return PyModule_Create(&module); }
