"""Generate the width-unrolled inline-assembly kernels of runtime/src/grad_arm.c (dev-time).

    python tools/gen_arm_asm.py           # writes mcutrain/runtime/src/grad_arm_asm.h
    python tools/gen_arm_asm.py --check   # exit 1 when the committed file is not current

The Cortex-M float-gradient kernels come in families that differ only by how many channels,
pixels or gradients one call keeps in registers (mct__gs1 .. mct__gs6c, mct__gwr1 ..
mct__gwr15, ...). Each family is written once here, as a Python function of its width that
returns the C text of one kernel; the output is committed (the device build needs no Python)
and tests/runtime/test_generated_asm.py checks that it is what this script writes.

Every kernel's comment states its contract: what it computes, the registers it reads and
clobbers (VFP s-registers and core registers), and the memory it reads and writes. The
instructions are the hand-written ones they replace, so the object code is the same.
"""
from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "mcutrain" / "runtime" / "src" / "grad_arm_asm.h"


# ---- helpers ---------------------------------------------------------------------------------

def sr(a: int, b: int | None = None) -> str:
    """The VFP register list {sa-sb} (one register: {sa})."""
    return f"{{s{a}}}" if b is None or b == a else f"{{s{a}-s{b}}}"


class Macro(str):
    """A group that is a C macro of asm text (defined by macro_def), used by name."""


def fit(groups: list, width: int = 80) -> list:
    """Groups of instructions whose C literal would pass width columns, halved until none do."""
    out = []
    for g in groups:
        if isinstance(g, list) and len(g) > 1 and sum(len(i) + 4 for i in g) > width:
            h = (len(g) + 1) // 2
            out += fit([g[:h], g[h:]], width)
        else:
            out.append(g)
    return out


def asm_lines(groups: list) -> list:
    """C string literals, one per group of instructions (the last without a separator);
    a Macro stands as its name (its text ends with the separator)."""
    out, groups = [], fit(groups)
    for i, g in enumerate(groups):
        if isinstance(g, Macro):
            out.append(str(g))
            continue
        body = "\\n\\t".join(g if isinstance(g, list) else [g])
        out.append(f'"{body}' + ('"' if i == len(groups) - 1 else '\\n\\t"'))
    return out


def macro_def(name: str, doc: str, groups: list, params: tuple = ()) -> str:
    """#define name(params) as the asm text of groups (every group ending with its separator);
    @P@ in the text stands for the parameter P (a register name, stringized)."""
    body = ['  "' + "\\n\\t".join(g if isinstance(g, list) else [g]) + '\\n\\t"'
            for g in fit(groups)]
    for prm in params:
        body = [ln.replace(f"@{prm}@", f'" #{prm} "') for ln in body]
    text = [f"#define {name}" + (f"({', '.join(params)})" if params else "")] + body
    width = max(len(t) for t in text) + 1
    out = [t.ljust(width) + "\\" for t in text[:-1]] + [text[-1]]
    return comment(doc) + "\n" + "\n".join(out)


def clobbers(regs: list) -> list:
    """The clobber list, wrapped at 96 columns."""
    items = [f'"{r}"' for r in regs] + ['"cc"', '"memory"']
    lines, cur = [], ""
    for it in items:
        nxt = f"{cur}, {it}" if cur else it
        if len(nxt) > 86:
            lines.append(cur + ",")
            cur = it
        else:
            cur = nxt
    return lines + [cur]


def sregs(a: int, b: int) -> list:
    return [f"s{i}" for i in range(a, b + 1)]


def asm_block(groups: list, outs: str, ins: str, clob: list, indent: str = "  ") -> str:
    """An `__asm__ volatile` statement: instruction groups, operands, clobbers."""
    i2 = indent + "    "
    text = [f"{indent}__asm__ volatile("]
    text += [i2 + ln for ln in asm_lines(groups)]
    text.append(f"{i2}: {outs}".rstrip())
    text.append(f"{i2}: {ins}".rstrip())
    cl = clobbers(clob)
    text.append(f"{i2}: {cl[0]}")
    text += [f"{i2}  {ln}" for ln in cl[1:]]
    text[-1] += ");"
    return "\n".join(text)


