/* Verdict wasm runtime: JSON / Rego value parsing and serialisation, number formatting. */
#include "rt.h"

void vd_memcpy(void *d, const void *s, u32 n);
V *vd_boolean(i32 b);
V *vd_null(void);
V *vd_int(i64 i);
V *vd_float(double f);
V *vd_numref(const char *s, u32 len);
V *vd_str(const char *s, u32 len);
V *vd_arr(u32 cap);
V *vd_obj(void);
V *vd_set(void);
void vd_array_append(V *a, V *v);
void vd_set_add(V *s, V *v);
V *vd_object_get(V *o, V *k);
void vd_object_insert(V *o, V *k, V *v);

/* ---------- number text -> double ---------- */

static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double pow10i(int e) {
  double r = 1, b = 10;
  int n = e < 0 ? -e : e;
  while (n) { if (n & 1) r *= b; b *= b; n >>= 1; }
  return e < 0 ? 1 / r : r;
}

/* ---------- big integers (for exact float parsing and printing) ---------- */

#define BL 100
typedef struct { u32 n; u32 d[BL]; } Big;

static void big_set(Big *b, u64 v) {
  b->n = 0;
  while (v) { b->d[b->n++] = (u32)v; v >>= 32; }
}
static void big_mul(Big *b, u32 m) {
  u64 carry = 0;
  for (u32 i = 0; i < b->n; i++) {
    u64 t = (u64)b->d[i] * m + carry;
    b->d[i] = (u32)t;
    carry = t >> 32;
  }
  if (carry && b->n < BL) b->d[b->n++] = (u32)carry;
}
static void big_pow(Big *b, u32 base, int k) { for (int i = 0; i < k; i++) big_mul(b, base); }
static int big_cmp(Big *a, Big *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (u32 i = a->n; i-- > 0;) if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
  return 0;
}

/* compare M*10^E with N*2^s exactly */
static int cmp_dec_bin(u64 M, int E, u64 N, int s) {
  static Big l, r;
  big_set(&l, M);
  big_pow(&l, 10, E > 0 ? E : 0);
  big_pow(&l, 2, s < 0 ? -s : 0);
  big_set(&r, N);
  big_pow(&r, 2, s > 0 ? s : 0);
  big_pow(&r, 10, E < 0 ? -E : 0);
  return big_cmp(&l, &r);
}

static void decomp(u64 bits, u64 *m, int *e) {
  int E = (int)((bits >> 52) & 0x7FF);
  u64 F = bits & ((1ULL << 52) - 1);
  if (E == 0) { *m = F; *e = -1074; } else { *m = F | (1ULL << 52); *e = E - 1075; }
}

/* sign of M*10^E - midpoint(bits, bits+1) */
static int cmp_mid(u64 M, int E, u64 bits) {
  u64 ma, mb;
  int ea, eb;
  decomp(bits, &ma, &ea);
  decomp(bits + 1, &mb, &eb);
  int ec = ea < eb ? ea : eb;
  u64 N = (ma << (ea - ec)) + (mb << (eb - ec));
  return cmp_dec_bin(M, E, N, ec - 1);
}

double vd_parse_double(const char *s, u32 len) {
  u32 i = 0;
  int neg = 0;
  if (i < len && (s[i] == '-' || s[i] == '+')) { neg = s[i] == '-'; i++; }
  u64 m = 0;
  int digits = 0, exp = 0;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (digits < 19) { m = m * 10 + (u64)(s[i] - '0'); if (m) digits++; } else exp++;
  }
  if (i < len && s[i] == '.') {
    i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
      if (digits < 19) { m = m * 10 + (u64)(s[i] - '0'); if (m) digits++; exp--; }
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    int en = 0, ee = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) { en = s[i] == '-'; i++; }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) if (ee < 100000) ee = ee * 10 + (s[i] - '0');
    exp += en ? -ee : ee;
  }
  double d;
  if (m == 0 || exp < -345) d = 0;
  else if (exp > 310) d = 1.0 / 0.0;
  else if (m < (1ULL << 53) && exp >= -22 && exp <= 22) {
    /* exact (Clinger's fast path) */
    d = exp < 0 ? (double)m / P10[-exp] : (double)m * P10[exp];
  } else {
    /* approximate, then correct to the nearest double by exact comparison with midpoints */
    if (exp < -300) d = (double)m * pow10i(exp + 300) / 1e300;
    else d = (double)m * pow10i(exp);
    if (d > 1.7976931348623157e308) d = 1.7976931348623157e308;
    union { double d; u64 u; } u = {d};
    for (int it = 0; it < 8; it++) {
      if (u.u >= 0x7FF0000000000000ULL) break;
      int c = cmp_mid(m, exp, u.u);
      if (c > 0 || (c == 0 && (u.u & 1))) { u.u++; continue; }
      if (u.u > 0) {
        c = cmp_mid(m, exp, u.u - 1);
        if (c < 0 || (c == 0 && (u.u & 1))) { u.u--; continue; }
      }
      break;
    }
    d = u.d;
  }
  return neg ? -d : d;
}

