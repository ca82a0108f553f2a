/* Verdict wasm runtime: builtins implemented natively (arithmetic, comparison, bits, sets,
   aggregates, types, arrays, objects, membership, casts). A failing builtin records its error
   with vd_builtin_error and returns 0 (undefined). */
#include "rt.h"

void vd_memcpy(void *d, const void *s, u32 n);
V *vd_boolean(i32 b);
V *vd_int(i64 i);
V *vd_float(double f);
V *vd_cstr(const char *s);
V *vd_arr(u32 cap);
V *vd_obj(void);
V *vd_set(void);
void vd_array_append(V *a, V *v);
void vd_set_add(V *s, V *v);
int vd_set_has(V *s, V *v);
V *vd_object_get(V *o, V *k);
void vd_object_insert(V *o, V *k, V *v);
void vd_object_remove(V *o, V *k);
V *vd_shallow_copy(V *v);
double vd_num_to_double(VNum *n);
int vd_num_as_int(V *v, i64 *out);
V *vd_dot(V *src, V *key);
u32 vd_utf8_len(const char *s, u32 n);
void vd_builtin_error(const char *code, const char *msg);

static const char *tname(V *v) {
  switch (v ? v->type : 0) {
  case T_NULL: return "null";
  case T_BOOL: return "boolean";
  case T_NUM: return "number";
  case T_STR: return "string";
  case T_ARR: return "array";
  case T_OBJ: return "object";
  case T_SET: return "set";
  }
  return "undefined";
}

static char msg[300];
static u32 mlen;
static void m_put(const char *s) { while (*s && mlen < sizeof(msg) - 1) msg[mlen++] = *s++; msg[mlen] = 0; }

static V *type_err(const char *fn, int arg, const char *want, const char *got) {
  char d[2] = {(char)('0' + arg), 0};
  mlen = 0;
  m_put(fn); m_put(": operand "); m_put(d); m_put(" must be "); m_put(want); m_put(" but got "); m_put(got);
  vd_builtin_error("eval_type_error", msg);
  return 0;
}
static V *want(const char *fn, int arg, const char *w, V *v) { return type_err(fn, arg, w, tname(v)); }
static V *builtin_err(const char *fn, const char *text) {
  mlen = 0;
  m_put(fn); m_put(": "); m_put(text);
  vd_builtin_error("eval_builtin_error", msg);
  return 0;
}

static int is(V *v, u32 t) { return v && v->type == t; }
static int isint(VNum *n) { return n->kind == N_INT; }

/* a float with an integral value that fits an int64 becomes an int */
static V *norm_float(double d) {
  if (d == d && d > -9.2e18 && d < 9.2e18 && (double)(i64)d == d) return vd_int((i64)d);
  return vd_float(d);
}

/* ---------- arithmetic ---------- */

V *vd_big_arith(char op, V *a, V *b, int *err);
int vd_num_is_integral(V *v);

#define NUM2(fn)                                                   \
  if (!is(a, T_NUM)) return want(fn, 1, "number", a);              \
  if (!is(b, T_NUM)) return want(fn, 2, "number", b);              \
  VNum *x = (VNum *)a, *y = (VNum *)b;                             \
  int exact = x->kind != N_FLOAT && y->kind != N_FLOAT;            \
  int berr = 0;                                                    \
  (void)berr;

V *vd_bi_plus(V *a, V *b) {
  NUM2("plus");
  if (isint(x) && isint(y)) {
    i64 r;
    if (!__builtin_add_overflow(x->i, y->i, &r)) return vd_int(r);
  }
  if (exact) { V *r = vd_big_arith('+', a, b, &berr); if (r) return r; }
  return vd_float(vd_num_to_double(x) + vd_num_to_double(y));
}

static V *set_diff(V *a, V *b) {
  V *r = vd_set();
  VSet *x = (VSet *)a;
  for (u32 i = 0; i < x->len; i++) if (!vd_set_has(b, x->e[i])) vd_set_add(r, x->e[i]);
  return r;
}

V *vd_bi_minus(V *a, V *b) {
  if (is(a, T_SET)) {
    if (!is(b, T_SET)) return want("minus", 2, "set", b);
    return set_diff(a, b);
  }
  if (is(a, T_NUM) && is(b, T_SET)) return want("minus", 2, "number", b);
  if (!is(a, T_NUM)) return want("minus", 1, "one of {number, set}", a);
  NUM2("minus");
  if (isint(x) && isint(y)) {
    i64 r;
    if (!__builtin_sub_overflow(x->i, y->i, &r)) return vd_int(r);
  }
  if (exact) { V *r = vd_big_arith('-', a, b, &berr); if (r) return r; }
  return vd_float(vd_num_to_double(x) - vd_num_to_double(y));
}

