/* startup.c: vector table, reset, memory protection, fault handlers and the painted stack,
 * for the Cortex-M4 (mps2-an386) and Cortex-M7 (mps2-an500) builds. No libc start-up code
 * runs (-nostartfiles): .data is copied and .bss zeroed here, and the heap is zero bytes.
 *
 * Stack: link.ld places it at the BOTTOM of RAM, below .data and .bss; the build sizes it from
 * the program's deepest call path (targets/stack.py). At reset it is painted with MCT_PAINT;
 * the deepest word that no longer holds the paint gives the high-water mark.
 *
 * Faults never lock up and never hang: the MPU (below) makes a stack overflow and a wild
 * write to code or constants fault at once, MemManage/BusFault/UsageFault report with their
 * own exception numbers, and the one fault handler runs on the stack top, prints one line
 * and exits the emulator with 90 + the exception number, or 6 for a stack overflow. Without
 * the MPU an overflow below RAM is silent on the emulated boards (the memory under
 * 0x20000000 reads 0 and ignores writes): spilled pointers came back as NULL, a store through
 * one overwrote the vector table at address 0, and the next fault locked the core up.
 */
#include "mct_device.h"

#include <stddef.h>

#define MCT_PAINT 0xC0FFEE5Au

extern uint32_t __stack_bottom[], __stack_top[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
extern uint8_t __flash_code_end[];    /* the code/constant flash is [0, __flash_code_end) */
extern uint8_t __stack_guard_bytes[]; /* an absolute symbol: its address is the size */

int main(void);
void Reset_Handler(void);
void mct__fault_entry(void);

static uint32_t mct__guard_bytes(void) { return (uint32_t)(uintptr_t)__stack_guard_bytes; }

/* ---- memory protection (PMSAv7: ARMv7-M and ARMv7E-M; v8-M's MPU differs) ---------------- */
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
#define MCT_MPU_TYPE (*(volatile uint32_t *)0xE000ED90u)
#define MCT_MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define MCT_MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define MCT_MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define MCT_MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)
#define MCT_SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define MCT_RASR_RO (6u << 24 | 1u << 17)   /* AP read-only; normal memory, write-through */
#define MCT_RASR_NONE (1u << 28 | 0u << 24) /* XN, AP no access (strongly ordered) */

static uint32_t mct__log2(uint32_t v) { return 31u - (uint32_t)__builtin_clz(v); }

/* Region r: 2^k bytes at base (2^k-aligned), subregions in srd (bit i set: eighth i off). */
static void mct__mpu_region(uint32_t r, uint32_t base, uint32_t k, uint32_t srd,
                            uint32_t attr) {
  MCT_MPU_RNR = r;
  MCT_MPU_RBAR = base;
  MCT_MPU_RASR = attr | (srd & 0xFFu) << 8 | (k - 1u) << 1 | 1u;
}

/* Read-only [0, end) in regions from `r` on, at most `max` of them; returns the next free
 * region. A region of 2^k bytes has eight subregions that can be switched off, so each takes
 * three bits of `end`: the smallest power of two >= what is left, the subregions it covers
 * fully, and the rest (below one subregion, hence aligned for the next) in the next region.
 * Below 256 B (no subregions) a region is the largest power of two that fits. 32-byte
 * granules: a tail below 32 B stays writable; if the regions run out, so does the rest
 * (never the vector table and code at the start). */
static uint32_t mct__mpu_read_only(uint32_t r, uint32_t max, uint32_t end) {
  uint32_t base = 0, rest = end & ~31u;
  for (uint32_t used = 0; rest && used < max; ++used, ++r) {
    if (rest >= 256u) {
      const uint32_t k = rest & (rest - 1u) ? mct__log2(rest) + 1u : mct__log2(rest);
      const uint32_t sub = 1u << (k - 3u), n = rest >> (k - 3u); /* 4..8 eighths */
      mct__mpu_region(r, base, k, 0xFFu << n, MCT_RASR_RO);
      base += n * sub;
      rest -= n * sub;
    } else {
      const uint32_t k = mct__log2(rest);
      mct__mpu_region(r, base, k, 0, MCT_RASR_RO);
      base += 1u << k;
      rest -= 1u << k;
    }
  }
  return r;
}

/* Code and constants read-only (a wild write to the vector table or the code faults), a
 * no-access guard of __stack_guard_bytes under the stack (larger than any frame, so an
 * overflow cannot jump over it), the default memory map for everything else (RAM, the
 * parameter store, which pstore.c writes with plain stores, and the peripherals), and
 * MemManage, BusFault and UsageFault enabled so each reports with its own number. */
static void mct__mpu_init(void) {
  const uint32_t regions = (MCT_MPU_TYPE >> 8) & 0xFFu;
  if (regions < 2u) return; /* no MPU: the painted stack's check is all there is */
  MCT_MPU_CTRL = 0;
  for (uint32_t r = 0; r < regions; ++r) {
    MCT_MPU_RNR = r;
    MCT_MPU_RASR = 0;
  }
  (void)mct__mpu_read_only(0, regions - 1u, (uint32_t)(uintptr_t)__flash_code_end);
  const uint32_t g = mct__guard_bytes();
  mct__mpu_region(regions - 1u, (uint32_t)(uintptr_t)__stack_bottom - g, mct__log2(g), 0,
                  MCT_RASR_NONE); /* the highest number: it wins any overlap */
  MCT_SCB_SHCSR |= 7u << 16;      /* MEMFAULTENA, BUSFAULTENA, USGFAULTENA */
  MCT_MPU_CTRL = 1u << 2 | 1u;    /* PRIVDEFENA, ENABLE */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
}
#else
static void mct__mpu_init(void) {} /* v8-M (Cortex-M33/M55): PMSAv8 regions, a later port */
#endif

static inline uint32_t *mct__sp(void) {
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

/* Paint [bottom, sp - 16 words): the words below the caller's frame. */
static void mct__paint(void) {
  uint32_t *end = mct__sp() - 16;
  for (volatile uint32_t *p = __stack_bottom; p < end; ++p) *p = MCT_PAINT;
}

void Reset_Handler(void) {
#if defined(__ARM_FP)
  /* CPACR: full access to CP10/CP11 before the first floating-point instruction. */
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  mct__mpu_init();
  for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
  for (volatile uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
  mct__paint();
  mct_dev_exit(main());
}

void mct_dev_stack_repaint(void) { mct__paint(); }

uint32_t mct_dev_stack_size(void) {
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
}

uint32_t mct_dev_stack_high_water(void) {
  const volatile uint32_t *p = __stack_bottom;
  while (p < __stack_top && *p == MCT_PAINT) ++p;
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* The lowest MCT_STACK_GUARD bytes must keep their paint: a deeper stack counts as an
 * overflow. With the MPU an overflow faults first; this check is what a core without one
 * has. The build's stack bound keeps the deepest path above these bytes (stack.py). */
#define MCT_STACK_GUARD 64u

void mct_dev_exit(int code) {
  if (mct_dev_stack_high_water() + MCT_STACK_GUARD > mct_dev_stack_size()) {
    mct_sh_puts("mct: stack overflow: the stack reached its last 64 bytes (raise --stack)\n");
    if (code == MCT_EXIT_OK) code = MCT_EXIT_STACK;
  }
  mct_sh_exit(code);
}

void mct_timer_start(void) {
  volatile uint32_t *t = (volatile uint32_t *)0x40000000u; /* CMSDK APB timer 0 */
  t[0] = 0;                                                  /* CTRL: stop */
  t[2] = 0xFFFFFFFFu;                                        /* RELOAD */
  t[1] = 0xFFFFFFFFu;                                        /* VALUE */
  t[0] = 1;                                                  /* CTRL: enable */
}

/* ---- faults ---------------------------------------------------------------------------- */
#define MCT_SCB_CFSR 0xE000ED28u
#define MCT_SCB_MMFAR 0xE000ED34u
#define MCT_SCB_BFAR 0xE000ED38u
#define MCT_CFSR_MMARVALID (1u << 7)
#define MCT_CFSR_BFARVALID (1u << 15)

static char *mct__put_hex(char *dst, const char *label, uint32_t v) {
  while (*label) *dst++ = *label++;
  for (int i = 7; i >= 0; --i, v >>= 4) dst[i] = "0123456789abcdef"[v & 15];
  return dst + 8;
}

/* The address a MemManage/BusFault reports (MMFAR/BFAR), when the CFSR says it is valid. */
static int mct__fault_address(uint32_t cfsr, uint32_t *addr) {
  if (cfsr & MCT_CFSR_MMARVALID) {
    *addr = *(volatile uint32_t *)MCT_SCB_MMFAR;
    return 1;
  }
  if (cfsr & MCT_CFSR_BFARVALID) {
    *addr = *(volatile uint32_t *)MCT_SCB_BFAR;
    return 1;
  }
  return 0;
}

/* One line, "mct: fault exception 0x.. pc 0x.. cfsr 0x.. [addr 0x..]", then exit 90 + the
 * exception number. A fault whose frame or address lies below the stack is a stack overflow
 * (exit 6): the frame was pushed into the guard region under the stack, or a function's frame
 * reached it. pc is 0 when the frame is lost. Runs on the stack top (mct__fault_entry). */
void mct__fault_report(uintptr_t frame, uint32_t ipsr, uint32_t pc) {
  static char msg[128];
  const uint32_t n = ipsr & 0x1FFu, cfsr = *(volatile uint32_t *)MCT_SCB_CFSR;
  const uintptr_t bottom = (uintptr_t)__stack_bottom;
  uint32_t addr = 0;
  const int has_addr = mct__fault_address(cfsr, &addr);
  const int overflow = frame < bottom ||
                       (has_addr && addr < bottom && addr >= bottom - mct__guard_bytes());
  char *p = msg;
  for (const char *s = overflow ? "mct: stack overflow (raise --stack): " : "mct: "; *s;)
    *p++ = *s++;
  p = mct__put_hex(p, "fault exception 0x", n);
  p = mct__put_hex(p, " pc 0x", pc);
  p = mct__put_hex(p, " cfsr 0x", cfsr);
  if (has_addr) p = mct__put_hex(p, " addr 0x", addr);
  *p++ = '\n';
  *p = 0;
  mct_sh_puts(msg);
  if (overflow) mct_sh_exit(MCT_EXIT_STACK);
  mct_sh_exit(n >= 3 && n <= 6 ? MCT_EXIT_FAULT + (int)n : MCT_EXIT_FAULT + 9);
}

/* r0 = the exception frame, r1 = IPSR, r2 = the stacked pc, read only when the whole frame
 * lies inside the stack (after an overflow it may sit in the no-access guard: reading it
 * would fault again, inside the handler, and lock the core up). Then the stack pointer moves
 * to the stack top, so the report always has a stack to run on (it never returns, and the
 * build's stack bound counts it from the top: cortex_m.py / stack.py). */
__attribute__((naked)) void mct__fault_entry(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mrs r1, ipsr\n\t"
      "movs r2, #0\n\t"
      "movw r3, #:lower16:__stack_top\n\t"
      "movt r3, #:upper16:__stack_top\n\t"
      "movw ip, #:lower16:__stack_bottom\n\t"
      "movt ip, #:upper16:__stack_bottom\n\t"
      "cmp r0, ip\n\t"
      "blo 1f\n\t"
      "sub ip, r3, #32\n\t"
      "cmp r0, ip\n\t"
      "it ls\n\t"
      "ldrls r2, [r0, #24]\n\t" /* stacked pc: r0-r3, r12, lr, pc, xpsr */
      "1:\n\t"
      "mov sp, r3\n\t"
      "b mct__fault_report\n\t");
}

/* Cortex-M vector table: initial stack pointer, then the handlers (16 system entries and
 * 32 interrupts, all of them unexpected here). */
typedef void (*mct__vector)(void);
__attribute__((section(".isr_vector"), used)) const mct__vector mct__vectors[48] = {
    (mct__vector)(uintptr_t)__stack_top, Reset_Handler,
    [2 ... 47] = mct__fault_entry,
};
