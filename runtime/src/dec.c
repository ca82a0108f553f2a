/* Verdict wasm runtime: exact decimal numbers. Number literals that are not int64 keep their
   text; they compare exactly, and integers beyond int64 get exact + - * / % here. */
#include "rt.h"

V *vd_int(i64 i);
V *vd_numref(const char *s, u32 len);

/* A normalised decimal: value = (neg ? -1 : 1) * 0.D * 10^point, D without leading or trailing
   zeros; n == 0 means zero. */
typedef struct { int neg; u32 n; int point; char *d; } Dec;

static int isdig(char c) { return c >= '0' && c <= '9'; }

static void dec_text(const char *s, u32 len, Dec *out) {
  u32 i = 0;
  out->neg = 0;
  if (i < len && (s[i] == '-' || s[i] == '+')) { out->neg = s[i] == '-'; i++; }
  char *d = opa_malloc(len + 1);
  u32 n = 0;
  int point = 0, seen_point = 0, lead = 1;
  for (; i < len; i++) {
    char c = s[i];
    if (c == '.') { seen_point = 1; continue; }
    if (!isdig(c)) break;
    if (lead && c == '0') { if (seen_point) point--; continue; }
    lead = 0;
    d[n++] = c;
    if (!seen_point) point++;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    int en = 0, e = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) { en = s[i] == '-'; i++; }
    for (; i < len && isdig(s[i]); i++) if (e < 100000000) e = e * 10 + (s[i] - '0');
    point += en ? -e : e;
  }
  while (n && d[n - 1] == '0') n--;
  out->n = n; out->d = d; out->point = n ? point : 0;
  if (!n) out->neg = 0;
}

static void dec_int(i64 v, Dec *out) {
  char t[24];
  int n = 0;
  u64 x = v < 0 ? (u64)0 - (u64)v : (u64)v;
  if (!x) t[n++] = '0';
  while (x) { t[n++] = (char)('0' + x % 10); x /= 10; }
  char s[24];
  int k = 0;
  if (v < 0) s[k++] = '-';
  while (n) s[k++] = t[--n];
  dec_text(s, (u32)k, out);
}

/* exact decimal of a non-float number */
void vd_dec_of(V *v, Dec *out) {
  VNum *n = (VNum *)v;
  if (n->kind == N_INT) dec_int(n->i, out);
  else dec_text(n->ref, n->len, out);
}

