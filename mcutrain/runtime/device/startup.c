/* startup.c: vector table, reset, fault handlers and the painted stack, for the Cortex-M4
 * (mps2-an386) and Cortex-M7 (mps2-an500) builds. No libc start-up code runs (-nostartfiles):
 * .data is copied and .bss zeroed here, and the heap is zero bytes (link.ld).
 *
 * Stack: link.ld places it at the BOTTOM of RAM, below .data and .bss, so an overflow runs
 * into unmapped memory and faults instead of silently overwriting the arena. At reset it is
 * painted with MCT_PAINT; the deepest word that no longer holds the paint gives the
 * high-water mark. A fault exits the emulator with 90 + the exception number (never a
 * looping handler: that would hang QEMU).
 */
#include "mct_device.h"

#include <stddef.h>

#define MCT_PAINT 0xC0FFEE5Au

extern uint32_t __stack_bottom[], __stack_top[];
extern uint32_t __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];

int main(void);
void Reset_Handler(void);
void mct__fault_entry(void);

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
 * overflow (below RAM the emulator may map other memory, so a fault is not guaranteed). */
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
static void mct__hex(char *dst, uint32_t v) {
  for (int i = 7; i >= 0; --i, v >>= 4) dst[i] = "0123456789abcdef"[v & 15];
}

void mct__fault_report(const uint32_t *frame, uint32_t ipsr) {
  static char msg[] = "mct: fault exception 0x________ pc 0x________ cfsr 0x________\n";
  const uint32_t n = ipsr & 0x1FFu;
  if (frame < __stack_bottom) { /* the stack ran out below RAM: the frame is lost */
    mct_sh_puts("mct: stack overflow (fault with the stack pointer below the reserved stack; "
                "raise --stack)\n");
    mct_sh_exit(MCT_EXIT_STACK);
  }
  mct__hex(msg + 23, n);
  mct__hex(msg + 37, frame[6]); /* stacked pc: r0-r3, r12, lr, pc, xpsr */
  mct__hex(msg + 53, *(volatile uint32_t *)0xE000ED28u);
  mct_sh_puts(msg);
  mct_sh_exit(n >= 3 && n <= 6 ? MCT_EXIT_FAULT + (int)n : MCT_EXIT_FAULT + 9);
}

/* r0 = the exception frame, r1 = IPSR; a stack pointer below the stack (overflow) is moved
 * back to the top first, so the report has a stack to run on (it never returns). */
__attribute__((naked)) void mct__fault_entry(void) {
  __asm__ volatile(
      "tst lr, #4\n\t"
      "ite eq\n\t"
      "mrseq r0, msp\n\t"
      "mrsne r0, psp\n\t"
      "mrs r1, ipsr\n\t"
      "movw r2, #:lower16:__stack_bottom\n\t"
      "movt r2, #:upper16:__stack_bottom\n\t"
      "cmp r0, r2\n\t"
      "bhs 1f\n\t"
      "movw r3, #:lower16:__stack_top\n\t"
      "movt r3, #:upper16:__stack_top\n\t"
      "mov sp, r3\n\t"
      "1:\n\t"
      "b mct__fault_report\n\t");
}

/* Cortex-M vector table: initial stack pointer, then the handlers (16 system entries and
 * 32 interrupts, all of them unexpected here). */
typedef void (*mct__vector)(void);
__attribute__((section(".isr_vector"), used)) const mct__vector mct__vectors[48] = {
    (mct__vector)(uintptr_t)__stack_top, Reset_Handler,
    [2 ... 47] = mct__fault_entry,
};
