/* LBPE's long-token-first encoders, compiled (lexkit._lbpe_kernel).
 *
 * `lexkit._reference` holds the oracles (`ReferenceLongestToken`, `ReferenceLongestPair`); `lexkit.lbpe`
 * wraps this module and falls back to them when it is not built. One `Kernel` holds one vocabulary's tokens
 * (normal tokens plus the 256 single bytes) in a byte trie and segments pre-tokens by one reading:
 *
 * - reading 0, longest token (FLOTA): repeatedly accept the longest token (leftmost among equals) that
 *   overlaps no accepted one. A heap holds the longest token starting at each position; an entry that now
 *   overlaps an accepted token is shortened to fit and pushed back.
 * - reading 1, longest pair: start from single bytes; repeatedly merge the adjacent pair whose concatenation
 *   is the longest vocabulary token (then the lowest id, then the shorter left part, then leftmost), whether
 *   or not a merge rule builds it.
 *   A heap of candidate pairs with lazy invalidation: an entry is valid while both symbols still span the
 *   bytes it recorded.
 * - reading 2, fewest tokens: the segmentation with the fewest tokens (so never more than any other, BPE's
 *   included); among those, the largest sum of ids (the latest-learned, rarest tokens), then the longest
 *   first token. A backward dynamic programme over trie walks.
 *
 * `encode_gpt2` also pre-tokenizes: GPT-2's pattern
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * run directly on the UTF-8 bytes, with the letter / number / white-space class of every code point given
 * by a table the caller builds from the `regex` module (so it splits exactly as `lexkit.components`).
 * Segmentations are cached per pre-token (bytes -> ids) in an open-addressing table, cleared when full.
 * `encode_gpt2` and `encode_gpt2_flat` release the GIL while they encode (so one Kernel per thread encodes
 * in parallel: `lexkit._lbpe.Segmenter` keeps a pool); memory there comes from the raw allocator, and an
 * error takes the GIL back to be raised. A Kernel busy in one thread refuses calls from another.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---- errors from code that may run with the GIL released ------------------------------------------ */

/* Set MemoryError, taking the GIL first when this thread released it (encode_gpt2 runs without it). */
static void
no_memory(void)
{
    PyGILState_STATE state = PyGILState_Ensure();
    PyErr_NoMemory();
    PyGILState_Release(state);
}

/* ValueError for a byte no token spells (impossible for the byte-complete vocabularies lexkit builds). */
static int
missing_byte(unsigned char byte)
{
    PyGILState_STATE state = PyGILState_Ensure();
    PyErr_Format(PyExc_ValueError, "byte 0x%02x has no token in this vocabulary", byte);
    PyGILState_Release(state);
    return -1;
}

/* ---- growable buffers --------------------------------------------------------------------------- */

typedef struct {
    int32_t *data;
    Py_ssize_t size, capacity;
} IntBuffer;

static int
ints_reserve(IntBuffer *buffer, Py_ssize_t extra)
{
    if (buffer->size + extra <= buffer->capacity) {
        return 0;
    }
    Py_ssize_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < buffer->size + extra) {
        capacity *= 2;
    }
    int32_t *data = PyMem_RawRealloc(buffer->data, (size_t)capacity * sizeof(int32_t));
    if (data == NULL) {
        no_memory();
        return -1;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

static inline int
ints_push(IntBuffer *buffer, int32_t value)
{
    if (buffer->size == buffer->capacity && ints_reserve(buffer, 1) < 0) {
        return -1;
    }
    buffer->data[buffer->size++] = value;
    return 0;
}

/* Scratch memory reused across segmentations (grown on demand). */
static int
scratch_reserve(void **memory, Py_ssize_t *capacity, Py_ssize_t needed)
{
    if (needed <= *capacity) {
        return 0;
    }
    Py_ssize_t size = *capacity ? *capacity : 1024;
    while (size < needed) {
        size *= 2;
    }
    void *data = PyMem_RawRealloc(*memory, (size_t)size);
    if (data == NULL) {
        no_memory();
        return -1;
    }
    *memory = data;
    *capacity = size;
    return 0;
}

static inline uint64_t
mix(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    return value;
}

/* ---- byte trie: edges (node, byte) -> child in an open-addressing table ---------------------------- */

typedef struct {
    uint64_t *edge_keys; /* ((parent << 8) | byte) + 1; 0 marks an empty slot */
    int32_t *edge_children;
    size_t edge_mask;
    Py_ssize_t edges;
    int32_t *token_of; /* per node: the token id ending there, or -1 */
    Py_ssize_t nodes, node_capacity;
} Trie;

static inline int32_t
trie_child(const Trie *trie, int32_t node, unsigned char byte)
{
    uint64_t key = (((uint64_t)node << 8) | byte) + 1;
    size_t slot = (size_t)mix(key) & trie->edge_mask;
    for (;;) {
        uint64_t found = trie->edge_keys[slot];
        if (found == key) {
            return trie->edge_children[slot];
        }
        if (found == 0) {
            return -1;
        }
        slot = (slot + 1) & trie->edge_mask;
    }
}

static int
trie_init(Trie *trie, Py_ssize_t total_bytes)
{
    size_t slots = 1024;
    while (slots < (size_t)(total_bytes + 1) * 2) {
        slots *= 2;
    }
    trie->edge_keys = PyMem_RawCalloc(slots, sizeof(uint64_t));
    trie->edge_children = PyMem_RawMalloc(slots * sizeof(int32_t));
    trie->edge_mask = slots - 1;
    trie->edges = 0;
    trie->node_capacity = total_bytes + 1;
    trie->token_of = PyMem_RawMalloc((size_t)trie->node_capacity * sizeof(int32_t));
    trie->nodes = 1;
    if (trie->edge_keys == NULL || trie->edge_children == NULL || trie->token_of == NULL) {
        no_memory();
        return -1;
    }
    trie->token_of[0] = -1;
    return 0;
}

/* Insert a token; total_bytes given to trie_init bounds the node count, so no growth is needed. */
static void
trie_insert(Trie *trie, const unsigned char *content, Py_ssize_t size, int32_t token_id)
{
    int32_t node = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        int32_t child = trie_child(trie, node, content[i]);
        if (child < 0) {
            uint64_t key = (((uint64_t)node << 8) | content[i]) + 1;
            size_t slot = (size_t)mix(key) & trie->edge_mask;
            while (trie->edge_keys[slot] != 0) {
                slot = (slot + 1) & trie->edge_mask;
            }
            child = (int32_t)trie->nodes++;
            trie->token_of[child] = -1;
            trie->edge_keys[slot] = key;
            trie->edge_children[slot] = child;
            trie->edges++;
        }
        node = child;
    }
    trie->token_of[node] = token_id;
}

