/* semihost.c: ARM semihosting host calls (`bkpt 0xAB`, r0 = operation, r1 = argument block).
 * QEMU runs them with `-semihosting-config enable=on,target=native`. Only what the driver
 * needs, and no libc: no FILE buffers, so no malloc. */
#include "mct_device.h"

#include <stddef.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int mct__sh(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static uint32_t mct__strlen(const char *s) {
  uint32_t n = 0;
  while (s[n]) ++n;
  return n;
}

int mct_sh_open(const char *name, int mode) {
  const uint32_t a[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, mct__strlen(name)};
  return mct__sh(SYS_OPEN, a);
}

int mct_sh_read(int fd, void *buf, uint32_t n) {
  const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
  return mct__sh(SYS_READ, a); /* bytes NOT read */
}

int mct_sh_write(int fd, const void *buf, uint32_t n) {
  const uint32_t a[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
  return mct__sh(SYS_WRITE, a); /* bytes NOT written */
}

int mct_sh_seek(int fd, uint32_t pos) {
  const uint32_t a[2] = {(uint32_t)fd, pos};
  return mct__sh(SYS_SEEK, a);
}

int mct_sh_close(int fd) {
  const uint32_t a[1] = {(uint32_t)fd};
  return mct__sh(SYS_CLOSE, a);
}

void mct_sh_puts(const char *s) { (void)mct__sh(SYS_WRITE0, s); }

/* The argument block is static: exit must work when the stack is gone (overflow). */
void mct_sh_exit(int code) {
  static uint32_t a[2];
  a[0] = ADP_STOPPED_APPLICATION_EXIT;
  a[1] = (uint32_t)code;
  for (;;) (void)mct__sh(SYS_EXIT_EXTENDED, a);
}
