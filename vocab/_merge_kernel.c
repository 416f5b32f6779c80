/* The merge loop of lexkit's BPE engine, compiled (lexkit.vocab._merge_kernel).
 *
 * `vocab/_merge_engine.py` is the reference: its `_learn` / `_merge_words` are the oracle in
 * tests/vocab/test_merge_kernel.py and run instead of this module when it is not built or when a run's
 * counts could leave int64 (the engine checks the bound before calling here; see its docstring).
 *
 * - `WordStore` (words as int32 arrays, counts and lengths in int64) and `PairCounts` (pair -> int64 count,
 *   open addressing): the engine's state. All arithmetic is checked and raises OverflowError, never wraps.
 * - `merge_store`: one merge's word edits on them (the reference's `_merge_words`), exposed for the tests.
 * - `run_merges`: the engine's whole loop, Scaffold-BPE included, with a C heap of (count as u64, kind,
 *   item, sequence) entries in the Python heap's priority order.
 *
 * Exactness of the scan: occurrences of `left` are taken left to right and a merge resumes the search just
 * after the merged symbol (so `a a a` with `(a, a)` merges once). The Python version counts occurrences
 * first only to stop early; its invariant "remaining == occurrences of `left` after `position`" makes it
 * identical to this plain scan. Pair keys are `(x << shift) | y` with `shift <= 31` (the engine uses the
 * reference beyond that); larger shifts are refused with ValueError.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- integers ----------------------------------------------------------------------------------- */

/* Read a Python int that fits in one machine word without a function call; 0 when it does not apply. */
static inline int
compact_value(PyObject *value, long long *out)
{
    if (!PyLong_CheckExact(value)) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)value)) {
        *out = (long long)PyUnstable_Long_CompactValue((PyLongObject *)value);
        return 1;
    }
    return 0;
#else
    Py_ssize_t size = Py_SIZE(value);
    if (size == 0) {
        *out = 0;
        return 1;
    }
    if (size == 1 || size == -1) {
        long long digit = (long long)((PyLongObject *)value)->ob_digit[0];
        *out = size == 1 ? digit : -digit;
        return 1;
    }
    return 0;
#endif
}

/* A symbol id or word index as a C integer; -1 with an exception on failure. */
static inline long long
as_small(PyObject *value)
{
    long long result;
    if (compact_value(value, &result)) {
        return result;
    }
    result = PyLong_AsLongLong(value);
    if (result == -1 && PyErr_Occurred()) {
        return -1;
    }
    return result;
}

/* a + b (sign = +1) or a - b (sign = -1) for Python integers, exact; new reference or NULL. */
static PyObject *
add_numbers(PyObject *a, PyObject *b, int sign)
{
    long long x, y;
    if (compact_value(a, &x) && compact_value(b, &y)) {
        /* one-digit values: |x|, |y| < 2**30, no overflow possible */
        return PyLong_FromLongLong(sign > 0 ? x + y : x - y);
    }
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        int overflow_a = 0, overflow_b = 0;
        x = PyLong_AsLongLongAndOverflow(a, &overflow_a);
        y = PyLong_AsLongLongAndOverflow(b, &overflow_b);
        if (!overflow_a && !overflow_b) {
            long long result;
            int overflow = sign > 0 ? __builtin_add_overflow(x, y, &result)
                                    : __builtin_sub_overflow(x, y, &result);
            if (!overflow) {
                return PyLong_FromLongLong(result);
            }
        }
    }
    return sign > 0 ? PyNumber_Add(a, b) : PyNumber_Subtract(a, b);
}

/* ---- PairCounts: pair -> count in an open-addressing table of int64 --------------------------------- */

/* The engine's pair-count table when every count provably fits in int64 (the engine checks a bound
 * first). A dict holds each entry as two heap-allocated ints behind an index: three scattered memory
 * reads per update; this table holds key and count side by side. It answers `table[pair]` with 0 for a
 * missing pair (defaultdict(int) semantics, without inserting) and `table[pair] = count`. Arithmetic
 * is checked: an overflow raises OverflowError, never wraps. */

typedef struct {
    long long key; /* -1: empty (pairs are non-negative) */
    long long value;
} Slot;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t mask; /* capacity - 1, capacity a power of two */
    int bits;    /* log2(capacity) */
    Py_ssize_t used;
} PairCountsObject;

static PyTypeObject PairCountsType;

static inline size_t
slot_index(long long key, int bits)
{
    return (size_t)(((unsigned long long)key * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

static int
table_allocate(PairCountsObject *self, int bits)
{
    size_t capacity = (size_t)1 << bits;
    Slot *slots = PyMem_Malloc(capacity * sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < capacity; i++) {
        slots[i].key = -1;
        slots[i].value = 0;
    }
    self->slots = slots;
    self->mask = capacity - 1;
    self->bits = bits;
    return 0;
}

/* The slot holding `key`, or the empty slot where it would go. */
static inline Slot *
table_find(PairCountsObject *self, long long key)
{
    size_t i = slot_index(key, self->bits);
    for (;;) {
        Slot *slot = &self->slots[i];
        if (slot->key == key || slot->key == -1) {
            return slot;
        }
        i = (i + 1) & self->mask;
    }
}

static int
table_grow(PairCountsObject *self)
{
    Slot *old = self->slots;
    size_t old_capacity = self->mask + 1;
    if (table_allocate(self, self->bits + 1) < 0) {
        return -1;
    }
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i].key != -1) {
            *table_find(self, old[i].key) = old[i];
        }
    }
    PyMem_Free(old);
    return 0;
}

/* The slot of `key`, inserted with count 0 when missing. */
static inline Slot *
table_slot(PairCountsObject *self, long long key)
{
    Slot *slot = table_find(self, key);
    if (slot->key == -1) {
        if ((size_t)(self->used + 1) * 2 > self->mask + 1) {
            if (table_grow(self) < 0) {
                return NULL;
            }
            slot = table_find(self, key);
        }
        slot->key = key;
        slot->value = 0;
        self->used++;
    }
    return slot;
}

/* table[key] += delta (sign +1) or -= delta (sign -1), checked. */
static int
table_update(PairCountsObject *self, long long key, long long delta, int sign)
{
    Slot *slot = table_slot(self, key);
    if (slot == NULL) {
        return -1;
    }
    long long result;
    int overflow = sign > 0 ? __builtin_add_overflow(slot->value, delta, &result)
                            : __builtin_sub_overflow(slot->value, delta, &result);
    if (overflow) {
        PyErr_SetString(PyExc_OverflowError, "a pair count left the int64 range of PairCounts");
        return -1;
    }
    slot->value = result;
    return 0;
}

static long long
table_key(PyObject *key)
{
    long long value = as_small(key);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < 0) {
        PyErr_Format(PyExc_KeyError, "pair %lld is negative; pairs are (left << shift) | right", value);
        return -1;
    }
    return value;
}