/* overflow check without 128-bit helpers (no libc/compiler-rt in this freestanding build) */
static int mul_ovf(i64 a, i64 b, i64 *r) {
  *r = (i64)((u64)a * (u64)b);
  if (a == 0 || b == 0) return 0;
  u64 ua = a < 0 ? (u64)0 - (u64)a : (u64)a, ub = b < 0 ? (u64)0 - (u64)b : (u64)b;
  u64 lim = ((a < 0) != (b < 0)) ? 0x8000000000000000ULL : 0x7FFFFFFFFFFFFFFFULL;
  return ua > lim / ub;
}

V *vd_bi_mul(V *a, V *b) {
  NUM2("mul");
  if (isint(x) && isint(y)) {
    i64 r;
    if (!mul_ovf(x->i, y->i, &r)) return vd_int(r);
  }
  if (exact) { V *r = vd_big_arith('*', a, b, &berr); if (r) return r; }
  return vd_float(vd_num_to_double(x) * vd_num_to_double(y));
}

V *vd_bi_div(V *a, V *b) {
  NUM2("div");
  if (exact && !(isint(x) && isint(y))) {
    V *r = vd_big_arith('/', a, b, &berr);
    if (berr == 1) return builtin_err("div", "divide by zero");
    if (r) return r;
  }
  if (isint(x) && isint(y)) {
    if (y->i == 0) return builtin_err("div", "divide by zero");
    if (!(x->i == (i64)0x8000000000000000ULL && y->i == -1) && x->i % y->i == 0) return vd_int(x->i / y->i);
    return vd_float((double)x->i / (double)y->i);
  }
  double d = vd_num_to_double(y);
  if (d == 0) return builtin_err("div", "divide by zero");
  return norm_float(vd_num_to_double(x) / d);
}

V *vd_bi_rem(V *a, V *b) {
  NUM2("rem");
  if (isint(x) && isint(y) && y->i != 0) return vd_int(y->i == -1 ? 0 : x->i % y->i);
  if (exact) {
    V *r = vd_big_arith('%', a, b, &berr);
    if (berr == 1) return builtin_err("rem", "modulo by zero");
    if (r) return r;
    return builtin_err("rem", "modulo on floating-point number");
  }
  i64 p, q;
  if (!vd_num_as_int(a, &p) || !vd_num_as_int(b, &q))
    return builtin_err("rem", "modulo on floating-point number");
  if (q == 0) return builtin_err("rem", "modulo by zero");
  if (q == -1) return vd_int(0);
  return vd_int(p % q);
}

static double fl(double d) {
  if (d >= 9.2e18 || d <= -9.2e18 || d != d) return d;
  double t = (double)(i64)d;
  return t > d ? t - 1 : t;
}

V *vd_bi_abs(V *a) {
  if (!is(a, T_NUM)) return want("abs", 1, "number", a);
  VNum *x = (VNum *)a;
  if (isint(x) && x->i != (i64)0x8000000000000000ULL) return vd_int(x->i < 0 ? -x->i : x->i);
  if (x->kind != N_FLOAT) {
    int e;
    V *r = vd_big_arith('a', a, a, &e);
    if (r) return r;
  }
  double d = vd_num_to_double(x);
  return vd_float(d < 0 ? -d : d);
}
static V *rounding(V *a, const char *fn, int mode) {
  if (!is(a, T_NUM)) return want(fn, 1, "number", a);
  VNum *x = (VNum *)a;
  if (x->kind == N_INT) return a;
  if (x->kind == N_REF && vd_num_is_integral(a)) {
    /* canonical integer form of literals such as 10.00 or 1e3 */
    int e;
    V *r = vd_big_arith('+', a, vd_int(0), &e);
    if (r) return r;
  }
  double d = vd_num_to_double(x), r;
  if (mode == 0) r = d < 0 ? -fl(-d + 0.5) : fl(d + 0.5);
  else if (mode == 1) r = -fl(-d);
  else r = fl(d);
  if (mode == 0 && d - fl(d) != 0.5 && (d < 0 ? -d : d) < 4503599627370496.0) {
    /* avoid the 0.49999999999999994 + 0.5 rounding trap */
    double f = fl(d), frac = d - f;
    r = frac < 0.5 ? f : f + 1;
  }
  return norm_float(r);
}
V *vd_bi_round(V *a) { return rounding(a, "round", 0); }
V *vd_bi_ceil(V *a) { return rounding(a, "ceil", 1); }
V *vd_bi_floor(V *a) { return rounding(a, "floor", 2); }

