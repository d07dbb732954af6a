/* mct_device.h: the bare-metal side of the Cortex-M target (startup, semihosting, timer,
 * parameter store, the job protocol the host runner speaks).
 *
 * Nothing here allocates: the heap is zero bytes (link.ld) and no libc stdio is linked.
 * The host talks to the program through semihosting (ARM's `bkpt 0xAB` host calls):
 *   job.bin   (read)   what to do: header, optional parameters, then samples
 *   out.bin   (write)  results: a header, one record per step or forward, a trailer
 *   flash.bin (r/w)    the image of the parameter-store flash region: on this emulated board
 *                      the flash driver mirrors every erase/program into it, and the emulator
 *                      loads it back into the region at start, so it survives a restart.
 * Layouts are little-endian and spelled out below; mcutrain/targets/cortex_m.py mirrors them.
 */
#ifndef MCT_DEVICE_H
#define MCT_DEVICE_H

#include <stdint.h>

/* ---- exit codes (QEMU's exit status) ------------------------------------------------------ */
#define MCT_EXIT_OK 0
#define MCT_EXIT_IO 3          /* a semihosting file could not be opened / read / written */
#define MCT_EXIT_JOB 4         /* job.bin does not match this build (magic, version, model) */
#define MCT_EXIT_KERNEL 5      /* a kernel returned an error status */
#define MCT_EXIT_STACK 6       /* stack overflow: a fault in the MPU guard under the stack, or
                                  the painted stack used to its last 64 bytes */
#define MCT_EXIT_DIVERGED 7    /* training diverged (mct_guard): stopped, nothing saved */
#define MCT_EXIT_POWER_CUT 70  /* test hook: the job's simulated power cut during a flash write */
#define MCT_EXIT_FAULT 90      /* 90 + exception number: 93 HardFault, 94 MemManage, 95 BusFault,
                                  96 UsageFault; 99 any other unexpected exception */

/* ---- semihosting (semihost.c) -------------------------------------------------------------- */
int mct_sh_open(const char *name, int mode); /* mode: 0 "r", 1 "rb", 3 "r+b", 5 "wb"; -1 error */
int mct_sh_read(int fd, void *buf, uint32_t n);        /* 0 when all n bytes were read */
int mct_sh_write(int fd, const void *buf, uint32_t n); /* 0 when all n bytes were written */
int mct_sh_seek(int fd, uint32_t pos);                 /* 0 on success */
int mct_sh_close(int fd);
void mct_sh_puts(const char *s);                       /* text to the emulator's stdout */
void mct_sh_exit(int code) __attribute__((noreturn));  /* ends the emulator with this status */

/* ---- startup.c ----------------------------------------------------------------------------- */
void mct_dev_exit(int code) __attribute__((noreturn)); /* checks the stack canary, then exits */
uint32_t mct_dev_stack_high_water(void); /* deepest stack use so far, bytes (painted stack) */
uint32_t mct_dev_stack_size(void);
void mct_dev_stack_repaint(void);        /* paint again below the current stack pointer */

/* ---- cycle-exact timer: CMSDK APB timer 0 (0x40000000), a 32-bit down counter ----------- */
void mct_timer_start(void);
static inline uint32_t mct_timer_now(void) { return *(volatile uint32_t *)0x40000004u; }

/* ---- parameter store: two alternating slots in flash (pstore.c) ------------------------- */
typedef struct {
  uint32_t magic;       /* MCT_SLOT_MAGIC */
  uint32_t seq;         /* 1, 2, 3, ...: the newest valid slot wins */
  uint32_t model_hash;  /* the build's MCT_DEV_MODEL_HASH: another model's slot is ignored */
  uint32_t payload_bytes;
  uint32_t step;        /* mct_get_step() when saved */
  uint32_t payload_crc; /* CRC-32 of the payload (the packed parameters) */
  uint32_t reserved;
  uint32_t header_crc;  /* CRC-32 of the 28 bytes above */
} mct_slot_header;
#define MCT_SLOT_MAGIC 0x5054434Du /* "MCTP" */

/* A parameter buffer in RAM (one trained tensor, in mct_get_params order). */
typedef struct {
  uint8_t *ptr;
  uint32_t bytes;
} mct_span;

typedef struct {
  const mct_span *spans; /* the packed parameters, piece by piece (no staging copy) */
  int32_t n_spans;
  uint32_t payload_bytes;
  uint32_t model_hash;
} mct_params_view;