/* The id of exactly content[0:size], or -1. */
static inline int32_t
trie_lookup(const Trie *trie, const unsigned char *content, Py_ssize_t size)
{
    int32_t node = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        node = trie_child(trie, node, content[i]);
        if (node < 0) {
            return -1;
        }
    }
    return trie->token_of[node];
}

/* Length of the longest token starting at content[0] within size bytes (0 when none). */
static inline Py_ssize_t
trie_longest(const Trie *trie, const unsigned char *content, Py_ssize_t size, int32_t *token_id)
{
    int32_t node = 0;
    Py_ssize_t best = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        node = trie_child(trie, node, content[i]);
        if (node < 0) {
            break;
        }
        if (trie->token_of[node] >= 0) {
            best = i + 1;
            *token_id = trie->token_of[node];
        }
    }
    return best;
}

/* ---- pre-token cache: bytes -> ids ---------------------------------------------------------------- */

typedef struct {
    uint64_t hash; /* 0 marks an empty slot */
    uint32_t key_start, key_size, ids_start, ids_size;
} CacheSlot;

#define CACHE_MAX_SLOTS (1u << 21)
#define CACHE_MAX_ARENA (1u << 27)

typedef struct {
    CacheSlot *slots;
    size_t mask, used;
    unsigned char *keys;
    size_t keys_size, keys_capacity;
    IntBuffer ids;
} Cache;

static inline uint64_t
hash_bytes(const unsigned char *data, Py_ssize_t size)
{
    uint64_t hash = 0xcbf29ce484222325ULL ^ (uint64_t)size;
    Py_ssize_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        memcpy(&word, data + i, 8);
        hash = (hash ^ word) * 0x100000001b3ULL;
        hash ^= hash >> 29;
    }
    for (; i < size; i++) {
        hash = (hash ^ data[i]) * 0x100000001b3ULL;
    }
    hash = mix(hash);
    return hash ? hash : 1;
}

static int
cache_init(Cache *cache, size_t slots)
{
    cache->slots = PyMem_RawCalloc(slots, sizeof(CacheSlot));
    if (cache->slots == NULL) {
        no_memory();
        return -1;
    }
    cache->mask = slots - 1;
    cache->used = 0;
    cache->keys_size = 0;
    cache->ids.size = 0;
    return 0;
}

static void
cache_clear(Cache *cache)
{
    memset(cache->slots, 0, (cache->mask + 1) * sizeof(CacheSlot));
    cache->used = 0;
    cache->keys_size = 0;
    cache->ids.size = 0;
}

static CacheSlot *
cache_find(Cache *cache, const unsigned char *key, Py_ssize_t size, uint64_t hash)
{
    size_t slot = (size_t)hash & cache->mask;
    for (;;) {
        CacheSlot *entry = &cache->slots[slot];
        if (entry->hash == 0) {
            return entry;
        }
        if (entry->hash == hash && entry->key_size == (uint32_t)size &&
            memcmp(cache->keys + entry->key_start, key, (size_t)size) == 0) {
            return entry;
        }
        slot = (slot + 1) & cache->mask;
    }
}

/* Double the table (up to CACHE_MAX_SLOTS) or clear it; returns -1 on memory error. */
static int
cache_make_room(Cache *cache, Py_ssize_t key_size, Py_ssize_t ids_size)
{
    if (cache->keys_size + (size_t)key_size > CACHE_MAX_ARENA ||
        (size_t)cache->ids.size + (size_t)ids_size > CACHE_MAX_ARENA) {
        cache_clear(cache);
    }
    if ((cache->used + 1) * 2 <= cache->mask + 1) {
        return 0;
    }
    size_t slots = (cache->mask + 1) * 2;
    if (slots > CACHE_MAX_SLOTS) {
        cache_clear(cache);
        return 0;
    }
    CacheSlot *fresh = PyMem_RawCalloc(slots, sizeof(CacheSlot));
    if (fresh == NULL) {
        no_memory();
        return -1;
    }
    for (size_t i = 0; i <= cache->mask; i++) {
        CacheSlot entry = cache->slots[i];
        if (entry.hash == 0) {
            continue;
        }
        size_t slot = (size_t)entry.hash & (slots - 1);
        while (fresh[slot].hash != 0) {
            slot = (slot + 1) & (slots - 1);
        }
        fresh[slot] = entry;
    }
    PyMem_RawFree(cache->slots);
    cache->slots = fresh;
    cache->mask = slots - 1;
    return 0;
}