/* ---------- comparison ---------- */

V *vd_bi_equal(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) == 0); }
V *vd_bi_neq(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) != 0); }
V *vd_bi_lt(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) < 0); }
V *vd_bi_lte(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) <= 0); }
V *vd_bi_gt(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) > 0); }
V *vd_bi_gte(V *a, V *b) { return vd_boolean(opa_value_compare(a, b) >= 0); }

/* ---------- bits ---------- */

static int int_arg(const char *fn, int n, V *v, i64 *out) {
  if (!is(v, T_NUM)) { want(fn, n, "number", v); return 0; }
  if (!vd_num_as_int(v, out)) { type_err(fn, n, "integer number", "floating-point number"); return 0; }
  return 1;
}
#define BITS2(name, fn, expr)                                                         \
  V *name(V *a, V *b) {                                                               \
    i64 x, y;                                                                         \
    if (!int_arg(fn, 1, a, &x) || !int_arg(fn, 2, b, &y)) return 0;                   \
    return vd_int(expr);                                                              \
  }
BITS2(vd_bi_bits_or, "bits.or", x | y)
BITS2(vd_bi_bits_and, "bits.and", x & y)
BITS2(vd_bi_bits_xor, "bits.xor", x ^ y)
V *vd_bi_bits_negate(V *a) {
  i64 x;
  if (!int_arg("bits.negate", 1, a, &x)) return 0;
  return vd_int(~x);
}
V *vd_bi_bits_lsh(V *a, V *b) {
  i64 x, y;
  if (!int_arg("bits.lsh", 1, a, &x) || !int_arg("bits.lsh", 2, b, &y)) return 0;
  if (y < 0) return type_err("bits.lsh", 2, "unsigned integer number", "negative integer");
  if (y < 62 && !(x != 0 && (x > 0 ? x : -x) >> (62 - y))) return vd_int(x << y);
  if (y > 4096) return builtin_err("bits.lsh", "shift too large");
  /* beyond int64: exact big integer x * 2^y */
  V *r = a;
  int e;
  while (y > 0) {
    int k = y > 30 ? 30 : (int)y;
    r = vd_big_arith('*', r, vd_int((i64)1 << k), &e);
    y -= k;
  }
  return r;
}
V *vd_bi_bits_rsh(V *a, V *b) {
  i64 x, y;
  if (!int_arg("bits.rsh", 1, a, &x) || !int_arg("bits.rsh", 2, b, &y)) return 0;
  if (y < 0) return type_err("bits.rsh", 2, "unsigned integer number", "negative integer");
  if (y > 63) y = 63;
  return vd_int(x >> y);
}

/* ---------- sets ---------- */

V *vd_bi_and(V *a, V *b) {
  if (!is(a, T_SET)) return want("and", 1, "set", a);
  if (!is(b, T_SET)) return want("and", 2, "set", b);
  V *r = vd_set();
  VSet *x = (VSet *)a;
  for (u32 i = 0; i < x->len; i++) if (vd_set_has(b, x->e[i])) vd_set_add(r, x->e[i]);
  return r;
}
V *vd_bi_or(V *a, V *b) {
  if (!is(a, T_SET)) return want("or", 1, "set", a);
  if (!is(b, T_SET)) return want("or", 2, "set", b);
  V *r = vd_shallow_copy(a);
  VSet *y = (VSet *)b;
  for (u32 i = 0; i < y->len; i++) vd_set_add(r, y->e[i]);
  return r;
}
V *vd_bi_intersection(V *a) {
  if (!is(a, T_SET)) return want("intersection", 1, "set", a);
  VSet *x = (VSet *)a;
  V *r = 0;
  for (u32 i = 0; i < x->len; i++) {
    if (!is(x->e[i], T_SET)) return type_err("intersection", 1, "set of sets", "set containing other types");
    if (!r) r = x->e[i];
    else {
      V *n = vd_set();
      VSet *c = (VSet *)r;
      for (u32 j = 0; j < c->len; j++) if (vd_set_has(x->e[i], c->e[j])) vd_set_add(n, c->e[j]);
      r = n;
    }
  }
  return r ? r : vd_set();
}
V *vd_bi_union(V *a) {
  if (!is(a, T_SET)) return want("union", 1, "set", a);
  VSet *x = (VSet *)a;
  V *r = vd_set();
  for (u32 i = 0; i < x->len; i++) {
    if (!is(x->e[i], T_SET)) return type_err("union", 1, "set of sets", "set containing other types");
    VSet *c = (VSet *)x->e[i];
    for (u32 j = 0; j < c->len; j++) vd_set_add(r, c->e[j]);
  }
  return r;
}