/* ---------- parser ---------- */

typedef struct { const char *s; u32 n; u32 i; int rego; } P;

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex4(P *p, u32 *out) {
  if (p->i + 4 > p->n) return 0;
  u32 v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexv(p->s[p->i + k]);
    if (h < 0) return 0;
    v = v * 16 + (u32)h;
  }
  p->i += 4;
  *out = v;
  return 1;
}

static u32 put_utf8(char *o, u32 cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63));
    o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
  o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* A string with escapes: decoded into a fresh buffer. */
static V *pstring_escaped(P *p) {
  p->i++; /* opening quote */
  u32 start = p->i, esc = 0;
  while (p->i < p->n && p->s[p->i] != '"') {
    u8 c = (u8)p->s[p->i];
    if (c < 0x20) return 0;
    if (c == '\\') { esc = 1; p->i++; }
    p->i++;
  }
  if (p->i >= p->n) return 0;
  u32 end = p->i;
  p->i++;
  if (!esc) {
    char *o = opa_malloc(end - start + 1);
    vd_memcpy(o, p->s + start, end - start);
    o[end - start] = 0;
    return vd_str(o, end - start);
  }
  char *o = opa_malloc(end - start + 1);
  u32 w = 0;
  P q = {p->s, end, start, 0};
  while (q.i < end) {
    char c = q.s[q.i++];
    if (c != '\\') { o[w++] = c; continue; }
    if (q.i >= end) return 0;
    c = q.s[q.i++];
    switch (c) {
    case '"': o[w++] = '"'; break;
    case '\\': o[w++] = '\\'; break;
    case '/': o[w++] = '/'; break;
    case 'b': o[w++] = '\b'; break;
    case 'f': o[w++] = '\f'; break;
    case 'n': o[w++] = '\n'; break;
    case 'r': o[w++] = '\r'; break;
    case 't': o[w++] = '\t'; break;
    case 'u': {
      u32 cp;
      if (!hex4(&q, &cp)) return 0;
      if (cp >= 0xD800 && cp < 0xDC00) {
        u32 lo;
        if (q.i + 6 <= end && q.s[q.i] == '\\' && q.s[q.i + 1] == 'u') {
          q.i += 2;
          if (!hex4(&q, &lo)) return 0;
          if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          else { w += put_utf8(o + w, 0xFFFD); cp = lo; }
        } else cp = 0xFFFD;
      } else if (cp >= 0xDC00 && cp < 0xE000) cp = 0xFFFD;
      w += put_utf8(o + w, cp);
      break;
    }
    default: return 0;
    }
  }
  o[w] = 0;
  return vd_str(o, w);
}


/*
 * The parser proper works on a cursor and the end of the text. Each step returns its value and
 * the cursor after it packed into one i64 (value in the high half, cursor in the low half; 0 on
 * a syntax error), so both stay in wasm locals instead of going through memory. The rare slow
 * paths (escaped strings, non-integer numbers) reuse the index-based readers above.
 */
typedef u64 R;
#define R_OK(v, c) (((u64)(u32)(v) << 32) | (u32)(c))
#define R_V(r) ((V *)(u32)((r) >> 32))
#define R_C(r) ((const char *)(u32)(r))

/* Rego syntax (sets, non-string keys) allowed: set per parse, which is never reentered. */
static int rego_mode;

