/* Pre-token counting for the built-in split patterns, compiled (lexkit.corpus._split_kernel).
 *
 * `Counts(pattern, classes, fallback)` accumulates the raw pre-token counts of text split with the GPT-2 (0),
 * cl100k (1) or o200k (2) pattern: `count_texts(list of str)` adds text items, `count_block(bytes)` adds the
 * lines of a UTF-8 file block (HF's items: each ends after "\n") without making a str per line, and `take()`
 * returns a Counter with keys in order of first occurrence (the order `Counter.update` over `regex.findall`
 * gives) and empties the table. Pure-ASCII items (PyUnicode_IS_ASCII, O(1); for blocks, a word-at-a-time byte
 * test) are scanned here, in place, by a hand-written matcher of the pattern; any other item goes to
 * `fallback(text)` (`regex.findall` of the same pattern) and its pieces are counted in the same table, so the
 * result never depends on which path an item took. `add_counts(counts, partial)` is `Counter.update` for the
 * reduction of partial counts. `lexkit/corpus/splitting.py` is the caller and ``regex`` the reference:
 * tests/lexkit/test_split_kernel.py compares the two on real and adversarial text.
 *
 * The matchers follow the patterns' alternation and backtracking rules on ASCII input, where every character
 * is in exactly one of letter (L), digit (N), whitespace (S) or other (O) (the caller builds `classes` from
 * `regex` itself: 128 bytes of flags L=1, N=2, S=4, and for o200k U=8 for [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}],
 * W=16 for [\p{Ll}\p{Lm}\p{Lo}\p{M}]). Each pattern tiles every text (some alternative matches at every
 * position and none matches empty), so findall is the sequence of matches taken end to end.
 *
 * Distinct pre-tokens live in one open-addressing table of (key, length, hash, count) entries in insertion
 * order, the keys' bytes copied into an arena, so a table outlives the blocks it counted and Python strings
 * are made once per distinct pre-token, by `take()`.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { CL_L = 1, CL_N = 2, CL_S = 4, CL_U = 8, CL_W = 16 };
enum { PATTERN_GPT2 = 0, PATTERN_CL100K = 1, PATTERN_O200K = 2 };

/* ---- the matchers: end of the match that starts at i (i < n) ---------------------------------------- */

#define IS(flag, k) (cls[s[k]] & (flag))
#define IS_O(k) (!(cls[s[k]] & (CL_L | CL_N | CL_S)))

static inline Py_ssize_t
run_of(const unsigned char *s, const unsigned char *cls, Py_ssize_t k, Py_ssize_t n, unsigned char flag)
{
    while (k < n && (cls[s[k]] & flag)) {
        k++;
    }
    return k;
}

static inline Py_ssize_t
run_of_other(const unsigned char *s, const unsigned char *cls, Py_ssize_t k, Py_ssize_t n)
{
    while (k < n && IS_O(k)) {
        k++;
    }
    return k;
}

static inline unsigned char
lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d at i (s[i] == '\''), case-insensitive or not: the match end, or 0. */
static inline Py_ssize_t
contraction(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, int fold)
{
    if (i + 1 >= n) {
        return 0;
    }
    unsigned char d = fold ? lower(s[i + 1]) : s[i + 1];
    if (d == 's' || d == 't' || d == 'm' || d == 'd') {
        return i + 2;
    }
    if (i + 2 >= n) {
        return 0;
    }
    unsigned char e = fold ? lower(s[i + 2]) : s[i + 2];
    if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
        return i + 3;
    }
    return 0;
}

/* \s+(?!\S)|\s+ at i (s[i] whitespace), given the end j of the whitespace run. */
static inline Py_ssize_t
trailing_space(Py_ssize_t i, Py_ssize_t j, Py_ssize_t n)
{
    if (j == n) {
        return n;
    }
    return j - i >= 2 ? j - 1 : i + 1;
}

