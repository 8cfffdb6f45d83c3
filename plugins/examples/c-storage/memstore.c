/*
 * memstore: a wirt storage driver written in C.
 *
 * It implements `wirt:driver/storage@0.1.0` (world `storage-driver`) the way
 * libvirt's test driver simulates storage: "dir" pools and their volumes live
 * in this plugin instance's memory, volume contents in 64 KiB blocks that exist only
 * once written. Pools have a fixed 100 GiB capacity; allocation is what each
 * volume was created with. It needs no WASI at all: no files, no clock.
 *
 * Bindings: gen/storage_driver.{c,h}, made by `wit-bindgen c` from the
 * contract (see build.sh). Conventions of those bindings: an exported
 * function owns its arguments (it frees them), and what it returns is
 * heap-allocated and freed by the generated post-return code. Every entry
 * point below therefore copies what it keeps and frees its arguments.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gen/storage_driver.h"

/* libvirt error numbers (virErrorNumber). */
enum {
    ERR_INVALID_ARG = 8,
    ERR_OPERATION_FAILED = 9,
    ERR_NO_STORAGE_POOL = 49,
    ERR_NO_STORAGE_VOL = 50,
    ERR_OPERATION_INVALID = 55,
    ERR_STORAGE_VOL_EXIST = 90,
};

/* libvirt's VIR_STORAGE_VOL_RESIZE_* flags. */
enum { RESIZE_ALLOCATE = 1, RESIZE_DELTA = 2, RESIZE_SHRINK = 4 };

#define POOL_CAPACITY (100ULL << 30)
#define BLOCK ((uint64_t)64 << 10)
/* Largest chunk one read returns, so a reply stays bounded. */
#define MAX_CHUNK (4u << 20)

typedef storage_driver_string_t str_t;
typedef exports_wirt_driver_storage_error_t error_t;

struct block {
    uint64_t index;
    uint8_t *data; /* BLOCK bytes */
};

struct volume {
    str_t name;
    str_t format;
    uint64_t capacity;
    uint64_t allocation;
    struct block *blocks;
    size_t nblocks;
};

struct pool {
    str_t uuid;
    str_t name;
    str_t target; /* target path, possibly empty */
    bool active;
    struct volume *vols;
    size_t nvols;
};

static struct pool *pools;
static size_t npools;

/* ---- small helpers ---- */

static void *xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) abort();
    return p;
}