static const char *skip_ws(const char *c, const char *e) {
  while (c < e && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r')) c++;
  return c;
}

static R slow(V *(*read)(P *), const char *c, const char *e) {
  P q = {c, (u32)(e - c), 0, rego_mode};
  V *v = read(&q);
  return v ? R_OK(v, c + q.i) : 0;
}

/*
 * A string without escapes (nearly all of them) is not copied: its value points into the parsed
 * text. Values only use a string's length, never a NUL terminator, and the text outlives them:
 * opa_eval's input stays below the evaluation's heap, and everything else parsed (data, host
 * builtin results, static JSON) is never freed by the bump allocator.
 */
typedef u64 __attribute__((aligned(1))) u64u;
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static R pstring(const char *c, const char *e) {
  const char *s = c + 1, *i = s;
  /* Eight bytes at a time: flag '"', '\\' and control bytes. Only the lowest flag is exact (a
     borrow can set flags above it), and only the lowest is used. */
  for (; e - i >= 8; i += 8) {
    u64 x = *(const u64u *)i, q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    u64 f = (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x)) & HIGHS;
    if (f) { i += __builtin_ctzll(f) / 8; break; }
  }
  for (; i < e; i++) {
    u8 ch = (u8)*i;
    if (ch == '"') return R_OK(vd_str(s, (u32)(i - s)), i + 1);
    if (ch == '\\' || ch < 0x20) break;
  }
  return slow(pstring_escaped, c, e);
}

static int isdig(char c) { return c >= '0' && c <= '9'; }

/* Any JSON number: exact integers, big integers as decimal text, floats. */
static V *pnumber_slow(P *p) {
  u32 st = p->i;
  int isf = 0;
  if (p->i < p->n && p->s[p->i] == '-') p->i++;
  if (p->i >= p->n || !isdig(p->s[p->i])) return 0;
  if (p->s[p->i] == '0') p->i++;
  else while (p->i < p->n && isdig(p->s[p->i])) p->i++;
  if (p->i < p->n && p->s[p->i] == '.') {
    isf = 1; p->i++;
    if (p->i >= p->n || !isdig(p->s[p->i])) return 0;
    while (p->i < p->n && isdig(p->s[p->i])) p->i++;
  }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    isf = 1; p->i++;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    if (p->i >= p->n || !isdig(p->s[p->i])) return 0;
    while (p->i < p->n && isdig(p->s[p->i])) p->i++;
  }
  const char *s = p->s + st;
  u32 len = p->i - st;
  if (!isf) {
    int neg = s[0] == '-';
    u64 m = 0;
    int ovf = 0;
    for (u32 k = neg; k < len; k++) {
      u64 d = (u64)(s[k] - '0');
      if (m > (0x7FFFFFFFFFFFFFFFULL - d) / 10) { ovf = 1; break; }
      m = m * 10 + d;
    }
    if (!ovf) return vd_int(neg ? -(i64)m : (i64)m);
    if (neg && len == 20) {
      /* -9223372036854775808 */
      const char *mn = "-9223372036854775808";
      u32 k = 0;
      while (k < 20 && s[k] == mn[k]) k++;
      if (k == 20) return vd_int((i64)0x8000000000000000ULL);
    }
    char *c = opa_malloc(len + 1);
    vd_memcpy(c, s, len);
    c[len] = 0;
    return vd_numref(c, len);
  }
  return vd_float(vd_parse_double(s, len));
}

/* Fast path for the common case, an integer of up to 18 digits (cannot overflow int64). */
static R pnumber(const char *c, const char *e) {
  const char *i = c;
  int neg = *i == '-';
  i += neg;
  const char *d0 = i;
  u64 m = 0;
  while (i < e && i - d0 < 18 && isdig(*i)) m = m * 10 + (u64)(*i++ - '0');
  char next = i < e ? *i : 0;
  /* "0" may not lead other digits in JSON; fractions, exponents and longer digit runs go slow */
  if (i == d0 || isdig(next) || next == '.' || next == 'e' || next == 'E' || (*d0 == '0' && i - d0 > 1))
    return slow(pnumber_slow, c, e);
  return R_OK(vd_int(neg ? -(i64)m : (i64)m), i);
}

static R lit(const char *c, const char *e, const char *w, u32 n, V *v) {
  if ((u32)(e - c) < n) return 0;
  for (u32 k = 0; k < n; k++) if (c[k] != w[k]) return 0;
  return R_OK(v, c + n);
}

