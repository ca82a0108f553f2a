/* Verdict wasm runtime: the OPA wasm ABI entry points (context, eval, data paths) and the
   helpers generated code calls (memo frames, conflict checks, `with`, dynamic calls, errors). */
#include "rt.h"

void vd_memcpy(void *d, const void *s, u32 n);
u32 vd_strlen(const char *s);
V *vd_set(void);
V *vd_obj(void);
V *vd_shallow_copy(V *v);
V *vd_object_get(V *o, V *k);
void vd_object_insert(V *o, V *k, V *v);
void vd_object_remove(V *o, V *k);
void vd_set_add(V *s, V *v);
V *vd_int(i64 i);
void opa_heap_ptr_set(u32 p);


EXPORT("opa_eval_ctx_new") Ctx *opa_eval_ctx_new(void) {
  Ctx *c = opa_malloc(sizeof(Ctx));
  c->input = 0; c->data = 0; c->result = 0; c->entrypoint = 0;
  return c;
}
EXPORT("opa_eval_ctx_set_input") void opa_eval_ctx_set_input(Ctx *c, V *v) { c->input = v; }
EXPORT("opa_eval_ctx_set_data") void opa_eval_ctx_set_data(Ctx *c, V *v) { c->data = v; }
EXPORT("opa_eval_ctx_set_entrypoint") void opa_eval_ctx_set_entrypoint(Ctx *c, i32 e) { c->entrypoint = e; }
EXPORT("opa_eval_ctx_get_result") V *opa_eval_ctx_get_result(Ctx *c) { return c->result; }

/* ---------- memoization: a stack of frames, each a small map func index -> value ---------- */

typedef struct Frame { struct Frame *up; u32 len, cap; i32 *ids; V **vals; } Frame;
static Frame *memo;

void vd_memo_push(void) {
  Frame *f = opa_malloc(sizeof(Frame));
  f->up = memo; f->len = 0; f->cap = 0; f->ids = 0; f->vals = 0;
  memo = f;
}
void vd_memo_pop(void) { if (memo) memo = memo->up; }
V *vd_memo_get(i32 id) {
  if (!memo) return 0;
  for (u32 i = 0; i < memo->len; i++) if (memo->ids[i] == id) return memo->vals[i];
  return 0;
}
V *vd_memo_put(i32 id, V *v) {
  if (!memo || !v) return v;
  if (memo->len == memo->cap) {
    u32 nc = memo->cap ? memo->cap * 2 : 8;
    i32 *ids = opa_malloc(nc * 4);
    V **vals = opa_malloc(nc * 4);
    if (memo->len) { vd_memcpy(ids, memo->ids, memo->len * 4); vd_memcpy(vals, memo->vals, memo->len * 4); }
    memo->ids = ids; memo->vals = vals; memo->cap = nc;
  }
  memo->ids[memo->len] = id;
  memo->vals[memo->len++] = v;
  return v;
}

EXPORT("eval") i32 eval(Ctx *c) {
  memo = 0;
  vd_memo_push();
  c->result = vd_set();
  i32 r = vd_plan_dispatch(c->entrypoint, c->input, c->data, c->result);
  if (r) opa_abort("internal: illegal entrypoint id");
  return 0;
}

EXPORT("builtins") V *builtins(void) { return vd_gen_builtins(); }
EXPORT("entrypoints") V *entrypoints(void) { return vd_gen_entrypoints(); }

EXPORT("opa_eval")
char *opa_eval(i32 reserved, i32 entrypoint, V *data, const char *input, u32 len, u32 heap, i32 fmt) {
  if (reserved) opa_abort("invalid reserved argument");
  opa_heap_ptr_set(heap);
  V *in = 0;
  if (input) {
    in = opa_value_parse(input, len);
    if (!in) opa_abort("invalid input json");
  }
  Ctx *c = opa_eval_ctx_new();
  c->input = in; c->data = data; c->entrypoint = entrypoint;
  if (eval(c)) opa_abort("eval failed");
  return fmt ? opa_value_dump(c->result) : opa_json_dump(c->result);
}

/* ---------- data patching ---------- */

EXPORT("opa_value_add_path") i32 opa_value_add_path(V *base, V *path, V *v) {
  if (!base || base->type != T_OBJ) return 2;
  if (!path || path->type != T_ARR) return 3;
  VArr *p = (VArr *)path;
  if (p->len == 0) return 3;
  V *cur = base;
  for (u32 i = 0; i + 1 < p->len; i++) {
    V *next = vd_object_get(cur, p->e[i]);
    if (!next) { next = vd_obj(); vd_object_insert(cur, p->e[i], next); }
    else if (next->type != T_OBJ) return 2;
    cur = next;
  }
  vd_object_insert(cur, p->e[p->len - 1], v);
  return 0;
}

EXPORT("opa_value_remove_path") i32 opa_value_remove_path(V *base, V *path) {
  if (!base || base->type != T_OBJ) return 2;
  if (!path || path->type != T_ARR) return 3;
  VArr *p = (VArr *)path;
  if (p->len == 0) return 3;
  V *cur = base;
  for (u32 i = 0; i + 1 < p->len; i++) {
    cur = vd_object_get(cur, p->e[i]);
    if (!cur || cur->type != T_OBJ) return 0;
  }
  vd_object_remove(cur, p->e[p->len - 1]);
  return 0;
}

/* ---------- runtime errors ---------- */

typedef struct { char *b; u32 n; } SB;
static char errbuf[1024];
static void sb_put(SB *s, const char *t) {
  while (*t && s->n < sizeof(errbuf) - 1) s->b[s->n++] = *t++;
  s->b[s->n] = 0;
}
static void sb_int(SB *s, i32 v) {
  char t[12]; int n = 0;
  if (v < 0) { sb_put(s, "-"); v = -v; }
  if (!v) t[n++] = '0';
  while (v) { t[n++] = (char)('0' + v % 10); v /= 10; }
  char o[2] = {0, 0};
  while (n) { o[0] = t[--n]; sb_put(s, o); }
}