/* ---- binary min-heaps ------------------------------------------------------------------------------- */

/* NAME_push / NAME_pop: a binary min-heap over an array of TYPE (capacity reserved by the caller), ordered by
 * BEFORE(a, b), which says whether *a pops before *b. One definition serves every entry type. */
#define DEFINE_HEAP(NAME, TYPE, BEFORE)                                                                       \
    static inline void NAME##_push(TYPE *heap, Py_ssize_t *size, TYPE entry)                                  \
    {                                                                                                         \
        Py_ssize_t i = (*size)++;                                                                             \
        while (i > 0) {                                                                                       \
            Py_ssize_t parent = (i - 1) / 2;                                                                  \
            if (!BEFORE(&entry, &heap[parent])) {                                                             \
                break;                                                                                        \
            }                                                                                                 \
            heap[i] = heap[parent];                                                                           \
            i = parent;                                                                                       \
        }                                                                                                     \
        heap[i] = entry;                                                                                      \
    }                                                                                                         \
                                                                                                              \
    static inline TYPE NAME##_pop(TYPE *heap, Py_ssize_t *size)                                               \
    {                                                                                                         \
        TYPE top = heap[0];                                                                                   \
        TYPE last = heap[--(*size)];                                                                          \
        Py_ssize_t i = 0, n = *size;                                                                          \
        for (;;) {                                                                                            \
            Py_ssize_t child = 2 * i + 1;                                                                     \
            if (child >= n) {                                                                                 \
                break;                                                                                        \
            }                                                                                                 \
            if (child + 1 < n && BEFORE(&heap[child + 1], &heap[child])) {                                    \
                child++;                                                                                      \
            }                                                                                                 \
            if (!BEFORE(&heap[child], &last)) {                                                               \
                break;                                                                                        \
            }                                                                                                 \
            heap[i] = heap[child];                                                                            \
            i = child;                                                                                        \
        }                                                                                                     \
        if (n > 0) {                                                                                          \
            heap[i] = last;                                                                                   \
        }                                                                                                     \
        return top;                                                                                           \
    }

/* ---- the kernel object ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Trie trie;
    int reading; /* 0 longest token, 1 longest pair, 2 fewest tokens */
    Py_ssize_t longest; /* longest token in bytes */
    PyObject *classes; /* bytes of length 0x110000 (or NULL): 1 letter, 2 number, 3 white space, 0 other */
    Cache cache;
    void *scratch;
    Py_ssize_t scratch_capacity;
    int busy; /* set while encode_gpt2 runs without the GIL: the cache and scratch are this call's alone */
} Kernel;

/* -- reading 0: longest token -- */

static inline int
u64_before(const uint64_t *a, const uint64_t *b)
{
    return *a < *b;
}

DEFINE_HEAP(u64_heap, uint64_t, u64_before)