static R pvalue(const char *c, const char *e, int depth);
V *vd_object_from_pairs(V **keys, V **vals, u32 n);
V *vd_set_from_elems(V **e, u32 n);

/*
 * Scratch stack for the elements of the arrays, objects and sets being parsed: a composite's
 * children are pushed here and copied once, when it closes, into a vector of exactly the right
 * size (no per-composite vectors growing by doubling). It starts in static memory and moves to
 * the heap when a document needs more; parse() resets it.
 */
#define SCRATCH 256
static V *scratch0[SCRATCH];
static V **stk = scratch0;
static u32 sp, scap = SCRATCH;

__attribute__((noinline)) static void grow_scratch(void) {
  V **n = opa_malloc(scap * 2 * 4);
  vd_memcpy(n, stk, sp * 4);
  stk = n;
  scap *= 2;
}

static inline __attribute__((always_inline)) void push(V *v) {
  if (sp == scap) grow_scratch();
  stk[sp++] = v;
}

/* The array of the elements pushed since `base`. */
static V *close_array(u32 base) {
  u32 n = sp - base;
  VArr *a = (VArr *)vd_arr(n);
  vd_memcpy(a->e, stk + base, n * 4);
  a->len = n;
  sp = base;
  return (V *)a;
}

static V *close_set(u32 base) {
  V *s = vd_set_from_elems(stk + base, sp - base);
  sp = base;
  return s;
}

