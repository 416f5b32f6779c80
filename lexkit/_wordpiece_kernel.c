/* BERT's encode pipeline in one C pass (lexkit._wordpiece_kernel); `lexkit._wordpiece` builds and wraps it.
 *
 * Per character of the input `str`: the normalizer as a per-code-point table (the caller fills it by running
 * HF's own normalizer on every code point, so it is HF's behaviour by construction), then BERT's
 * pre-tokenizer (a class per code point, probed from HF the same way: white space ends a word and is dropped,
 * punctuation is a word of its own), then WordPiece on each word's UTF-8 bytes: greedy longest match first
 * over an open-addressing hash of the vocabulary, continuation pieces looked up with their prefix (``##``);
 * a word with more than `max_chars` characters, or with a part no piece matches, is one unknown token.
 *
 * Map values: an offset into the pool (``pool[offset]`` = output length, then the code points), or one of
 * MAP_SAME (the character itself), MAP_SURROGATE (a lone surrogate: the text is not Unicode) and MAP_ROUTE
 * (a character whose output the per-character table cannot give in every context: the caller encodes that
 * text with HF). The encode loop runs without the GIL, so the caller may run batches in several threads.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CODE_POINTS 0x110000
#define MAP_SAME 0xFFFFFFFFu
#define MAP_SURROGATE 0xFFFFFFFEu
#define MAP_ROUTE 0xFFFFFFFDu
#define CLASS_WORD 0
#define CLASS_SPACE 1
#define CLASS_PUNCT 2
#define MAX_PREFIX 16

typedef struct {
    uint32_t *map;
    uint32_t *pool;
    Py_ssize_t pool_len;
    uint8_t *classes;
    /* vocabulary hash: slots hold entry index + 1 (0: empty) */
    uint32_t *slots;
    uint64_t mask;
    uint64_t *hashes;
    uint32_t *starts, *lengths, *ids;
    char *bytes;
    Py_ssize_t max_len;
    uint32_t unk;
    Py_ssize_t max_chars;
    char prefix[MAX_PREFIX];
    Py_ssize_t prefix_len;
} Model;

static uint64_t
hash_bytes(const char *data, Py_ssize_t size)
{
    uint64_t h = 1469598103934665603ull;  /* FNV-1a */
    for (Py_ssize_t i = 0; i < size; i++) {
        h ^= (uint8_t)data[i];
        h *= 1099511628211ull;
    }
    return h;
}

static inline int64_t
lookup(const Model *m, const char *key, Py_ssize_t size)
{
    uint64_t h = hash_bytes(key, size);
    for (uint64_t slot = h & m->mask;; slot = (slot + 1) & m->mask) {
        uint32_t entry = m->slots[slot];
        if (entry == 0) {
            return -1;
        }
        entry -= 1;
        if (m->hashes[entry] == h && m->lengths[entry] == (uint32_t)size
                && memcmp(m->bytes + m->starts[entry], key, (size_t)size) == 0) {
            return m->ids[entry];
        }
    }
}

static void
model_free(Model *m)
{
    if (m == NULL) {
        return;
    }
    free(m->map); free(m->pool); free(m->classes); free(m->slots); free(m->hashes);
    free(m->starts); free(m->lengths); free(m->ids); free(m->bytes);
    free(m);
}

static void
capsule_free(PyObject *capsule)
{
    model_free(PyCapsule_GetPointer(capsule, "lexkit._wordpiece_kernel.Model"));
}

static int
copy_buffer(PyObject *object, Py_ssize_t item, Py_ssize_t expected, void **out, Py_ssize_t *count, const char *name)
{
    Py_buffer view;
    if (PyObject_GetBuffer(object, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view.len % item != 0 || (expected >= 0 && view.len != expected * item)) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %zd", name, view.len, expected * item);
        PyBuffer_Release(&view);
        return -1;
    }
    *out = malloc(view.len ? (size_t)view.len : 1);
    if (*out == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*out, view.buf, (size_t)view.len);
    *count = view.len / item;
    PyBuffer_Release(&view);
    return 0;
}