static int
segment_longest_token(Kernel *self, const unsigned char *content, Py_ssize_t size, IntBuffer *out)
{
    /* scratch: heap (size u64), chosen length and id per position (int32), covered (size bytes); the heap
     * key is ((0xFFFFFFFF - length) << 32) | position: longest first, then leftmost */
    Py_ssize_t needed = size * (Py_ssize_t)(sizeof(uint64_t) + sizeof(int32_t) * 2 + 1);
    if (scratch_reserve(&self->scratch, &self->scratch_capacity, needed) < 0) {
        return -1;
    }
    uint64_t *heap = (uint64_t *)self->scratch;
    int32_t *chosen = (int32_t *)(heap + size);
    int32_t *chosen_id = chosen + size;
    unsigned char *covered = (unsigned char *)(chosen_id + size);
    memset(covered, 0, (size_t)size);
    memset(chosen, 0, (size_t)size * sizeof(int32_t));
    Py_ssize_t heap_size = 0;
    for (Py_ssize_t position = 0; position < size; position++) {
        int32_t token_id = -1;
        Py_ssize_t length = trie_longest(&self->trie, content + position, size - position, &token_id);
        if (length == 0) {
            return missing_byte(content[position]);
        }
        u64_heap_push(heap, &heap_size, ((uint64_t)(0xFFFFFFFFu - (uint32_t)length) << 32) | (uint64_t)position);
    }
    while (heap_size > 0) {
        uint64_t key = u64_heap_pop(heap, &heap_size);
        Py_ssize_t position = (Py_ssize_t)(key & 0xFFFFFFFFu);
        Py_ssize_t length = (Py_ssize_t)(0xFFFFFFFFu - (uint32_t)(key >> 32));
        if (covered[position]) {
            continue;
        }
        const unsigned char *blocked = memchr(covered + position, 1, (size_t)length);
        if (blocked == NULL) {
            memset(covered + position, 1, (size_t)length);
            chosen[position] = (int32_t)length;
            chosen_id[position] = trie_lookup(&self->trie, content + position, length);
        }
        else {
            int32_t token_id = -1;
            Py_ssize_t shorter = trie_longest(&self->trie, content + position, blocked - (covered + position),
                                              &token_id);
            u64_heap_push(heap, &heap_size,
                          ((uint64_t)(0xFFFFFFFFu - (uint32_t)shorter) << 32) | (uint64_t)position);
        }
    }
    for (Py_ssize_t position = 0; position < size; position += chosen[position]) {
        if (ints_push(out, chosen_id[position]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* -- reading 1: longest pair -- */

typedef struct {
    uint64_t key;       /* ((0xFFFFFFFF - length) << 32) | id: longest concatenation first, then lowest id */
    uint32_t start;     /* left symbol's start (its index) */
    uint32_t left_end;  /* the bytes the pair spanned when pushed; left_end - start orders the splits of one
                         * token (shorter left part first), then start: leftmost */
    uint32_t right_end;
    int32_t token_id;
} PairEntry;

static inline int
pair_before(const PairEntry *a, const PairEntry *b)
{
    if (a->key != b->key) {
        return a->key < b->key;
    }
    uint32_t a_left = a->left_end - a->start, b_left = b->left_end - b->start;
    if (a_left != b_left) {
        return a_left < b_left;
    }
    return a->start < b->start;
}

DEFINE_HEAP(pair_heap, PairEntry, pair_before)

/* Push the pair (symbol at start, its right neighbour ending at right_end) when its bytes form a token. */
static inline void
push_pair(Kernel *self, const unsigned char *content, PairEntry *heap, Py_ssize_t *heap_size, uint32_t start,
          uint32_t left_end, uint32_t right_end)
{
    Py_ssize_t length = (Py_ssize_t)(right_end - start);
    if (length > self->longest) {
        return;
    }
    int32_t token_id = trie_lookup(&self->trie, content + start, length);
    if (token_id < 0) {
        return;
    }
    PairEntry entry = {((uint64_t)(0xFFFFFFFFu - (uint32_t)length) << 32) | (uint32_t)token_id, start, left_end,
                       right_end, token_id};
    pair_heap_push(heap, heap_size, entry);
}

static int
segment_longest_pair(Kernel *self, const unsigned char *content, Py_ssize_t size, IntBuffer *out)
{
    /* Symbols are indexed by their start byte; end[s] is the start of the next symbol. A live symbol's pairs
     * are pushed once per change; each merge pushes at most two, so the heap holds < 3 * size entries. */
    Py_ssize_t heap_capacity = 3 * size + 1;
    Py_ssize_t needed = heap_capacity * (Py_ssize_t)sizeof(PairEntry) +
                        size * (Py_ssize_t)(2 * sizeof(uint32_t) + sizeof(int32_t) + 1);
    if (scratch_reserve(&self->scratch, &self->scratch_capacity, needed) < 0) {
        return -1;
    }
    PairEntry *heap = (PairEntry *)self->scratch;
    uint32_t *end = (uint32_t *)(heap + heap_capacity);
    uint32_t *begin = end + size; /* begin[s]: start of the symbol before s (valid for live s > 0) */
    int32_t *symbol_id = (int32_t *)(begin + size);
    unsigned char *alive = (unsigned char *)(symbol_id + size);
    Py_ssize_t heap_size = 0;
    for (Py_ssize_t s = 0; s < size; s++) {
        end[s] = (uint32_t)(s + 1);
        begin[s] = s ? (uint32_t)(s - 1) : 0;
        alive[s] = 1;
        symbol_id[s] = trie_lookup(&self->trie, content + s, 1);
        if (symbol_id[s] < 0) {
            return missing_byte(content[s]);
        }
    }
    for (Py_ssize_t s = 0; s + 1 < size; s++) {
        push_pair(self, content, heap, &heap_size, (uint32_t)s, (uint32_t)(s + 1), (uint32_t)(s + 2));
    }
    while (heap_size > 0) {
        PairEntry entry = pair_heap_pop(heap, &heap_size);
        uint32_t left = entry.start, right = entry.left_end;
        if (!alive[left] || end[left] != entry.left_end || right >= (uint32_t)size || !alive[right] ||
            end[right] != entry.right_end) {
            continue; /* stale: one of the symbols has changed since the pair was pushed */
        }
        end[left] = entry.right_end;
        alive[right] = 0;
        symbol_id[left] = entry.token_id;
        if (entry.right_end < (uint32_t)size) {
            begin[entry.right_end] = left;
            push_pair(self, content, heap, &heap_size, left, entry.right_end, end[entry.right_end]);
        }
        if (left > 0) {
            uint32_t previous = begin[left];
            push_pair(self, content, heap, &heap_size, previous, left, entry.right_end);
        }
    }
    for (Py_ssize_t s = 0; s < size; s = end[s]) {
        if (ints_push(out, symbol_id[s]) < 0) {
            return -1;
        }
    }
    return 0;
}

/* -- reading 2: fewest tokens -- */

/* A backward dynamic programme over (fewest tokens, largest sum of ids): fewest[i] and total[i] describe the
 * best segmentation of content[i:]; among equal keys the longest first token is taken. */
static int
segment_fewest_tokens(Kernel *self, const unsigned char *content, Py_ssize_t size, IntBuffer *out)
{
    Py_ssize_t needed = (size + 1) * (Py_ssize_t)(3 * sizeof(int32_t) + sizeof(int64_t));
    if (scratch_reserve(&self->scratch, &self->scratch_capacity, needed) < 0) {
        return -1;
    }
    int64_t *total = (int64_t *)self->scratch;
    int32_t *fewest = (int32_t *)(total + size + 1);
    int32_t *length = fewest + size + 1;
    int32_t *chosen_id = length + size + 1;
    fewest[size] = 0;
    total[size] = 0;
    for (Py_ssize_t i = size - 1; i >= 0; i--) {
        int32_t best = INT32_MAX, best_length = 0, best_id = -1, node = 0;
        int64_t best_total = -1;
        Py_ssize_t bound = size - i < self->longest ? size - i : self->longest;
        for (Py_ssize_t k = 0; k < bound; k++) {
            node = trie_child(&self->trie, node, content[i + k]);
            if (node < 0) {
                break;
            }
            int32_t token_id = self->trie.token_of[node];
            if (token_id < 0) {
                continue;
            }
            int32_t count = fewest[i + k + 1] + 1;
            int64_t sum = total[i + k + 1] + token_id;
            /* ">=": a longer token with the same key replaces a shorter one */
            if (count < best || (count == best && sum >= best_total)) {
                best = count;
                best_total = sum;
                best_length = (int32_t)(k + 1);
                best_id = token_id;
            }
        }
        if (best_id < 0) {
            return missing_byte(content[i]);
        }
        fewest[i] = best;
        total[i] = best_total;
        length[i] = best_length;
        chosen_id[i] = best_id;
    }
    for (Py_ssize_t i = 0; i < size; i += length[i]) {
        if (ints_push(out, chosen_id[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
segment(Kernel *self, const unsigned char *content, Py_ssize_t size, IntBuffer *out)
{
    if (size == 0) {
        return 0;
    }
    if (size > (Py_ssize_t)0x7FFFFFFF) {
        PyGILState_STATE state = PyGILState_Ensure();
        PyErr_SetString(PyExc_ValueError, "a pre-token longer than 2**31 - 1 bytes");
        PyGILState_Release(state);
        return -1;
    }
    switch (self->reading) {
    case 0:
        return segment_longest_token(self, content, size, out);
    case 1:
        return segment_longest_pair(self, content, size, out);
    default:
        return segment_fewest_tokens(self, content, size, out);
    }
}

/* Append the ids of one pre-token (through the cache) to out. */
static int
encode_piece(Kernel *self, const unsigned char *content, Py_ssize_t size, IntBuffer *out)
{
    if (size == 0) {
        return 0;
    }
    if (size == 1) {
        int32_t token_id = trie_lookup(&self->trie, content, 1);
        if (token_id < 0) {
            return missing_byte(content[0]);
        }
        return ints_push(out, token_id);
    }
    uint64_t hash = hash_bytes(content, size);
    CacheSlot *slot = cache_find(&self->cache, content, size, hash);
    if (slot->hash != 0) {
        if (ints_reserve(out, slot->ids_size) < 0) {
            return -1;
        }
        memcpy(out->data + out->size, self->cache.ids.data + slot->ids_start, slot->ids_size * sizeof(int32_t));
        out->size += slot->ids_size;
        return 0;
    }
    Py_ssize_t first = out->size;
    int status = segment(self, content, size, out);
    if (status < 0) {
        return -1;
    }
    Py_ssize_t count = out->size - first;
    if (size > 0xFFFF || count > 0xFFFF) {
        return 0; /* very long pre-tokens are not cached */
    }
    Cache *cache = &self->cache;
    if (cache_make_room(cache, size, count) < 0) {
        return -1;
    }
    slot = cache_find(cache, content, size, hash); /* the table may have been rebuilt or cleared */
    if (cache->keys_size + (size_t)size > cache->keys_capacity) {
        size_t capacity = cache->keys_capacity ? cache->keys_capacity : 65536;
        while (capacity < cache->keys_size + (size_t)size) {
            capacity *= 2;
        }
        unsigned char *keys = PyMem_RawRealloc(cache->keys, capacity);
        if (keys == NULL) {
            no_memory();
            return -1;
        }
        cache->keys = keys;
        cache->keys_capacity = capacity;
    }
    if (ints_reserve(&cache->ids, count) < 0) {
        return -1;
    }
    memcpy(cache->keys + cache->keys_size, content, (size_t)size);
    memcpy(cache->ids.data + cache->ids.size, out->data + first, (size_t)count * sizeof(int32_t));
    slot->hash = hash;
    slot->key_start = (uint32_t)cache->keys_size;
    slot->key_size = (uint32_t)size;
    slot->ids_start = (uint32_t)cache->ids.size;
    slot->ids_size = (uint32_t)count;
    cache->keys_size += (size_t)size;
    cache->ids.size += count;
    cache->used++;
    return 0;
}

/* ---- GPT-2 pre-tokenization on UTF-8 --------------------------------------------------------------- */

enum { OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3 };

/* Decode the (valid) UTF-8 character at text[i]; its byte width goes to *width. */
static inline uint32_t
utf8_at(const unsigned char *text, Py_ssize_t i, int *width)
{
    unsigned char c = text[i];
    if (c < 0x80) {
        *width = 1;
        return c;
    }
    if (c < 0xE0) {
        *width = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (text[i + 1] & 0x3F);
    }
    if (c < 0xF0) {
        *width = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(text[i + 1] & 0x3F) << 6) | (text[i + 2] & 0x3F);
    }
    *width = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(text[i + 1] & 0x3F) << 12) |
           ((uint32_t)(text[i + 2] & 0x3F) << 6) | (text[i + 3] & 0x3F);
}

static inline int
class_at(const unsigned char *classes, const unsigned char *text, Py_ssize_t i, int *width)
{
    return classes[utf8_at(text, i, width)];
}

/* End (exclusive) of the GPT-2 pre-token starting at byte i of text[0:n]. */
static inline Py_ssize_t
gpt2_next(const unsigned char *classes, const unsigned char *text, Py_ssize_t n, Py_ssize_t i)
{
    unsigned char c = text[i];
    int width, kind;
    if (c == '\'' && i + 1 < n) {
        unsigned char d = text[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') {
            return i + 2;
        }
        if (i + 2 < n) {
            unsigned char e = text[i + 2];
            if ((d == 'r' && e == 'e') || (d == 'v' && e == 'e') || (d == 'l' && e == 'l')) {
                return i + 3;
            }
        }
    }
    Py_ssize_t j = i;
    if (c == ' ' && i + 1 < n) {
        kind = class_at(classes, text, i + 1, &width);
        if (kind != SPACE) {
            j = i + 1; /* " ?" takes the space, then a run of the next character's class */
        }
    }
    kind = class_at(classes, text, j, &width);
    if (kind != SPACE) {
        j += width;
        while (j < n) {
            int next = class_at(classes, text, j, &width);
            if (next != kind) {
                break;
            }
            j += width;
        }
        return j;
    }
    /* White space: \s+(?!\S) keeps the last white-space character for the next pre-token when a
     * non-space follows; a single one followed by a non-space is \s+ on its own. */
    Py_ssize_t last = i;
    j = i;
    while (j < n) {
        if (class_at(classes, text, j, &width) != SPACE) {
            break;
        }
        last = j;
        j += width;
    }
    if (j == n || last == i) {
        return j;
    }
    return last;
}

/* ---- Python methods ------------------------------------------------------------------------------- */

static int
Kernel_init(Kernel *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"tokens", "reading", "classes", NULL};
    PyObject *tokens, *classes = Py_None;
    int reading;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!i|O", keywords, &PyList_Type, &tokens, &reading, &classes)) {
        return -1;
    }
    if (reading < 0 || reading > 2) {
        PyErr_SetString(PyExc_ValueError, "reading must be 0 (longest token), 1 (longest pair) or 2 (fewest tokens)");
        return -1;
    }
    if (classes != Py_None && (!PyBytes_Check(classes) || PyBytes_GET_SIZE(classes) != 0x110000)) {
        PyErr_SetString(PyExc_ValueError, "classes must be None or bytes of length 0x110000");
        return -1;
    }
    if (self->trie.edge_keys != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel is already initialised");
        return -1;
    }
    Py_ssize_t count = PyList_GET_SIZE(tokens), total = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(tokens, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(item, 0)) ||
            !PyLong_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "tokens must be a list of (bytes, int) pairs");
            return -1;
        }
        total += PyBytes_GET_SIZE(PyTuple_GET_ITEM(item, 0));
    }
    if (trie_init(&self->trie, total) < 0 || cache_init(&self->cache, 1 << 14) < 0) {
        return -1;
    }
    self->longest = 0;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(tokens, i);
        PyObject *content = PyTuple_GET_ITEM(item, 0);
        long token_id = PyLong_AsLong(PyTuple_GET_ITEM(item, 1));
        if (token_id < 0 || token_id > INT32_MAX) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "token ids must be in [0, 2**31)");
            }
            return -1;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(content);
        if (size == 0) {
            PyErr_SetString(PyExc_ValueError, "tokens must be non-empty");
            return -1;
        }
        trie_insert(&self->trie, (const unsigned char *)PyBytes_AS_STRING(content), size, (int32_t)token_id);
        if (size > self->longest) {
            self->longest = size;
        }
    }
    self->reading = reading;
    Py_XSETREF(self->classes, classes == Py_None ? NULL : Py_NewRef(classes));
    return 0;
}