def comment(text: str, indent: str = "") -> str:
    """A C block comment of the given lines (already wrapped)."""
    lines = [w for ln in text.strip("\n").split("\n")
             for w in (textwrap.wrap(ln, 92) if len(ln) > 92 else [ln])]
    out = [f"{indent}/* {lines[0]}"] + [f"{indent} * {ln}".rstrip() for ln in lines[1:]]
    out[-1] += " */"
    return "\n".join(out)


def table(ctype: str, name: str, fns: list) -> str:
    """static const ctype name[n] = {0, fn1, fn2, ...}: entry i is the kernel of width i."""
    head = f"static const {ctype} {name}[{len(fns) + 1}] = {{"
    items, lines, cur = ["0"] + fns, [], head
    for i, it in enumerate(items):
        piece = it + ("," if i < len(items) - 1 else "};")
        if len(cur) + 1 + len(piece) > 96:
            lines.append(cur.rstrip())
            cur = " " * len(head) + piece
        else:
            cur = cur + ("" if cur.endswith("{") or cur.endswith(" ") else " ") + piece
    return "\n".join(lines + [cur])


# ---- K x 4 streaming kernels: mct__gs<K>, mct__gs<K>c ------------------------------------------

GS_DOC = """\
---- K x 4 streaming kernels: mct__gs<K> (K = 1..5), mct__gs<K>c (K = 1..6) ---------------

a[p][0..4) += g[p][k] * w[k][0..4) for k = 0, ..., K - 1 in that order, p < np (np >= 1), for
each tile of four columns c = 0, 4, ... < n4: the K x 4 int8 weights converted to float once
per tile and kept in registers, then per pixel its four partial sums and K gradients loaded
(VLDM), K x 4 VMLAs, the sums stored back (VSTM). Two pixels per pass (an odd first one
alone). The "c" kernels read consecutive gradient rows (gs = K * 4) with writeback.

Contract (every mct__gs kernel): r0 = P, the only operand; the asm reads its fields by the
offsets below. Clobbers r1-r12, lr, the s-registers listed in each, flags. Reads P, rows[k][0
.. n4) and the np gradient rows; reads and writes x[p][0..n4) (rows as bytes apart). Core
registers: r1 gradient row, r2 pixel pairs left, r3 row of x, r4.. weight row k (advances 4
bytes a tile), lr the tile's column in x (r0 + 20 .. end); two byte temporaries; r11 gs, r12
as. VFP: s0-s3 the four sums, s4.. the pixel's gradients, the weights from s12 (K <= 5) or
s8 (K = 6) up, tile column u of row k in s(base + 4 k + u)."""


def gs_kernel(K: int, consecutive: bool) -> str:
    wb = 12 if K <= 5 else 8            # first weight register
    t0, t1 = ("r9", "r10") if K <= 5 else ("r10", "r11")
    G = K if K <= 5 else 3              # gradients per VLDM
    assert consecutive or K <= 5
    name = f"mct__gs{K}{'c' if consecutive else ''}"
    head = [f"ldr {t0}, [r0, #24]",
            f"ldr r4, [{t0}]" if K == 1 else f"ldmia {t0}, {{r4-r{3 + K}}}",
            "ldrd r11, r12, [r0, #12]" if K <= 5 else "ldr r12, [r0, #16]",
            "ldr lr, [r0, #20]"]
    g = head + ["4:", "ldmia r0, {r1, r2}", "mov r3, lr"]
    for k in range(K):
        for h in (0, 1):
            a = wb + 4 * k + 2 * h
            g.append([f"ldrsb {t0}, [r{4 + k}], #1", f"ldrsb {t1}, [r{4 + k}], #1",
                      f"vmov s{a}, s{a + 1}, {t0}, {t1}"])
    for i in range(0, 4 * K, 2):
        g.append([f"vcvt.f32.s32 s{wb + i}, s{wb + i}",
                  f"vcvt.f32.s32 s{wb + i + 1}, s{wb + i + 1}"])

    def pixel() -> list:
        p = ["vldmia r3, {s0-s3}"]
        for c0 in range(0, K, G):
            n = min(G, K - c0)
            p.append(f"vldmia r1!, {sr(4, 3 + n)}" if consecutive else
                     [f"vldmia r1, {sr(4, 3 + n)}", "add r1, r1, r11"])
            for j in range(n):
                w = wb + 4 * (c0 + j)
                p.append([f"vmla.f32 s{u}, s{4 + j}, s{w + u}" for u in range(4)])
        p.append(["vstmia r3, {s0-s3}", "add r3, r3, r12"])
        return p

    px = Macro(f"MCT__GS{K}{'C' if consecutive else ''}_PIXEL")
    g += [["lsrs r2, r2, #1", "bcc 2f"], px, ["cmp r2, #0", "beq 3f"], "2:", px, px]
    g += [["subs r2, r2, #1", "bne 2b"], "3:",
          ["add lr, lr, #16", f"ldr {t0}, [r0, #8]", f"cmp lr, {t0}", "bne 4b"]]
    clob = ([f"r{i}" for i in range(1, 13)] + ["lr"] + sregs(0, 3 + G) +
            sregs(wb, wb + 4 * K - 1))
    doc = (f"K = {K}: weights s{wb}-s{wb + 4 * K - 1}, gradients {sr(4, 3 + G)[1:-1]}, "
           f"byte temporaries {t0}, {t1};\n" +
           ("gradients consecutive, read with writeback" +
            (", three per VLDM" if K == 6 else "") + " (gs unused)"
            if consecutive else "gradient rows gs bytes apart") + "; the family's contract above")
    return "\n".join([
        comment(doc),
        macro_def(px, "one pixel: its sums (r3) += its gradients (r1, moved on) x the tile",
                  pixel()),
        f"static __attribute__((noinline)) void {name}(const mct__gsa *P) {{",
        '  register const mct__gsa *p __asm__("r0") = P;',
        asm_block(g, "", '"r"(p)', clob), "}", f"#undef {px}"])