static int key_cmp(V *a, V *b) {
  if (a->type != T_STR || b->type != T_STR) return opa_value_compare(a, b);
  VStr *x = (VStr *)a, *y = (VStr *)b;
  u32 n = x->len < y->len ? x->len : y->len;
  for (u32 i = 0; i < n; i++) {
    u8 c = (u8)x->s[i], d = (u8)y->s[i];
    if (c != d) return c < d ? -1 : 1;
  }
  return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

/*
 * The object of the key/value pairs pushed since `base`, sorted by key (a later duplicate key
 * wins). Objects of a request are small, so insertion sort beats a merge sort's allocations;
 * large ones go through vd_object_from_pairs.
 */
#define SMALL_OBJECT 16
static V *close_object(u32 base) {
  u32 n = (sp - base) / 2;
  V **kv = stk + base;
  sp = base;
  if (n > SMALL_OBJECT) {
    V **ks = opa_malloc(n * 4), **vs = opa_malloc(n * 4);
    for (u32 i = 0; i < n; i++) { ks[i] = kv[2 * i]; vs[i] = kv[2 * i + 1]; }
    return vd_object_from_pairs(ks, vs, n);
  }
  VObj *o = (VObj *)vd_obj();
  V **k = opa_malloc(n * 4), **v = opa_malloc(n * 4);
  u32 len = 0;
  for (u32 i = 0; i < n; i++) {
    V *key = kv[2 * i], *val = kv[2 * i + 1];
    u32 j = len;
    int c = 1;
    while (j > 0 && (c = key_cmp(k[j - 1], key)) > 0) j--;
    if (j > 0 && c == 0) { v[j - 1] = val; continue; }
    for (u32 q = len; q > j; q--) { k[q] = k[q - 1]; v[q] = v[q - 1]; }
    k[j] = key;
    v[j] = val;
    len++;
  }
  o->k = k; o->v = v; o->len = len; o->cap = n;
  return (V *)o;
}

static R parray(const char *c, const char *e, int depth) {
  u32 base = sp;
  c = skip_ws(c + 1, e); /* past [ */
  if (c < e && *c == ']') return R_OK(vd_arr(0), c + 1);
  for (;;) {
    R r = pvalue(c, e, depth + 1);
    if (!r) return 0;
    push(R_V(r));
    c = skip_ws(R_C(r), e);
    if (c >= e) return 0;
    char d = *c++;
    if (d == ']') return R_OK(close_array(base), c);
    if (d != ',') return 0;
  }
}

/* An object, or in Rego mode also a non-empty set ({1, 2}). */
static R pobject(const char *c, const char *e, int depth) {
  u32 base = sp;
  c = skip_ws(c + 1, e); /* past { */
  if (c < e && *c == '}') return R_OK(vd_obj(), c + 1);
  R r = pvalue(c, e, depth + 1);
  if (!r) return 0;
  V *key = R_V(r);
  if (!rego_mode && key->type != T_STR) return 0;
  c = skip_ws(R_C(r), e);
  if (rego_mode && c < e && (*c == ',' || *c == '}')) {
    push(key);
    for (;;) {
      char d = *c++;
      if (d == '}') return R_OK(close_set(base), c);
      if (d != ',') return 0;
      c = skip_ws(c, e);
      /* a trailing comma is tolerated here, as before: {1,} */
      if (c < e && *c == '}') return R_OK(close_set(base), c + 1);
      r = pvalue(c, e, depth + 1);
      if (!r) return 0;
      push(R_V(r));
      c = skip_ws(R_C(r), e);
      if (c >= e) return 0;
    }
  }
  for (;;) {
    if (c >= e || *c != ':') return 0;
    r = pvalue(c + 1, e, depth + 1);
    if (!r) return 0;
    push(key);
    push(R_V(r));
    c = skip_ws(R_C(r), e);
    if (c >= e) return 0;
    char d = *c++;
    if (d == '}') return R_OK(close_object(base), c);
    if (d != ',') return 0;
    c = skip_ws(c, e);
    if (c < e && *c == '"') r = pstring(c, e);
    else if (rego_mode) r = pvalue(c, e, depth + 1);
    else return 0;
    if (!r) return 0;
    key = R_V(r);
    c = skip_ws(R_C(r), e);
  }
}

static R pvalue(const char *c, const char *e, int depth) {
  if (depth > 1000) return 0;
  c = skip_ws(c, e);
  if (c >= e) return 0;
  switch (*c) {
  case '"': return pstring(c, e);
  case 't': return lit(c, e, "true", 4, vd_boolean(1));
  case 'f': return lit(c, e, "false", 5, vd_boolean(0));
  case 'n': return lit(c, e, "null", 4, vd_null());
  case 's': return rego_mode ? lit(c, e, "set()", 5, vd_set()) : 0;
  case '[': return parray(c, e, depth);
  case '{': return pobject(c, e, depth);
  default:
    if (*c == '-' || isdig(*c)) return pnumber(c, e);
    return 0;
  }
}

static V *parse(const char *s, u32 n, int rego) {
  rego_mode = rego;
  stk = scratch0;
  scap = SCRATCH;
  sp = 0;
  const char *e = s + n;
  R r = pvalue(s, e, 0);
  if (!r || skip_ws(R_C(r), e) != e) return 0;
  return R_V(r);
}

EXPORT("opa_json_parse") V *opa_json_parse(const char *s, u32 n) { return parse(s, n, 0); }
EXPORT("opa_value_parse") V *opa_value_parse(const char *s, u32 n) { return parse(s, n, 1); }

char *vd_ref_canonical(VNum *v, u32 *len);

/* ---------- output buffer ---------- */

typedef struct { char *b; u32 n; u32 cap; } Buf;

static void bput(Buf *b, const char *s, u32 n) {
  if (b->n + n + 1 > b->cap) {
    u32 nc = b->cap * 2;
    if (nc < b->n + n + 1) nc = b->n + n + 64;
    char *x = opa_malloc(nc);
    if (b->n) vd_memcpy(x, b->b, b->n);
    b->b = x;
    b->cap = nc;
  }
  vd_memcpy(b->b + b->n, s, n);
  b->n += n;
}
static void bc(Buf *b, char c) { bput(b, &c, 1); }
static void bs(Buf *b, const char *s) { u32 n = 0; while (s[n]) n++; bput(b, s, n); }

/* ---------- exact float formatting (shortest round trip) ---------- */

static u32 big_divmod(Big *b, u32 d) {
  u64 r = 0;
  for (u32 i = b->n; i-- > 0;) {
    u64 t = (r << 32) | b->d[i];
    b->d[i] = (u32)(t / d);
    r = t % d;
  }
  while (b->n && !b->d[b->n - 1]) b->n--;
  return (u32)r;
}
/* decimal digits of b (destroys b); returns length */
static u32 big_dec(Big *b, char *out) {
  char tmp[1000];
  u32 n = 0;
  if (!b->n) { out[0] = '0'; return 1; }
  while (b->n) {
    u32 r = big_divmod(b, 1000000000u);
    for (int k = 0; k < 9; k++) { tmp[n++] = (char)('0' + r % 10); r /= 10; }
  }
  while (n > 1 && tmp[n - 1] == '0') n--;
  for (u32 i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}
/* x * 2^s (s >= 0) or x * 5^k (k = -s) as decimal text */
static u32 scaled_dec(u64 x, int s, char *out) {
  Big b;
  big_set(&b, x);
  if (s >= 0) {
    for (int i = 0; i < s; i++) big_mul(&b, 2);
  } else {
    for (int i = 0; i < -s; i++) big_mul(&b, 5);
  }
  return big_dec(&b, out);
}
static int deccmp(const char *a, u32 an, const char *b, u32 bn) {
  if (an != bn) return an < bn ? -1 : 1;
  for (u32 i = 0; i < an; i++) if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

static void fmt_float(Buf *out, double x) {
  if (x != x) { bs(out, "null"); return; }
  union { double d; u64 u; } u = {x};
  if (u.u >> 63) { bc(out, '-'); u.u &= ~(1ULL << 63); x = -x; }
  if (x == 0) { bc(out, '0'); return; }
  if (x > 1.7976931348623157e308) { bs(out, "null"); return; }
  i64 i = (i64)x;
  if ((double)i == x && x < 1e15) {
    char t[24]; int n = 0;
    while (i) { t[n++] = (char)('0' + i % 10); i /= 10; }
    while (n) bc(out, t[--n]);
    return;
  }
  int E = (int)((u.u >> 52) & 0x7FF);
  u64 F = u.u & ((1ULL << 52) - 1);
  u64 m;
  int e;
  if (E == 0) { m = F; e = -1074; } else { m = F | (1ULL << 52); e = E - 1075; }
  u64 v4 = 4 * m, hi4 = 4 * m + 2, lo4 = (F == 0 && E > 1) ? 4 * m - 1 : 4 * m - 2;
  int s = e - 2;
  static char dv[1000], dl[1000], dh[1000], cand[1002];
  u32 nv = scaled_dec(v4, s, dv), nl = scaled_dec(lo4, s, dl), nh = scaled_dec(hi4, s, dh);
  int k = s < 0 ? -s : 0; /* value = dv * 10^-k */
  int incl = (m & 1) == 0;
  u32 nd = nv;
  const char *digits = dv;
  u32 clen = nv;
  for (u32 p = 1; p < nv && p <= 17; p++) {
    /* truncated candidate */
    for (u32 q = 0; q < nv; q++) cand[q] = q < p ? dv[q] : '0';
    int ct = deccmp(cand, nv, dl, nl);
    int okt = incl ? ct >= 0 : ct > 0;
    /* rounded-up candidate */
    static char up[1002];
    u32 un = nv;
    for (u32 q = 0; q < nv; q++) up[q] = cand[q];
    int q = (int)p - 1;
    while (q >= 0 && up[q] == '9') { up[q] = '0'; q--; }
    if (q >= 0) up[q]++;
    else { for (u32 r = un; r > 0; r--) up[r] = up[r - 1]; up[0] = '1'; un++; }
    int cu = deccmp(up, un, dh, nh);
    int oku = incl ? cu <= 0 : cu < 0;
    if (!okt && !oku) continue;
    int pick_up;
    if (okt && oku) {
      /* closer one: compare the dropped digits with one half */
      int c = 0;
      if (dv[p] > '5') c = 1;
      else if (dv[p] < '5') c = -1;
      else { c = 0; for (u32 r = p + 1; r < nv; r++) if (dv[r] != '0') { c = 1; break; } }
      pick_up = c > 0 || (c == 0 && ((p > 0 ? dv[p - 1] - '0' : 0) & 1));
    } else pick_up = oku;
    if (pick_up) { vd_memcpy(cand, up, un); clen = un; } else clen = nv;
    digits = cand;
    nd = clen;
    break;
  }
  /* strip trailing zeros: value = digits[0..nd) * 10^(clen-nd-k) */
  while (nd > 1 && digits[nd - 1] == '0') nd--;
  int point = (int)clen - k; /* decimal point position relative to digits[0] */
  int exp10 = point - 1;
  if (exp10 >= -6 && exp10 < 21) {
    if (point <= 0) {
      bs(out, "0.");
      for (int z = 0; z < -point; z++) bc(out, '0');
      bput(out, digits, nd);
    } else if ((u32)point >= nd) {
      bput(out, digits, nd);
      for (int z = 0; z < point - (int)nd; z++) bc(out, '0');
    } else {
      bput(out, digits, (u32)point);
      bc(out, '.');
      bput(out, digits + point, nd - (u32)point);
    }
  } else {
    bc(out, digits[0]);
    if (nd > 1) { bc(out, '.'); bput(out, digits + 1, nd - 1); }
    bc(out, 'e');
    bc(out, exp10 < 0 ? '-' : '+');
    int ae = exp10 < 0 ? -exp10 : exp10;
    char t[8]; int n = 0;
    while (ae) { t[n++] = (char)('0' + ae % 10); ae /= 10; }
    while (n) bc(out, t[--n]);
  }
}

static void fmt_int(Buf *out, i64 v) {
  char t[24];
  int n = 0;
  u64 x = v < 0 ? (u64)0 - (u64)v : (u64)v;
  if (!x) t[n++] = '0';
  while (x) { t[n++] = (char)('0' + x % 10); x /= 10; }
  if (v < 0) bc(out, '-');
  while (n) bc(out, t[--n]);
}

static void fmt_str(Buf *out, const char *s, u32 n) {
  static const char hx[] = "0123456789abcdef";
  bc(out, '"');
  u32 st = 0;
  for (u32 i = 0; i < n; i++) {
    u8 c = (u8)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    bput(out, s + st, i - st);
    st = i + 1;
    switch (c) {
    case '"': bs(out, "\\\""); break;
    case '\\': bs(out, "\\\\"); break;
    case '\n': bs(out, "\\n"); break;
    case '\r': bs(out, "\\r"); break;
    case '\t': bs(out, "\\t"); break;
    case '\b': bs(out, "\\b"); break;
    case '\f': bs(out, "\\f"); break;
    default: bs(out, "\\u00"); bc(out, hx[c >> 4]); bc(out, hx[c & 15]);
    }
  }
  bput(out, s + st, n - st);
  bc(out, '"');
}

static void dump(Buf *out, V *v, int rego) {
  if (!v) { bs(out, "null"); return; }
  switch (v->type) {
  case T_NULL: bs(out, "null"); return;
  case T_BOOL: bs(out, ((VBool *)v)->b ? "true" : "false"); return;
  case T_NUM: {
    VNum *n = (VNum *)v;
    if (n->kind == N_INT) fmt_int(out, n->i);
    else if (n->kind == N_FLOAT) fmt_float(out, n->f);
    else {
      u32 len;
      char *t = vd_ref_canonical(n, &len);
      bput(out, t, len);
    }
    return;
  }
  case T_STR: fmt_str(out, ((VStr *)v)->s, ((VStr *)v)->len); return;
  case T_ARR: case T_SET: {
    VArr *a = (VArr *)v;
    if (rego && v->type == T_SET && a->len == 0) { bs(out, "set()"); return; }
    bc(out, rego && v->type == T_SET ? '{' : '[');
    for (u32 i = 0; i < a->len; i++) {
      if (i) bc(out, ',');
      dump(out, a->e[i], rego);
    }
    bc(out, rego && v->type == T_SET ? '}' : ']');
    return;
  }
  case T_OBJ: {
    VObj *o = (VObj *)v;
    bc(out, '{');
    for (u32 i = 0; i < o->len; i++) {
      if (i) bc(out, ',');
      if (o->k[i]->type == T_STR || rego) dump(out, o->k[i], rego);
      else {
        Buf kb = {0, 0, 0};
        dump(&kb, o->k[i], 0);
        fmt_str(out, kb.b, kb.n);
      }
      bc(out, ':');
      dump(out, o->v[i], rego);
    }
    bc(out, '}');
    return;
  }
  }
}

static char *dump_top(V *v, int rego) {
  Buf b = {0, 0, 0};
  dump(&b, v, rego);
  bc(&b, 0);
  return b.b;
}

EXPORT("opa_json_dump") char *opa_json_dump(V *v) { return dump_top(v, 0); }
EXPORT("opa_value_dump") char *opa_value_dump(V *v) { return dump_top(v, 1); }

/* number as decimal text (for to_number-free helpers and error messages) */
char *vd_number_text(V *v) { return dump_top(v, 0); }