/* \s*[\r\n]+|\s+(?!\S)|\s+ at i (s[i] whitespace): cl100k's and o200k's whitespace tail. */
static inline Py_ssize_t
newline_space(const unsigned char *s, const unsigned char *cls, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t j = run_of(s, cls, i, n, CL_S);
    for (Py_ssize_t p = j - 1; p >= i; p--) {  /* \s* gives back until [\r\n]+ can start */
        if (s[p] == '\r' || s[p] == '\n') {
            return p + 1;
        }
    }
    return trailing_space(i, j, n);
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static Py_ssize_t
match_gpt2(const unsigned char *s, const unsigned char *cls, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char c = s[i];
    if (c == '\'') {
        Py_ssize_t end = contraction(s, i, n, 0);
        if (end) {
            return end;
        }
    }
    Py_ssize_t start = (c == ' ' && i + 1 < n) ? i + 1 : i;  /* the optional space */
    for (int with_space = start > i; with_space >= 0; with_space--, start = i) {
        if (IS(CL_L, start)) {
            return run_of(s, cls, start, n, CL_L);
        }
        if (IS(CL_N, start)) {
            return run_of(s, cls, start, n, CL_N);
        }
        if (IS_O(start)) {
            return run_of_other(s, cls, start, n);
        }
    }
    return trailing_space(i, run_of(s, cls, i, n, CL_S), n);
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
 * \s+(?!\S)|\s+ */
static Py_ssize_t
match_cl100k(const unsigned char *s, const unsigned char *cls, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char c = s[i];
    if (c == '\'') {
        Py_ssize_t end = contraction(s, i, n, 1);
        if (end) {
            return end;
        }
    }
    if (IS(CL_L, i)) {
        return run_of(s, cls, i, n, CL_L);
    }
    if (c != '\r' && c != '\n' && !IS(CL_N, i) && i + 1 < n && IS(CL_L, i + 1)) {
        return run_of(s, cls, i + 1, n, CL_L);
    }
    if (IS(CL_N, i)) {
        Py_ssize_t k = i + 1;
        while (k < n && k - i < 3 && IS(CL_N, k)) {
            k++;
        }
        return k;
    }
    Py_ssize_t start = (c == ' ' && i + 1 < n && IS_O(i + 1)) ? i + 1 : i;
    if (IS_O(start)) {
        Py_ssize_t k = run_of_other(s, cls, start, n);
        while (k < n && (s[k] == '\r' || s[k] == '\n')) {
            k++;
        }
        return k;
    }
    return newline_space(s, cls, i, n);
}

/* o200k: [^\r\n\p{L}\p{N}]?U*W+(?i:'s|...)?|[^\r\n\p{L}\p{N}]?U+W*(?i:'s|...)?|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+  (U, W: the two letter classes; disjoint on ASCII) */
static Py_ssize_t
match_o200k(const unsigned char *s, const unsigned char *cls, Py_ssize_t i, Py_ssize_t n)
{
    unsigned char c = s[i];
    Py_ssize_t start = -1;
    if (IS(CL_U | CL_W, i)) {
        start = i;
    }
    else if (c != '\r' && c != '\n' && !IS(CL_L | CL_N, i) && i + 1 < n && IS(CL_U | CL_W, i + 1)) {
        start = i + 1;
    }
    if (start >= 0) {
        /* U*W+ when W letters follow the U run (the first alternative), else U+ (the second) */
        Py_ssize_t k = run_of(s, cls, start, n, CL_U);
        k = run_of(s, cls, k, n, CL_W);
        if (k < n && s[k] == '\'') {
            Py_ssize_t end = contraction(s, k, n, 1);
            if (end) {
                return end;
            }
        }
        return k;
    }
    if (IS(CL_N, i)) {
        Py_ssize_t k = i + 1;
        while (k < n && k - i < 3 && IS(CL_N, k)) {
            k++;
        }
        return k;
    }
    start = (c == ' ' && i + 1 < n && IS_O(i + 1)) ? i + 1 : i;
    if (IS_O(start)) {
        Py_ssize_t k = run_of_other(s, cls, start, n);
        while (k < n && (s[k] == '\r' || s[k] == '\n' || s[k] == '/')) {
            k++;
        }
        return k;
    }
    return newline_space(s, cls, i, n);
}

typedef Py_ssize_t (*matcher)(const unsigned char *, const unsigned char *, Py_ssize_t, Py_ssize_t);

/* ---- the table of distinct pre-tokens --------------------------------------------------------------- */

typedef struct {
    const char *key;     /* in the table's arena */
    Py_ssize_t length;
    uint64_t hash;
    long long count;
} Entry;

typedef struct Chunk {
    struct Chunk *next;
    char data[];
} Chunk;

typedef struct {
    Entry *entries;      /* in order of first occurrence */
    Py_ssize_t size;
    Py_ssize_t capacity;
    int32_t *slots;      /* index into entries, -1 when empty; a power of two, at most half full */
    uint64_t mask;
    Chunk *chunks;       /* the arena holding every key's bytes */
    char *cursor;
    size_t room;
} Table;

enum { CHUNK_BYTES = 1 << 20, FIRST_SLOTS = 2048 };

static void
table_free(Table *table)
{
    PyMem_Free(table->entries);
    PyMem_Free(table->slots);
    while (table->chunks != NULL) {
        Chunk *next = table->chunks->next;
        PyMem_Free(table->chunks);
        table->chunks = next;
    }
    memset(table, 0, sizeof(Table));
}

static int
table_init(Table *table)
{
    memset(table, 0, sizeof(Table));
    table->capacity = FIRST_SLOTS / 2;
    table->mask = FIRST_SLOTS - 1;
    table->entries = PyMem_Malloc(sizeof(Entry) * (size_t)table->capacity);
    table->slots = PyMem_Malloc(sizeof(int32_t) * FIRST_SLOTS);
    if (table->entries == NULL || table->slots == NULL) {
        table_free(table);
        PyErr_NoMemory();
        return -1;
    }
    memset(table->slots, 0xff, sizeof(int32_t) * FIRST_SLOTS);
    return 0;
}

static inline uint64_t
hash_bytes(const char *key, Py_ssize_t length)
{
    uint64_t h = 0xcbf29ce484222325ULL;  /* FNV-1a, then a final mix for the low bits */
    for (Py_ssize_t k = 0; k < length; k++) {
        h = (h ^ (unsigned char)key[k]) * 0x100000001b3ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static int
table_grow(Table *table)
{
    uint64_t mask = table->mask * 2 + 1;
    if (mask + 1 > (uint64_t)INT32_MAX) {
        PyErr_SetString(PyExc_MemoryError, "more than 2**30 distinct pre-tokens");
        return -1;
    }
    int32_t *slots = PyMem_Malloc(sizeof(int32_t) * (size_t)(mask + 1));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0xff, sizeof(int32_t) * (size_t)(mask + 1));
    for (Py_ssize_t e = 0; e < table->size; e++) {
        uint64_t slot = table->entries[e].hash & mask;
        while (slots[slot] >= 0) {
            slot = (slot + 1) & mask;
        }
        slots[slot] = (int32_t)e;
    }
    PyMem_Free(table->slots);
    table->slots = slots;
    table->mask = mask;
    return 0;
}

/* A copy of key in the arena, so the table outlives the text it was counted from. */
static const char *
arena_copy(Table *table, const char *key, Py_ssize_t length)
{
    if ((size_t)length > table->room) {
        size_t size = (size_t)length > CHUNK_BYTES ? (size_t)length : CHUNK_BYTES;
        Chunk *chunk = PyMem_Malloc(sizeof(Chunk) + size);
        if (chunk == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        chunk->next = table->chunks;
        table->chunks = chunk;
        table->cursor = chunk->data;
        table->room = size;
    }
    char *copy = table->cursor;
    memcpy(copy, key, (size_t)length);
    table->cursor += length;
    table->room -= (size_t)length;
    return copy;
}

static inline int
table_add(Table *table, const char *key, Py_ssize_t length, long long count)
{
    uint64_t hash = hash_bytes(key, length);
    uint64_t slot = hash & table->mask;
    for (;;) {
        int32_t e = table->slots[slot];
        if (e < 0) {
            break;
        }
        Entry *entry = &table->entries[e];
        if (entry->hash == hash && entry->length == length && memcmp(entry->key, key, (size_t)length) == 0) {
            entry->count += count;
            return 0;
        }
        slot = (slot + 1) & table->mask;
    }
    if (table->size == table->capacity) {
        Entry *entries = PyMem_Realloc(table->entries, sizeof(Entry) * (size_t)table->capacity * 2);
        if (entries == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        table->entries = entries;
        table->capacity *= 2;
    }
    const char *copy = arena_copy(table, key, length);
    if (copy == NULL) {
        return -1;
    }
    table->slots[slot] = (int32_t)table->size;
    table->entries[table->size++] = (Entry){copy, length, hash, count};
    if ((uint64_t)table->size * 2 > table->mask) {
        return table_grow(table);
    }
    return 0;
}

/* Add every entry's count to counts[key] (a new key goes to the end, as in Counter.update). */
static int
table_flush(Table *table, PyObject *counts)
{
    for (Py_ssize_t e = 0; e < table->size; e++) {
        Entry *entry = &table->entries[e];
        PyObject *key = PyUnicode_DecodeUTF8(entry->key, entry->length, "surrogatepass");
        if (key == NULL) {
            return -1;
        }
        PyObject *old = PyDict_GetItemWithError(counts, key);
        PyObject *value;
        if (old != NULL) {
            PyObject *add = PyLong_FromLongLong(entry->count);
            value = add == NULL ? NULL : PyNumber_Add(old, add);
            Py_XDECREF(add);
        }
        else if (PyErr_Occurred()) {
            value = NULL;
        }
        else {
            value = PyLong_FromLongLong(entry->count);
        }
        int failed = value == NULL || PyDict_SetItem(counts, key, value) < 0;
        Py_XDECREF(value);
        Py_DECREF(key);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

/* ---- counting text ----------------------------------------------------------------------------------- */

/* Split the ASCII text s[0:n] and count its pre-tokens. */
static int
count_ascii(Table *table, matcher match, const unsigned char *cls, const unsigned char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t end = match(s, cls, i, n);
        if (table_add(table, (const char *)s + i, end - i, 1) < 0) {
            return -1;
        }
        i = end;
    }
    return 0;
}

/* Count the pieces fallback(text) returns. */
static int
count_fallback(Table *table, PyObject *fallback, PyObject *text)
{
    PyObject *pieces = PyObject_CallOneArg(fallback, text);
    if (pieces == NULL) {
        return -1;
    }
    if (!PyList_Check(pieces)) {
        Py_DECREF(pieces);
        PyErr_SetString(PyExc_TypeError, "fallback must return a list of str");
        return -1;
    }
    int status = 0;
    for (Py_ssize_t p = 0; status == 0 && p < PyList_GET_SIZE(pieces); p++) {
        PyObject *piece = PyList_GET_ITEM(pieces, p);
        if (!PyUnicode_Check(piece)) {
            PyErr_SetString(PyExc_TypeError, "fallback must return a list of str");
            status = -1;
            break;
        }
        Py_ssize_t length;
        const char *key = PyUnicode_AsUTF8AndSize(piece, &length);
        if (key != NULL) {
            status = table_add(table, key, length, 1);
            continue;
        }
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            status = -1;
            break;
        }
        /* lone surrogates: counted under their surrogatepass bytes, decoded back the same way */
        PyErr_Clear();
        PyObject *raw = PyUnicode_AsEncodedString(piece, "utf-8", "surrogatepass");
        status = raw == NULL ? -1 : table_add(table, PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), 1);
        Py_XDECREF(raw);
    }
    Py_DECREF(pieces);
    return status;
}

static matcher
matcher_of(PyObject *number)
{
    long pattern = PyLong_AsLong(number);
    if (pattern == -1 && PyErr_Occurred()) {
        return NULL;
    }
    matcher match = pattern == PATTERN_GPT2 ? match_gpt2 : pattern == PATTERN_CL100K ? match_cl100k
                    : pattern == PATTERN_O200K ? match_o200k : NULL;
    if (match == NULL) {
        PyErr_Format(PyExc_ValueError, "pattern must be 0 (gpt2), 1 (cl100k) or 2 (o200k), not %ld", pattern);
    }
    return match;
}

static inline int
is_ascii(const unsigned char *s, Py_ssize_t n)
{
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t word;
        memcpy(&word, s + k, 8);
        if (word & 0x8080808080808080ULL) {
            return 0;
        }
    }
    for (; k < n; k++) {
        if (s[k] & 0x80) {
            return 0;
        }
    }
    return 1;
}

static inline Py_ssize_t
line_end(const unsigned char *s, Py_ssize_t start, Py_ssize_t n)
{
    const unsigned char *newline = memchr(s + start, '\n', (size_t)(n - start));
    return newline == NULL ? n : newline - s + 1;
}

/* ---- the Counts type --------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Table table;
    matcher match;
    PyObject *classes;   /* bytes (128) */
    PyObject *fallback;
} Counts;

static void
Counts_dealloc(Counts *self)
{
    table_free(&self->table);
    Py_XDECREF(self->classes);
    Py_XDECREF(self->fallback);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Counts_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *pattern, *classes, *fallback;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Counts takes positional arguments only");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OSO:Counts", &pattern, &classes, &fallback)) {
        return NULL;
    }
    matcher match = matcher_of(pattern);
    if (match == NULL) {
        return NULL;
    }
    if (PyBytes_GET_SIZE(classes) != 128 || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "Counts(pattern: int, classes: bytes (128), fallback: callable)");
        return NULL;
    }
    Counts *self = (Counts *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    if (table_init(&self->table) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->match = match;
    self->classes = Py_NewRef(classes);
    self->fallback = Py_NewRef(fallback);
    return (PyObject *)self;
}

static PyObject *
Counts_count_texts(Counts *self, PyObject *texts)
{
    if (!PyList_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "count_texts takes a list of str");
        return NULL;
    }
    const unsigned char *cls = (const unsigned char *)PyBytes_AS_STRING(self->classes);
    /* subtle: a private copy of the list keeps its items alive while they are scanned */
    PyObject *items = PyList_GetSlice(texts, 0, PyList_GET_SIZE(texts));
    if (items == NULL) {
        return NULL;
    }
    int status = 0;
    for (Py_ssize_t t = 0; status == 0 && t < PyList_GET_SIZE(items); t++) {
        PyObject *text = PyList_GET_ITEM(items, t);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "text item %zd is %.100s, not str", t, Py_TYPE(text)->tp_name);
            status = -1;
        }
        else if (PyUnicode_IS_ASCII(text)) {
            status = count_ascii(&self->table, self->match, cls, PyUnicode_1BYTE_DATA(text),
                                 PyUnicode_GET_LENGTH(text));
        }
        else {
            status = count_fallback(&self->table, self->fallback, text);
        }
    }
    Py_DECREF(items);
    if (status < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Counts_count_block(Counts *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "count_block takes bytes");
        return NULL;
    }
    const unsigned char *cls = (const unsigned char *)PyBytes_AS_STRING(self->classes);
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data), lines = 0;
    /* First decode every non-ASCII line, so invalid UTF-8 raises before anything is counted. */
    PyObject *decoded = PyList_New(0);
    if (decoded == NULL) {
        return NULL;
    }
    int status = 0;
    for (Py_ssize_t start = 0; status == 0 && start < n; lines++) {
        Py_ssize_t end = line_end(s, start, n);
        if (!is_ascii(s + start, end - start)) {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)s + start, end - start, "strict");
            status = text == NULL ? -1 : PyList_Append(decoded, text);
            Py_XDECREF(text);
        }
        start = end;
    }
    Py_ssize_t next = 0;
    for (Py_ssize_t start = 0; status == 0 && start < n;) {
        Py_ssize_t end = line_end(s, start, n);
        if (is_ascii(s + start, end - start)) {
            status = count_ascii(&self->table, self->match, cls, s + start, end - start);
        }
        else {
            status = count_fallback(&self->table, self->fallback, PyList_GET_ITEM(decoded, next++));
        }
        start = end;
    }
    Py_DECREF(decoded);
    return status < 0 ? NULL : PyLong_FromSsize_t(lines);
}