static void
Kernel_dealloc(Kernel *self)
{
    PyMem_RawFree(self->trie.edge_keys);
    PyMem_RawFree(self->trie.edge_children);
    PyMem_RawFree(self->trie.token_of);
    PyMem_RawFree(self->cache.slots);
    PyMem_RawFree(self->cache.keys);
    PyMem_RawFree(self->cache.ids.data);
    PyMem_RawFree(self->scratch);
    Py_XDECREF(self->classes);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
check_ready(Kernel *self)
{
    if (self->trie.edge_keys == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Kernel is not initialised");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "this Kernel is encoding in another thread; use one Kernel per thread");
        return -1;
    }
    return 0;
}

static PyObject *
to_list(const IntBuffer *ids, Py_ssize_t start, Py_ssize_t stop)
{
    PyObject *list = PyList_New(stop - start);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = start; i < stop; i++) {
        PyObject *value = PyLong_FromLong(ids->data[i]);
        if (value == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i - start, value);
    }
    return list;
}

static PyObject *
Kernel_segment(Kernel *self, PyObject *arg)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    IntBuffer out = {NULL, 0, 0};
    int status = segment(self, view.buf, view.len, &out);
    PyBuffer_Release(&view);
    PyObject *result = status < 0 ? NULL : to_list(&out, 0, out.size);
    PyMem_RawFree(out.data);
    return result;
}