/* new_model(map, pool, classes, tokens, ids, unk, prefix, max_chars) -> capsule */
static PyObject *
new_model(PyObject *self, PyObject *args)
{
    PyObject *map, *pool, *classes, *tokens, *ids;
    unsigned int unk;
    const char *prefix;
    Py_ssize_t prefix_len, max_chars, count;
    if (!PyArg_ParseTuple(args, "OOOO!O!Iy#n", &map, &pool, &classes, &PyList_Type, &tokens, &PyList_Type, &ids,
                          &unk, &prefix, &prefix_len, &max_chars)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(tokens);
    if (PyList_GET_SIZE(ids) != n || prefix_len > MAX_PREFIX || max_chars < 0) {
        PyErr_SetString(PyExc_ValueError, "tokens and ids differ in length, or the prefix or max_chars is invalid");
        return NULL;
    }
    Model *m = calloc(1, sizeof(Model));
    if (m == NULL) {
        return PyErr_NoMemory();
    }
    if (copy_buffer(map, 4, CODE_POINTS, (void **)&m->map, &count, "map") < 0
            || copy_buffer(pool, 4, -1, (void **)&m->pool, &m->pool_len, "pool") < 0
            || copy_buffer(classes, 1, CODE_POINTS, (void **)&m->classes, &count, "classes") < 0) {
        model_free(m);
        return NULL;
    }
    for (Py_ssize_t cp = 0; cp < CODE_POINTS; cp++) {  /* every pool reference must stay inside the pool */
        uint32_t v = m->map[cp];
        if (v < MAP_ROUTE && ((Py_ssize_t)v >= m->pool_len || (Py_ssize_t)v + 1 + m->pool[v] > m->pool_len)) {
            model_free(m);
            PyErr_Format(PyExc_ValueError, "map entry of U+%04zX points outside the pool", cp);
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < m->pool_len; i++) {
        if (m->pool[i] >= CODE_POINTS) {  /* lengths and code points: both below 0x110000 */
            model_free(m);
            PyErr_SetString(PyExc_ValueError, "pool holds a value outside Unicode");
            return NULL;
        }
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyList_GET_ITEM(tokens, i);
        if (!PyBytes_Check(token)) {
            model_free(m);
            PyErr_SetString(PyExc_TypeError, "tokens must be bytes");
            return NULL;
        }
        total += PyBytes_GET_SIZE(token);
    }
    uint64_t size = 16;
    while (size < (uint64_t)n * 2) {
        size *= 2;
    }
    m->mask = size - 1;
    m->slots = calloc(size, sizeof(uint32_t));
    m->hashes = malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
    m->starts = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    m->lengths = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    m->ids = malloc((size_t)(n ? n : 1) * sizeof(uint32_t));
    m->bytes = malloc((size_t)(total ? total : 1));
    if (!m->slots || !m->hashes || !m->starts || !m->lengths || !m->ids || !m->bytes) {
        model_free(m);
        return PyErr_NoMemory();
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *token = PyList_GET_ITEM(tokens, i);
        Py_ssize_t len = PyBytes_GET_SIZE(token);
        unsigned long id = PyLong_AsUnsignedLong(PyList_GET_ITEM(ids, i));
        if (PyErr_Occurred()) {
            model_free(m);
            return NULL;
        }
        memcpy(m->bytes + at, PyBytes_AS_STRING(token), (size_t)len);
        m->starts[i] = (uint32_t)at;
        m->lengths[i] = (uint32_t)len;
        m->ids[i] = (uint32_t)id;
        m->hashes[i] = hash_bytes(m->bytes + at, len);
        if (lookup(m, m->bytes + at, len) < 0) {  /* a duplicate keeps its first id */
            uint64_t slot = m->hashes[i] & m->mask;
            while (m->slots[slot]) {
                slot = (slot + 1) & m->mask;
            }
            m->slots[slot] = (uint32_t)i + 1;
        }
        if (len > m->max_len) {
            m->max_len = len;
        }
        at += len;
    }
    m->unk = unk;
    m->max_chars = max_chars;
    memcpy(m->prefix, prefix, (size_t)prefix_len);
    m->prefix_len = prefix_len;
    PyObject *capsule = PyCapsule_New(m, "lexkit._wordpiece_kernel.Model", capsule_free);
    if (capsule == NULL) {
        model_free(m);
    }
    return capsule;
}

/* ---- encoding (no GIL) ---------------------------------------------------------------------------- */

typedef struct {
    uint32_t *data;
    size_t size, capacity;
} Ids;

static int
ids_push(Ids *out, uint32_t value)
{
    if (out->size == out->capacity) {
        size_t capacity = out->capacity ? out->capacity * 2 : 4096;
        uint32_t *data = realloc(out->data, capacity * sizeof(uint32_t));
        if (data == NULL) {
            return -1;
        }
        out->data = data;
        out->capacity = capacity;
    }
    out->data[out->size++] = value;
    return 0;
}

typedef struct {
    char *buffer;        /* prefix_len bytes of room, then the word */
    Py_ssize_t size;     /* bytes of the word kept (at most the first max_chars + 1 characters) */
    Py_ssize_t chars;    /* characters of the word (all of them) */
    Py_ssize_t capacity; /* bytes of room after the prefix area */
} Word;

/* WordPiece on one word: greedy longest match first; -1 only when out of memory. */
static int
wordpiece(const Model *m, char *w, Py_ssize_t n, Py_ssize_t chars, Ids *out)
{
    if (chars > m->max_chars) {
        return ids_push(out, m->unk);
    }
    size_t mark = out->size;
    Py_ssize_t start = 0;
    while (start < n) {
        const char *key = w;
        Py_ssize_t skip = 0;
        if (start > 0) {
            /* subtle: the bytes before `start` are consumed, so the prefix may overwrite them */
            memcpy(w + start - m->prefix_len, m->prefix, (size_t)m->prefix_len);
            key = w + start - m->prefix_len;
            skip = m->prefix_len;
        }
        Py_ssize_t end = n;
        if (end - start + skip > m->max_len) {  /* no piece is longer: start at the last boundary that fits */
            end = start + m->max_len - skip;
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80) {
                end--;
            }
        }
        int64_t found = -1;
        while (end > start) {
            found = lookup(m, key, end - start + skip);
            if (found >= 0) {
                break;
            }
            do {
                end--;
            } while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80);
        }
        if (found < 0) {
            out->size = mark;
            return ids_push(out, m->unk);
        }
        if (ids_push(out, (uint32_t)found) < 0) {
            return -1;
        }
        start = end;
    }
    return 0;
}

