/*
 * Exact numbers across the host boundary. opa-wasm hands builtin arguments to the host through
 * JSON.parse, which rounds integers beyond 2^53. For builtins only Verdict's host answers
 * (called under `verdict:` names), generated code passes each argument through vd_host_arg,
 * which replaces such integers with {"__verdict_number__": "<digits>"}; the host turns that
 * back into a BigInt.
 */
#include "rt.h"

void *opa_malloc(u32 n);
V *vd_str(const char *s, u32 len);
V *vd_cstr(const char *s);
V *vd_arr(u32 cap);
V *vd_obj(void);
V *vd_set(void);
void vd_array_append(V *a, V *v);
void vd_object_insert(V *o, V *k, V *v);
void vd_set_add(V *s, V *v);

#define SAFE_INT 9007199254740991LL

static int integral_text(const char *s, u32 len, u32 *digits) {
  u32 i = 0;
  if (len > 0 && s[0] == '-') i = 1;
  if (i == len) return 0;
  for (u32 j = i; j < len; j++) if (s[j] < '0' || s[j] > '9') return 0;
  *digits = len - i;
  return 1;
}

static int inexact(V *v) {
  if (!v) return 0;
  switch (v->type) {
    case T_NUM: {
      VNum *n = (VNum *)v;
      if (n->kind == N_INT) return n->i > SAFE_INT || n->i < -SAFE_INT;
      u32 d;
      return n->kind == N_REF && integral_text(n->ref, n->len, &d) && d > 15;
    }
    case T_ARR:
    case T_SET: {
      VArr *a = (VArr *)v;
      for (u32 i = 0; i < a->len; i++) if (inexact(a->e[i])) return 1;
      return 0;
    }
    case T_OBJ: {
      VObj *o = (VObj *)v;
      for (u32 i = 0; i < o->len; i++) if (inexact(o->v[i])) return 1;
      return 0;
    }
    default:
      return 0;
  }
}

static V *number_text(VNum *n) {
  if (n->kind == N_REF) return vd_str(n->ref, n->len);
  char t[24];
  u32 k = 0;
  u64 u = n->i < 0 ? (u64)(-(n->i + 1)) + 1 : (u64)n->i;
  do { t[k++] = (char)('0' + u % 10); u /= 10; } while (u);
  if (n->i < 0) t[k++] = '-';
  char *s = opa_malloc(k);
  for (u32 i = 0; i < k; i++) s[i] = t[k - 1 - i];
  return vd_str(s, k);
}

static V *mark(V *v) {
  if (!inexact(v)) return v;
  switch (v->type) {
    case T_NUM: {
      V *o = vd_obj();
      vd_object_insert(o, vd_cstr("__verdict_number__"), number_text((VNum *)v));
      return o;
    }
    case T_ARR: {
      VArr *a = (VArr *)v;
      V *r = vd_arr(a->len);
      for (u32 i = 0; i < a->len; i++) vd_array_append(r, mark(a->e[i]));
      return r;
    }
    case T_SET: {
      VSet *a = (VSet *)v;
      V *r = vd_set();
      for (u32 i = 0; i < a->len; i++) vd_set_add(r, mark(a->e[i]));
      return r;
    }
    default: {
      VObj *o = (VObj *)v;
      V *r = vd_obj();
      for (u32 i = 0; i < o->len; i++) vd_object_insert(r, o->k[i], mark(o->v[i]));
      return r;
    }
  }
}

V *vd_host_arg(V *v) { return mark(v); }