def gs_family() -> str:
    parts = [comment(GS_DOC), """\
typedef struct {
  const float *g; /* 0: the first pixel's K gradients */
  int32_t np;     /* 4: pixels (>= 1) */
  float *end;     /* 8: x + n4 */
  int32_t gs, as; /* 12, 16: bytes between gradient rows, between rows of x */
  float *x;       /* 20 */
  const int8_t *const *rows; /* 24: the K weight rows (their columns 0, 1, ...) */
} mct__gsa;"""]
    parts += [gs_kernel(K, False) for K in range(1, 6)]
    parts += [gs_kernel(K, True) for K in range(1, 7)]
    parts.append("typedef void (*mct__gs_fn)(const mct__gsa *);\n" +
                 table("mct__gs_fn", "mct__gs_k", [f"mct__gs{K}" for K in range(1, 6)]) + "\n" +
                 table("mct__gs_fn", "mct__gs_kc", [f"mct__gs{K}c" for K in range(1, 7)]))
    return "\n\n".join(parts)


# ---- few pixels, sums in registers: mct__ra<P>_<Q> ----------------------------------------------

RA_DOC = """\
---- few pixels, sums held in registers: mct__ra<P>_<Q> -----------------------------------

x[p][c + j] = sum over o < n, in order, of g[o * P + p] * w[o * wst + j] for p < P, j < Q
(n >= 1): the P x Q sums start at +0 (loaded from mct__zeros) and stay in s0..s23 (pixel p,
column j in s(p Q + j)); per o the P gradients (one VLDM, s24..) and Q weights (converted
four at a time into s28-s31), then the P * Q VMLAs. Rows of x xst bytes apart.
Contract: operands g, w, n, x (advanced), wst, xst, mct__zeros; clobbers r4, r5, the sums,
s24.., s28-s31, flags. Reads g[0 .. n P), w[o * wst + 0 .. Q) for o < n; writes x's P rows
of Q floats."""

RA_WIDTHS = [(1, 16), (1, 8), (1, 4), (2, 8), (2, 4), (3, 8), (3, 4), (4, 4)]