/* ---------- aggregates ---------- */

V *vd_bi_count(V *a) {
  switch (a ? a->type : 0) {
  case T_STR: return vd_int(vd_utf8_len(((VStr *)a)->s, ((VStr *)a)->len));
  case T_ARR: case T_SET: return vd_int(((VArr *)a)->len);
  case T_OBJ: return vd_int(((VObj *)a)->len);
  }
  return want("count", 1, "one of {array, object, set, string}", a);
}

static V *fold(V *a, const char *fn, int prod) {
  if (!is(a, T_ARR) && !is(a, T_SET)) return want(fn, 1, "one of {array, set}", a);
  VArr *x = (VArr *)a;
  V *acc = vd_int(prod ? 1 : 0);
  for (u32 i = 0; i < x->len; i++) {
    if (!is(x->e[i], T_NUM))
      return type_err(fn, 1, "array of numbers", "array containing other types");
    acc = prod ? vd_bi_mul(acc, x->e[i]) : vd_bi_plus(acc, x->e[i]);
    if (!acc) return 0;
  }
  return acc;
}
V *vd_bi_sum(V *a) { return fold(a, "sum", 0); }
V *vd_bi_product(V *a) { return fold(a, "product", 1); }

static V *extreme(V *a, const char *fn, int sign) {
  if (!is(a, T_ARR) && !is(a, T_SET)) return want(fn, 1, "one of {array, set}", a);
  VArr *x = (VArr *)a;
  if (!x->len) return 0;
  V *r = x->e[0];
  for (u32 i = 1; i < x->len; i++) if (opa_value_compare(x->e[i], r) * sign > 0) r = x->e[i];
  return r;
}
V *vd_bi_max(V *a) { return extreme(a, "max", 1); }
V *vd_bi_min(V *a) { return extreme(a, "min", -1); }

V *vd_bi_sort(V *a) {
  if (!is(a, T_ARR) && !is(a, T_SET)) return want("sort", 1, "one of {array, set}", a);
  VArr *x = (VArr *)a;
  VArr *r = (VArr *)vd_arr(x->len);
  r->len = x->len;
  if (x->len) vd_memcpy(r->e, x->e, x->len * 4);
  if (a->type == T_ARR) {
    /* insertion sort is stable and fine for policy-sized arrays */
    for (u32 i = 1; i < r->len; i++) {
      V *k = r->e[i];
      u32 j = i;
      while (j > 0 && opa_value_compare(r->e[j - 1], k) > 0) { r->e[j] = r->e[j - 1]; j--; }
      r->e[j] = k;
    }
  }
  return (V *)r;
}

static V *allany(V *a, const char *fn, int all) {
  if (!is(a, T_ARR) && !is(a, T_SET)) return want(fn, 1, "one of {array, set}", a);
  VArr *x = (VArr *)a;
  for (u32 i = 0; i < x->len; i++) {
    int t = is(x->e[i], T_BOOL) && ((VBool *)x->e[i])->b;
    if (all && !t) return vd_boolean(0);
    if (!all && t) return vd_boolean(1);
  }
  return vd_boolean(all);
}
V *vd_bi_all(V *a) { return allany(a, "all", 1); }
V *vd_bi_any(V *a) { return allany(a, "any", 0); }

/* ---------- types ---------- */