uint32_t mct_crc32(uint32_t crc, const void *data, uint32_t n); /* crc = 0 to start */
int mct_flash_open(const char *image_name); /* the host mirror of the region; 0 on success */
/* Newest valid slot (header magic, model, size and both CRCs checked), or -1. */
int mct_pstore_find(const mct_params_view *v, mct_slot_header *hdr);
const uint8_t *mct_pstore_payload(int slot);
/* A save in two calls: prepare picks the slot that does not hold the newest valid copy and
 * fills its header (seq = newest + 1, CRCs); write erases that slot (header first), programs
 * the payload straight from the RAM tensors, then the header last. A cut anywhere leaves the
 * other slot, the last complete copy, as the newest valid one. -1 on error. */
int mct_pstore_prepare(const mct_params_view *v, uint32_t step, mct_slot_header *hdr);
int mct_pstore_write(const mct_params_view *v, int target, const mct_slot_header *hdr);
/* Test hook: power cut (exit MCT_EXIT_POWER_CUT) once this many flash bytes were touched. */
void mct_flash_set_cut(uint32_t after_bytes);

/* ---- job.bin --------------------------------------------------------------------------------- */
#define MCT_JOB_MAGIC 0x4A54434Du /* "MCTJ" */
#define MCT_OUT_MAGIC 0x5254434Du /* "MCTR" */
#define MCT_PROTOCOL_VERSION 1u

#define MCT_JOB_PARAMS 1u   /* parameters (MCT_PARAMS_BYTES) follow the header: set them */
#define MCT_JOB_LOAD 2u     /* load the newest valid flash slot first, if there is one */
#define MCT_JOB_SAVE 4u     /* persist the parameters to flash at the end */
#define MCT_JOB_DUMP 8u     /* write the parameters to out.bin at the end */
#define MCT_JOB_LOGITS 16u  /* write the logits after every step / forward */
#define MCT_JOB_FAULT 32u   /* test hook: execute an undefined instruction (fault handler test) */

typedef struct {
  uint32_t magic, version, model_hash, flags;
  uint32_t n_train;    /* training samples: int32 label, then MCT_INPUT_BYTES int8 HWC */
  uint32_t n_eval;     /* forward-only samples, same record layout (label unused) */
  float lr;            /* > 0: mct_set_lr(lr) */
  uint32_t step;       /* with MCT_JOB_PARAMS: mct_set_step(step) */
  uint32_t save_every; /* > 0: also persist after every save_every training steps */
  uint32_t cut_after;  /* > 0: simulated power cut after this many flash bytes */
  uint32_t reserved[6];
} mct_job;

/* ---- out.bin: header, then 16-byte records (logits after kinds 1 and 2 with LOGITS) ------ */
typedef struct {
  uint32_t magic, version, classes, params_bytes;
  uint32_t loaded;     /* 0: compiled-in parameters, 1: flash slot, 2: job */
  uint32_t loaded_seq; /* seq of the flash slot loaded (0: none) */
  uint32_t start_step, stack_size;
  uint32_t calib_ticks; /* timer ticks of MCT_CALIB_INSNS instructions: ticks -> instructions */
  uint32_t reserved[3];
} mct_out_header;
#define MCT_CALIB_LOOPS (1u << 20) /* a 2-instruction loop: subs, bne */
#define MCT_CALIB_INSNS (2u * MCT_CALIB_LOOPS)

#define MCT_REC_TRAIN 1u /* status, loss (float bits), timer ticks of mct_train_step */
#define MCT_REC_EVAL 2u  /* status, 0, ticks of mct_forward */
#define MCT_REC_SAVE0 3u /* a flash save begins: seq to be written, payload crc */
#define MCT_REC_SAVE 4u  /* the save completed: seq, payload crc, ticks */
#define MCT_REC_END 5u   /* step, stack high-water bytes, 0; then params with DUMP */
#define MCT_REC_PROFILE 6u /* profiling builds: site | kernel << 16, calls, ticks (before END) */
/* training stopped by the divergence guard: reason (MCT_GUARD_*) | restored << 8 (the last
 * saved parameters were reloaded from flash), loss (float bits), the sample's index */
#define MCT_REC_DIVERGED 7u
typedef struct {
  uint32_t kind, a, b, ticks;
} mct_record;

/* ---- provided by the generated device_glue.c (which #includes model.c) ------------------ */
extern const mct_span mct_dev_param_spans[];
extern const int32_t mct_dev_n_param_spans;
/* 1 where span i holds float32 values (checked finite before any save), from the glue. */
extern const uint8_t mct_dev_param_is_float[];
extern const uint32_t mct_dev_model_hash;
/* Where mct_train_step / mct_forward keep their input in the arena: a sample read there
 * directly costs no input buffer (the step's own copy is then skipped). */
int8_t *mct_dev_train_input(void);
int8_t *mct_dev_forward_input(void);
/* Profiling builds (-DMCT_PROFILE) define it in the glue: one MCT_REC_PROFILE per call site. */
void mct_dev_profile_write(void (*record)(uint32_t kind, uint32_t a, uint32_t b, uint32_t ticks));

#endif
