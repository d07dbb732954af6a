/* fault_check.c: a device program that goes wrong on purpose, one way per case
 * (tests/targets/test_faults.py). The case is the first byte of case.bin in the directory
 * QEMU runs in; every case must end the emulator with its exit status and one line on
 * stdout (startup.c's fault report), never hang or lock the core up.
 *
 *   0  no fault: writes the parameter store (it must stay writable) and reads it back
 *   1  store to address 0 (the vector table)          MemManage, exit 94, addr 0x00000000
 *   2  store to the last word of the code flash       MemManage, exit 94
 *   3  store into the code of a function              MemManage, exit 94
 *   4  unbounded recursion                            stack overflow, exit 6
 *   5  one frame larger than the whole stack          stack overflow, exit 6
 *   6  undefined instruction                          UsageFault, exit 96
 *   7  load from an address with nothing behind it    BusFault, exit 95
 */
#include "mct_device.h"

extern uint8_t __flash_code_end[], __pstore_start[];

static volatile uint32_t mct__sink;

/* Not a tail call (the sum after it), and a frame that holds data: the stack keeps growing. */
__attribute__((noinline)) static uint32_t mct__recurse(uint32_t n) {
  volatile uint32_t pad[16];
  pad[n & 15u] = n;
  if (n == 0xFFFFFFFFu) return pad[0]; /* never: keeps the compiler from seeing no way out */
  return mct__recurse(n + 1u) + pad[(n + 3u) & 15u];
}

/* 12 KB of locals with a 4 KB stack: the stack pointer jumps 8 KB below the stack bottom, and
 * the first store lands in the MPU's guard (16 KB), not in some other memory. */
__attribute__((noinline)) static uint32_t mct__big_frame(uint32_t i) {
  volatile uint8_t buf[12288];
  buf[i] = 1u;
  return buf[i];
}

static int mct__pstore_round_trip(void) {
  volatile uint32_t *p = (volatile uint32_t *)(void *)__pstore_start;
  const uint32_t old = *p;
  *p = 0x12345678u;
  const int ok = *p == 0x12345678u;
  *p = old;
  return ok ? MCT_EXIT_OK : 1;
}

int main(void) {
  uint8_t c = 0xFF;
  const int fd = mct_sh_open("case.bin", 1);
  if (fd < 0 || mct_sh_read(fd, &c, 1) != 0) return MCT_EXIT_IO;
  mct_sh_close(fd);
  switch (c) {
    case 0: return mct__pstore_round_trip();
    case 1: *(volatile uint32_t *)0u = 0u; break;
    case 2: *(volatile uint32_t *)((uintptr_t)__flash_code_end - 4u) = 0u; break;
    case 3: *(volatile uint16_t *)((uintptr_t)&mct__recurse & ~1u) = 0xBF00u; break;
    case 4: mct__sink = mct__recurse(0); break;
    case 5: mct__sink = mct__big_frame(0); break;
    case 6: __asm__ volatile("udf #0"); break;
    case 7: mct__sink = *(volatile uint32_t *)0xF0000000u; break;
    default: return 2;
  }
  mct_sh_puts("fault_check: the case did not fault\n");
  return 1;
}