V *vd_bi_is_number(V *a) { return vd_boolean(is(a, T_NUM)); }
V *vd_bi_is_string(V *a) { return vd_boolean(is(a, T_STR)); }
V *vd_bi_is_boolean(V *a) { return vd_boolean(is(a, T_BOOL)); }
V *vd_bi_is_array(V *a) { return vd_boolean(is(a, T_ARR)); }
V *vd_bi_is_set(V *a) { return vd_boolean(is(a, T_SET)); }
V *vd_bi_is_object(V *a) { return vd_boolean(is(a, T_OBJ)); }
V *vd_bi_is_null(V *a) { return vd_boolean(is(a, T_NULL)); }
V *vd_bi_type_name(V *a) { return vd_cstr(tname(a)); }

/* ---------- arrays ---------- */

V *vd_bi_array_concat(V *a, V *b) {
  if (!is(a, T_ARR)) return want("array.concat", 1, "array", a);
  if (!is(b, T_ARR)) return want("array.concat", 2, "array", b);
  VArr *x = (VArr *)a, *y = (VArr *)b;
  V *r = vd_arr(x->len + y->len);
  for (u32 i = 0; i < x->len; i++) vd_array_append(r, x->e[i]);
  for (u32 i = 0; i < y->len; i++) vd_array_append(r, y->e[i]);
  return r;
}
V *vd_bi_array_slice(V *a, V *b, V *c) {
  if (!is(a, T_ARR)) return want("array.slice", 1, "array", a);
  i64 s, e;
  if (!int_arg("array.slice", 2, b, &s) || !int_arg("array.slice", 3, c, &e)) return 0;
  VArr *x = (VArr *)a;
  if (s < 0) s = 0;
  if (e > (i64)x->len) e = x->len;
  V *r = vd_arr(0);
  for (i64 i = s; i < e; i++) vd_array_append(r, x->e[i]);
  return r;
}
V *vd_bi_array_reverse(V *a) {
  if (!is(a, T_ARR)) return want("array.reverse", 1, "array", a);
  VArr *x = (VArr *)a;
  V *r = vd_arr(x->len);
  for (u32 i = x->len; i-- > 0;) vd_array_append(r, x->e[i]);
  return r;
}

/* ---------- objects ---------- */

V *vd_bi_object_get(V *o, V *k, V *d) {
  if (!is(o, T_OBJ)) return want("object.get", 1, "object", o);
  if (is(k, T_ARR)) {
    VArr *p = (VArr *)k;
    V *cur = o;
    for (u32 i = 0; i < p->len; i++) {
      cur = vd_dot(cur, p->e[i]);
      if (!cur) return d;
    }
    return cur;
  }
  V *v = vd_object_get(o, k);
  return v ? v : d;
}
V *vd_bi_object_keys(V *o) {
  if (!is(o, T_OBJ)) return want("object.keys", 1, "object", o);
  VObj *x = (VObj *)o;
  V *r = vd_set();
  for (u32 i = 0; i < x->len; i++) vd_set_add(r, x->k[i]);
  return r;
}
/* the key collection of object.remove / object.filter */
static V *keyset(const char *fn, V *k) {
  if (is(k, T_SET)) return k;
  V *r = vd_set();
  if (is(k, T_ARR)) {
    VArr *x = (VArr *)k;
    for (u32 i = 0; i < x->len; i++) vd_set_add(r, x->e[i]);
    return r;
  }
  if (is(k, T_OBJ)) {
    VObj *x = (VObj *)k;
    for (u32 i = 0; i < x->len; i++) vd_set_add(r, x->k[i]);
    return r;
  }
  return want(fn, 2, "one of {object, set, array}", k);
}
V *vd_bi_object_remove(V *o, V *k) {
  if (!is(o, T_OBJ)) return want("object.remove", 1, "object", o);
  V *ks = keyset("object.remove", k);
  if (!ks) return 0;
  VObj *x = (VObj *)o;
  V *r = vd_obj();
  for (u32 i = 0; i < x->len; i++) if (!vd_set_has(ks, x->k[i])) vd_object_insert(r, x->k[i], x->v[i]);
  return r;
}
V *vd_bi_object_filter(V *o, V *k) {
  if (!is(o, T_OBJ)) return want("object.filter", 1, "object", o);
  V *ks = keyset("object.filter", k);
  if (!ks) return 0;
  VObj *x = (VObj *)o;
  V *r = vd_obj();
  for (u32 i = 0; i < x->len; i++) if (vd_set_has(ks, x->k[i])) vd_object_insert(r, x->k[i], x->v[i]);
  return r;
}
/* b wins; nested objects merge recursively */
static V *union2(V *a, V *b) {
  if (!is(a, T_OBJ) || !is(b, T_OBJ)) return b;
  V *r = vd_shallow_copy(a);
  VObj *y = (VObj *)b;
  for (u32 i = 0; i < y->len; i++) {
    V *cur = vd_object_get(r, y->k[i]);
    vd_object_insert(r, y->k[i], cur ? union2(cur, y->v[i]) : y->v[i]);
  }
  return r;
}
V *vd_bi_object_union(V *a, V *b) {
  if (!is(a, T_OBJ)) return want("object.union", 1, "object", a);
  if (!is(b, T_OBJ)) return want("object.union", 2, "object", b);
  return union2(a, b);
}
V *vd_bi_object_union_n(V *a) {
  if (!is(a, T_ARR)) return want("object.union_n", 1, "array", a);
  VArr *x = (VArr *)a;
  V *r = vd_obj();
  for (u32 i = 0; i < x->len; i++) {
    if (!is(x->e[i], T_OBJ)) return type_err("object.union_n", 1, "array of objects", "array containing other types");
    r = union2(r, x->e[i]);
  }
  return r;
}

