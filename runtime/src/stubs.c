/* Stub functions whose bodies the code generator replaces. They live in their own translation
   unit and are marked noinline so clang keeps real calls to them in the runtime. */
#include "rt.h"

__attribute__((noinline)) u32 vd_static_end(void) { return 0; }
__attribute__((noinline)) i32 vd_plan_dispatch(i32 entrypoint, V *input, V *data, V *result) {
  return entrypoint + (i32)(u32)input + (i32)(u32)data + (i32)(u32)result + 1;
}
__attribute__((noinline)) V *vd_gen_builtins(void) { return (V *)1; }
__attribute__((noinline)) V *vd_gen_entrypoints(void) { return (V *)2; }
__attribute__((noinline)) u32 vd_mapping_table(void) { return 3; }
__attribute__((noinline)) u32 vd_mapping_count(void) { return 4; }