static int mag_cmp_dec(Dec *a, Dec *b) {
  if (a->point != b->point) return a->point < b->point ? -1 : 1;
  u32 m = a->n > b->n ? a->n : b->n;
  for (u32 i = 0; i < m; i++) {
    char x = i < a->n ? a->d[i] : '0', y = i < b->n ? b->d[i] : '0';
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

int vd_dec_cmp(Dec *a, Dec *b) {
  if (!a->n || !b->n) {
    if (!a->n && !b->n) return 0;
    if (!a->n) return b->neg ? 1 : -1;
    return a->neg ? -1 : 1;
  }
  if (a->neg != b->neg) return a->neg ? -1 : 1;
  int c = mag_cmp_dec(a, b);
  return a->neg ? -c : c;
}

/* compare two non-float numbers exactly */
int vd_num_cmp_exact(V *a, V *b) {
  Dec x, y;
  vd_dec_of(a, &x);
  vd_dec_of(b, &y);
  return vd_dec_cmp(&x, &y);
}

int vd_dec_is_integral(Dec *a) { return (int)a->n <= a->point || a->n == 0; }

/* ---- big integer magnitudes as digit strings (most significant first, no leading zeros) ---- */

typedef struct { u32 n; char *d; } Mag;

static Mag mag_of(Dec *a) {
  Mag m;
  if (!a->n) { m.n = 0; m.d = 0; return m; }
  m.n = (u32)a->point;
  m.d = opa_malloc(m.n + 1);
  for (u32 i = 0; i < m.n; i++) m.d[i] = i < a->n ? a->d[i] : '0';
  return m;
}
static int mcmp(Mag a, Mag b) {
  if (a.n != b.n) return a.n < b.n ? -1 : 1;
  for (u32 i = 0; i < a.n; i++) if (a.d[i] != b.d[i]) return a.d[i] < b.d[i] ? -1 : 1;
  return 0;
}
static Mag trim(char *d, u32 n) {
  u32 i = 0;
  while (i < n && d[i] == '0') i++;
  Mag m = {n - i, d + i};
  return m;
}
static Mag madd(Mag a, Mag b) {
  u32 n = (a.n > b.n ? a.n : b.n) + 1;
  char *r = opa_malloc(n);
  int carry = 0;
  for (u32 i = 0; i < n; i++) {
    int x = i < a.n ? a.d[a.n - 1 - i] - '0' : 0, y = i < b.n ? b.d[b.n - 1 - i] - '0' : 0;
    int s = x + y + carry;
    r[n - 1 - i] = (char)('0' + s % 10);
    carry = s / 10;
  }
  return trim(r, n);
}
/* a - b with a >= b */
static Mag msub(Mag a, Mag b) {
  char *r = opa_malloc(a.n + 1);
  int borrow = 0;
  for (u32 i = 0; i < a.n; i++) {
    int x = a.d[a.n - 1 - i] - '0', y = i < b.n ? b.d[b.n - 1 - i] - '0' : 0;
    int s = x - y - borrow;
    borrow = s < 0;
    if (s < 0) s += 10;
    r[a.n - 1 - i] = (char)('0' + s);
  }
  return trim(r, a.n);
}
static Mag mmul(Mag a, Mag b) {
  u32 n = a.n + b.n;
  if (!a.n || !b.n) { Mag z = {0, 0}; return z; }
  u32 *acc = opa_malloc(n * 4);
  for (u32 i = 0; i < n; i++) acc[i] = 0;
  for (u32 i = 0; i < a.n; i++)
    for (u32 j = 0; j < b.n; j++) acc[i + j + 1] += (u32)(a.d[i] - '0') * (u32)(b.d[j] - '0');
  char *r = opa_malloc(n);
  u32 carry = 0;
  for (u32 k = n; k-- > 0;) {
    u32 t = acc[k] + carry;
    r[k] = (char)('0' + t % 10);
    carry = t / 10;
  }
  return trim(r, n);
}
/* long division: q = a / b, r = a % b (b != 0) */
static void mdivmod(Mag a, Mag b, Mag *q, Mag *r) {
  char *qd = opa_malloc(a.n + 1);
  char *cur = opa_malloc(a.n + b.n + 2);
  Mag rem = {0, cur};
  for (u32 i = 0; i < a.n; i++) {
    /* rem = rem * 10 + digit */
    char *nd = opa_malloc(rem.n + 2);
    for (u32 k = 0; k < rem.n; k++) nd[k] = rem.d[k];
    nd[rem.n] = a.d[i];
    rem = trim(nd, rem.n + 1);
    int c = 0;
    while (mcmp(rem, b) >= 0) { rem = msub(rem, b); c++; }
    qd[i] = (char)('0' + c);
  }
  *q = trim(qd, a.n);
  *r = rem;
}

/* an integer value from a sign and magnitude: int64 when it fits, else decimal text */
static V *from_mag(int neg, Mag m) {
  if (!m.n) return vd_int(0);
  if (m.n <= 19) {
    u64 x = 0;
    for (u32 i = 0; i < m.n; i++) x = x * 10 + (u64)(m.d[i] - '0');
    if (x <= 0x7FFFFFFFFFFFFFFFULL) return vd_int(neg ? -(i64)x : (i64)x);
    if (neg && x == 0x8000000000000000ULL) return vd_int((i64)x);
  }
  char *t = opa_malloc(m.n + 2);
  u32 k = 0;
  if (neg) t[k++] = '-';
  for (u32 i = 0; i < m.n; i++) t[k++] = m.d[i];
  t[k] = 0;
  return vd_numref(t, k);
}

/* Exact integer arithmetic for integral numbers (op: '+', '-', '*', '/', '%', 'a' abs).
   Returns 0 when an operand is not integral; *err set to 1 on division by zero, 2 when '/'
   is not exact (the caller falls back to floats). */
V *vd_big_arith(char op, V *a, V *b, int *err) {
  Dec x, y;
  *err = 0;
  vd_dec_of(a, &x);
  if (!vd_dec_is_integral(&x) || x.point > 100000) return 0;
  Mag ma = mag_of(&x);
  if (op == 'a') return from_mag(0, ma);
  vd_dec_of(b, &y);
  if (!vd_dec_is_integral(&y) || y.point > 100000) return 0;
  Mag mb = mag_of(&y);
  int an = x.neg, bn = y.neg;
  switch (op) {
  case '-': bn = !bn; /* fall through */
  case '+':
    if (an == bn) return from_mag(an, madd(ma, mb));
    if (mcmp(ma, mb) >= 0) return from_mag(an, msub(ma, mb));
    return from_mag(bn, msub(mb, ma));
  case '*': return from_mag(an != bn, mmul(ma, mb));
  case '/': case '%': {
    if (!mb.n) { *err = 1; return 0; }
    Mag q, r;
    mdivmod(ma, mb, &q, &r);
    if (op == '%') return from_mag(an, r);
    if (r.n) { *err = 2; return 0; }
    return from_mag(an != bn, q);
  }
  }
  return 0;
}

/* A number from literal text: int64 if it is one, else the text kept exactly. */
V *vd_number_ref(const char *s, u32 len) {
  Dec x;
  dec_text(s, len, &x);
  if (vd_dec_is_integral(&x)) {
    V *v = from_mag(x.neg, mag_of(&x));
    if (((VNum *)v)->kind == N_INT) return v;
  }
  return vd_numref(s, len);
}

/* 1 if the number is integral (exactly) */
int vd_num_is_integral(V *v) {
  VNum *n = (VNum *)v;
  if (n->kind == N_INT) return 1;
  if (n->kind == N_FLOAT) return 0;
  Dec x;
  dec_text(n->ref, n->len, &x);
  return vd_dec_is_integral(&x);
}

/* Canonical text of a literal number (3.50 -> 3.5, 1E+2 -> 100, 1e400 -> 1e+400). */
char *vd_ref_canonical(VNum *v, u32 *len) {
  Dec x;
  dec_text(v->ref, v->len, &x);
  u32 cap = x.n + 32 + (x.point > 0 && x.point <= 1000 ? (u32)x.point : 0) + (x.point < 0 && x.point > -7 ? 8 : 0);
  char *o = opa_malloc(cap);
  u32 k = 0;
  if (!x.n) { o[0] = '0'; *len = 1; return o; }
  if (x.neg) o[k++] = '-';
  if (x.point > 0 && (x.point <= 21 || ((int)x.n <= x.point && x.point - (int)x.n <= 21 && x.point <= 1000))) {
    for (int i = 0; i < x.point; i++) o[k++] = (u32)i < x.n ? x.d[i] : '0';
    if ((int)x.n > x.point) {
      o[k++] = '.';
      for (u32 i = (u32)x.point; i < x.n; i++) o[k++] = x.d[i];
    }
  } else if (x.point <= 0 && x.point > -6) {
    o[k++] = '0';
    o[k++] = '.';
    for (int i = 0; i < -x.point; i++) o[k++] = '0';
    for (u32 i = 0; i < x.n; i++) o[k++] = x.d[i];
  } else {
    o[k++] = x.d[0];
    if (x.n > 1) {
      o[k++] = '.';
      for (u32 i = 1; i < x.n; i++) o[k++] = x.d[i];
    }
    o[k++] = 'e';
    int e = x.point - 1;
    o[k++] = e < 0 ? '-' : '+';
    if (e < 0) e = -e;
    char t[12];
    int n = 0;
    while (e) { t[n++] = (char)('0' + e % 10); e /= 10; }
    while (n) o[k++] = t[--n];
  }
  *len = k;
  return o;
}