static PyObject *
Kernel_encode_pieces(Kernel *self, PyObject *arg)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    PyObject *sequence = PySequence_Fast(arg, "encode_pieces takes a list of bytes");
    if (sequence == NULL) {
        return NULL;
    }
    IntBuffer out = {NULL, 0, 0};
    Py_ssize_t count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyBytes_Check(items[i])) {
            PyErr_SetString(PyExc_TypeError, "encode_pieces takes a list of bytes");
            goto done;
        }
        if (encode_piece(self, (const unsigned char *)PyBytes_AS_STRING(items[i]), PyBytes_GET_SIZE(items[i]),
                         &out) < 0) {
            goto done;
        }
    }
    result = to_list(&out, 0, out.size);
done:
    Py_DECREF(sequence);
    PyMem_RawFree(out.data);
    return result;
}

/* One text's UTF-8 bytes, read under the GIL (the str keeps them alive) and encoded without it. */
typedef struct {
    const unsigned char *text;
    Py_ssize_t size;
} TextView;

/* The UTF-8 views of a list of str (PyMem_RawFree the result), or NULL with an error set. */
static TextView *
utf8_views(Kernel *self, PyObject *sequence, Py_ssize_t *count)
{
    if (self->classes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this Kernel was built without a character class table");
        return NULL;
    }
    *count = PySequence_Fast_GET_SIZE(sequence);
    PyObject **items = PySequence_Fast_ITEMS(sequence);
    TextView *views = PyMem_RawMalloc((size_t)(*count ? *count : 1) * sizeof(TextView));
    if (views == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t t = 0; t < *count; t++) {
        if (!PyUnicode_Check(items[t])) {
            PyErr_SetString(PyExc_TypeError, "encode_gpt2 takes a list of str");
            PyMem_RawFree(views);
            return NULL;
        }
        views[t].text = (const unsigned char *)PyUnicode_AsUTF8AndSize(items[t], &views[t].size);
        if (views[t].text == NULL) {
            PyMem_RawFree(views);
            return NULL;
        }
    }
    return views;
}

