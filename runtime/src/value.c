/* Verdict wasm runtime: heap allocator, value constructors, OPA value order, collections. */
#include "rt.h"

static u32 heap_top;
static u32 heap_init_done;

static void heap_init(void) {
  if (!heap_init_done) {
    heap_init_done = 1;
    heap_top = (vd_static_end() + 15u) & ~15u;
  }
}

EXPORT("opa_heap_ptr_get") u32 opa_heap_ptr_get(void) { heap_init(); return heap_top; }
EXPORT("opa_heap_ptr_set") void opa_heap_ptr_set(u32 p) { heap_init(); heap_top = p; }

/* Memory size last seen: memory only grows, so below it no memory.size query is needed. */
static u32 heap_limit;

EXPORT("opa_malloc") void *opa_malloc(u32 n) {
  heap_init();
  u32 p = (heap_top + 7u) & ~7u;
  u32 end = p + n;
  if (end > heap_limit) {
    u32 have = (u32)__builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
      u32 pages = (end - have + 65535u) / 65536u;
      if (__builtin_wasm_memory_grow(0, pages) < 0) opa_abort("out of memory");
      have += pages * 65536u;
    }
    heap_limit = have;
  }
  heap_top = end;
  return (void *)p;
}

/* A bump allocator: freeing only reclaims the most recent block. Hosts rewind the heap between
   evaluations (opa_heap_ptr_set), which is what really releases memory. */
EXPORT("opa_free") void opa_free(void *p) { (void)p; }
EXPORT("opa_heap_blocks_stash") void opa_heap_blocks_stash(void) {}
EXPORT("opa_heap_blocks_restore") void opa_heap_blocks_restore(void) {}
EXPORT("opa_heap_stash_clear") void opa_heap_stash_clear(void) {}
EXPORT("opa_value_free") void opa_value_free(V *v) { (void)v; }

typedef u32 __attribute__((aligned(1))) u32u;

/* Non-overlapping copy, a word at a time (wasm loads and stores need no alignment). */
void vd_memcpy(void *d, const void *s, u32 n) {
  u8 *a = d; const u8 *b = s;
  u32 i = 0;
  for (; i + 4 <= n; i += 4) *(u32u *)(a + i) = *(const u32u *)(b + i);
  for (; i < n; i++) a[i] = b[i];
}

u32 vd_strlen(const char *s) { u32 n = 0; while (s[n]) n++; return n; }

/* Not static: the linker exports their addresses, and generated code uses them for boolean
   constants, so comparing against a constant usually ends at the pointer-equality check. */
VBool vd_true_value = {T_BOOL, 1};
VBool vd_false_value = {T_BOOL, 0};
static V v_null = {T_NULL};

V *vd_boolean(i32 b) { return b ? (V *)&vd_true_value : (V *)&vd_false_value; }
V *vd_null(void) { return &v_null; }

V *vd_int(i64 i) {
  VNum *n = opa_malloc(sizeof(VNum));
  n->type = T_NUM; n->kind = N_INT; n->i = i; n->f = 0; n->ref = 0; n->len = 0;
  return (V *)n;
}
V *vd_float(double f) {
  VNum *n = opa_malloc(sizeof(VNum));
  n->type = T_NUM; n->kind = N_FLOAT; n->i = 0; n->f = f; n->ref = 0; n->len = 0;
  return (V *)n;
}
V *vd_numref(const char *s, u32 len) {
  VNum *n = opa_malloc(sizeof(VNum));
  n->type = T_NUM; n->kind = N_REF; n->i = 0; n->f = 0; n->ref = s; n->len = len;
  return (V *)n;
}
V *vd_str(const char *s, u32 len) {
  VStr *v = opa_malloc(sizeof(VStr));
  v->type = T_STR; v->len = len; v->s = s;
  return (V *)v;
}
V *vd_cstr(const char *s) { return vd_str(s, vd_strlen(s)); }
V *vd_arr(u32 cap) {
  VArr *a = opa_malloc(sizeof(VArr));
  a->type = T_ARR; a->len = 0; a->cap = cap; a->e = cap ? opa_malloc(cap * 4) : 0;
  return (V *)a;
}
V *vd_obj(void) {
  VObj *o = opa_malloc(sizeof(VObj));
  o->type = T_OBJ; o->len = 0; o->cap = 0; o->k = 0; o->v = 0;
  return (V *)o;
}
V *vd_set(void) {
  VSet *s = opa_malloc(sizeof(VSet));
  s->type = T_SET; s->len = 0; s->cap = 0; s->e = 0;
  return (V *)s;
}