/* An empty collections.Counter (what the take methods fill), or NULL with the error set. */
static PyObject *
new_counter(void)
{
    PyObject *counter_type = NULL, *counts = NULL;
    PyObject *collections = PyImport_ImportModule("collections");
    if (collections != NULL) {
        counter_type = PyObject_GetAttrString(collections, "Counter");
        Py_DECREF(collections);
    }
    if (counter_type != NULL) {
        counts = PyObject_CallNoArgs(counter_type);
        Py_DECREF(counter_type);
    }
    return counts;
}

static PyObject *
Counts_take(Counts *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *counts = new_counter();
    if (counts == NULL) {
        return NULL;
    }
    Table fresh;
    if (table_flush(&self->table, counts) < 0 || table_init(&fresh) < 0) {
        Py_DECREF(counts);
        return NULL;
    }
    table_free(&self->table);
    self->table = fresh;
    return counts;
}

/* Packed counts: for each entry in table order, its count (int64), its key's length (int64) and its UTF-8
 * bytes, native byte order. One bytes object crosses a process boundary (pickled as one buffer) where a
 * Counter would cost a str and an int per key to build, pickle, unpickle and add. */
static PyObject *
Counts_take_packed(Counts *self, PyObject *Py_UNUSED(ignored))
{
    Table *table = &self->table;
    size_t total = 0;
    for (Py_ssize_t e = 0; e < table->size; e++) {
        total += 2 * sizeof(int64_t) + (size_t)table->entries[e].length;
    }
    PyObject *packed = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total);
    if (packed == NULL) {
        return NULL;
    }
    char *out = PyBytes_AS_STRING(packed);
    for (Py_ssize_t e = 0; e < table->size; e++) {
        Entry *entry = &table->entries[e];
        int64_t head[2] = {entry->count, entry->length};
        memcpy(out, head, sizeof(head));
        memcpy(out + sizeof(head), entry->key, (size_t)entry->length);
        out += sizeof(head) + (size_t)entry->length;
    }
    Table fresh;
    if (table_init(&fresh) < 0) {
        Py_DECREF(packed);
        return NULL;
    }
    table_free(table);
    self->table = fresh;
    return packed;
}