/* ---------- membership ---------- */

V *vd_bi_member_2(V *x, V *c) {
  switch (c ? c->type : 0) {
  case T_SET: return vd_boolean(vd_set_has(c, x));
  case T_ARR: case T_OBJ: {
    u32 n = c->type == T_ARR ? ((VArr *)c)->len : ((VObj *)c)->len;
    V **e = c->type == T_ARR ? ((VArr *)c)->e : ((VObj *)c)->v;
    for (u32 i = 0; i < n; i++) if (opa_value_compare(e[i], x) == 0) return vd_boolean(1);
    return vd_boolean(0);
  }
  }
  return vd_boolean(0);
}
V *vd_bi_member_3(V *k, V *v, V *c) {
  if (is(c, T_SET)) return vd_boolean(0);
  V *got = vd_dot(c, k);
  return vd_boolean(got && opa_value_compare(got, v) == 0);
}

/* ---------- casts ---------- */

V *vd_bi_cast_array(V *a) {
  if (is(a, T_ARR)) return a;
  if (is(a, T_SET)) {
    VSet *x = (VSet *)a;
    V *r = vd_arr(x->len);
    for (u32 i = 0; i < x->len; i++) vd_array_append(r, x->e[i]);
    return r;
  }
  return want("cast_array", 1, "one of {array, set}", a);
}
V *vd_bi_cast_set(V *a) {
  if (is(a, T_SET)) return a;
  if (is(a, T_ARR)) {
    VArr *x = (VArr *)a;
    V *r = vd_set();
    for (u32 i = 0; i < x->len; i++) vd_set_add(r, x->e[i]);
    return r;
  }
  return want("cast_set", 1, "one of {array, set}", a);
}

/* host builtins declared to return sets: JSON brings arrays, turn them into sets */
V *vd_to_set(V *a) {
  if (is(a, T_ARR)) return vd_bi_cast_set(a);
  return a;
}

/* ---------- walk: every [path, value] pair, pre-order (sets use their elements as keys) ---------- */

static V *path_with(V *path, V *k) {
  VArr *p = (VArr *)path;
  V *r = vd_arr(p->len + 1);
  for (u32 i = 0; i < p->len; i++) vd_array_append(r, p->e[i]);
  vd_array_append(r, k);
  return r;
}

static void walk_rec(V *out, V *path, V *v) {
  V *pair = vd_arr(2);
  vd_array_append(pair, path);
  vd_array_append(pair, v);
  vd_array_append(out, pair);
  switch (v->type) {
  case T_ARR: {
    VArr *a = (VArr *)v;
    for (u32 i = 0; i < a->len; i++) walk_rec(out, path_with(path, vd_int(i)), a->e[i]);
    return;
  }
  case T_SET: {
    VSet *s = (VSet *)v;
    for (u32 i = 0; i < s->len; i++) walk_rec(out, path_with(path, s->e[i]), s->e[i]);
    return;
  }
  case T_OBJ: {
    VObj *o = (VObj *)v;
    for (u32 i = 0; i < o->len; i++) walk_rec(out, path_with(path, o->k[i]), o->v[i]);
    return;
  }
  }
}

V *vd_bi_walk(V *a) {
  if (!a) return 0;
  V *out = vd_arr(0);
  walk_rec(out, vd_arr(0), a);
  return out;
}