/* GPT-2 pre-tokenization and the reading over every text, with the GIL released: all ids go to out, and
 * text t's are out[offsets[t]:offsets[t + 1]]. Returns -1 with a Python error set on failure. */
static int
encode_views(Kernel *self, const TextView *views, Py_ssize_t count, IntBuffer *out, int64_t *offsets)
{
    const unsigned char *classes = (const unsigned char *)PyBytes_AS_STRING(self->classes);
    int status = 0;
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    offsets[0] = 0;
    for (Py_ssize_t t = 0; t < count && status == 0; t++) {
        const unsigned char *text = views[t].text;
        Py_ssize_t n = views[t].size;
        for (Py_ssize_t i = 0; i < n;) {
            Py_ssize_t j = gpt2_next(classes, text, n, i);
            if (encode_piece(self, text + i, j - i, out) < 0) {
                status = -1;
                break;
            }
            i = j;
        }
        offsets[t + 1] = (int64_t)out->size;
    }
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return status;
}

/* Shared by encode_gpt2 and encode_gpt2_flat: the ids and offsets of a list of str (caller frees both). */
static int
encode_texts(Kernel *self, PyObject *arg, IntBuffer *out, int64_t **offsets, Py_ssize_t *count)
{
    if (check_ready(self) < 0) {
        return -1;
    }
    /* a tuple copy, not the caller's list: another thread may change the list while the GIL is released */
    PyObject *sequence = PySequence_Tuple(arg);
    if (sequence == NULL) {
        return -1;
    }
    TextView *views = utf8_views(self, sequence, count);
    int status = -1;
    if (views != NULL) {
        *offsets = PyMem_RawMalloc((size_t)(*count + 1) * sizeof(int64_t));
        if (*offsets == NULL) {
            PyErr_NoMemory();
        }
        else {
            status = encode_views(self, views, *count, out, *offsets);
        }
        PyMem_RawFree(views);
    }
    Py_DECREF(sequence); /* after the encoding: the tuple kept every str (and so its UTF-8 bytes) alive */
    return status;
}

/* One list of ints per text: text t's are ids[offsets[t]:offsets[t + 1]]. */
static PyObject *
build_lists(const int32_t *ids, const int64_t *offsets, Py_ssize_t count)
{
    PyObject *result = PyList_New(count);
    if (result == NULL) {
        return NULL;
    }
    /* subtle: one list per text makes the cyclic GC run full collections over the whole heap again and again
     * (measured: about half the time of a batch of short lines); lists of ints hold no cycles, so the
     * collector waits until they are built. */
    int collecting = PyGC_Disable();
    for (Py_ssize_t t = 0; t < count; t++) {
        IntBuffer view = {(int32_t *)ids, 0, 0};
        PyObject *list = to_list(&view, (Py_ssize_t)offsets[t], (Py_ssize_t)offsets[t + 1]);
        if (list == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, t, list);
    }
    if (collecting) {
        PyGC_Enable();
    }
    return result;
}