static PyObject *
Counts_add_packed(Counts *self, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "add_packed takes the bytes of take_packed()");
        return NULL;
    }
    const char *at = PyBytes_AS_STRING(data), *end = at + PyBytes_GET_SIZE(data);
    while (at < end) {
        int64_t head[2];
        if ((size_t)(end - at) < sizeof(head)) {
            break;
        }
        memcpy(head, at, sizeof(head));
        at += sizeof(head);
        if (head[1] < 0 || head[1] > end - at) {
            break;
        }
        if (table_add(&self->table, at, (Py_ssize_t)head[1], head[0]) < 0) {
            return NULL;
        }
        at += head[1];
    }
    if (at != end) {
        PyErr_SetString(PyExc_ValueError, "add_packed: the bytes are not the output of take_packed()");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* take() with every key mapped through a byte -> character table (`table`: a str of 256 characters, all
 * distinct, so distinct keys stay distinct): ByteLevel's surface form built straight from the UTF-8 bytes,
 * without the raw str and a Python translate per key. */
static PyObject *
Counts_take_surface(Counts *self, PyObject *table)
{
    if (!PyUnicode_Check(table) || PyUnicode_GET_LENGTH(table) != 256) {
        PyErr_SetString(PyExc_TypeError, "take_surface takes a str of 256 characters (the byte -> character map)");
        return NULL;
    }
    Py_UCS4 map[256];
    for (int b = 0; b < 256; b++) {
        map[b] = PyUnicode_READ_CHAR(table, b);
    }
    PyObject *counts = new_counter();
    if (counts == NULL) {
        return NULL;
    }
    Table *entries = &self->table;
    for (Py_ssize_t e = 0; e < entries->size; e++) {
        Entry *entry = &entries->entries[e];
        const unsigned char *bytes = (const unsigned char *)entry->key;
        Py_UCS4 widest = 0;
        for (Py_ssize_t j = 0; j < entry->length; j++) {
            widest = map[bytes[j]] > widest ? map[bytes[j]] : widest;
        }
        PyObject *key = PyUnicode_New(entry->length, widest);
        if (key == NULL) {
            Py_DECREF(counts);
            return NULL;
        }
        int kind = PyUnicode_KIND(key);
        void *data = PyUnicode_DATA(key);
        for (Py_ssize_t j = 0; j < entry->length; j++) {
            PyUnicode_WRITE(kind, data, j, map[bytes[j]]);
        }
        PyObject *value = PyLong_FromLongLong(entry->count);
        int failed = value == NULL || PyDict_SetItem(counts, key, value) < 0;
        Py_XDECREF(value);
        Py_DECREF(key);
        if (failed) {
            Py_DECREF(counts);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(counts) != entries->size) {
        Py_DECREF(counts);
        PyErr_SetString(PyExc_ValueError, "take_surface: the table maps two bytes to one character");
        return NULL;
    }
    Table fresh;
    if (table_init(&fresh) < 0) {
        Py_DECREF(counts);
        return NULL;
    }
    table_free(entries);
    self->table = fresh;
    return counts;
}

static Py_ssize_t
Counts_len(Counts *self)
{
    return self->table.size;
}

static PyMethodDef Counts_methods[] = {
    {"count_texts", (PyCFunction)Counts_count_texts, METH_O,
     "count_texts(texts: list[str]) -> None: add the pre-tokens of every item."},
    {"count_block", (PyCFunction)Counts_count_block, METH_O,
     "count_block(data: bytes) -> int: add the pre-tokens of every line of the UTF-8 block (each ends after\n"
     "\"\\n\"; the last may have none); returns the number of lines. Invalid UTF-8 raises UnicodeDecodeError\n"
     "before anything is added."},
    {"take", (PyCFunction)Counts_take, METH_NOARGS,
     "take() -> Counter: the counts so far, keys in order of first occurrence; the table starts empty again."},
    {"take_surface", (PyCFunction)Counts_take_surface, METH_O,
     "take_surface(table: str) -> Counter: take() with each key's UTF-8 bytes mapped through `table` (256\n"
     "distinct characters: ByteLevel's surface form); the table starts empty again."},
    {"take_packed", (PyCFunction)Counts_take_packed, METH_NOARGS,
     "take_packed() -> bytes: the counts so far, packed for add_packed (same order); the table starts empty again."},
    {"add_packed", (PyCFunction)Counts_add_packed, METH_O,
     "add_packed(packed: bytes) -> None: add the counts of a take_packed() result (new keys at the end, in its\n"
     "order), as if its text had been counted here."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Counts_as_sequence = {
    .sq_length = (lenfunc)Counts_len,
};

PyDoc_STRVAR(Counts_doc,
"Counts(pattern, classes, fallback, /)\n\n"
"Raw pre-token counts under split pattern 0 (GPT-2), 1 (cl100k) or 2 (o200k): ASCII text is split here\n"
"with `classes` (128 bytes of character-class flags), other text by `fallback(text) -> list[str]`.");

static PyTypeObject CountsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lexkit.corpus._split_kernel.Counts",
    .tp_basicsize = sizeof(Counts),
    .tp_dealloc = (destructor)Counts_dealloc,
    .tp_as_sequence = &Counts_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Counts_doc,
    .tp_methods = Counts_methods,
    .tp_new = Counts_new,
};

/* ---- add_counts -------------------------------------------------------------------------------------- */

PyDoc_STRVAR(add_counts_doc,
"add_counts(counts, partial, /) -> None\n\n"
"counts[key] += value for every item of the dict `partial` (new keys at the end, in `partial`'s order): what\n"
"Counter.update(partial) does, without its Python loop.");

static PyObject *
add_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyDict_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "add_counts(counts: dict, partial: dict)");
        return NULL;
    }
    PyObject *counts = args[0], *key, *value;
    Py_ssize_t position = 0;
    while (PyDict_Next(args[1], &position, &key, &value)) {
        PyObject *old = PyDict_GetItemWithError(counts, key);
        if (old == NULL && PyErr_Occurred()) {
            return NULL;
        }
        PyObject *sum = old == NULL ? Py_NewRef(value) : PyNumber_Add(old, value);
        if (sum == NULL) {
            return NULL;
        }
        int failed = PyDict_SetItem(counts, key, sum) < 0;
        Py_DECREF(sum);
        if (failed) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"add_counts", (PyCFunction)(void (*)(void))add_counts, METH_FASTCALL, add_counts_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT,
    "lexkit.corpus._split_kernel",
    "Compiled pre-token counting for the GPT-2, cl100k and o200k split patterns (see lexkit/corpus/splitting.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__split_kernel(void)
{
    if (PyType_Ready(&CountsType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Counts", (PyObject *)&CountsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
