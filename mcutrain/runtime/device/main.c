/* main.c: the device program. Reads job.bin, trains and/or runs forwards on its samples,
 * writes results to out.bin, and keeps the trained parameters in flash (pstore.c).
 *
 *     load:  newest valid flash slot (MCT_JOB_LOAD), then job parameters (MCT_JOB_PARAMS)
 *     train: per sample, read label and image straight into the arena's input, time
 *            mct_train_step with the cycle-exact timer, write loss / status / ticks / logits
 *     eval:  the same with mct_forward
 *     save:  every save_every steps and/or at the end (MCT_JOB_SAVE), only a finite set
 *     guard: a loss that turns non-finite or explodes (mct_guard) stops the job: the last
 *            saved parameters come back from flash, nothing is saved, exit MCT_EXIT_DIVERGED
 * All buffers are the model's own: no sample buffer, no parameter staging copy, no heap.
 */
#include "mct.h"
#include "mct_device.h"
#include "model.h"

static int mct__job = -1, mct__out = -1;

static void mct__fail(const char *msg, int code) {
  mct_sh_puts(msg);
  mct_dev_exit(code);
}

static void mct__get(void *dst, uint32_t n) {
  if (n && mct_sh_read(mct__job, dst, n) != 0) mct__fail("mct: job.bin ended early\n", MCT_EXIT_IO);
}

static void mct__put(const void *src, uint32_t n) {
  if (n && mct_sh_write(mct__out, src, n) != 0)
    mct__fail("mct: cannot write out.bin\n", MCT_EXIT_IO);
}

static void mct__record(uint32_t kind, uint32_t a, uint32_t b, uint32_t ticks) {
  const mct_record r = {kind, a, b, ticks};
  mct__put(&r, sizeof r);
}

static uint32_t mct__float_bits(float f) {
  union {
    float f;
    uint32_t u;
  } c;
  c.f = f;
  return c.u;
}

/* Overridden by the glue of a profiling build. */
__attribute__((weak)) void mct_dev_profile_write(void (*record)(uint32_t, uint32_t, uint32_t,
                                                               uint32_t)) {
  (void)record;
}

static mct_params_view mct__view(void) {
  mct_params_view v = {mct_dev_param_spans, mct_dev_n_param_spans, MCT_PARAMS_BYTES,
                       mct_dev_model_hash};
  return v;
}

/* Every float parameter finite: a diverged set is never written to flash. */
static int mct__params_finite(void) {
  for (int32_t i = 0; i < mct_dev_n_param_spans; ++i)
    if (mct_dev_param_is_float[i] &&
        !mct_all_finite_f32((int32_t)(mct_dev_param_spans[i].bytes / 4u),
                            (const float *)mct_dev_param_spans[i].ptr))
      return 0;
  return 1;
}

/* A divergence (`why`, MCT_GUARD_*): the newest valid flash slot back into the parameters
 * when there is one (else they stay as they are; nothing is saved either way), and the
 * record saying so. */
static void mct__diverged(int why, float loss, uint32_t sample, int flash_open) {
  const mct_params_view v = mct__view();
  mct_slot_header h;
  const int slot = flash_open ? mct_pstore_find(&v, &h) : -1;
  if (slot >= 0) {
    mct_set_params(mct_pstore_payload(slot));
    mct_set_step(h.step);
  }
  mct__record(MCT_REC_DIVERGED, (uint32_t)why | (uint32_t)(slot >= 0) << 8,
              mct__float_bits(loss), sample);
}

static void mct__save(void) {
  const mct_params_view v = mct__view();
  mct_slot_header h;
  const int target = mct_pstore_prepare(&v, mct_get_step(), &h);
  if (target < 0) mct__fail("mct: parameters do not fit a flash slot\n", MCT_EXIT_IO);
  mct__record(MCT_REC_SAVE0, h.seq, h.payload_crc, 0);
  const uint32_t t0 = mct_timer_now();
  if (mct_pstore_write(&v, target, &h) != 0) mct__fail("mct: flash write failed\n", MCT_EXIT_IO);
  mct__record(MCT_REC_SAVE, h.seq, h.payload_crc, t0 - mct_timer_now());
}

/* One sample: int32 label, then the int8 HWC image, read into the arena's input. */
static int32_t mct__sample(int8_t *dst) {
  int32_t label;
  mct__get(&label, 4);
  mct__get(dst, MCT_INPUT_BYTES);
  return label;
}

#define MCT_BARRIER() __asm__ volatile("" ::: "memory")

/* Timer ticks of exactly MCT_CALIB_INSNS instructions (under QEMU -icount the timer advances
 * with executed instructions, so this converts ticks into instructions). */