/*
 * Abort with "<file>:<row>: <code>: <message>" (location omitted when file is null): the form of
 * OPA's own evaluation errors, which policies' tests and the conformance cases match on.
 */
void vd_runtime_error(const char *file, i32 row, i32 col, const char *code, const char *msg) {
  SB s = {errbuf, 0};
  if (file) {
    sb_put(&s, file); sb_put(&s, ":"); sb_int(&s, row); sb_put(&s, ": ");
  }
  sb_put(&s, code);
  sb_put(&s, ": ");
  sb_put(&s, msg);
  opa_abort(errbuf);
}

/* msg is a static string chosen by the code generator (it names the rule or function) */
V *vd_assign_once(V *target, V *src, const char *msg, const char *file, i32 row, i32 col) {
  if (target && src && opa_value_compare(target, src) != 0)
    vd_runtime_error(file, row, col, "eval_conflict_error", msg);
  return src;
}

void vd_object_insert_once(V *o, V *k, V *v, const char *file, i32 row, i32 col) {
  V *cur = vd_object_get(o, k);
  if (cur) {
    if (opa_value_compare(cur, v) != 0)
      vd_runtime_error(file, row, col, "eval_conflict_error", "object keys must be unique");
    return;
  }
  vd_object_insert(o, k, v);
}

/* Builtin errors: native builtins record one and return undefined. */
static const char *bi_code;
static char bi_msg[512];

void vd_builtin_error(const char *code, const char *msg) {
  bi_code = code;
  u32 n = 0;
  while (msg[n] && n < sizeof(bi_msg) - 1) { bi_msg[n] = msg[n]; n++; }
  bi_msg[n] = 0;
}
void vd_builtin_error_clear(void) { bi_code = 0; }
/* In strict mode generated code calls this after a native builtin returned undefined. */
void vd_builtin_error_check(const char *file, i32 row, i32 col) {
  if (bi_code) vd_runtime_error(file, row, col, bi_code, bi_msg);
}

/*
 * Strict mode, host builtins: the host cannot unwind through the module with a location, so it
 * reports a failure as the value {"__verdict_builtin_error__": {"code": c, "message": m}} and the
 * generated code calls this after every host call, turning it into a located runtime error.
 */
V *vd_cstr(const char *s);
static char host_code[64];
static char host_msg[512];

static int copy_str(V *v, char *out, u32 cap) {
  if (!v || v->type != T_STR) return 0;
  VStr *s = (VStr *)v;
  u32 n = s->len < cap - 1 ? s->len : cap - 1;
  vd_memcpy(out, s->s, n);
  out[n] = 0;
  return 1;
}

V *vd_host_error_check(V *r, const char *file, i32 row, i32 col) {
  if (!r || r->type != T_OBJ || ((VObj *)r)->len != 1) return r;
  VObj *o = (VObj *)r;
  static const char marker[] = "__verdict_builtin_error__";
  VStr *k = (VStr *)o->k[0];
  if (k->type != T_STR || k->len != sizeof(marker) - 1) return r;
  for (u32 i = 0; i < k->len; i++) if (k->s[i] != marker[i]) return r;
  V *e = o->v[0];
  if (!copy_str(vd_object_get(e, vd_cstr("code")), host_code, sizeof(host_code)))
    vd_memcpy(host_code, "eval_builtin_error", sizeof("eval_builtin_error"));
  if (!copy_str(vd_object_get(e, vd_cstr("message")), host_msg, sizeof(host_msg)))
    host_msg[0] = 0;
  vd_runtime_error(file, row, col, host_code, host_msg);
  return 0;
}

/* ---------- `with`: upsert value at path (strings) inside a copy of base ---------- */

V *vd_with_upsert(V *base, V *path, V *v) {
  VArr *p = (VArr *)path;
  if (p->len == 0) return v;
  V *root = (base && base->type == T_OBJ) ? vd_shallow_copy(base) : vd_obj();
  V *cur = root;
  for (u32 i = 0; i + 1 < p->len; i++) {
    V *next = vd_object_get(cur, p->e[i]);
    next = (next && next->type == T_OBJ) ? vd_shallow_copy(next) : vd_obj();
    vd_object_insert(cur, p->e[i], next);
    cur = next;
  }
  vd_object_insert(cur, p->e[p->len - 1], v);
  return root;
}

/* ---------- dynamic calls: table of {nsegs, segs (string value ptrs), table index} ---------- */

typedef struct { u32 n; V **segs; i32 idx; } MapEnt;

i32 vd_mapping_lookup(V *path) {
  VArr *p = (VArr *)path;
  MapEnt *t = (MapEnt *)vd_mapping_table();
  u32 n = vd_mapping_count();
  for (u32 i = 0; i < n; i++) {
    if (t[i].n != p->len) continue;
    u32 j = 0;
    while (j < p->len && opa_value_compare(t[i].segs[j], p->e[j]) == 0) j++;
    if (j == p->len) return t[i].idx;
  }
  return -1;
}

/* Keep every host import referenced so the linker imports all of them. */
V *vd_call_host(i32 id, i32 n, V *a, V *b, V *c, V *d) {
  switch (n) {
  case 0: return opa_builtin0(id, 0);
  case 1: return opa_builtin1(id, 0, a);
  case 2: return opa_builtin2(id, 0, a, b);
  case 3: return opa_builtin3(id, 0, a, b, c);
  default: return opa_builtin4(id, 0, a, b, c, d);
  }
}
void vd_println(const char *s) { opa_println(s); }