static PyObject *
PairCounts_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *initial = NULL;
    static char *names[] = {"counts", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O!:PairCounts", names, &PyDict_Type, &initial)) {
        return NULL;
    }
    PairCountsObject *self = (PairCountsObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    int bits = 4;
    Py_ssize_t wanted = initial == NULL ? 0 : PyDict_GET_SIZE(initial);
    while (((Py_ssize_t)1 << bits) < 2 * wanted + 2) {
        bits++;
    }
    if (table_allocate(self, bits) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->used = 0;
    if (initial != NULL) {
        Py_ssize_t position = 0;
        PyObject *key, *value;
        while (PyDict_Next(initial, &position, &key, &value)) {
            long long pair = table_key(key);
            long long count = pair == -1 ? -1 : PyLong_AsLongLong(value);
            if (PyErr_Occurred()) {
                Py_DECREF(self);
                return NULL;
            }
            Slot *slot = table_slot(self, pair);
            if (slot == NULL) {
                Py_DECREF(self);
                return NULL;
            }
            slot->value = count;
        }
    }
    return (PyObject *)self;
}

static void
PairCounts_dealloc(PairCountsObject *self)
{
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
PairCounts_length(PairCountsObject *self)
{
    return self->used;
}

static PyObject *
PairCounts_subscript(PairCountsObject *self, PyObject *key)
{
    long long pair = table_key(key);
    if (pair == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Slot *slot = table_find(self, pair);
    return PyLong_FromLongLong(slot->key == -1 ? 0 : slot->value);
}

static int
PairCounts_ass_subscript(PairCountsObject *self, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "PairCounts does not delete pairs; set the count to 0");
        return -1;
    }
    long long pair = table_key(key);
    if (pair == -1 && PyErr_Occurred()) {
        return -1;
    }
    long long count = PyLong_AsLongLong(value);
    if (count == -1 && PyErr_Occurred()) {
        return -1;
    }
    Slot *slot = table_slot(self, pair);
    if (slot == NULL) {
        return -1;
    }
    slot->value = count;
    return 0;
}

static PyObject *
PairCounts_items(PairCountsObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *items = PyList_New(0);
    if (items == NULL) {
        return NULL;
    }
    for (size_t i = 0; i <= self->mask; i++) {
        if (self->slots[i].key == -1) {
            continue;
        }
        PyObject *item = Py_BuildValue("(LL)", self->slots[i].key, self->slots[i].value);
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(items);
            return NULL;
        }
        Py_DECREF(item);
    }
    if (PyList_Sort(items) < 0) {
        Py_DECREF(items);
        return NULL;
    }
    return items;
}

static PyMappingMethods PairCounts_mapping = {
    (lenfunc)PairCounts_length,
    (binaryfunc)PairCounts_subscript,
    (objobjargproc)PairCounts_ass_subscript,
};