static V **grow(V **old, u32 len, u32 *cap) {
  u32 nc = *cap ? *cap * 2 : 4;
  V **n = opa_malloc(nc * 4);
  if (len) vd_memcpy(n, old, len * 4);
  *cap = nc;
  return n;
}

void vd_array_append(V *a, V *v) {
  VArr *x = (VArr *)a;
  if (x->len == x->cap) x->e = grow(x->e, x->len, &x->cap);
  x->e[x->len++] = v;
}

double vd_num_to_double(VNum *n);

/* parse decimal text of a number into double (approximate for long mantissas) */
double vd_parse_double(const char *s, u32 len);

double vd_num_to_double(VNum *n) {
  if (n->kind == N_INT) return (double)n->i;
  if (n->kind == N_FLOAT) return n->f;
  return vd_parse_double(n->ref, n->len);
}

int vd_num_cmp_exact(V *a, V *b);

static int cmp_num(VNum *a, VNum *b) {
  if (a->kind == N_INT && b->kind == N_INT) return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
  /* literals and big integers keep their decimal text and compare exactly */
  if (a->kind != N_FLOAT && b->kind != N_FLOAT) return vd_num_cmp_exact((V *)a, (V *)b);
  double x = vd_num_to_double(a), y = vd_num_to_double(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_str(VStr *a, VStr *b) {
  u32 n = a->len < b->len ? a->len : b->len;
  for (u32 i = 0; i < n; i++) {
    u8 x = (u8)a->s[i], y = (u8)b->s[i];
    if (x != y) return x < y ? -1 : 1;
  }
  return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

EXPORT("opa_value_compare") int opa_value_compare(V *a, V *b) {
  if (a == b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  if (a->type != b->type) return a->type < b->type ? -1 : 1;
  switch (a->type) {
  case T_NULL: return 0;
  case T_BOOL: return (int)((VBool *)a)->b - (int)((VBool *)b)->b;
  case T_NUM: return cmp_num((VNum *)a, (VNum *)b);
  case T_STR: return cmp_str((VStr *)a, (VStr *)b);
  case T_ARR: case T_SET: {
    VArr *x = (VArr *)a, *y = (VArr *)b;
    u32 n = x->len < y->len ? x->len : y->len;
    for (u32 i = 0; i < n; i++) {
      int c = opa_value_compare(x->e[i], y->e[i]);
      if (c) return c;
    }
    return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
  }
  case T_OBJ: {
    VObj *x = (VObj *)a, *y = (VObj *)b;
    u32 n = x->len < y->len ? x->len : y->len;
    for (u32 i = 0; i < n; i++) {
      int c = opa_value_compare(x->k[i], y->k[i]);
      if (c) return c;
      c = opa_value_compare(x->v[i], y->v[i]);
      if (c) return c;
    }
    return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
  }
  }
  return 0;
}

/* binary search in a sorted vector; returns index, *found set */
static u32 bsearch_v(V **e, u32 len, V *k, int *found) {
  u32 lo = 0, hi = len;
  if (k && k->type == T_STR) {
    /* String keys (nearly every object lookup): compare inline, without the generic dispatch. */
    while (lo < hi) {
      u32 mid = (lo + hi) / 2;
      V *m = e[mid];
      int c = m->type != T_STR ? (m->type < T_STR ? -1 : 1) : cmp_str((VStr *)m, (VStr *)k);
      if (c == 0) { *found = 1; return mid; }
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    *found = 0;
    return lo;
  }
  while (lo < hi) {
    u32 mid = (lo + hi) / 2;
    int c = opa_value_compare(e[mid], k);
    if (c == 0) { *found = 1; return mid; }
    if (c < 0) lo = mid + 1; else hi = mid;
  }
  *found = 0;
  return lo;
}

void vd_set_add(V *s, V *v) {
  VSet *x = (VSet *)s;
  int f;
  u32 i = bsearch_v(x->e, x->len, v, &f);
  if (f) return;
  if (x->len == x->cap) x->e = grow(x->e, x->len, &x->cap);
  for (u32 j = x->len; j > i; j--) x->e[j] = x->e[j - 1];
  x->e[i] = v;
  x->len++;
}

int vd_set_has(V *s, V *v) {
  int f;
  bsearch_v(((VSet *)s)->e, ((VSet *)s)->len, v, &f);
  return f;
}

V *vd_object_get(V *o, V *k) {
  VObj *x = (VObj *)o;
  int f;
  u32 i = bsearch_v(x->k, x->len, k, &f);
  return f ? x->v[i] : 0;
}

void vd_object_insert(V *o, V *k, V *v) {
  VObj *x = (VObj *)o;
  int f;
  u32 i = bsearch_v(x->k, x->len, k, &f);
  if (f) { x->v[i] = v; return; }
  if (x->len == x->cap) {
    u32 c = x->cap;
    x->k = grow(x->k, x->len, &c);
    x->v = grow(x->v, x->len, &x->cap);
  }
  for (u32 j = x->len; j > i; j--) { x->k[j] = x->k[j - 1]; x->v[j] = x->v[j - 1]; }
  x->k[i] = k;
  x->v[i] = v;
  x->len++;
}

void vd_object_remove(V *o, V *k) {
  VObj *x = (VObj *)o;
  int f;
  u32 i = bsearch_v(x->k, x->len, k, &f);
  if (!f) return;
  for (u32 j = i; j + 1 < x->len; j++) { x->k[j] = x->k[j + 1]; x->v[j] = x->v[j + 1]; }
  x->len--;
}

/* shallow copy of a composite (so `with` can upsert without touching the original) */
V *vd_shallow_copy(V *v) {
  if (!v) return 0;
  if (v->type == T_OBJ) {
    VObj *x = (VObj *)v;
    VObj *y = (VObj *)vd_obj();
    y->len = x->len; y->cap = x->len;
    if (x->len) {
      y->k = opa_malloc(x->len * 4); y->v = opa_malloc(x->len * 4);
      vd_memcpy(y->k, x->k, x->len * 4); vd_memcpy(y->v, x->v, x->len * 4);
    }
    return (V *)y;
  }
  if (v->type == T_ARR || v->type == T_SET) {
    VArr *x = (VArr *)v;
    VArr *y = (VArr *)vd_arr(x->len);
    y->type = x->type;
    y->len = x->len;
    if (x->len) vd_memcpy(y->e, x->e, x->len * 4);
    return (V *)y;
  }
  return v;
}

/* Integer value of a number if it is one (int64 range), for array indexing and bits. */
int vd_num_as_int(V *v, i64 *out) {
  if (!v || v->type != T_NUM) return 0;
  VNum *n = (VNum *)v;
  if (n->kind == N_INT) { *out = n->i; return 1; }
  double d = vd_num_to_double(n);
  if (d != d || d < -9.2e18 || d > 9.2e18) return 0;
  i64 i = (i64)d;
  if ((double)i != d) return 0;
  *out = i;
  return 1;
}

V *vd_dot(V *src, V *key) {
  if (!src || !key) return 0;
  switch (src->type) {
  case T_OBJ: return vd_object_get(src, key);
  case T_SET: return vd_set_has(src, key) ? key : 0;
  case T_ARR: {
    i64 i;
    if (!vd_num_as_int(key, &i)) return 0;
    VArr *a = (VArr *)src;
    if (i < 0 || i >= (i64)a->len) return 0;
    return a->e[i];
  }
  }
  return 0;
}

/* length in unicode code points for strings */
u32 vd_utf8_len(const char *s, u32 n) {
  u32 c = 0;
  for (u32 i = 0; i < n; i++) if (((u8)s[i] & 0xC0) != 0x80) c++;
  return c;
}

V *vd_len(V *v) {
  if (!v) return 0;
  switch (v->type) {
  case T_STR: return vd_int(vd_utf8_len(((VStr *)v)->s, ((VStr *)v)->len));
  case T_ARR: case T_SET: return vd_int(((VArr *)v)->len);
  case T_OBJ: return vd_int(((VObj *)v)->len);
  }
  return 0;
}

/* Iteration helpers: position i of a composite. Keys of arrays are allocated numbers. */
V *vd_iter_key(V *v, u32 i) {
  if (!v) return 0;
  switch (v->type) {
  case T_ARR: return i < ((VArr *)v)->len ? vd_int(i) : 0;
  case T_SET: return i < ((VSet *)v)->len ? ((VSet *)v)->e[i] : 0;
  case T_OBJ: return i < ((VObj *)v)->len ? ((VObj *)v)->k[i] : 0;
  }
  return 0;
}
V *vd_iter_value(V *v, u32 i) {
  switch (v->type) {
  case T_ARR: return ((VArr *)v)->e[i];
  case T_SET: return ((VSet *)v)->e[i];
  case T_OBJ: return ((VObj *)v)->v[i];
  }
  return 0;
}

/* Recursive merge of objects: a wins on conflicts between non-objects. 0 on a type clash. */
V *vd_object_merge(V *a, V *b) {
  if (!a) return b;
  if (!b) return a;
  if (a->type != T_OBJ || b->type != T_OBJ) return 0;
  V *r = vd_shallow_copy(a);
  VObj *y = (VObj *)b;
  for (u32 i = 0; i < y->len; i++) {
    V *cur = vd_object_get(r, y->k[i]);
    if (!cur) { vd_object_insert(r, y->k[i], y->v[i]); continue; }
    if (cur->type == T_OBJ && y->v[i]->type == T_OBJ) {
      V *m = vd_object_merge(cur, y->v[i]);
      if (!m) return 0;
      vd_object_insert(r, y->k[i], m);
    }
  }
  return r;
}

/* type tag of a value, 0 for undefined */
i32 vd_type(V *v) { return v ? (i32)v->type : 0; }

/* stable merge sort of indices by the values they point at */
static void msort(u32 *idx, u32 *tmp, u32 n, V **keys) {
  if (n < 2) return;
  u32 h = n / 2;
  msort(idx, tmp, h, keys);
  msort(idx + h, tmp, n - h, keys);
  u32 i = 0, j = h, k = 0;
  while (i < h && j < n) tmp[k++] = opa_value_compare(keys[idx[j]], keys[idx[i]]) < 0 ? idx[j++] : idx[i++];
  while (i < h) tmp[k++] = idx[i++];
  while (j < n) tmp[k++] = idx[j++];
  for (u32 q = 0; q < n; q++) idx[q] = tmp[q];
}

/* Build an object from unsorted pairs in O(n log n); a later duplicate key wins. */
V *vd_object_from_pairs(V **keys, V **vals, u32 n) {
  VObj *o = (VObj *)vd_obj();
  if (!n) return (V *)o;
  u32 *idx = opa_malloc(n * 4), *tmp = opa_malloc(n * 4);
  for (u32 i = 0; i < n; i++) idx[i] = i;
  msort(idx, tmp, n, keys);
  o->k = opa_malloc(n * 4); o->v = opa_malloc(n * 4); o->cap = n;
  for (u32 i = 0; i < n; i++) {
    if (o->len && opa_value_compare(o->k[o->len - 1], keys[idx[i]]) == 0) {
      o->v[o->len - 1] = vals[idx[i]];
      continue;
    }
    o->k[o->len] = keys[idx[i]];
    o->v[o->len++] = vals[idx[i]];
  }
  return (V *)o;
}

/* Build a set from unsorted elements in O(n log n). */
V *vd_set_from_elems(V **e, u32 n) {
  VSet *s = (VSet *)vd_set();
  if (!n) return (V *)s;
  u32 *idx = opa_malloc(n * 4), *tmp = opa_malloc(n * 4);
  for (u32 i = 0; i < n; i++) idx[i] = i;
  msort(idx, tmp, n, e);
  s->e = opa_malloc(n * 4); s->cap = n;
  for (u32 i = 0; i < n; i++) {
    if (s->len && opa_value_compare(s->e[s->len - 1], e[idx[i]]) == 0) continue;
    s->e[s->len++] = e[idx[i]];
  }
  return (V *)s;
}