static bool str_eq(const str_t *a, const str_t *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static str_t str_copy(const str_t *s) {
    str_t out = {NULL, s->len};
    if (s->len) {
        out.ptr = xrealloc(NULL, s->len);
        memcpy(out.ptr, s->ptr, s->len);
    }
    return out;
}

static void str_drop(str_t *s) {
    storage_driver_string_free(s);
}

/* Sets `err` to `before` + `name` + `after` (name may be NULL) and returns
 * false, for `return fail(...)`. No printf: it would pull WASI's stdio into a
 * plugin that otherwise needs no WASI at all. */
static bool fail(error_t *err, uint32_t code, const char *before, const str_t *name,
                 const char *after) {
    size_t a = strlen(before), n = name ? name->len : 0, b = strlen(after);
    err->code = code;
    err->message.len = a + n + b;
    err->message.ptr = xrealloc(NULL, a + n + b);
    memcpy(err->message.ptr, before, a);
    if (n) memcpy(err->message.ptr + a, name->ptr, n);
    memcpy(err->message.ptr + a + n, after, b);
    return false;
}

/* ---- pools and volumes ---- */

static struct pool *find_pool(const str_t *uuid) {
    for (size_t i = 0; i < npools; i++)
        if (str_eq(&pools[i].uuid, uuid)) return &pools[i];
    return NULL;
}

static struct pool *active_pool(const str_t *uuid, error_t *err) {
    struct pool *p = find_pool(uuid);
    if (!p) {
        fail(err, ERR_NO_STORAGE_POOL, "no storage pool with matching uuid '", uuid, "'");
        return NULL;
    }
    if (!p->active) {
        fail(err, ERR_OPERATION_INVALID, "storage pool '", &p->name, "' is not active");
        return NULL;
    }
    return p;
}

static struct volume *find_volume(struct pool *p, const str_t *name) {
    for (size_t i = 0; i < p->nvols; i++)
        if (str_eq(&p->vols[i].name, name)) return &p->vols[i];
    return NULL;
}

static struct volume *volume(struct pool *p, const str_t *name, error_t *err) {
    struct volume *v = find_volume(p, name);
    if (!v)
        fail(err, ERR_NO_STORAGE_VOL, "no storage vol with matching name '", name, "'");
    return v;
}

static uint64_t pool_allocation(const struct pool *p) {
    uint64_t sum = 0;
    for (size_t i = 0; i < p->nvols; i++) sum += p->vols[i].allocation;
    return sum;
}

static void free_blocks(struct volume *v) {
    for (size_t i = 0; i < v->nblocks; i++) free(v->blocks[i].data);
    free(v->blocks);
    v->blocks = NULL;
    v->nblocks = 0;
}

static void free_volume(struct volume *v) {
    free_blocks(v);
    str_drop(&v->name);
    str_drop(&v->format);
}

static uint8_t *find_block(const struct volume *v, uint64_t index) {
    for (size_t i = 0; i < v->nblocks; i++)
        if (v->blocks[i].index == index) return v->blocks[i].data;
    return NULL;
}

static uint8_t *get_block(struct volume *v, uint64_t index) {
    uint8_t *data = find_block(v, index);
    if (data) return data;
    data = xrealloc(NULL, BLOCK);
    memset(data, 0, BLOCK);
    v->blocks = xrealloc(v->blocks, (v->nblocks + 1) * sizeof *v->blocks);
    v->blocks[v->nblocks++] = (struct block){index, data};
    return data;
}

/* Drops the blocks at or past `capacity` and zeroes the tail of the last
 * one, so that a shrink followed by a grow reads back zeros. */
static void truncate_volume(struct volume *v, uint64_t capacity) {
    uint64_t keep = (capacity + BLOCK - 1) / BLOCK;
    size_t out = 0;
    for (size_t i = 0; i < v->nblocks; i++) {
        if (v->blocks[i].index < keep)
            v->blocks[out++] = v->blocks[i];
        else
            free(v->blocks[i].data);
    }
    v->nblocks = out;
    if (capacity % BLOCK) {
        uint8_t *last = find_block(v, capacity / BLOCK);
        if (last) memset(last + capacity % BLOCK, 0, BLOCK - capacity % BLOCK);
    }
}

static void volume_info(const struct pool *p, const struct volume *v,
                        exports_wirt_driver_storage_volume_info_t *out) {
    /* path = <target>/<name> */
    size_t tlen = p->target.len;
    while (tlen > 0 && p->target.ptr[tlen - 1] == '/') tlen--;
    size_t len = tlen + 1 + v->name.len;
    char *path = xrealloc(NULL, len);
    memcpy(path, p->target.ptr, tlen);
    path[tlen] = '/';
    memcpy(path + tlen + 1, v->name.ptr, v->name.len);
    out->name = str_copy(&v->name);
    storage_driver_string_dup_n(&out->key, path, len);
    out->path = (str_t){(uint8_t *)path, len};
    out->kind = 0; /* file */
    out->capacity = v->capacity;
    out->allocation = v->allocation;
    out->format = str_copy(&v->format);
}

/* ---- the storage interface ---- */

void exports_wirt_driver_storage_pool_types(storage_driver_list_string_t *ret) {
    /* Like libvirt's test driver, it simulates "dir" pools: the host
     * accepts only libvirt's pool types, and "dir" is the one with no
     * source to describe. */
    static const char *types[] = {"dir"};
    size_t n = sizeof types / sizeof *types;
    ret->ptr = xrealloc(NULL, n * sizeof *ret->ptr);
    ret->len = n;
    for (size_t i = 0; i < n; i++) storage_driver_string_dup(&ret->ptr[i], types[i]);
}

bool exports_wirt_driver_storage_pool_build(exports_wirt_driver_storage_pool_config_t *pool,
                                            uint32_t flags, error_t *err) {
    (void)flags;
    struct pool *p = find_pool(&pool->uuid);
    bool ok = !(p && p->active) ||
              fail(err, ERR_OPERATION_INVALID, "storage pool '", &pool->name, "' is already active");
    exports_wirt_driver_storage_pool_config_free(pool);
    return ok;
}

bool exports_wirt_driver_storage_pool_start(exports_wirt_driver_storage_pool_config_t *pool,
                                            error_t *err) {
    struct pool *p = find_pool(&pool->uuid);
    bool ok = true;
    if (p && p->active) {
        ok = fail(err, ERR_OPERATION_INVALID, "storage pool '", &pool->name, "' is already active");
    } else {
        if (!p) {
            pools = xrealloc(pools, (npools + 1) * sizeof *pools);
            p = &pools[npools++];
            *p = (struct pool){.uuid = str_copy(&pool->uuid)};
        } else {
            str_drop(&p->name);
            str_drop(&p->target);
        }
        p->name = str_copy(&pool->name);
        p->target = pool->target_path.is_some ? str_copy(&pool->target_path.val) : (str_t){0};
        p->active = true;
    }
    exports_wirt_driver_storage_pool_config_free(pool);
    return ok;
}

bool exports_wirt_driver_storage_pool_stop(str_t *uuid, error_t *err) {
    struct pool *p = active_pool(uuid, err);
    if (p) p->active = false;
    str_drop(uuid);
    return p != NULL;
}

bool exports_wirt_driver_storage_pool_delete(exports_wirt_driver_storage_pool_config_t *pool,
                                             uint32_t flags, error_t *err) {
    (void)flags;
    struct pool *p = find_pool(&pool->uuid);
    bool ok = true;
    if (p && p->active) {
        ok = fail(err, ERR_OPERATION_INVALID, "storage pool '", &pool->name, "' is still active");
    } else if (p && p->nvols) {
        ok = fail(err, ERR_OPERATION_FAILED, "failed to remove pool '", &p->target,
                  "': Directory not empty");
    } else if (p) {
        str_drop(&p->uuid);
        str_drop(&p->name);
        str_drop(&p->target);
        free(p->vols);
        *p = pools[--npools];
    }
    exports_wirt_driver_storage_pool_config_free(pool);
    return ok;
}

bool exports_wirt_driver_storage_get_pool_usage(str_t *uuid,
                                                exports_wirt_driver_storage_pool_usage_t *ret,
                                                error_t *err) {
    (void)err;
    struct pool *p = find_pool(uuid);
    uint64_t allocation = p ? pool_allocation(p) : 0;
    ret->capacity = POOL_CAPACITY;
    ret->allocation = allocation;
    ret->available = POOL_CAPACITY - allocation;
    str_drop(uuid);
    return true;
}

bool exports_wirt_driver_storage_pool_refresh(str_t *uuid,
                                              exports_wirt_driver_storage_list_volume_info_t *ret,
                                              error_t *err) {
    struct pool *p = active_pool(uuid, err);
    if (p) {
        ret->len = p->nvols;
        ret->ptr = p->nvols ? xrealloc(NULL, p->nvols * sizeof *ret->ptr) : NULL;
        for (size_t i = 0; i < p->nvols; i++) volume_info(p, &p->vols[i], &ret->ptr[i]);
    }
    str_drop(uuid);
    return p != NULL;
}

static bool create(struct pool *p, exports_wirt_driver_storage_volume_config_t *config,
                   exports_wirt_driver_storage_volume_info_t *ret, error_t *err,
                   const struct volume *source) {
    if (find_volume(p, &config->name))
        return fail(err, ERR_STORAGE_VOL_EXIST, "storage vol '", &config->name, "' already exists");
    if (config->allocation > POOL_CAPACITY - pool_allocation(p))
        return fail(err, ERR_OPERATION_FAILED, "Not enough space left in storage pool", NULL, "");
    struct volume v = {
        .name = str_copy(&config->name),
        .format = str_copy(&config->format),
        .capacity = config->capacity,
        .allocation = config->allocation,
    };
    for (size_t i = 0; source && i < source->nblocks; i++)
        memcpy(get_block(&v, source->blocks[i].index), source->blocks[i].data, BLOCK);
    truncate_volume(&v, v.capacity);
    p->vols = xrealloc(p->vols, (p->nvols + 1) * sizeof *p->vols);
    p->vols[p->nvols++] = v;
    volume_info(p, &p->vols[p->nvols - 1], ret);
    return true;
}

bool exports_wirt_driver_storage_volume_create(str_t *pool,
                                               exports_wirt_driver_storage_volume_config_t *config,
                                               uint32_t flags,
                                               exports_wirt_driver_storage_volume_info_t *ret,
                                               error_t *err) {
    (void)flags;
    struct pool *p = active_pool(pool, err);
    bool ok = p && create(p, config, ret, err, NULL);
    str_drop(pool);
    exports_wirt_driver_storage_volume_config_free(config);
    return ok;
}

bool exports_wirt_driver_storage_volume_clone(str_t *pool,
                                              exports_wirt_driver_storage_volume_config_t *config,
                                              str_t *source_pool, str_t *source, uint32_t flags,
                                              exports_wirt_driver_storage_volume_info_t *ret,
                                              error_t *err) {
    (void)flags;
    bool ok = false;
    struct pool *sp = active_pool(source_pool, err);
    struct volume *sv = sp ? volume(sp, source, err) : NULL;
    struct pool *p = sv ? active_pool(pool, err) : NULL;
    if (p) {
        /* Copy the source first: `create` may move the pool's volumes. */
        struct volume copy = {.blocks = NULL, .nblocks = 0};
        for (size_t i = 0; i < sv->nblocks; i++)
            memcpy(get_block(&copy, sv->blocks[i].index), sv->blocks[i].data, BLOCK);
        ok = create(p, config, ret, err, &copy);
        free_blocks(&copy);
    }
    str_drop(pool);
    str_drop(source_pool);
    str_drop(source);
    exports_wirt_driver_storage_volume_config_free(config);
    return ok;
}

bool exports_wirt_driver_storage_volume_delete(str_t *pool, str_t *name, uint32_t flags,
                                               error_t *err) {
    (void)flags;
    struct pool *p = active_pool(pool, err);
    struct volume *v = p ? volume(p, name, err) : NULL;
    if (v) {
        free_volume(v);
        *v = p->vols[--p->nvols];
    }
    str_drop(pool);
    str_drop(name);
    return v != NULL;
}

bool exports_wirt_driver_storage_get_volume_info(str_t *pool, str_t *name,
                                                 exports_wirt_driver_storage_volume_info_t *ret,
                                                 error_t *err) {
    struct pool *p = active_pool(pool, err);
    struct volume *v = p ? volume(p, name, err) : NULL;
    if (v) volume_info(p, v, ret);
    str_drop(pool);
    str_drop(name);
    return v != NULL;
}

static bool resize(struct pool *p, struct volume *v, uint64_t capacity, uint32_t flags,
                   error_t *err) {
    uint64_t free_space = POOL_CAPACITY - pool_allocation(p);
    if (flags & RESIZE_DELTA) {
        if (flags & RESIZE_SHRINK)
            capacity = capacity > v->capacity ? 0 : v->capacity - capacity;
        else
            capacity = capacity > UINT64_MAX - v->capacity ? UINT64_MAX : v->capacity + capacity;
    }
    if (capacity < v->allocation)
        return fail(err, ERR_INVALID_ARG, "can't shrink capacity below existing allocation", NULL, "");
    if (capacity < v->capacity && !(flags & RESIZE_SHRINK))
        return fail(err, ERR_INVALID_ARG,
                    "Can't shrink capacity below current capacity unless shrink flag "
                    "explicitly specified",
                    NULL, "");
    uint64_t allocation = (flags & RESIZE_ALLOCATE) ? capacity : v->allocation;
    if (allocation - v->allocation > free_space)
        return fail(err, ERR_INVALID_ARG, "Not enough space left in storage pool", NULL, "");
    truncate_volume(v, capacity);
    v->capacity = capacity;
    v->allocation = allocation;
    return true;
}

bool exports_wirt_driver_storage_volume_resize(str_t *pool, str_t *name, uint64_t capacity,
                                               uint32_t flags,
                                               exports_wirt_driver_storage_volume_info_t *ret,
                                               error_t *err) {
    struct pool *p = active_pool(pool, err);
    struct volume *v = p ? volume(p, name, err) : NULL;
    bool ok = v && resize(p, v, capacity, flags, err);
    if (ok) volume_info(p, v, ret);
    str_drop(pool);
    str_drop(name);
    return ok;
}

bool exports_wirt_driver_storage_volume_wipe(str_t *pool, str_t *name, uint32_t algorithm,
                                             uint32_t flags, error_t *err) {
    (void)flags;
    bool ok = false;
    if (algorithm != 0) {
        fail(err, ERR_INVALID_ARG, "unsupported wipe algorithm: memstore only zeroes", NULL, "");
    } else {
        struct pool *p = active_pool(pool, err);
        struct volume *v = p ? volume(p, name, err) : NULL;
        if (v) free_blocks(v);
        ok = v != NULL;
    }
    str_drop(pool);
    str_drop(name);
    return ok;
}

bool exports_wirt_driver_storage_volume_read(str_t *pool, str_t *name, uint64_t offset,
                                             uint32_t max_len, storage_driver_list_u8_t *ret,
                                             error_t *err) {
    struct pool *p = active_pool(pool, err);
    struct volume *v = p ? volume(p, name, err) : NULL;
    if (v) {
        uint64_t len = max_len < MAX_CHUNK ? max_len : MAX_CHUNK;
        uint64_t end = offset > v->capacity ? offset
                       : len > v->capacity - offset ? v->capacity
                                                    : offset + len;
        ret->len = (size_t)(end - offset);
        ret->ptr = ret->len ? xrealloc(NULL, ret->len) : NULL;
        if (ret->len) memset(ret->ptr, 0, ret->len);
        for (uint64_t pos = offset; pos < end;) {
            uint64_t within = pos % BLOCK;
            uint64_t take = BLOCK - within < end - pos ? BLOCK - within : end - pos;
            const uint8_t *data = find_block(v, pos / BLOCK);
            if (data) memcpy(ret->ptr + (pos - offset), data + within, take);
            pos += take;
        }
    }
    str_drop(pool);
    str_drop(name);
    return v != NULL;
}

bool exports_wirt_driver_storage_volume_write(str_t *pool, str_t *name, uint64_t offset,
                                              storage_driver_list_u8_t *data, error_t *err) {
    struct pool *p = active_pool(pool, err);
    struct volume *v = p ? volume(p, name, err) : NULL;
    bool ok = false;
    if (v && (offset > v->capacity || data->len > v->capacity - offset)) {
        fail(err, ERR_OPERATION_FAILED, "cannot write past the end of volume '", name, "'");
    } else if (v) {
        for (size_t done = 0; done < data->len;) {
            uint64_t pos = offset + done;
            size_t within = (size_t)(pos % BLOCK);
            size_t take = BLOCK - within < data->len - done ? BLOCK - within : data->len - done;
            memcpy(get_block(v, pos / BLOCK) + within, data->ptr + done, take);
            done += take;
        }
        ok = true;
    }
    str_drop(pool);
    str_drop(name);
    storage_driver_list_u8_free(data);
    return ok;
}