static PyMethodDef PairCounts_methods[] = {
    {"items", (PyCFunction)PairCounts_items, METH_NOARGS,
     "items() -> list of (pair, count), sorted by pair (every pair ever stored, zero counts included)."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(PairCounts_doc,
"PairCounts(counts=None)\n"
"--\n\n"
"Pair -> count in int64 (checked), for the merge kernel: `t[pair]` is 0 for a missing pair, `t[pair] = n`\n"
"stores. Built from a dict of int keys (>= 0) and int values.");

static PyTypeObject PairCountsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lexkit.vocab._merge_kernel.PairCounts",
    .tp_basicsize = sizeof(PairCountsObject),
    .tp_dealloc = (destructor)PairCounts_dealloc,
    .tp_as_mapping = &PairCounts_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PairCounts_doc,
    .tp_methods = PairCounts_methods,
    .tp_new = PairCounts_new,
};

/* ---- WordStore: the words as int32 arrays ------------------------------------------------------------ */

/* The engine's words when the pair counts live in a PairCounts table: every word's symbols in one int32
 * array (and, under a length limit, its per-occurrence lengths in int64), edited in place like the Python
 * lists. Scanning a word then reads one contiguous run instead of one int object per symbol. Word counts
 * are int64 (the engine uses the store only when every count fits, see _TABLE_SAFE_OCCURRENCES). */

typedef struct {
    PyObject_HEAD
    Py_ssize_t num_words;
    Py_ssize_t *offsets;  /* start of each word */
    Py_ssize_t *sizes;    /* current length of each word */
    int32_t *symbols;
    long long *lengths;   /* NULL without a length limit */
    long long *counts;
} WordStoreObject;

static PyTypeObject WordStoreType;

static void
WordStore_dealloc(WordStoreObject *self)
{
    PyMem_Free(self->offsets);
    PyMem_Free(self->sizes);
    PyMem_Free(self->symbols);
    PyMem_Free(self->lengths);
    PyMem_Free(self->counts);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
WordStore_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *words, *counts, *lengths = Py_None;
    static char *names[] = {"words", "counts", "lengths", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!|O:WordStore", names, &PyList_Type, &words,
                                     &PyList_Type, &counts, &lengths)) {
        return NULL;
    }
    Py_ssize_t num_words = PyList_GET_SIZE(words);
    if (PyList_GET_SIZE(counts) != num_words ||
        (lengths != Py_None && (!PyList_Check(lengths) || PyList_GET_SIZE(lengths) != num_words))) {
        PyErr_SetString(PyExc_ValueError, "WordStore needs one count (and one length list) per word");
        return NULL;
    }
    if (num_words > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "WordStore indexes words in int32: too many words");
        return NULL;
    }
    WordStoreObject *self = (WordStoreObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_words = num_words;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < num_words; i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        if (!PyList_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "every word must be a list of ints");
            Py_DECREF(self);
            return NULL;
        }
        total += PyList_GET_SIZE(word);
    }
    self->offsets = PyMem_Malloc((size_t)(num_words + 1) * sizeof(Py_ssize_t));
    self->sizes = PyMem_Malloc((size_t)(num_words + 1) * sizeof(Py_ssize_t));
    self->symbols = PyMem_Malloc((size_t)(total + 1) * sizeof(int32_t));
    self->counts = PyMem_Malloc((size_t)(num_words + 1) * sizeof(long long));
    self->lengths = lengths == Py_None ? NULL : PyMem_Malloc((size_t)(total + 1) * sizeof(long long));
    if (self->offsets == NULL || self->sizes == NULL || self->symbols == NULL || self->counts == NULL ||
        (lengths != Py_None && self->lengths == NULL)) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    Py_ssize_t offset = 0;
    for (Py_ssize_t i = 0; i < num_words; i++) {
        PyObject *word = PyList_GET_ITEM(words, i);
        Py_ssize_t size = PyList_GET_SIZE(word);
        self->offsets[i] = offset;
        self->sizes[i] = size;
        self->counts[i] = PyLong_AsLongLong(PyList_GET_ITEM(counts, i)); /* OverflowError past int64 */
        if (self->counts[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(self);
            return NULL;
        }
        PyObject *unit_lengths = NULL;
        if (self->lengths != NULL) {
            unit_lengths = PyList_GET_ITEM(lengths, i);
            if (!PyList_Check(unit_lengths) || PyList_GET_SIZE(unit_lengths) != size) {
                PyErr_SetString(PyExc_ValueError, "each length list must parallel its word");
                Py_DECREF(self);
                return NULL;
            }
        }
        long long word_length = 0;
        for (Py_ssize_t j = 0; j < size; j++) {
            long long symbol = as_small(PyList_GET_ITEM(word, j));
            if (symbol == -1 && PyErr_Occurred()) {
                Py_DECREF(self);
                return NULL;
            }
            if (symbol < 0 || symbol > INT32_MAX) {
                PyErr_Format(PyExc_OverflowError, "symbol id %lld does not fit the int32 WordStore", symbol);
                Py_DECREF(self);
                return NULL;
            }
            self->symbols[offset + j] = (int32_t)symbol;
            if (unit_lengths != NULL) {
                long long length = PyLong_AsLongLong(PyList_GET_ITEM(unit_lengths, j));
                if (length == -1 && PyErr_Occurred()) {
                    Py_DECREF(self);
                    return NULL;
                }
                /* subtle: merged lengths are sums of a word's lengths: keep every such sum below 2**62 */
                if (length < 0 || __builtin_add_overflow(word_length, length, &word_length) ||
                    word_length >= (1LL << 62)) {
                    PyErr_SetString(PyExc_OverflowError, "a word's lengths do not fit the int64 WordStore");
                    Py_DECREF(self);
                    return NULL;
                }
                self->lengths[offset + j] = length;
            }
        }
        offset += size;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(store_from_flat_doc,
"store_from_flat(symbols, offsets, counts)\n"
"--\n\n"
"A WordStore (without lengths) from flat arrays: `symbols` a C-contiguous int32 buffer holding every word's\n"
"ids back to back, `offsets` an int64 buffer of num_words + 1 word starts (0 first, len(symbols) last),\n"
"`counts` a list of one int per word. The same store as WordStore(words, counts), without a Python int\n"
"per symbol. ValueError when the offsets do not describe the symbols; OverflowError past int64 or int32.");

/* Read a C-contiguous buffer whose items are `itemsize` bytes of a native integer format ("i"/"l"/"q"). */
static int
integer_buffer(PyObject *object, Py_buffer *view, Py_ssize_t itemsize, const char *what)
{
    if (PyObject_GetBuffer(object, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        return -1;
    }
    const char *format = view->format == NULL ? "B" : view->format;
    if (format[0] == '@' || format[0] == '=' || format[0] == '<') {
        format++;
    }
    if (view->itemsize != itemsize || strlen(format) != 1 || strchr("ilq", format[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s must be a buffer of native %zd-byte integers", what, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *
store_from_flat(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "store_from_flat() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *counts = args[2];
    if (!PyList_Check(counts)) {
        PyErr_SetString(PyExc_TypeError, "counts must be a list of ints");
        return NULL;
    }
    Py_buffer symbols_view, offsets_view;
    if (integer_buffer(args[0], &symbols_view, 4, "symbols") < 0) {
        return NULL;
    }
    if (integer_buffer(args[1], &offsets_view, 8, "offsets") < 0) {
        PyBuffer_Release(&symbols_view);
        return NULL;
    }
    const int32_t *symbols = (const int32_t *)symbols_view.buf;
    const int64_t *offsets = (const int64_t *)offsets_view.buf;
    Py_ssize_t total = symbols_view.len / 4;
    Py_ssize_t num_words = offsets_view.len / 8 - 1;
    WordStoreObject *self = NULL;
    if (num_words < 0 || PyList_GET_SIZE(counts) != num_words || offsets[0] != 0 || offsets[num_words] != total) {
        PyErr_SetString(PyExc_ValueError, "store_from_flat needs num_words + 1 offsets from 0 to len(symbols) "
                                          "and one count per word");
        goto done;
    }
    if (num_words > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "WordStore indexes words in int32: too many words");
        goto done;
    }
    self = (WordStoreObject *)WordStoreType.tp_alloc(&WordStoreType, 0);
    if (self == NULL) {
        goto done;
    }
    self->num_words = num_words;
    self->offsets = PyMem_Malloc((size_t)(num_words + 1) * sizeof(Py_ssize_t));
    self->sizes = PyMem_Malloc((size_t)(num_words + 1) * sizeof(Py_ssize_t));
    self->symbols = PyMem_Malloc((size_t)(total + 1) * sizeof(int32_t));
    self->counts = PyMem_Malloc((size_t)(num_words + 1) * sizeof(long long));
    if (self->offsets == NULL || self->sizes == NULL || self->symbols == NULL || self->counts == NULL) {
        Py_CLEAR(self);
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < total; i++) {
        if (symbols[i] < 0) {
            PyErr_Format(PyExc_OverflowError, "symbol id %d does not fit the int32 WordStore", symbols[i]);
            Py_CLEAR(self);
            goto done;
        }
    }
    memcpy(self->symbols, symbols, (size_t)total * sizeof(int32_t));
    for (Py_ssize_t i = 0; i < num_words; i++) {
        if (offsets[i + 1] < offsets[i]) {
            PyErr_SetString(PyExc_ValueError, "store_from_flat needs non-decreasing offsets");
            Py_CLEAR(self);
            goto done;
        }
        self->offsets[i] = (Py_ssize_t)offsets[i];
        self->sizes[i] = (Py_ssize_t)(offsets[i + 1] - offsets[i]);
        self->counts[i] = PyLong_AsLongLong(PyList_GET_ITEM(counts, i)); /* OverflowError past int64 */
        if (self->counts[i] == -1 && PyErr_Occurred()) {
            Py_CLEAR(self);
            goto done;
        }
    }
done:
    PyBuffer_Release(&symbols_view);
    PyBuffer_Release(&offsets_view);
    return (PyObject *)self;
}

PyDoc_STRVAR(counts_text_doc,
"counts_text(keys, counts)\n"
"--\n\n"
"b''.join(f'{key}\\0{counts[key]}\\0'.encode() for key in keys): the bytes the trainers' counts_sha256 hashes,\n"
"built without a formatted str per key; keys=None means sorted(counts) (sorted here by UTF-8 bytes, which is\n"
"code-point order). UnicodeEncodeError for a key that is not valid UTF-8 text.");

typedef struct {
    const char *key;
    size_t key_length, start, end;
} Record;

static int
record_order(const void *a, const void *b)
{
    const Record *left = a, *right = b;
    size_t common = left->key_length < right->key_length ? left->key_length : right->key_length;
    int order = memcmp(left->key, right->key, common);
    if (order != 0) {
        return order;
    }
    return (left->key_length > right->key_length) - (left->key_length < right->key_length);
}

static int
text_append(char **buffer, size_t *size, size_t *capacity, const char *data, size_t length)
{
    if (*size + length > *capacity) {
        size_t grown = (*capacity * 2 > *size + length) ? *capacity * 2 : *size + length;
        char *bigger = PyMem_Realloc(*buffer, grown);
        if (bigger == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *buffer = bigger;
        *capacity = grown;
    }
    if (data != NULL) { /* NULL: reserve room only */
        memcpy(*buffer + *size, data, length);
    }
    *size += length;
    return 0;
}

static PyObject *
counts_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || (args[0] != Py_None && !PyList_Check(args[0])) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "counts_text(keys: list[str] | None, counts: dict[str, int])");
        return NULL;
    }
    PyObject *counts = args[1];
    int sort = args[0] == Py_None;
    PyObject *keys = sort ? PyDict_Keys(counts) : Py_NewRef(args[0]);
    if (keys == NULL) {
        return NULL;
    }
    Py_ssize_t number = PyList_GET_SIZE(keys);
    size_t size = 0, capacity = 1 << 16;
    char *buffer = PyMem_Malloc(capacity);
    Record *records = sort ? PyMem_Malloc(sizeof(Record) * (size_t)(number + 1)) : NULL;
    if (buffer == NULL || (sort && records == NULL)) {
        PyErr_NoMemory();
        goto failed;
    }
    for (Py_ssize_t i = 0; i < number; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        size_t start = size;
        PyObject *count = PyDict_GetItemWithError(counts, key); /* borrowed */
        if (count == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, key);
            }
            goto failed;
        }
        int status;
        if (PyUnicode_Check(key) && PyUnicode_KIND(key) != PyUnicode_4BYTE_KIND) {
            /* UTF-8 of 1- and 2-byte strings written here (at most 3 bytes a character); surrogates raise */
            Py_ssize_t length = PyUnicode_GET_LENGTH(key);
            if (text_append(&buffer, &size, &capacity, NULL, (size_t)length * 3 + 1) < 0) {
                goto failed;
            }
            size -= (size_t)length * 3 + 1;
            unsigned char *out = (unsigned char *)buffer + size;
            int kind = PyUnicode_KIND(key);
            const void *data = PyUnicode_DATA(key);
            for (Py_ssize_t j = 0; j < length; j++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, j);
                if (c < 0x80) {
                    *out++ = (unsigned char)c;
                }
                else if (c < 0x800) {
                    *out++ = (unsigned char)(0xC0 | (c >> 6));
                    *out++ = (unsigned char)(0x80 | (c & 0x3F));
                }
                else if (c >= 0xD800 && c < 0xE000) {
                    PyUnicode_AsUTF8String(key); /* raises the UnicodeEncodeError str.encode() would */
                    goto failed;
                }
                else {
                    *out++ = (unsigned char)(0xE0 | (c >> 12));
                    *out++ = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
                    *out++ = (unsigned char)(0x80 | (c & 0x3F));
                }
            }
            *out++ = 0;
            size = (size_t)((char *)out - buffer);
        }
        else {
            PyObject *encoded = PyUnicode_AsUTF8String(key);
            if (encoded == NULL) {
                goto failed;
            }
            status = text_append(&buffer, &size, &capacity, PyBytes_AS_STRING(encoded),
                                 (size_t)PyBytes_GET_SIZE(encoded) + 1); /* the bytes' own NUL terminator */
            Py_DECREF(encoded);
            if (status < 0) {
                goto failed;
            }
        }
        if (sort) {
            records[i] = (Record){NULL, size - start - 1, start, 0};
        }
        int overflow = 0;
        long long value = PyLong_CheckExact(count) ? PyLong_AsLongLongAndOverflow(count, &overflow) : 0;
        if (PyLong_CheckExact(count) && !overflow && !(value == -1 && PyErr_Occurred())) {
            char digits[32];
            int at = 31;
            digits[at] = 0;
            unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
            do {
                digits[--at] = (char)('0' + magnitude % 10);
                magnitude /= 10;
            } while (magnitude);
            if (value < 0) {
                digits[--at] = '-';
            }
            status = text_append(&buffer, &size, &capacity, digits + at, (size_t)(32 - at));
        }
        else { /* beyond int64, or not an int: str() as the f-string does */
            PyErr_Clear();
            PyObject *text = PyObject_Str(count);
            PyObject *bytes = text == NULL ? NULL : PyUnicode_AsUTF8String(text);
            Py_XDECREF(text);
            if (bytes == NULL) {
                goto failed;
            }
            status = text_append(&buffer, &size, &capacity, PyBytes_AS_STRING(bytes),
                                 (size_t)PyBytes_GET_SIZE(bytes) + 1);
            Py_DECREF(bytes);
        }
        if (status < 0) {
            goto failed;
        }
    }
    PyObject *result = NULL;
    if (sort) {
        for (Py_ssize_t i = 0; i < number; i++) {
            records[i].key = buffer + records[i].start;
            records[i].end = i + 1 < number ? records[i + 1].start : size;
        }
        qsort(records, (size_t)number, sizeof(Record), record_order);
        result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
        if (result != NULL) {
            char *out = PyBytes_AS_STRING(result);
            for (Py_ssize_t i = 0; i < number; i++) {
                memcpy(out, records[i].key, records[i].end - records[i].start);
                out += records[i].end - records[i].start;
            }
        }
    }
    else {
        result = PyBytes_FromStringAndSize(buffer, (Py_ssize_t)size);
    }
    PyMem_Free(buffer);
    PyMem_Free(records);
    Py_DECREF(keys);
    return result;
failed:
    PyMem_Free(buffer);
    PyMem_Free(records);
    Py_DECREF(keys);
    return NULL;
}

/* The store's symbols (when `symbols` is not NULL) or lengths, one list of ints per word, as edited so far. */
static PyObject *
store_lists(WordStoreObject *self, const int32_t *symbols, const long long *lengths)
{
    PyObject *words = PyList_New(self->num_words);
    if (words == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->num_words; i++) {
        PyObject *word = PyList_New(self->sizes[i]);
        if (word == NULL) {
            Py_DECREF(words);
            return NULL;
        }
        PyList_SET_ITEM(words, i, word);
        for (Py_ssize_t j = 0; j < self->sizes[i]; j++) {
            Py_ssize_t at = self->offsets[i] + j;
            PyObject *value = symbols != NULL ? PyLong_FromLong(symbols[at]) : PyLong_FromLongLong(lengths[at]);
            if (value == NULL) {
                Py_DECREF(words);
                return NULL;
            }
            PyList_SET_ITEM(word, j, value);
        }
    }
    return words;
}

static PyObject *
WordStore_words(WordStoreObject *self, PyObject *Py_UNUSED(ignored))
{
    return store_lists(self, self->symbols, NULL);
}

static PyObject *
WordStore_lengths(WordStoreObject *self, PyObject *Py_UNUSED(ignored))
{
    if (self->lengths == NULL) {
        Py_RETURN_NONE;
    }
    return store_lists(self, NULL, self->lengths);
}

static PyMethodDef WordStore_methods[] = {
    {"words", (PyCFunction)WordStore_words, METH_NOARGS, "words() -> the words as lists of ids, as edited."},
    {"lengths", (PyCFunction)WordStore_lengths, METH_NOARGS,
     "lengths() -> the per-occurrence lengths as lists (None without lengths)."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(WordStore_doc,
"WordStore(words, counts, lengths=None)\n"
"--\n\n"
"The engine's words as int32 arrays (ids < 2**31), their counts in int64 and, optionally, per-occurrence\n"
"lengths in int64, for `merge_store`. OverflowError when a value does not fit.");

static PyTypeObject WordStoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lexkit.vocab._merge_kernel.WordStore",
    .tp_basicsize = sizeof(WordStoreObject),
    .tp_dealloc = (destructor)WordStore_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = WordStore_doc,
    .tp_methods = WordStore_methods,
    .tp_new = WordStore_new,
};

/* The store path's `created`: pair -> bytearray of native int32 word indices, in first-seen order, each
 * index once (a word's gains are recorded while that word is processed, so a repeat is always the last
 * index written). merge_store reads these back as `positions`. */
static int
record_created_index(PyObject *created, long long key_value, int32_t word)
{
    PyObject *key = PyLong_FromLongLong(key_value);
    if (key == NULL) {
        return -1;
    }
    PyObject *found = PyDict_GetItemWithError(created, key); /* borrowed */
    if (found == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return -1;
        }
        found = PyByteArray_FromStringAndSize(NULL, 0);
        if (found == NULL) {
            Py_DECREF(key);
            return -1;
        }
        int status = PyDict_SetItem(created, key, found);
        Py_DECREF(found); /* the dict holds it now */
        if (status < 0) {
            Py_DECREF(key);
            return -1;
        }
    }
    Py_DECREF(key);
    Py_ssize_t size = PyByteArray_GET_SIZE(found);
    if (size >= 4) {
        int32_t last;
        memcpy(&last, PyByteArray_AS_STRING(found) + size - 4, 4);
        if (last == word) {
            return 0;
        }
    }
    if (PyByteArray_Resize(found, size + 4) < 0) { /* amortised: bytearray over-allocates */
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(found) + size, &word, 4);
    return 0;
}

typedef struct {
    WordStoreObject *store;
    PairCountsObject *table;
    PyObject *created;
    long long left, right, merged, limit;
    int shift, limited;
    long long merged_count; /* occurrences merged, weighted by word counts (checked int64) */
} StoreMerge;

/* Merge every `left right` of one word of the store (the body of the Python loop for one index). */
static int
store_merge_word(StoreMerge *job, Py_ssize_t word)
{
    WordStoreObject *store = job->store;
    if (word < 0 || word >= store->num_words) {
        PyErr_Format(PyExc_IndexError, "word index %zd is outside the store (size %zd)", word, store->num_words);
        return -1;
    }
    int32_t *symbols = store->symbols + store->offsets[word];
    long long *lengths = job->limited ? store->lengths + store->offsets[word] : NULL;
    Py_ssize_t size = store->sizes[word];
    const long long count = store->counts[word];
    const long long left = job->left, right = job->right, merged = job->merged, limit = job->limit;
    const int shift = job->shift;
    Py_ssize_t position = 0;
    while (position + 1 < size) {
        if (symbols[position] != left || symbols[position + 1] != right) {
            position++;
            continue;
        }
        /* The pair starts at `position`. */
        if (__builtin_add_overflow(job->merged_count, count, &job->merged_count)) {
            PyErr_SetString(PyExc_OverflowError, "the merged count left int64 (the engine bounds it below 2**61)");
            return -1;
        }
        long long merged_length = 0;
        if (lengths != NULL) {
            merged_length = lengths[position] + lengths[position + 1];
            lengths[position] = merged_length;
            memmove(&lengths[position + 1], &lengths[position + 2], (size_t)(size - position - 2) * sizeof(long long));
        }
        if (position > 0) {
            long long before = (long long)symbols[position - 1] << shift;
            if (table_update(job->table, before | left, count, -1) < 0) {
                return -1;
            }
            if ((lengths == NULL || lengths[position - 1] + merged_length < limit) &&
                (table_update(job->table, before | merged, count, 1) < 0 ||
                 record_created_index(job->created, before | merged, (int32_t)word) < 0)) {
                return -1;
            }
        }
        symbols[position] = (int32_t)merged;
        memmove(&symbols[position + 1], &symbols[position + 2], (size_t)(size - position - 2) * sizeof(int32_t));
        size--;
        store->sizes[word] = size;
        if (position + 1 < size) {
            long long after = symbols[position + 1];
            if (table_update(job->table, (right << shift) | after, count, -1) < 0) {
                return -1;
            }
            if ((lengths == NULL || merged_length + lengths[position + 1] < limit) &&
                (table_update(job->table, (merged << shift) | after, count, 1) < 0 ||
                 record_created_index(job->created, (merged << shift) | after, (int32_t)word) < 0)) {
                return -1;
            }
        }
        position++; /* resume just after the merged symbol */
    }
    return 0;
}

/* A buffer of native int32 word indices: an int32 array (format "i" or "l" of size 4) or this module's
 * bytearrays (format "B", a multiple of 4 bytes). 1 when `view` was filled, 0 when `positions` is no such
 * buffer (then iterate it), -1 on error. */
static int
index_buffer(PyObject *positions, Py_buffer *view)
{
    if (!PyObject_CheckBuffer(positions)) {
        return 0;
    }
    if (PyObject_GetBuffer(positions, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        return 0;
    }
    const char *format = view->format == NULL ? "B" : view->format;
    if (format[0] == '@' || format[0] == '=') {
        format++; /* native byte order */
    }
    int ok = view->itemsize == 4 ? (strcmp(format, "i") == 0 || strcmp(format, "l") == 0)
                                 : (view->itemsize == 1 && strcmp(format, "B") == 0 && view->len % 4 == 0);
    if (!ok) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* Merge in every word of `positions` (an iterable of indices or an int32 buffer, see index_buffer). */
static int
store_merge_positions(StoreMerge *job, PyObject *positions)
{
    Py_buffer view;
    int buffered = index_buffer(positions, &view);
    if (buffered < 0) {
        return -1;
    }
    if (buffered) {
        const int32_t *indices = (const int32_t *)view.buf;
        Py_ssize_t number = view.len / 4;
        int status = 0;
        for (Py_ssize_t i = 0; i < number && status == 0; i++) {
            status = store_merge_word(job, indices[i]);
        }
        PyBuffer_Release(&view);
        return status;
    }
    PyObject *iterator = PyObject_GetIter(positions);
    if (iterator == NULL) {
        return -1;
    }
    PyObject *index;
    while ((index = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t word = PyNumber_AsSsize_t(index, PyExc_IndexError);
        Py_DECREF(index);
        if ((word == -1 && PyErr_Occurred()) || store_merge_word(job, word) < 0) {
            Py_DECREF(iterator);
            return -1;
        }
    }
    Py_DECREF(iterator);
    return PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(merge_store_doc,
"merge_store(store, positions, left, right, merged, pair_counts, shift, limit)\n"
"--\n\n"
"The reference's `_merge_words` (lengths and limit, or neither) on a WordStore and a PairCounts: the same\n"
"edits, merged count and count changes. `positions`: an iterable of word indices or a buffer of native int32\n"
"(an int32 array, or a bytearray returned here). Returns (created, merged_count) with `created` a dict\n"
"pair -> bytearray of native int32 word indices, the members of the reference's sets.");

static PyObject *
merge_store(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_Format(PyExc_TypeError, "merge_store() takes 8 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!Py_IS_TYPE(args[0], &WordStoreType) || !Py_IS_TYPE(args[5], &PairCountsType)) {
        PyErr_SetString(PyExc_TypeError, "merge_store() needs a WordStore and a PairCounts");
        return NULL;
    }
    StoreMerge job = {(WordStoreObject *)args[0], (PairCountsObject *)args[5], NULL, 0, 0, 0, LLONG_MAX, 0, 0, 0};
    job.left = as_small(args[2]);
    job.right = as_small(args[3]);
    job.merged = as_small(args[4]);
    long long shift = as_small(args[6]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (shift < 1 || shift > 31) {
        PyErr_Format(PyExc_ValueError, "shift %lld is outside 1..31", shift);
        return NULL;
    }
    job.shift = (int)shift;
    long long bound = 1LL << shift;
    if (job.left < 0 || job.right < 0 || job.merged < 0 || job.left >= bound || job.right >= bound ||
        job.merged >= bound) {
        PyErr_SetString(PyExc_ValueError, "left, right and merged must lie in range(1 << shift)");
        return NULL;
    }
    if (args[7] != Py_None) {
        int overflow = 0;
        job.limit = PyLong_AsLongLongAndOverflow(args[7], &overflow);
        if (job.limit == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow) {
            job.limit = overflow > 0 ? LLONG_MAX : LLONG_MIN; /* LLONG_MAX: above every length sum (< 2**62) */
        }
        if (job.store->lengths == NULL) {
            PyErr_SetString(PyExc_ValueError, "a limit needs a WordStore built with lengths");
            return NULL;
        }
        job.limited = 1;
    }
    job.created = PyDict_New();
    if (job.created == NULL) {
        return NULL;
    }
    PyObject *result = store_merge_positions(&job, args[1]) < 0 ? NULL
                       : Py_BuildValue("(OL)", job.created, job.merged_count);
    Py_DECREF(job.created);
    return result;
}

/* ---- run_merges: the engine's loop on a WordStore ----------------------------------------------------- */

/* The loop of `_learn` in _merge_engine.py over a WordStore and a PairCounts, with or without Scaffold-BPE.
 * The Python heap holds packed ints (count, kind, item, sequence); here an entry is the same tuple with
 * the same priority: the higher count (a pair's count read as HF's u64, so a negative count wraps and
 * wins), then kind (a Scaffold-BPE token item, 0, before a pair item, 1), then the smaller item (token id
 * or pair), then the older entry. Pair entries are all distinct (unique sequence numbers) and equal token
 * entries are interchangeable, so any correct priority queue pops in heapq's order. */

typedef struct {
    unsigned long long count;
    long long item;     /* pair, or token id for a token item */
    long long sequence; /* 0 for token items, as in the Python loop */
    int kind;           /* 0: Scaffold-BPE token item, 1: pair item */
} Entry;

typedef struct {
    Entry *items;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Heap;

static inline int
entry_before(const Entry *a, const Entry *b)
{
    if (a->count != b->count) {
        return a->count > b->count;
    }
    if (a->kind != b->kind) {
        return a->kind < b->kind;
    }
    if (a->item != b->item) {
        return a->item < b->item;
    }
    return a->sequence < b->sequence;
}

static int
heap_push(Heap *heap, Entry entry)
{
    if (heap->size == heap->capacity) {
        Py_ssize_t capacity = heap->capacity ? heap->capacity * 2 : 1024;
        Entry *items = PyMem_Realloc(heap->items, (size_t)capacity * sizeof(Entry));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        heap->items = items;
        heap->capacity = capacity;
    }
    Py_ssize_t position = heap->size++;
    while (position > 0) {
        Py_ssize_t parent = (position - 1) >> 1;
        if (!entry_before(&entry, &heap->items[parent])) {
            break;
        }
        heap->items[position] = heap->items[parent];
        position = parent;
    }
    heap->items[position] = entry;
    return 0;
}

static Entry
heap_pop(Heap *heap)
{
    Entry top = heap->items[0];
    Entry last = heap->items[--heap->size];
    Py_ssize_t size = heap->size, position = 0;
    if (size == 0) {
        return top;
    }
    for (;;) {
        Py_ssize_t child = 2 * position + 1;
        if (child >= size) {
            break;
        }
        if (child + 1 < size && entry_before(&heap->items[child + 1], &heap->items[child])) {
            child++;
        }
        if (!entry_before(&heap->items[child], &last)) {
            break;
        }
        heap->items[position] = heap->items[child];
        position = child;
    }
    heap->items[position] = last;
    return top;
}

/* The word indices of each pair entry, by sequence number (owned references; NULL once popped). */
typedef struct {
    PyObject **items;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Positions;

static int
positions_append(Positions *positions, PyObject *value)
{
    if (positions->size == positions->capacity) {
        Py_ssize_t capacity = positions->capacity ? positions->capacity * 2 : 1024;
        PyObject **items = PyMem_Realloc(positions->items, (size_t)capacity * sizeof(PyObject *));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        positions->items = items;
        positions->capacity = capacity;
    }
    Py_INCREF(value);
    positions->items[positions->size++] = value;
    return 0;
}

/* list[index] = list[index] + value (sign +1) or - value (sign -1). */
static int
list_add(PyObject *list, long long index, PyObject *value, int sign)
{
    PyObject *sum = add_numbers(PyList_GET_ITEM(list, index), value, sign);
    if (sum == NULL) {
        return -1;
    }
    return PyList_SetItem(list, index, sum); /* steals `sum` */
}

/* A Python int as a saturating C value (LLONG_MAX for None or anything larger). */
static int
saturating(PyObject *value, long long *out)
{
    if (value == Py_None) {
        *out = LLONG_MAX;
        return 0;
    }
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (*out == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow) {
        *out = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    }
    return 0;
}

/* The loop's state shared with the Scaffold-BPE step. */
typedef struct {
    Heap heap;
    PairCountsObject *table;
    PyObject *frequencies; /* list of ints, |value| < 2**63 (the engine's bound) */
    PyObject *is_scaffold; /* bytearray, one flag per id; NULL without Scaffold-BPE */
    long long protected_ids;
    int reactivate;
} Loop;

static inline long long
frequency_of(Loop *loop, long long token)
{
    return as_small(PyList_GET_ITEM(loop->frequencies, token)); /* -1 with an exception on failure */
}

/* The current count of a pair as HF reads it (u64). */
static inline unsigned long long
current_count(PairCountsObject *table, long long pair)
{
    Slot *slot = table_find(table, pair);
    return (unsigned long long)(slot->key == -1 ? 0 : slot->value);
}

/* Scaffold-BPE's step after a merge (`_mark_scaffolds`): refresh the components' token items, find the
 * valid head (settling stale entries as the main loop would), mark components rarer than it. Returns the
 * number of tokens marked, -1 on error. */
static long long
mark_scaffolds(Loop *loop, long long left, long long right)
{
    long long parts[2] = {left, right};
    int number = left == right ? 1 : 2;
    char *flags = PyByteArray_AS_STRING(loop->is_scaffold);
    if (loop->reactivate) {
        for (int i = 0; i < number; i++) {
            long long frequency = frequency_of(loop, parts[i]);
            if (frequency == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (flags[parts[i]] && frequency > 0) {
                Entry token = {(unsigned long long)frequency, parts[i], 0, 0};
                if (heap_push(&loop->heap, token) < 0) {
                    return -1;
                }
            }
        }
    }
    unsigned long long head = 0;
    while (loop->heap.size > 0) {
        Entry *top = &loop->heap.items[0];
        if (top->kind == 0) {
            long long frequency = frequency_of(loop, top->item);
            if (frequency == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (flags[top->item] && frequency >= 0 && top->count == (unsigned long long)frequency) {
                head = top->count;
                break;
            }
            heap_pop(&loop->heap); /* stale token item */
            continue;
        }
        unsigned long long count = current_count(loop->table, top->item);
        if (top->count == count) {
            head = count;
            break;
        }
        Entry refreshed = heap_pop(&loop->heap); /* heapreplace with the current count */
        refreshed.count = count;
        if (heap_push(&loop->heap, refreshed) < 0) {
            return -1;
        }
    }
    long long marked = 0;
    for (int i = 0; i < number; i++) {
        long long part = parts[i];
        long long frequency = frequency_of(loop, part);
        if (frequency == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (part >= loop->protected_ids && !flags[part] && (frequency < 0 || (unsigned long long)frequency < head)) {
            flags[part] = 1;
            marked++;
            if (loop->reactivate && frequency > 0) {
                Entry token = {(unsigned long long)frequency, part, 0, 0};
                if (heap_push(&loop->heap, token) < 0) {
                    return -1;
                }
            }
        }
    }
    return marked;
}

PyDoc_STRVAR(run_merges_doc,
"run_merges(store, pair_counts, pair_words, keys, key_ids, join, lengths, frequencies, merges, shift,\n"
"           limit, vocab_size, max_merges, min_frequency, on_merge, is_scaffold, protected, reactivate,\n"
"           id_space)\n"
"--\n\n"
"The merge loop of `_merge_engine._learn` on a WordStore and a PairCounts (`is_scaffold` a bytearray for\n"
"Scaffold-BPE, else None): appends to `keys`, `key_ids`, `lengths`, `frequencies`, `merges` and\n"
"`is_scaffold` exactly as the Python loop does; returns (stop_reason, reactivations).");

static PyObject *
run_merges(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 19) {
        PyErr_Format(PyExc_TypeError, "run_merges() takes 19 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *pair_words = args[2], *keys = args[3], *key_ids = args[4], *join = args[5];
    PyObject *lengths = args[6], *frequencies = args[7], *merges = args[8], *on_merge = args[14];
    PyObject *is_scaffold = args[15] == Py_None ? NULL : args[15];
    if (!Py_IS_TYPE(args[0], &WordStoreType) || !Py_IS_TYPE(args[1], &PairCountsType) ||
        !PyDict_Check(pair_words) || !PyList_Check(keys) || !PyDict_Check(key_ids) || !PyList_Check(lengths) ||
        !PyList_Check(frequencies) || !PyList_Check(merges) ||
        (is_scaffold != NULL && !PyByteArray_CheckExact(is_scaffold))) {
        PyErr_SetString(PyExc_TypeError, "run_merges(): bad argument types (see the engine's call)");
        return NULL;
    }
    PairCountsObject *table = (PairCountsObject *)args[1];
    long long shift = as_small(args[9]);
    long long vocab_size, max_merges, protected_ids, id_space;
    if ((shift == -1 && PyErr_Occurred()) || saturating(args[11], &vocab_size) < 0 ||
        saturating(args[12], &max_merges) < 0 || saturating(args[16], &protected_ids) < 0 ||
        saturating(args[18], &id_space) < 0) {
        return NULL;
    }
    int reactivate = PyObject_IsTrue(args[17]);
    if (reactivate < 0) {
        return NULL;
    }
    if (shift < 1 || shift > 31) {
        PyErr_Format(PyExc_ValueError, "shift %lld is outside 1..31", shift);
        return NULL;
    }
    /* min_frequency compares with u64 counts: past 2**64 - 1 every count is below it */
    unsigned long long min_frequency = PyLong_AsUnsignedLongLong(args[13]);
    int every_count_below = 0;
    if (min_frequency == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
            return NULL;
        }
        PyErr_Clear();
        PyObject *zero = PyLong_FromLong(0);
        int negative = zero == NULL ? -1 : PyObject_RichCompareBool(args[13], zero, Py_LT);
        Py_XDECREF(zero);
        if (negative != 0) {
            if (negative > 0) {
                PyErr_SetString(PyExc_ValueError, "min_frequency must be >= 0");
            }
            return NULL;
        }
        every_count_below = 1;
    }
    StoreMerge job = {(WordStoreObject *)args[0], table, NULL, 0, 0, 0, LLONG_MAX, (int)shift, 0, 0};
    if (args[10] != Py_None) {
        if (saturating(args[10], &job.limit) < 0) {
            return NULL;
        }
        if (job.store->lengths == NULL) {
            PyErr_SetString(PyExc_ValueError, "a limit needs a WordStore built with lengths");
            return NULL;
        }
        job.limited = 1;
    }
    const long long mask = (1LL << shift) - 1;
    const char *stop_reason = "exhausted";
    Loop loop = {{NULL, 0, 0}, table, frequencies, is_scaffold, protected_ids, reactivate};
    Positions positions = {NULL, 0, 0};
    PyObject *result = NULL;
    long long reactivations = 0;

    /* The initial entries, one per pair in pair_words order (sequence numbers as in the Python loop). */
    Py_ssize_t iterator = 0;
    PyObject *pair_object, *words_object;
    while (PyDict_Next(pair_words, &iterator, &pair_object, &words_object)) {
        long long pair = table_key(pair_object);
        if (pair == -1 && PyErr_Occurred()) {
            goto done;
        }
        Entry entry = {current_count(table, pair), pair, positions.size, 1};
        if (heap_push(&loop.heap, entry) < 0 || positions_append(&positions, words_object) < 0) {
            goto done;
        }
    }
    Py_ssize_t size = PyList_GET_SIZE(keys); /* ids that count towards vocab_size */
    for (;;) {
        if (size >= vocab_size) {
            stop_reason = "vocab_size";
            break;
        }
        if (PyList_GET_SIZE(merges) >= max_merges) {
            stop_reason = "max_merges";
            break;
        }
        if (loop.heap.size == 0) {
            break;
        }
        Entry entry = heap_pop(&loop.heap);
        if (entry.kind == 0) {
            /* A Scaffold-BPE token item: valid while the token is scaffold at the frequency it was pushed with. */
            long long frequency = frequency_of(&loop, entry.item);
            if (frequency == -1 && PyErr_Occurred()) {
                goto done;
            }
            char *flags = PyByteArray_AS_STRING(is_scaffold);
            if (flags[entry.item] && frequency >= 0 && entry.count == (unsigned long long)frequency) {
                if (every_count_below || (unsigned long long)frequency < min_frequency) {
                    stop_reason = "min_frequency";
                    break;
                }
                flags[entry.item] = 0;
                size++;
                reactivations++;
            }
            continue;
        }
        /* subtle: HF reads the count as u64, so a negative count becomes huge and is merged next */
        unsigned long long count = current_count(table, entry.item);
        if (entry.count != count) {
            entry.count = count; /* stale: push back with the current count (and its word set) */
            if (heap_push(&loop.heap, entry) < 0) {
                goto done;
            }
            continue;
        }
        if (count < 1) {
            break; /* every remaining entry is stale at zero */
        }
        if (every_count_below || count < min_frequency) {
            stop_reason = "min_frequency";
            break;
        }
        PyObject *words = positions.items[entry.sequence];
        positions.items[entry.sequence] = NULL;
        long long left = entry.item >> shift, right = entry.item & mask;
        PyObject *merged_key = PyObject_CallFunctionObjArgs(join, PyList_GET_ITEM(keys, left),
                                                           PyList_GET_ITEM(keys, right), NULL);
        if (merged_key == NULL) {
            Py_DECREF(words);
            goto done;
        }
        PyObject *merged_object = PyDict_GetItemWithError(key_ids, merged_key); /* borrowed */
        long long merged;
        if (merged_object != NULL) {
            merged = as_small(merged_object);
            if (merged == -1 && PyErr_Occurred()) {
                Py_DECREF(merged_key);
                Py_DECREF(words);
                goto done;
            }
            if (is_scaffold != NULL && PyByteArray_AS_STRING(is_scaffold)[merged]) {
                PyByteArray_AS_STRING(is_scaffold)[merged] = 0; /* the pair rebuilt a scaffold token */
                size++;
                reactivations++;
            }
        }
        else {
            if (PyErr_Occurred()) {
                Py_DECREF(merged_key);
                Py_DECREF(words);
                goto done;
            }
            merged = PyList_GET_SIZE(keys);
            if (merged > mask) {
                PyErr_Format(PyExc_RuntimeError,
                             "Scaffold-BPE created %lld scaffold ids, more than the %lld ids the engine packs; "
                             "train with a larger vocab_size or ScaffoldRule(reactivate=True)",
                             merged - (long long)size, id_space);
                Py_DECREF(merged_key);
                Py_DECREF(words);
                goto done;
            }
            PyObject *new_id = PyLong_FromLongLong(merged);
            PyObject *new_length = new_id == NULL ? NULL
                : add_numbers(PyList_GET_ITEM(lengths, left), PyList_GET_ITEM(lengths, right), 1);
            PyObject *zero = new_length == NULL ? NULL : PyLong_FromLong(0);
            int status = zero == NULL ? -1
                : (PyList_Append(keys, merged_key) < 0 || PyDict_SetItem(key_ids, merged_key, new_id) < 0 ||
                   PyList_Append(lengths, new_length) < 0 || PyList_Append(frequencies, zero) < 0) ? -1 : 0;
            if (status == 0 && is_scaffold != NULL) {
                Py_ssize_t flags = PyByteArray_GET_SIZE(is_scaffold);
                status = PyByteArray_Resize(is_scaffold, flags + 1);
                if (status == 0) {
                    PyByteArray_AS_STRING(is_scaffold)[flags] = 0;
                }
            }
            Py_XDECREF(new_id);
            Py_XDECREF(new_length);
            Py_XDECREF(zero);
            if (status < 0) {
                Py_DECREF(merged_key);
                Py_DECREF(words);
                goto done;
            }
            size++;
        }
        Py_DECREF(merged_key);
        PyObject *merge = Py_BuildValue("(LLL)", left, right, merged);
        if (merge == NULL || PyList_Append(merges, merge) < 0) {
            Py_XDECREF(merge);
            Py_DECREF(words);
            goto done;
        }
        Py_DECREF(merge);

        job.left = left;
        job.right = right;
        job.merged = merged;
        job.merged_count = 0;
        job.created = PyDict_New();
        int status = job.created == NULL ? -1 : store_merge_positions(&job, words);
        Py_DECREF(words);
        PyObject *merged_count = status < 0 ? NULL : PyLong_FromLongLong(job.merged_count);
        if (merged_count == NULL) {
            Py_CLEAR(job.created);
            goto done;
        }
        status = (list_add(frequencies, merged, merged_count, 1) < 0 ||
                  list_add(frequencies, left, merged_count, -1) < 0 ||
                  list_add(frequencies, right, merged_count, -1) < 0) ? -1 : 0;
        Py_DECREF(merged_count);
        /* Entries for the pairs that gained occurrences, in `created` order, as the Python loop pushes them. */
        Py_ssize_t created_iterator = 0;
        PyObject *new_pair_object, *new_words;
        while (status == 0 && PyDict_Next(job.created, &created_iterator, &new_pair_object, &new_words)) {
            long long new_pair = table_key(new_pair_object);
            if (new_pair == -1 && PyErr_Occurred()) {
                status = -1;
                break;
            }
            Slot *found = table_find(table, new_pair);
            long long new_count = found->key == -1 ? 0 : found->value;
            if (new_count > 0) {
                Entry pushed = {(unsigned long long)new_count, new_pair, positions.size, 1};
                if (heap_push(&loop.heap, pushed) < 0 || positions_append(&positions, new_words) < 0) {
                    status = -1;
                }
            }
        }
        Py_CLEAR(job.created);
        if (status < 0) {
            goto done;
        }
        if (is_scaffold != NULL) {
            long long marked = mark_scaffolds(&loop, left, right);
            if (marked < 0) {
                goto done;
            }
            size -= (Py_ssize_t)marked;
        }
        if (on_merge != Py_None) {
            PyObject *called = PyObject_CallFunction(on_merge, "LLLK", left, right, merged, count);
            if (called == NULL) {
                goto done;
            }
            Py_DECREF(called);
        }
    }
    result = Py_BuildValue("(sL)", stop_reason, reactivations);

done:
    for (Py_ssize_t i = 0; i < positions.size; i++) {
        Py_XDECREF(positions.items[i]);
    }
    PyMem_Free(positions.items);
    PyMem_Free(loop.heap.items);
    return result;
}

static PyMethodDef methods[] = {
    {"merge_store", (PyCFunction)(void (*)(void))merge_store, METH_FASTCALL, merge_store_doc},
    {"run_merges", (PyCFunction)(void (*)(void))run_merges, METH_FASTCALL, run_merges_doc},
    {"counts_text", (PyCFunction)(void (*)(void))counts_text, METH_FASTCALL, counts_text_doc},
    {"store_from_flat", (PyCFunction)(void (*)(void))store_from_flat, METH_FASTCALL, store_from_flat_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "lexkit.vocab._merge_kernel",
    "The compiled merge loop of lexkit's BPE engine (see vocab/_merge_engine.py, the reference).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__merge_kernel(void)
{
    if (PyType_Ready(&PairCountsType) < 0 || PyType_Ready(&WordStoreType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&PairCountsType);
    if (PyModule_AddObject(module, "PairCounts", (PyObject *)&PairCountsType) < 0) {
        Py_DECREF(&PairCountsType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&WordStoreType);
    if (PyModule_AddObject(module, "WordStore", (PyObject *)&WordStoreType) < 0) {
        Py_DECREF(&WordStoreType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