static uint32_t mct__calibrate(void) {
  uint32_t n = MCT_CALIB_LOOPS;
  const uint32_t t0 = mct_timer_now();
  __asm__ volatile("1:\n\tsubs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
  return t0 - mct_timer_now();
}

int main(void) {
  mct_timer_start();
  mct_job job;
  mct__job = mct_sh_open("job.bin", 1);
  mct__out = mct_sh_open("out.bin", 5);
  if (mct__job < 0 || mct__out < 0) mct__fail("mct: cannot open job.bin / out.bin\n", MCT_EXIT_IO);
  mct__get(&job, sizeof job);
  if (job.magic != MCT_JOB_MAGIC || job.version != MCT_PROTOCOL_VERSION ||
      job.model_hash != mct_dev_model_hash)
    mct__fail("mct: job.bin was written for another build\n", MCT_EXIT_JOB);
  const int need_flash = (job.flags & (MCT_JOB_LOAD | MCT_JOB_SAVE)) || job.save_every;
  if (need_flash && mct_flash_open("flash.bin") != 0)
    mct__fail("mct: cannot open flash.bin\n", MCT_EXIT_IO);
  mct_flash_set_cut(job.cut_after);
  if (job.flags & MCT_JOB_FAULT) __asm__ volatile("udf #0");

  mct_init();
  mct_out_header oh = {MCT_OUT_MAGIC, MCT_PROTOCOL_VERSION, MCT_NUM_CLASSES, MCT_PARAMS_BYTES,
                       0, 0, 0, mct_dev_stack_size(), mct__calibrate(), {0, 0, 0}};
  if (job.flags & MCT_JOB_LOAD) {
    const mct_params_view v = mct__view();
    mct_slot_header h;
    const int slot = mct_pstore_find(&v, &h);
    if (slot >= 0) { /* straight from memory-mapped flash */
      mct_set_params(mct_pstore_payload(slot));
      mct_set_step(h.step);
      oh.loaded = 1;
      oh.loaded_seq = h.seq;
    }
  }
  if (job.flags & MCT_JOB_PARAMS) { /* into the parameter tensors themselves */
    for (int32_t i = 0; i < mct_dev_n_param_spans; ++i)
      mct__get(mct_dev_param_spans[i].ptr, mct_dev_param_spans[i].bytes);
    mct_set_step(job.step);
    oh.loaded = 2;
  }
  if (job.lr > 0.0f) mct_set_lr(job.lr);
  oh.start_step = mct_get_step();
  mct__put(&oh, sizeof oh);

  const int logits = (job.flags & MCT_JOB_LOGITS) != 0;
  int saved_last = 0, diverged = 0;
  mct_guard guard;
#ifdef MCT_LOSS_MSE /* no uniform-guess level: the first window sets it (guard.c) */
  mct_guard_init(&guard, 0);
#else
  mct_guard_init(&guard, MCT_NUM_CLASSES);
#endif
  for (uint32_t i = 0; i < job.n_train && !diverged; ++i) {
    int8_t *x = mct_dev_train_input();
    const int32_t label = mct__sample(x);
    MCT_BARRIER();
    const uint32_t t0 = mct_timer_now();
    MCT_BARRIER();
    const float loss = mct_train_step(x, label);
    MCT_BARRIER();
    const uint32_t t1 = mct_timer_now();
    MCT_BARRIER();
    const int st = mct_status();
    mct__record(MCT_REC_TRAIN, (uint32_t)st, mct__float_bits(loss), t0 - t1);
    if (logits) mct__put(mct_logits(), 4u * MCT_NUM_CLASSES);
    if (st != 0) mct__fail("mct: a kernel failed in the training step\n", MCT_EXIT_KERNEL);
    saved_last = 0;
    diverged = mct_guard_step(&guard, loss);
    if (!diverged && job.save_every && (i + 1) % job.save_every == 0 && !mct__params_finite())
      diverged = MCT_GUARD_NONFINITE;
    if (diverged) { /* stop: the last saved parameters back, nothing saved, nothing more run */
      mct__diverged(diverged, loss, i, need_flash);
      break;
    }
    if (job.save_every && (i + 1) % job.save_every == 0) {
      mct__save();
      saved_last = 1;
    }
  }
  for (uint32_t i = 0; i < job.n_eval && !diverged; ++i) {
    int8_t *x = mct_dev_forward_input();
    (void)mct__sample(x);
    MCT_BARRIER();
    const uint32_t t0 = mct_timer_now();
    MCT_BARRIER();
    const int st = mct_forward(x, 0);
    MCT_BARRIER();
    const uint32_t t1 = mct_timer_now();
    MCT_BARRIER();
    mct__record(MCT_REC_EVAL, (uint32_t)st, 0, t0 - t1);
    if (logits) mct__put(mct_logits(), 4u * MCT_NUM_CLASSES);
    if (st != 0) mct__fail("mct: a kernel failed in the forward\n", MCT_EXIT_KERNEL);
  }
  if ((job.flags & MCT_JOB_SAVE) && !saved_last && !diverged) {
    if (mct__params_finite())
      mct__save();
    else { /* finite losses, yet a non-finite parameter: never persisted */
      diverged = MCT_GUARD_NONFINITE;
      mct__diverged(diverged, 0.0f, job.n_train, need_flash);
    }
  }
  mct_dev_profile_write(mct__record);
  mct__record(MCT_REC_END, mct_get_step(), mct_dev_stack_high_water(), 0);
  if (job.flags & MCT_JOB_DUMP)
    for (int32_t i = 0; i < mct_dev_n_param_spans; ++i)
      mct__put(mct_dev_param_spans[i].ptr, mct_dev_param_spans[i].bytes);
  mct_sh_close(mct__out);
  mct_sh_close(mct__job);
  return diverged ? MCT_EXIT_DIVERGED : MCT_EXIT_OK;
}
