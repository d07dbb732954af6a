/* pstore.c: trained parameters persisted in flash as two alternating slots.
 *
 * Slot layout (link.ld reserves 2 x __pstore_slot_bytes at the top of the flash budget):
 *     [mct_slot_header, 32 B][payload: the packed parameters, MCT_PARAMS_BYTES][erased rest]
 * A save goes to the slot that does NOT hold the newest valid copy, in this order:
 *     1. erase the slot from its start (the header goes first),
 *     2. program the payload,
 *     3. program the header (seq = newest + 1, CRCs) last.
 * A power cut at any moment leaves that slot without a valid header (erased, or half written:
 * its header CRC fails), so the other slot, the last complete copy, stays the newest valid
 * one. A slot is valid only when its magic, model hash, size, header CRC and payload CRC all
 * match: a corrupt slot is never loaded.
 *
 * Flash driver: on the emulated board the region is ordinary memory. mct__flash_write() is
 * the port point: it changes the region page by page and mirrors each page into the host
 * file flash.bin (semihosting), which the emulator loads back into the region at its next
 * start. On a real MCU it becomes the vendor's erase/program calls.
 */
#include "mct_device.h"

#include <stddef.h>

#define MCT_FLASH_PAGE 256u
#define MCT_HDR_BYTES ((uint32_t)sizeof(mct_slot_header))

extern uint8_t __pstore_start[];
extern uint8_t __pstore_slot_bytes[]; /* an absolute symbol: its address is the size */

static int mct__fd = -1;
static uint32_t mct__cut_after, mct__touched;

static uint32_t mct__slot_bytes(void) { return (uint32_t)(uintptr_t)__pstore_slot_bytes; }
static uint8_t *mct__slot(int s) { return __pstore_start + (uint32_t)s * mct__slot_bytes(); }

/* CRC-32 (IEEE 802.3, reflected, as zlib.crc32), a nibble at a time: 64 bytes of table. */
uint32_t mct_crc32(uint32_t crc, const void *data, uint32_t n) {
  static const uint32_t t[16] = {
      0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
      0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
      0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
  const uint8_t *p = (const uint8_t *)data;
  crc = ~crc;
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= p[i];
    crc = (crc >> 4) ^ t[crc & 15u];
    crc = (crc >> 4) ^ t[crc & 15u];
  }
  return ~crc;
}

int mct_flash_open(const char *image_name) {
  mct__fd = mct_sh_open(image_name, 3); /* "r+b": update in place, never truncate */
  return mct__fd < 0 ? -1 : 0;
}

void mct_flash_set_cut(uint32_t after_bytes) { mct__cut_after = after_bytes; }

/* Erase (src NULL: 0xFF) or program n bytes at offset `off` of the region, page by page, each
 * page mirrored to the image file. The simulated power cut stops part way through a page. */
static int mct__flash_write(uint32_t off, const uint8_t *src, uint32_t n) {
  uint8_t *base = __pstore_start;
  while (n > 0) {
    uint32_t k = MCT_FLASH_PAGE - (off % MCT_FLASH_PAGE);
    if (k > n) k = n;
    int cut = 0;
    if (mct__cut_after && mct__touched + k >= mct__cut_after) {
      k = mct__cut_after - mct__touched;
      cut = 1;
    }
    for (uint32_t i = 0; i < k; ++i) base[off + i] = src ? src[i] : 0xFFu;
    if (k && (mct_sh_seek(mct__fd, off) != 0 || mct_sh_write(mct__fd, base + off, k) != 0))
      return -1;
    mct__touched += k;
    if (cut) {
      mct_sh_close(mct__fd);
      mct_sh_puts("mct: simulated power cut during a flash write\n");
      mct_sh_exit(MCT_EXIT_POWER_CUT);
    }
    off += k;
    n -= k;
    if (src) src += k;
  }
  return 0;
}

static uint32_t mct__payload_crc(const mct_params_view *v) {
  uint32_t crc = 0;
  for (int32_t i = 0; i < v->n_spans; ++i) crc = mct_crc32(crc, v->spans[i].ptr, v->spans[i].bytes);
  return crc;
}

static int mct__slot_valid(const mct_params_view *v, int s, mct_slot_header *out) {
  const mct_slot_header *h = (const mct_slot_header *)mct__slot(s);
  if (h->magic != MCT_SLOT_MAGIC || h->model_hash != v->model_hash ||
      h->payload_bytes != v->payload_bytes || MCT_HDR_BYTES + h->payload_bytes > mct__slot_bytes())
    return 0;
  if (mct_crc32(0, h, MCT_HDR_BYTES - 4) != h->header_crc) return 0;
  if (mct_crc32(0, (const uint8_t *)h + MCT_HDR_BYTES, h->payload_bytes) != h->payload_crc)
    return 0;
  *out = *h;
  return 1;
}

int mct_pstore_find(const mct_params_view *v, mct_slot_header *hdr) {
  mct_slot_header h[2];
  const int ok0 = mct__slot_valid(v, 0, &h[0]), ok1 = mct__slot_valid(v, 1, &h[1]);
  int best = -1;
  if (ok0 && ok1)
    best = (int32_t)(h[1].seq - h[0].seq) > 0 ? 1 : 0; /* serial-number order: wraps safely */
  else if (ok0 || ok1)
    best = ok0 ? 0 : 1;
  if (best >= 0 && hdr) *hdr = h[best];
  return best;
}

const uint8_t *mct_pstore_payload(int slot) { return mct__slot(slot) + MCT_HDR_BYTES; }

int mct_pstore_prepare(const mct_params_view *v, uint32_t step, mct_slot_header *h) {
  if (MCT_HDR_BYTES + v->payload_bytes > mct__slot_bytes()) return -1;
  mct_slot_header cur;
  const int newest = mct_pstore_find(v, &cur);
  h->magic = MCT_SLOT_MAGIC;
  h->seq = newest >= 0 ? cur.seq + 1u : 1u;
  if (h->seq == 0) h->seq = 1;
  h->model_hash = v->model_hash;
  h->payload_bytes = v->payload_bytes;
  h->step = step;
  h->payload_crc = mct__payload_crc(v);
  h->reserved = 0;
  h->header_crc = mct_crc32(0, h, MCT_HDR_BYTES - 4);
  return newest == 0 ? 1 : 0;
}

int mct_pstore_write(const mct_params_view *v, int target, const mct_slot_header *h) {
  if (mct__fd < 0 || target < 0 || target > 1) return -1;
  const uint32_t base = (uint32_t)target * mct__slot_bytes();
  if (mct__flash_write(base, NULL, mct__slot_bytes()) != 0) return -1; /* 1. erase */
  uint32_t off = base + MCT_HDR_BYTES;
  for (int32_t i = 0; i < v->n_spans; ++i) { /* 2. payload, straight from the RAM tensors */
    if (mct__flash_write(off, v->spans[i].ptr, v->spans[i].bytes) != 0) return -1;
    off += v->spans[i].bytes;
  }
  return mct__flash_write(base, (const uint8_t *)h, MCT_HDR_BYTES); /* 3. header, last */
}