/* ---------- strings (byte-exact, UTF-8 aware where indices are involved) ---------- */

V *vd_str(const char *s, u32 len);

static int str_arg(const char *fn, int n, V *v, VStr **out) {
  if (!is(v, T_STR)) { want(fn, n, "string", v); return 0; }
  *out = (VStr *)v;
  return 1;
}
static int has_at(VStr *s, u32 at, VStr *p) {
  if (at + p->len > s->len) return 0;
  for (u32 i = 0; i < p->len; i++) if (s->s[at + i] != p->s[i]) return 0;
  return 1;
}
static V *substr(VStr *s, u32 from, u32 to) { return vd_str(s->s + from, to - from); }

V *vd_bi_startswith(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("startswith", 1, a, &s) || !str_arg("startswith", 2, b, &p)) return 0;
  return vd_boolean(has_at(s, 0, p));
}
V *vd_bi_endswith(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("endswith", 1, a, &s) || !str_arg("endswith", 2, b, &p)) return 0;
  return vd_boolean(p->len <= s->len && has_at(s, s->len - p->len, p));
}
static i32 find(VStr *s, VStr *p) {
  if (p->len == 0) return 0;
  for (u32 i = 0; i + p->len <= s->len; i++) if (has_at(s, i, p)) return (i32)i;
  return -1;
}
V *vd_bi_contains(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("contains", 1, a, &s) || !str_arg("contains", 2, b, &p)) return 0;
  return vd_boolean(find(s, p) >= 0);
}
V *vd_bi_indexof(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("indexof", 1, a, &s) || !str_arg("indexof", 2, b, &p)) return 0;
  i32 at = find(s, p);
  /* OPA counts code points, not bytes */
  return vd_int(at < 0 ? -1 : (i64)vd_utf8_len(s->s, (u32)at));
}
V *vd_bi_trim_prefix(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("trim_prefix", 1, a, &s) || !str_arg("trim_prefix", 2, b, &p)) return 0;
  return has_at(s, 0, p) ? substr(s, p->len, s->len) : a;
}
V *vd_bi_trim_suffix(V *a, V *b) {
  VStr *s, *p;
  if (!str_arg("trim_suffix", 1, a, &s) || !str_arg("trim_suffix", 2, b, &p)) return 0;
  return p->len <= s->len && has_at(s, s->len - p->len, p) ? substr(s, 0, s->len - p->len) : a;
}
V *vd_bi_split(V *a, V *b) {
  VStr *s, *d;
  if (!str_arg("split", 1, a, &s) || !str_arg("split", 2, b, &d)) return 0;
  V *r = vd_arr(0);
  if (d->len == 0) {
    /* Go splits into UTF-8 sequences */
    u32 i = 0;
    while (i < s->len) {
      u32 j = i + 1;
      while (j < s->len && ((u8)s->s[j] & 0xC0) == 0x80) j++;
      vd_array_append(r, substr(s, i, j));
      i = j;
    }
    return r;
  }
  u32 st = 0;
  for (u32 i = 0; i + d->len <= s->len;) {
    if (has_at(s, i, d)) {
      vd_array_append(r, substr(s, st, i));
      i += d->len;
      st = i;
    } else i++;
  }
  vd_array_append(r, substr(s, st, s->len));
  return r;
}
V *vd_bi_concat(V *a, V *b) {
  VStr *d;
  if (!str_arg("concat", 1, a, &d)) return 0;
  if (!is(b, T_ARR) && !is(b, T_SET)) return want("concat", 2, "one of {set, array}", b);
  VArr *x = (VArr *)b;
  u32 n = 0;
  for (u32 i = 0; i < x->len; i++) {
    if (!is(x->e[i], T_STR))
      return type_err("concat", 2, b->type == T_SET ? "set of strings" : "array of strings",
                      b->type == T_SET ? "set containing other types" : "array containing other types");
    n += ((VStr *)x->e[i])->len + (i ? d->len : 0);
  }
  char *o = opa_malloc(n + 1);
  u32 k = 0;
  for (u32 i = 0; i < x->len; i++) {
    if (i) { vd_memcpy(o + k, d->s, d->len); k += d->len; }
    VStr *e = (VStr *)x->e[i];
    vd_memcpy(o + k, e->s, e->len);
    k += e->len;
  }
  o[k] = 0;
  return vd_str(o, k);
}