def ra_kernel(P: int, Q: int) -> str:
    n = P * Q
    g = [f"vldmia %[z], {sr(0, min(n, 16) - 1)}"]
    if n > 16:
        g.append(f"vldmia %[z], {sr(16, n - 1)}")
    g += ["1:", f"vldmia %[g]!, {sr(24, 23 + P)}"]
    for t in range(Q // 4):
        b = 4 * t
        g += [[f"ldrsb r4, [%[w], #{b}]", f"ldrsb r5, [%[w], #{b + 1}]", "vmov s28, s29, r4, r5"],
              [f"ldrsb r4, [%[w], #{b + 2}]", f"ldrsb r5, [%[w], #{b + 3}]",
               "vmov s30, s31, r4, r5"],
              [f"vcvt.f32.s32 s{r}, s{r}" for r in range(28, 32)]]
        for p in range(P):
            g.append([f"vmla.f32 s{p * Q + b + u}, s{24 + p}, s{28 + u}" for u in range(4)])
    g += ["add %[w], %[w], %[wst]", "subs %[n], %[n], #1", "bne 1b"]
    for p in range(P):
        st = f"vstmia %[x], {sr(p * Q, p * Q + Q - 1)}"
        g.append([st, "add %[x], %[x], %[xst]"] if p < P - 1 else st)
    clob = ["r4", "r5"] + sregs(0, n - 1) + sregs(24, 23 + P) + sregs(28, 31)
    return "\n".join([
        comment(f"P = {P}, Q = {Q}: sums s0-s{n - 1}, gradients {sr(24, 23 + P)[1:-1]}; "
                "the family's contract above"),
        f"static void mct__ra{P}_{Q}(const float *g, const int8_t *w, int32_t wst, int32_t n, "
        f"float *x,\n{' ' * (len(f'static void mct__ra{P}_{Q}('))}int32_t xst) {{",
        asm_block(g, '[g] "+r"(g), [w] "+r"(w), [n] "+r"(n), [x] "+r"(x)',
                  '[wst] "r"(wst), [xst] "r"(xst), [z] "r"(mct__zeros)', clob), "}"])


def ra_family() -> str:
    return "\n\n".join([comment(RA_DOC)] + [ra_kernel(P, Q) for P, Q in RA_WIDTHS] +
                       ["typedef void (*mct__ra_fn)(const float *, const int8_t *, int32_t, "
                        "int32_t, float *, int32_t);"])


# ---- weight gradient, one output channel: mct__gw<NB> -------------------------------------------

GW_DOC = """\
---- weight gradient of a 1x1 conv, one output channel: mct__gw<NB> ------------------------

out[j] = (sum over k < n, in order, of gv[k] * lut[xl[k][c + j]]) * s for j < NB (n >= 1):
the NB sums start at +0 (loaded from mct__zeros) in s0.., each x - x_zero one LDRSB and one
table LDR (lut as raw float bits), two at a time into s(NB + 1), s(NB + 2); the gradient in
s(NB). Contract: operands xl, gv, n (advanced), c, lut, s (any s-register), out, mct__zeros;
clobbers r4-r6, s0-s(NB + 2), flags. Reads xl[0 .. n), gv[0 .. n), xl[k][c .. c + NB),
lut[-255 .. 256]; writes out[0 .. NB)."""


def gw_kernel(NB: int) -> str:
    gr, a, b = NB, NB + 1, NB + 2
    g = [f"vldmia %[z], {sr(0, NB - 1)}", "1:",
         ["ldr r6, [%[xl]], #4", f"vldmia %[gv]!, {sr(gr)}", "add r6, r6, %[c]"]]
    for j in range(0, NB, 2):
        g += [[f"ldrsb r4, [r6, #{j}]", f"ldrsb r5, [r6, #{j + 1}]",
               "ldr r4, [%[lut], r4, lsl #2]"],
              ["ldr r5, [%[lut], r5, lsl #2]", f"vmov s{a}, s{b}, r4, r5"],
              [f"vmla.f32 s{j}, s{gr}, s{a}", f"vmla.f32 s{j + 1}, s{gr}, s{b}"]]
    g += ["subs %[n], %[n], #1", "bne 1b"]
    g += [[f"vmul.f32 s{i + u}, s{i + u}, %[s]" for u in range(4)] for i in range(0, NB, 4)]
    g.append(f"vstmia %[out], {sr(0, NB - 1)}")
    return "\n".join([
        comment(f"NB = {NB}: sums s0-s{NB - 1}, gradient s{gr}, x - x_zero s{a}, s{b}; the "
                "family's contract above"),
        f"static void mct__gw{NB}(const int8_t *const *xl, const float *gv, int32_t n, "
        f"int32_t c,\n{' ' * len(f'static void mct__gw{NB}(')}const float *lut, float s, "
        "float *out) {",
        asm_block(g, '[xl] "+r"(xl), [gv] "+r"(gv), [n] "+r"(n)',
                  '[c] "r"(c), [lut] "r"(lut), [s] "t"(s), [out] "r"(out), [z] "r"(mct__zeros)',
                  ["r4", "r5", "r6"] + sregs(0, NB + 2)), "}"])


# ---- weight gradient, several output channels: mct__gwr<B> -------------------------------------

GWR_DOC = """\
---- weight gradient of a 1x1 conv, several output channels: mct__gwr<B> (B = 1..15) -------

Pixel-major: the sums gw[k][c] of rows r0 + k live in gw itself (from +0); pixel by pixel,
the rows whose gradient G[p][r0 + k] is not +-0 are listed (bits, row address), then for
each block of at most 15 channels the pixel's x - x_zero are converted once into s16..s30
and every listed row adds G * x to its block (VLDM, VMLAs, VSTM). Each gw[k][c] thus
receives the products of the per-row kernel in the same order (pixels ascending, zero G
skipped), each one VMLA (product rounded, then added); the scaling by x_scale * w_scale
comes last, as there. mct__gwr<B> does m >= 1 consecutive blocks of B channels, the first
at x (the pixel's x + its channel); l holds 2n >= 2 (G bits, tag) entries, two per pass, the
block of a row at tag * L + off (mod 2^32; off advances by the block's bytes). An odd list
is padded with (+0, the first tag), whose +-0 products change no sum (a sum from +0 is
never -0).
Contract: operands x, off, m (advanced), lut, l, n, L; clobbers r4-r9 (r6 list cursor, r7
pairs left, r4/r8 G bits, r5/r9 block address), s0-s(B - 1) the block's sums, s15 the G,
s16-s(15 + B) the block's x - x_zero, flags. Reads x[0 .. m B), lut, l[0 .. 4 n); reads and
writes the m B floats of every listed row's blocks."""


def gwr_kernel(B: int) -> str:
    g = ["2:"]
    for j in range(0, B - 1, 2):
        g += [[f"ldrsb r4, [%[x], #{j}]", f"ldrsb r5, [%[x], #{j + 1}]"],
              ["ldr r4, [%[lut], r4, lsl #2]", "ldr r5, [%[lut], r5, lsl #2]",
               f"vmov s{16 + j}, s{17 + j}, r4, r5"]]
    if B % 2:
        g.append([f"ldrsb r4, [%[x], #{B - 1}]", "ldr r4, [%[lut], r4, lsl #2]",
                  f"vmov s{15 + B}, r4"])
    g += [["mov r6, %[l]", "mov r7, %[n]"], "1:", "ldmia r6!, {r4, r5, r8, r9}"]
    row = [["vmov s15, @G@", "mla @A@, @A@, %[L], %[off]"], f"vldmia @A@, {sr(0, B - 1)}"]
    row += [[f"vmla.f32 s{i}, s15, s{16 + i}" for i in range(i0, min(i0 + 4, B))]
            for i0 in range(0, B, 4)]
    row.append(f"vstmia @A@, {sr(0, B - 1)}")
    mrow = f"MCT__GWR{B}_ROW"
    g += [Macro(f"{mrow}(r4, r5)"), Macro(f"{mrow}(r8, r9)")]
    g += [["subs r7, r7, #1", "bne 1b"],
          [f"adds %[x], %[x], #{B}", f"adds %[off], %[off], #{4 * B}"],
          ["subs %[m], %[m], #1", "bne 2b"]]
    return "\n".join([
        comment(f"B = {B}: sums s0-s{B - 1} (a block), x - x_zero s16-s{15 + B}; the family's "
                "contract above"),
        macro_def(mrow, "one listed row: its block (at address A = tag * L + off) += G x, G's "
                  "bits in G", row, ("G", "A")),
        f"static void mct__gwr{B}(const int8_t *x, const float *lut, const uint32_t *l, "
        f"int32_t n,\n{' ' * len(f'static void mct__gwr{B}(')}uint32_t off, int32_t m, "
        "int32_t L) {",
        asm_block(g, '[x] "+r"(x), [off] "+r"(off), [m] "+r"(m)',
                  '[lut] "r"(lut), [l] "r"(l), [n] "r"(n), [L] "r"(L)',
                  ["r4", "r5", "r6", "r7", "r8", "r9"] + sregs(0, B - 1) + ["s15"] +
                  sregs(16, 15 + B)), "}", f"#undef {mrow}"])


def gwr_family() -> str:
    return "\n\n".join(
        [comment(GWR_DOC)] + [gwr_kernel(B) for B in range(1, 16)] +
        ["typedef void (*mct__gwr_fn)(const int8_t *, const float *, const uint32_t *, int32_t, "
         "uint32_t,\n                            int32_t, int32_t);\n" +
         table("mct__gwr_fn", "mct__gwr_k", [f"mct__gwr{B}" for B in range(1, 16)])])


# ---- depthwise input gradient: mct__dw_pix_s<S>, mct__dw_line_s<S> ----------------------------

DW_DOC = """\
---- depthwise input gradient, eight channels: mct__dw_pix_s<S>, mct__dw_line_s<S> ---------

A tap (one output pixel's eight gradients times one kernel tap's eight weights, both float,
[..][8]) is two VLDMs (gradients ascending, r8!; weights descending, VLDMDB r9!) and eight
VMLAs into the sums s0-s7; stride 2 (S = 2) skips every other tap's weights (SUB r9, #32).

mct__dw_pix_s<S>: s0..s7 = sum over rows r < nrows, taps t < ntaps of g[r][t][0..8) *
w[r][t][0..8), stored to k->dst. Contract: operands g, w, nrows (advanced), k (mct__dwk,
read by LDM: grow, wrow, ntaps, dst into r4-r7), mct__zeros; clobbers r4-r10 (r8/r9 tap
cursors, r10 taps left), s0-s23, flags. Reads the taps; writes dst[0..8)."""

DWL_DOC = """\
mct__dw_line_s<S>: one input row of a block of eight channels: per input pixel its table
entry (gradient and weight byte offsets of its first tap, minus the code bytes of its taps),
then its rows (nrows, the same for the whole input row) through the taps unrolled
MCT__DWL_KW times and entered at the pixel's first tap (BX into the unrolled code: a tap is
MCT__DWL_TAP_S<S> bytes of code, which mct__dwg_blocks' table relies on), the sums stored to
dst (cstride bytes apart). The taps and rows in the order of mct__dw_pix_s<S>.
Contract: r0 = P (mct__dwl, its fields read by offset), the only operand; clobbers r1-r12,
lr, s0-s23, flags. r1 table cursor, r2 dst, r3 grow, r4 wrow, r5 nrows, r6 the address
after the unrolled taps (+1: Thumb), r7 pixels left, r8/r9 tap cursors, r10 entry point,
r11 rows left, r12/lr the row's first tap. Reads P, the table, the gradients and weights;
writes dst's w pixels of eight floats."""

DW_TAP = ["vldmia r8!, {s8-s15}", "vldmdb r9!, {s16-s23}"]
DW_VMLA = [[f"vmla.f32 s{i}, s{8 + i}, s{16 + i}" for i in range(j, min(j + 3, 8))]
           for j in (0, 3, 6)]


def dw_pix(S: int) -> str:
    g = ["ldmia %[k], {r4-r7}", "vldmia %[z], {s0-s7}", "2:",
         ["mov r8, %[g]", "mov r9, %[w]", "mov r10, r6"], "1:"] + DW_TAP
    g += (["sub r9, r9, #32"] if S == 2 else []) + DW_VMLA
    g += ["subs r10, r10, #1", "bne 1b", ["add %[g], %[g], r4", "add %[w], %[w], r5"],
          "subs %[n], %[n], #1", "bne 2b", "vstmia r7, {s0-s7}"]
    return "\n".join([
        comment(f"S = {S}; the contract above"),
        f"static void mct__dw_pix_s{S}(const float *g, const float *w, int32_t nrows, "
        "const mct__dwk *k) {",
        asm_block(g, '[g] "+r"(g), [w] "+r"(w), [n] "+r"(nrows)', '[k] "r"(k), [z] "r"(mct__zeros)',
                  [f"r{i}" for i in range(4, 11)] + sregs(0, 23)), "}"])


def dw_line(S: int) -> str:
    g = ["ldmia r0, {r1, r2, r3, r4, r5, r7}", "adr.w r6, 5f", "adds r6, r6, #1", "4:",
         "ldmia r1!, {r8, r9, r10}", ["add r12, r3, r8", "add lr, r4, r9", "add r10, r10, r6"],
         ["ldr r8, [r0, #36]", "vldmia r8, {s0-s7}"], "mov r11, r5", "3:",
         ["mov r8, r12", "mov r9, lr", "bx r10"]]
    tap = Macro(f"MCT__DWL_TAP{S}")
    g += [tap] * 7
    g += ["5:", "ldrd r8, r9, [r0, #24]", ["add r12, r12, r8", "add lr, lr, r9"],
          ["subs r11, r11, #1", "bne 3b"], "vstmia r2, {s0-s7}",
          ["ldr r8, [r0, #32]", "add r2, r2, r8"], ["subs r7, r7, #1", "bne 4b"]]
    return "\n".join([
        comment(f"S = {S}; the contract above"),
        macro_def(tap, f"one tap (MCT__DWL_TAP_S{S} bytes of code)",
                  DW_TAP + (["sub.w r9, r9, #32"] if S == 2 else []) + DW_VMLA),
        f"static __attribute__((noinline)) void mct__dw_line_s{S}(const mct__dwl *P) {{",
        '  register const mct__dwl *p __asm__("r0") = P;',
        asm_block(g, "", '"r"(p)', [f"r{i}" for i in range(1, 13)] + ["lr"] + sregs(0, 23)),
        "}", f"#undef {tap}"])


def dw_family() -> str:
    return "\n\n".join([
        comment(DW_DOC), """\
typedef struct {
  int32_t grow, wrow, ntaps; /* bytes between rows' first taps (gradients, weights), taps */
  float *dst;
} mct__dwk;""", dw_pix(1), dw_pix(2), comment(DWL_DOC), """\
typedef struct {
  const int32_t *tab;     /* 0: per input pixel {g offset, w offset, -(taps * tap code bytes)} */
  float *dst;             /* 4 */
  const float *grow;      /* 8: the gradients of the row's first output row */
  const float *wrow;      /* 12: the taps of kernel row i (see mct__dwg_block8) */
  int32_t nrows, w;       /* 16, 20: output rows, input pixels (>= 1 each) */
  int32_t gstride, wstride, cstride; /* 24, 28, 32: bytes per output row, kernel row, pixel */
  const float *zeros;     /* 36 */
} mct__dwl;

#define MCT__DWL_KW 7     /* kernel width of the unrolled taps */
#define MCT__DWL_TAP_S1 40 /* code bytes of one unrolled tap: 2 VLDMs, 8 VMLAs */
#define MCT__DWL_TAP_S2 44 /* and a SUB.W */""", dw_line(1), dw_line(2)])


# ---- bias gradient: mct__bg<NB> ------------------------------------------------------------

BG_DOC = """\
---- bias gradient: mct__bg<NB> -----------------------------------------------------------

gb[j] = (+0 + g[0][j] + g[1][j] + ... + g[hw - 1][j]) * bs[j] for j < NB (without bs: not
scaled), g rows stride bytes apart (hw >= 1): the portable additions in pixel order, the NB
sums in s0.., each row's NB gradients loaded by one VLDM into s16...
Contract: operands g, hw (advanced), stride, bs (or NULL), gb, mct__zeros; clobbers s0-s(NB
- 1), s16-s(15 + NB), flags. Reads g's hw rows of NB floats and bs[0 .. NB); writes gb[0 ..
NB)."""


def bg_kernel(NB: int) -> str:
    def row(op):
        return [[f"{op}.f32 s{i + u}, s{i + u}, s{16 + i + u}" for u in range(4)]
                for i in range(0, NB, 4)]
    g = [f"vldmia %[z], {sr(0, NB - 1)}", "1:", f"vldmia %[g], {sr(16, 15 + NB)}",
         "add %[g], %[g], %[st]"] + row("vadd")
    g += ["subs %[n], %[n], #1", "bne 1b", ["cmp %[bs], #0", "beq 2f"],
          f"vldmia %[bs], {sr(16, 15 + NB)}"] + row("vmul")
    g += ["2:", f"vstmia %[gb], {sr(0, NB - 1)}"]
    return "\n".join([
        comment(f"NB = {NB}: sums s0-s{NB - 1}, a row s16-s{15 + NB}; the family's contract "
                "above"),
        f"static void mct__bg{NB}(const float *g, int32_t stride, int32_t hw, const float *bs, "
        "float *gb) {",
        asm_block(g, '[g] "+r"(g), [n] "+r"(hw)',
                  '[st] "r"(stride), [bs] "r"(bs), [gb] "r"(gb), [z] "r"(mct__zeros)',
                  sregs(0, NB - 1) + sregs(16, 15 + NB)), "}"])


# ---- gradient gathers: mct__gather<K> --------------------------------------------------------

GATHER_DOC = """\
---- gradient gathers: mct__gather<K> (K = 5, 6) -------------------------------------------

d[p][k] = g[p][o_k] * s_w[o_k] for k < K, p < np (np >= 1), from a table t (mct__g<K>: the
byte offsets of the K channels in a gradient row, their s_w, the bytes between rows).
Contract: operands g, d, np, t (advanced; t becomes gstride); clobbers r4-r(3 + K) the
offsets, two temporaries after them, s0-s(K - 1) the products, s8-s(7 + K) the scales,
flags. Reads t and the K channels of np gradient rows; writes d[0 .. np K)."""


def gather_kernel(K: int) -> str:
    t0, t1 = f"r{4 + K}", f"r{5 + K}"
    g = [f"ldmia %[t]!, {{r4-r{3 + K}}}", f"vldmia %[t]!, {sr(8, 7 + K)}", "ldr %[t], [%[t]]",
         "1:"]
    for k in range(0, K - 1, 2):
        g.append([f"ldr {t0}, [%[g], r{4 + k}]", f"ldr {t1}, [%[g], r{5 + k}]",
                  f"vmov s{k}, s{k + 1}, {t0}, {t1}"])
    if K % 2:
        g.append([f"ldr {t0}, [%[g], r{3 + K}]", f"vmov s{K - 1}, {t0}"])
    g += [[f"vmul.f32 s{k}, s{k}, s{8 + k}" for k in range(j, min(j + 3, K))]
          for j in range(0, K, 3)]
    g += [f"vstmia %[d]!, {sr(0, K - 1)}", "add %[g], %[g], %[t]", "subs %[n], %[n], #1", "bne 1b"]
    return "\n".join([f"""\
typedef struct {{
  int32_t off[{K}]; /* byte offsets of the {'five' if K == 5 else 'six'} output channels in a \
gradient row */
  float sc[{K}];    /* their s_w (1 without: x * 1 = x) */
  int32_t gstride; /* bytes between gradient rows */
}} mct__g{K};
""",
        comment(f"K = {K}: offsets r4-r{3 + K}, temporaries {t0}, {t1}; the family's "
                "contract above"),
        f"static void mct__gather{K}(const float *g, const mct__g{K} *t, float *d, int32_t np) {{",
        asm_block(g, '[g] "+r"(g), [d] "+r"(d), [n] "+r"(np), [t] "+r"(t)', "",
                  [f"r{i}" for i in range(4, 6 + K)] + sregs(0, K - 1) + sregs(8, 7 + K)), "}"])


# ---- the file ---------------------------------------------------------------------------------

HEADER = """\
/* grad_arm_asm.h: GENERATED by tools/gen_arm_asm.py -- do not edit; change the generator and
 * run it (tests/runtime/test_generated_asm.py checks that this file is current).
 *
 * The width-unrolled inline-assembly kernels of grad_arm.c (included by it alone, inside its
 * #if MCT_ARM_DSP && MCT_ARM_FPU, after mct__zeros): one family per template of the
 * generator, one kernel per width. See grad_arm.c for the float order they keep. */
#ifndef MCT_GRAD_ARM_ASM_H
#define MCT_GRAD_ARM_ASM_H
"""


def render() -> str:
    parts = [HEADER, gs_family(), ra_family(),
             "\n\n".join([comment(GW_DOC)] + [gw_kernel(n) for n in (16, 8, 4)]),
             gwr_family(), dw_family(),
             "\n\n".join([comment(BG_DOC)] + [bg_kernel(n) for n in (16, 8, 4)]),
             "\n\n".join([comment(GATHER_DOC)] + [gather_kernel(K) for K in (5, 6)]),
             "#endif /* MCT_GRAD_ARM_ASM_H */"]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        ok = OUT.exists() and OUT.read_text() == text
        print(f"{OUT.name}: {'current' if ok else 'STALE: run tools/gen_arm_asm.py'}")
        return 0 if ok else 1
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