static int
flush(const Model *m, Word *word, Ids *out)
{
    if (word->chars == 0) {
        return 0;
    }
    int rc = wordpiece(m, word->buffer + m->prefix_len, word->size, word->chars, out);
    word->size = 0;
    word->chars = 0;
    return rc;
}

static int
append(const Model *m, Word *word, uint32_t c)
{
    word->chars++;
    if (word->chars > m->max_chars + 1) {
        return 0;  /* the word is unknown anyway: keep counting, stop storing (bounded memory) */
    }
    char *p = word->buffer + m->prefix_len + word->size;
    if (c < 0x80) {
        p[0] = (char)c;
        word->size += 1;
    } else if (c < 0x800) {
        p[0] = (char)(0xC0 | (c >> 6));
        p[1] = (char)(0x80 | (c & 0x3F));
        word->size += 2;
    } else if (c < 0x10000) {
        p[0] = (char)(0xE0 | (c >> 12));
        p[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[2] = (char)(0x80 | (c & 0x3F));
        word->size += 3;
    } else {
        p[0] = (char)(0xF0 | (c >> 18));
        p[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        p[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        p[3] = (char)(0x80 | (c & 0x3F));
        word->size += 4;
    }
    return 0;
}

/* One normalized character through the pre-tokenizer. */
static inline int
feed(const Model *m, Word *word, uint32_t c, Ids *out)
{
    uint8_t cls = m->classes[c];
    if (cls == CLASS_WORD) {
        return append(m, word, c);
    }
    if (flush(m, word, out) < 0) {
        return -1;
    }
    if (cls == CLASS_PUNCT) {
        append(m, word, c);
        return flush(m, word, out);
    }
    return 0;
}

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t length;
} Text;

/* 0: done; 1: routed; 2: surrogate; -1: out of memory */
static int
encode_text(const Model *m, const Text *text, Word *word, Ids *out)
{
    for (Py_ssize_t i = 0; i < text->length; i++) {
        uint32_t c = (uint32_t)PyUnicode_READ(text->kind, text->data, i);
        uint32_t v = m->map[c];
        if (v == MAP_SAME) {
            if (feed(m, word, c, out) < 0) {
                return -1;
            }
        } else if (v == MAP_ROUTE) {
            return 1;
        } else if (v == MAP_SURROGATE) {
            return 2;
        } else {
            uint32_t len = m->pool[v];
            for (uint32_t k = 1; k <= len; k++) {
                if (feed(m, word, m->pool[v + k], out) < 0) {
                    return -1;
                }
            }
        }
    }
    return flush(m, word, out);
}

static int
read_ids(PyObject *sequence, Ids *out)
{
    PyObject *fast = PySequence_Fast(sequence, "prefix and suffix must be sequences of ids");
    if (fast == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(fast, i));
        if (PyErr_Occurred() || ids_push(out, (uint32_t)v) < 0) {
            Py_DECREF(fast);
            if (!PyErr_Occurred()) {
                PyErr_NoMemory();
            }
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

/* encode_batch(model, texts, prefix, suffix) -> (ids: bytes of uint32, offsets: bytes of uint64,
 *                                                routed: list[int], surrogate: int (-1: none)) */
static PyObject *
encode_batch(PyObject *self, PyObject *args)
{
    PyObject *capsule, *texts, *prefix_ids, *suffix_ids;
    if (!PyArg_ParseTuple(args, "OO!OO", &capsule, &PyList_Type, &texts, &prefix_ids, &suffix_ids)) {
        return NULL;
    }
    const Model *m = PyCapsule_GetPointer(capsule, "lexkit._wordpiece_kernel.Model");
    if (m == NULL) {
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(texts);
    Ids prefix = {0}, suffix = {0}, out = {0};
    Text *items = malloc((size_t)(count ? count : 1) * sizeof(Text));
    uint64_t *offsets = malloc((size_t)(count + 1) * sizeof(uint64_t));
    uint8_t *routed = calloc((size_t)(count ? count : 1), 1);
    Word word = {0};
    word.capacity = 4 * (m->max_chars + 2);
    word.buffer = malloc((size_t)(m->prefix_len + word.capacity + 4));
    PyObject *keep = PyList_GetSlice(texts, 0, count);  /* holds every text while the GIL is released */
    PyObject *result = NULL;
    if (!items || !offsets || !routed || !word.buffer) {
        PyErr_NoMemory();
        goto done;
    }
    if (keep == NULL || read_ids(prefix_ids, &prefix) < 0 || read_ids(suffix_ids, &suffix) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *text = PyList_GET_ITEM(keep, i);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "text %zd is a %s, not a str", i, Py_TYPE(text)->tp_name);
            goto done;
        }
        items[i].kind = PyUnicode_KIND(text);
        items[i].data = PyUnicode_DATA(text);
        items[i].length = PyUnicode_GET_LENGTH(text);
    }
    int status = 0;
    Py_ssize_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    offsets[0] = 0;
    for (Py_ssize_t i = 0; i < count && status >= 0; i++) {
        size_t mark = out.size;
        for (size_t k = 0; k < prefix.size && status >= 0; k++) {
            status = ids_push(&out, prefix.data[k]);
        }
        int rc = status < 0 ? -1 : encode_text(m, &items[i], &word, &out);
        if (rc == 1 || rc == 2) {
            word.size = 0;
            word.chars = 0;
            out.size = mark;
            routed[i] = 1;
            if (rc == 2) {
                bad = i;
                status = -2;
            }
        } else if (rc < 0) {
            status = -1;
        } else {
            for (size_t k = 0; k < suffix.size && status >= 0; k++) {
                status = ids_push(&out, suffix.data[k]);
            }
        }
        offsets[i + 1] = out.size;
    }
    Py_END_ALLOW_THREADS
    if (status == -1) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *routed_list = PyList_New(0);
    if (routed_list == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count && bad < 0; i++) {
        if (routed[i]) {
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(routed_list, index) < 0) {
                Py_XDECREF(index);
                Py_DECREF(routed_list);
                goto done;
            }
            Py_DECREF(index);
        }
    }
    result = Py_BuildValue("(y#y#Nn)", out.data ? (const char *)out.data : "",  /* NULL would give None */ (Py_ssize_t)(out.size * sizeof(uint32_t)),
                           (const char *)offsets, (Py_ssize_t)((bad < 0 ? count + 1 : 1) * sizeof(uint64_t)),
                           routed_list, bad);
done:
    Py_XDECREF(keep);
    free(items); free(offsets); free(routed); free(word.buffer);
    free(prefix.data); free(suffix.data); free(out.data);
    return result;
}

/* ---- byte-level pre-tokens (ByteSpan-style WordPiece over GPT-2 byte-to-unicode surfaces) --------------- */

static int
read_view(PyObject *object, Py_ssize_t item, Py_buffer *view, const char *name)
{
    if (PyObject_GetBuffer(object, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view->len % item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, not a multiple of %zd", name, view->len, item);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* encode_bytes(model, data, lengths, counts, table, prefix_ids, suffix_ids) -> (ids: bytes of uint32,
 * offsets: bytes of uint64). `data` is the UTF-8 of every text, `lengths` (uint32) the byte length of each
 * pre-token in order (they tile `data`), `counts` (uint32) the number of pre-tokens of each text, `table` the
 * 256 surface characters of the bytes (UTF-8, in byte order). Each pre-token's bytes are mapped through `table`
 * and encoded by `wordpiece`; its character count is its byte count, as HF counts the byte-level surface. */
static PyObject *
encode_bytes(PyObject *self, PyObject *args)
{
    PyObject *capsule, *data_obj, *lengths_obj, *counts_obj, *prefix_ids, *suffix_ids;
    const char *table;
    Py_ssize_t table_len;
    if (!PyArg_ParseTuple(args, "OOOOy#OO", &capsule, &data_obj, &lengths_obj, &counts_obj, &table, &table_len,
                          &prefix_ids, &suffix_ids)) {
        return NULL;
    }
    const Model *m = PyCapsule_GetPointer(capsule, "lexkit._wordpiece_kernel.Model");
    if (m == NULL) {
        return NULL;
    }
    char surface[256][4];
    uint8_t surface_len[256];
    Py_ssize_t at = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t lead = at < table_len ? (uint8_t)table[at] : 0;
        Py_ssize_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
        if (at + len > table_len) {
            PyErr_SetString(PyExc_ValueError, "table must hold 256 UTF-8 characters");
            return NULL;
        }
        memcpy(surface[b], table + at, (size_t)len);
        surface_len[b] = (uint8_t)len;
        at += len;
    }
    if (at != table_len) {
        PyErr_SetString(PyExc_ValueError, "table must hold exactly 256 UTF-8 characters");
        return NULL;
    }
    Py_buffer data, lengths, counts;
    if (read_view(data_obj, 1, &data, "data") < 0) {
        return NULL;
    }
    if (read_view(lengths_obj, 4, &lengths, "lengths") < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (read_view(counts_obj, 4, &counts, "counts") < 0) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&lengths);
        return NULL;
    }
    const uint8_t *bytes = data.buf;
    const uint32_t *piece_len = lengths.buf, *text_pieces = counts.buf;
    Py_ssize_t pieces = lengths.len / 4, texts = counts.len / 4;
    Ids prefix = {0}, suffix = {0}, out = {0};
    PyObject *result = NULL;
    uint64_t *offsets = malloc((size_t)(texts + 1) * sizeof(uint64_t));
    char *buffer = malloc((size_t)(m->prefix_len + 4 * (m->max_chars + 1) + 8));
    uint64_t total_bytes = 0, total_pieces = 0;
    for (Py_ssize_t i = 0; i < pieces; i++) {
        total_bytes += piece_len[i];
    }
    for (Py_ssize_t i = 0; i < texts; i++) {
        total_pieces += text_pieces[i];
    }
    if (!offsets || !buffer) {
        PyErr_NoMemory();
        goto done;
    }
    if (total_bytes != (uint64_t)data.len || total_pieces != (uint64_t)pieces) {
        PyErr_SetString(PyExc_ValueError, "lengths must tile data and counts must sum to the number of lengths");
        goto done;
    }
    if (read_ids(prefix_ids, &prefix) < 0 || read_ids(suffix_ids, &suffix) < 0) {
        goto done;
    }
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    offsets[0] = 0;
    const uint8_t *p = bytes;
    Py_ssize_t piece = 0;
    char *w = buffer + m->prefix_len;
    for (Py_ssize_t i = 0; i < texts && status >= 0; i++) {
        for (size_t k = 0; k < prefix.size && status >= 0; k++) {
            status = ids_push(&out, prefix.data[k]);
        }
        for (uint32_t j = 0; j < text_pieces[i] && status >= 0; j++, piece++) {
            Py_ssize_t n = piece_len[piece];
            if (n > m->max_chars) {
                status = ids_push(&out, m->unk);
            } else if (n > 0) {
                Py_ssize_t size = 0;
                for (Py_ssize_t k = 0; k < n; k++) {
                    memcpy(w + size, surface[p[k]], surface_len[p[k]]);
                    size += surface_len[p[k]];
                }
                status = wordpiece(m, w, size, n, &out);
            }
            p += piece_len[piece];
        }
        for (size_t k = 0; k < suffix.size && status >= 0; k++) {
            status = ids_push(&out, suffix.data[k]);
        }
        offsets[i + 1] = out.size;
    }
    Py_END_ALLOW_THREADS
    if (status < 0) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(y#y#)", out.data ? (const char *)out.data : "", (Py_ssize_t)(out.size * sizeof(uint32_t)),
                           (const char *)offsets, (Py_ssize_t)((texts + 1) * sizeof(uint64_t)));
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&lengths);
    PyBuffer_Release(&counts);
    free(offsets); free(buffer);
    free(prefix.data); free(suffix.data); free(out.data);
    return result;
}

static PyMethodDef methods[] = {
    {"new_model", new_model, METH_VARARGS,
     "new_model(map, pool, classes, tokens, ids, unk, prefix, max_chars): a compiled WordPiece model."},
    {"encode_batch", encode_batch, METH_VARARGS,
     "encode_batch(model, texts, prefix_ids, suffix_ids): (ids, offsets, routed indices, surrogate text or -1)."},
    {"encode_bytes", encode_bytes, METH_VARARGS,
     "encode_bytes(model, data, lengths, counts, table, prefix_ids, suffix_ids): (ids, offsets) of byte-level pre-tokens."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wordpiece_kernel", "BERT's normalizer, pre-tokenizer and WordPiece in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__wordpiece_kernel(void)
{
    return PyModule_Create(&module);
}