static PyObject *
Kernel_encode_gpt2(Kernel *self, PyObject *arg)
{
    IntBuffer out = {NULL, 0, 0};
    int64_t *offsets = NULL;
    Py_ssize_t count = 0;
    PyObject *result = NULL;
    if (encode_texts(self, arg, &out, &offsets, &count) == 0) {
        result = build_lists(out.data, offsets, count);
    }
    PyMem_RawFree(offsets);
    PyMem_RawFree(out.data);
    return result;
}

/* lists_from_flat(ids, offsets): the per-text lists of encode_gpt2_flat's result (buffers of uint32, int64). */
static PyObject *
lists_from_flat(PyObject *module, PyObject *args)
{
    Py_buffer ids, offsets;
    if (!PyArg_ParseTuple(args, "y*y*", &ids, &offsets)) {
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t count = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t *bounds = offsets.buf;
    int valid = count >= 0 && offsets.len % (Py_ssize_t)sizeof(int64_t) == 0 && (count == 0 || bounds[0] >= 0);
    for (Py_ssize_t t = 0; valid && t < count; t++) {
        valid = bounds[t] <= bounds[t + 1];
    }
    if (!valid || ids.len % (Py_ssize_t)sizeof(int32_t) != 0 ||
        (count >= 0 && bounds[count] > ids.len / (Py_ssize_t)sizeof(int32_t))) {
        PyErr_SetString(PyExc_ValueError, "lists_from_flat takes uint32 ids and len + 1 rising int64 offsets");
    }
    else {
        result = build_lists(ids.buf, bounds, count);
    }
    PyBuffer_Release(&ids);
    PyBuffer_Release(&offsets);
    return result;
}

static PyObject *
Kernel_encode_gpt2_flat(Kernel *self, PyObject *arg)
{
    IntBuffer out = {NULL, 0, 0};
    int64_t *offsets = NULL;
    Py_ssize_t count = 0;
    PyObject *result = NULL;
    if (encode_texts(self, arg, &out, &offsets, &count) == 0) {
        /* ids are in [0, 2**31), so their int32 bytes read as uint32 unchanged */
        result = Py_BuildValue("(y#y#)", (const char *)out.data, out.size * (Py_ssize_t)sizeof(int32_t),
                               (const char *)offsets, (count + 1) * (Py_ssize_t)sizeof(int64_t));
    }
    PyMem_RawFree(offsets);
    PyMem_RawFree(out.data);
    return result;
}

static PyObject *
Kernel_split_gpt2(Kernel *self, PyObject *arg)
{
    if (check_ready(self) < 0) {
        return NULL;
    }
    if (self->classes == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this Kernel was built without a character class table");
        return NULL;
    }
    Py_ssize_t n;
    const unsigned char *text = (const unsigned char *)PyUnicode_AsUTF8AndSize(arg, &n);
    if (text == NULL) {
        return NULL;
    }
    const unsigned char *classes = (const unsigned char *)PyBytes_AS_STRING(self->classes);
    PyObject *result = PyList_New(0);
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t j = gpt2_next(classes, text, n, i);
        PyObject *piece = PyBytes_FromStringAndSize((const char *)text + i, j - i);
        if (piece == NULL || PyList_Append(result, piece) < 0) {
            Py_XDECREF(piece);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(piece);
        i = j;
    }
    return result;
}

static PyMethodDef Kernel_methods[] = {
    {"segment", (PyCFunction)Kernel_segment, METH_O, "Ids of one pre-token's bytes (no cache)."},
    {"encode_pieces", (PyCFunction)Kernel_encode_pieces, METH_O, "Ids of a list of pre-tokens (bytes), cached."},
    {"encode_gpt2", (PyCFunction)Kernel_encode_gpt2, METH_O,
     "Ids of each text: GPT-2 pre-tokenization, then the reading on each pre-token (cached; GIL released)."},
    {"encode_gpt2_flat", (PyCFunction)Kernel_encode_gpt2_flat, METH_O,
     "encode_gpt2 as (uint32 ids, int64 offsets) bytes: text t is ids[offsets[t]:offsets[t + 1]]."},
    {"split_gpt2", (PyCFunction)Kernel_split_gpt2, METH_O, "The GPT-2 pre-tokens of one text, as UTF-8 bytes."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "lexkit._lbpe_kernel.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Kernel(tokens, reading, classes=None): one vocabulary's LBPE segmenter (see the module docstring).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Kernel_init,
    .tp_dealloc = (destructor)Kernel_dealloc,
    .tp_methods = Kernel_methods,
};

static PyMethodDef module_methods[] = {
    {"lists_from_flat", lists_from_flat, METH_VARARGS,
     "lists_from_flat(ids, offsets): one list per text from encode_gpt2_flat's (uint32, int64) buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "lexkit._lbpe_kernel",
    "LBPE's long-token-first encoders (longest token, longest pair) with GPT-2 pre-tokenization, in C.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__lbpe_kernel(void)
{
    if (PyType_Ready(&KernelType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
