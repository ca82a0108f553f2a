/* Verdict wasm runtime: shared declarations of the value model, heap and helpers. */
#ifndef VD_RT_H
#define VD_RT_H

typedef unsigned char u8;
typedef unsigned int u32;
typedef int i32;
typedef long long i64;
typedef unsigned long long u64;

#define T_NULL 1
#define T_BOOL 2
#define T_NUM 3
#define T_STR 4
#define T_ARR 5
#define T_OBJ 6
#define T_SET 7

#define N_INT 0
#define N_FLOAT 1
#define N_REF 2

/* Every value starts with its type tag; codegen lays out static strings with this exact shape. */
typedef struct { u32 type; } V;
typedef struct { u32 type; u32 b; } VBool;
typedef struct { u32 type; u32 kind; i64 i; double f; const char *ref; u32 len; } VNum;
typedef struct { u32 type; u32 len; const char *s; } VStr;
typedef struct { u32 type; u32 len; u32 cap; V **e; } VArr;
typedef struct { u32 type; u32 len; u32 cap; V **k; V **v; } VObj;
typedef struct { u32 type; u32 len; u32 cap; V **e; } VSet;

typedef struct { V *input; V *data; V *result; i32 entrypoint; } Ctx;

#define EXPORT(name) __attribute__((export_name(name)))

/* host imports */
void opa_abort(const char *msg);
void opa_println(const char *msg);
V *opa_builtin0(i32 id, i32 ctx);
V *opa_builtin1(i32 id, i32 ctx, V *a);
V *opa_builtin2(i32 id, i32 ctx, V *a, V *b);
V *opa_builtin3(i32 id, i32 ctx, V *a, V *b, V *c);
V *opa_builtin4(i32 id, i32 ctx, V *a, V *b, V *c, V *d);

/* stubs whose bodies the code generator replaces (stubs.c) */
u32 vd_static_end(void);
i32 vd_plan_dispatch(i32 entrypoint, V *input, V *data, V *result);
V *vd_gen_builtins(void);
V *vd_gen_entrypoints(void);
u32 vd_mapping_table(void);
u32 vd_mapping_count(void);

void *opa_malloc(u32 n);
void opa_free(void *p);
int opa_value_compare(V *a, V *b);
V *opa_json_parse(const char *s, u32 n);
V *opa_value_parse(const char *s, u32 n);
char *opa_json_dump(V *v);
char *opa_value_dump(V *v);
#endif
