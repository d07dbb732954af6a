"""The worst-case stack of a Cortex-M device program, from the build's own data.

    need = stack_need(elf, su_files, fp=True)   # elf linked with -Wl,--emit-relocs
    need.bytes      what to reserve: deepest call path + exception frame + margin
    need.path       that path, function names from Reset_Handler down

Frames come from the compiler: -fstack-usage writes one .su line per function it compiled
(exact, "static" unless the function allocates dynamically). Functions without a usable
number get an upper bound from their disassembly, the sum of every instruction that lowers
the stack pointer (push, vpush, sub sp, str with [sp, #-n]!): newlib's functions (no .su),
and the naked assembly kernels, for which GCC reports 0 bytes although their own asm pushes.

Calls come from the disassembly of the linked ELF (what really is linked, libc and asm
included): `bl`, and branches into another function (tail calls, counted as calls: the
caller's frame stays counted, which is conservative). An indirect call (`blx rN`, `bx rN`) may
reach any function whose address is taken (a relocated word or movw/movt pair holding it:
address_taken); it is bounded by the deepest of those functions. Conservative, and free in
practice: the kernels' tables of assembly kernels, the only indirect calls, hold leaves.
Recursion (a cycle in that graph, a call through a pointer included) cannot be bounded:
stack_need raises StackError naming the cycle, and so does a frame of run-time size.

The exception-handler roots (every vector but the reset) run on the stack top: the fault
entry in startup.c moves the stack pointer back to __stack_top before it reports, so they
only need to fit the stack, not to fit beside the deepest path.
"""
from __future__ import annotations

import bisect
import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

# An exception taken at the deepest point pushes its frame below it: 8 words, or 26 with the
# floating-point context (hard-float builds), plus up to 4 bytes to align it to 8.
EXC_FRAME_FP = 26 * 4 + 4
EXC_FRAME = 8 * 4 + 4
# startup.c calls a stack whose last 64 bytes lost their paint an overflow (exit 6): a correct
# bound keeps the deepest path and an exception frame above them.
PAINT_GUARD = 64

_INSN = re.compile(r"^\s*([0-9a-f]+):\t(\S+)(?:\t(.*))?$")


class StackError(RuntimeError):
    pass


@dataclass
class StackNeed:
    bytes: int                 # to reserve (multiple of 8)
    deepest: int               # bytes of the deepest path from Reset_Handler
    path: list                 # its function names
    exception_frame: int
    margin: int
    handler: int               # deepest path of the fault handler (run from the stack top)
    largest_frame: tuple       # (function, bytes)
    frames: dict = field(repr=False, default_factory=dict)


@dataclass
class _Func:
    name: str
    addr: int
    size: int
    insns: list = field(default_factory=list)  # (address, mnemonic, operands)


# ---- the ELF: functions, sections ------------------------------------------------------------

def _symtab(elf: Path, readelf: str) -> list:
    """(name, value, size, type) of every defined symbol."""
    p = subprocess.run([readelf, "-sW", str(elf)], capture_output=True, text=True, check=True)
    out = []
    for ln in p.stdout.splitlines():
        f = ln.split()
        if len(f) >= 8 and f[0][:-1].isdigit() and f[6] != "UND":
            size = int(f[2], 16) if f[2].startswith("0x") else int(f[2])
            out.append((f[7], int(f[1], 16), size, f[3]))
    return out


def _functions(symtab: list) -> list:
    """FUNC symbols (Thumb bit cleared), sorted by address; of aliases the largest."""
    out = {}
    for name, value, size, typ in symtab:
        if typ == "FUNC":
            addr = value & ~1
            if addr not in out or out[addr].size < size:
                out[addr] = _Func(name, addr, size)
    return sorted(out.values(), key=lambda fn: fn.addr)


def _sections(elf: Path) -> list:
    """(name, address, bytes) of the loadable sections that hold file data."""
    b = Path(elf).read_bytes()
    shoff, = struct.unpack_from("<I", b, 32)
    shentsize, shnum, shstrndx = struct.unpack_from("<3H", b, 46)
    heads = [struct.unpack_from("<10I", b, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx][4]
    out = []
    for h in heads:
        name = b[strtab + h[0]:b.index(b"\0", strtab + h[0])].decode()
        sh_type, flags, addr, off, size = h[1], h[2], h[3], h[4], h[5]
        if sh_type == 1 and flags & 2:  # PROGBITS, SHF_ALLOC
            out.append((name, addr, b[off:off + size]))
    return out


def _disassemble(elf: Path, objdump: str, funcs: list) -> None:
    """Fills every function's instruction list from `objdump -d`."""
    p = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(elf)], capture_output=True,
                       text=True, check=True)
    starts = [fn.addr for fn in funcs]
    for ln in p.stdout.splitlines():
        m = _INSN.match(ln)
        if not m or m.group(2).startswith("."):  # .word / .short: literal pool data
            continue
        a = int(m.group(1), 16)
        fn = _containing(funcs, starts, a)
        if fn is not None:
            fn.insns.append((a, m.group(2), m.group(3) or ""))


def _containing(funcs, starts, addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i >= 0 and addr < funcs[i].addr + max(funcs[i].size, 2):
        return funcs[i]
    return None


# ---- frames ----------------------------------------------------------------------------------

def _reglist_bytes(ops: str) -> int:
    """Bytes a register list {r4, r5, lr} / {d8-d15} / {s16-s31} occupies."""
    inner = ops[ops.index("{") + 1:ops.index("}")]
    n = 0
    for part in inner.split(","):
        part = part.strip()
        m = re.match(r"([rdsRDS])?(\d+)-[rdsRDS]?(\d+)$", part)
        width = 8 if part[:1] in "dD" else 4
        n += (int(m.group(3)) - int(m.group(2)) + 1) * width if m else width
    return n


_COND = r"(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
_PUSH = re.compile(rf"^(?:push|vpush){_COND}(?:\.w)?$")
_STMDB = re.compile(rf"^(?:stmdb|stmfd|vstmdb){_COND}(?:\.w)?$")
_SUB = re.compile(rf"^(?:sub|subw|subs){_COND}(?:\.w)?$")


def frame_from_insns(insns) -> tuple:
    """(bytes, dynamic): the sum of every stack-pointer decrement (an upper bound of the
    deepest point of one call, exact for one prologue), and whether the stack pointer is
    lowered by a register amount (alloca, VLA: no static bound)."""
    total, dynamic = 0, False
    for _, mn, ops in insns:
        if _PUSH.match(mn) or (_STMDB.match(mn) and ops.startswith("sp!")):
            total += _reglist_bytes(ops)
        elif _SUB.match(mn) and ops.startswith("sp,"):
            m = re.search(r"#(\d+)", ops)
            if m:
                total += int(m.group(1))
            else:
                dynamic = True
        elif mn.startswith("str") and re.search(r"\[sp, #-(\d+)\]!", ops):
            total += int(re.search(r"\[sp, #-(\d+)\]!", ops).group(1))
    return total, dynamic


def read_su(paths) -> dict:
    """name -> (bytes, qualifier) from -fstack-usage files; a name defined in several files
    (a static function) keeps its largest frame."""
    out = {}
    for p in paths:
        for ln in Path(p).read_text().splitlines():
            f = ln.split("\t")
            if len(f) != 3:
                continue
            name, n, qual = f[0].rsplit(":", 1)[-1], int(f[1]), f[2]
            if name not in out or out[name][0] < n:
                out[name] = (n, qual)
    return out


def _frames(funcs: list, su: dict) -> dict:
    """Bytes per function: the compiler's figure, else (none, or 0 for a naked function that
    pushes in its asm) the disassembly's bound. Dynamic frames are refused."""
    frames = {}
    for fn in funcs:
        asm, dyn = frame_from_insns(fn.insns)
        n, qual = su.get(fn.name, (0, "static"))
        if "dynamic" in qual and "bounded" not in qual or (dyn and n == 0):
            frames[fn.addr] = None  # no static bound: an error only if reachable
        else:
            frames[fn.addr] = n if n > 0 else asm
    return frames


# ---- the call graph --------------------------------------------------------------------------

_BRANCH = re.compile(rf"^(?:bl|blx|b){_COND}(?:\.[nw])?$")
_INDIRECT = re.compile(rf"^(?:blx|bx){_COND}$")
_CALL = re.compile(rf"^(?:bl|blx){_COND}(?:\.w)?$")  # bls, ble, blt: conditional branches


def _edges(funcs: list) -> tuple:
    """addr -> set of callee addrs, and the set of functions that call indirectly."""
    starts = [fn.addr for fn in funcs]
    calls, indirect = {}, set()
    for fn in funcs:
        out = calls.setdefault(fn.addr, set())
        for _, mn, ops in fn.insns:
            if _INDIRECT.match(mn) and re.match(r"(r\d+|ip|sl|fp|r12)$", ops.strip()):
                indirect.add(fn.addr)
            elif (mn.startswith("mov") and ops.startswith("pc,") and ops != "pc, lr") or \
                    (mn.startswith("ldr") and ops.startswith("pc,") and "[sp]" not in ops):
                indirect.add(fn.addr)  # (ldr pc, [sp], #4 and mov pc, lr: returns)
            elif _BRANCH.match(mn) or mn.startswith(("cbz", "cbnz")):
                m = re.search(r"(?:^|, )([0-9a-f]+) <", ops)
                if not m:
                    continue
                target = int(m.group(1), 16)
                callee = _containing(funcs, starts, target)
                # a branch within the function is control flow, so is a bl to a local
                # subroutine (libgcc's assembly: its pushes are in the function's sum); a bl to
                # the function's own start is recursion
                if callee is not None and (callee is not fn or
                                           (_CALL.match(mn) and target == fn.addr)):
                    out.add(callee.addr)
    return calls, indirect


def address_taken(elf: Path, funcs: list, readelf: str = "arm-none-eabi-readelf") -> set:
    """Functions whose address is taken: the possible targets of an indirect call. From the
    relocations the linker kept (-Wl,--emit-relocs): every absolute word (R_ARM_ABS32: literal
    pools, function tables) outside the vector table and the debug sections whose final value
    is a function's address with the Thumb bit, and every movw/movt pair relocated to one.
    Relocations, not a scan of all words: a frozen weight may equal an address by chance."""
    p = subprocess.run([readelf, "-rW", str(elf)], capture_output=True, text=True, check=True)
    if "R_ARM_" not in p.stdout:
        raise StackError(f"{elf} has no relocations: link it with -Wl,--emit-relocs")
    words = {}
    for name, addr, data in _sections(elf):
        words[name] = (addr, data)
    thumb = {fn.addr | 1: fn.addr for fn in funcs}
    taken, movw = set(), set()
    section = None
    for ln in p.stdout.splitlines():
        m = re.match(r"Relocation section '\.rel(\.\S+)'", ln)
        if m:
            section = m.group(1)
            continue
        f = ln.split()
        if len(f) < 3 or section not in words or section == ".isr_vector":
            continue
        if f[2] == "R_ARM_ABS32":
            base, data = words[section]
            off = int(f[0], 16) - base
            if 0 <= off <= len(data) - 4:
                w, = struct.unpack_from("<I", data, off)
                if w in thumb:
                    taken.add(thumb[w])
        elif f[2].startswith("R_ARM_THM_MOV"):
            movw.add(int(f[0], 16))
    for fn in funcs:  # movw rX, #lo ... movt rX, #hi, both relocated
        lo = {}
        for a, mn, ops in fn.insns:
            m = re.match(r"(\w+), #(\d+)", ops)
            if not m or a not in movw:
                continue
            if mn.startswith("movw"):
                lo[m.group(1)] = int(m.group(2))
            elif mn.startswith("movt") and m.group(1) in lo:
                w = (int(m.group(2)) << 16) | lo[m.group(1)]
                if w in thumb:
                    taken.add(thumb[w])
    return taken


def _deepest(root, calls, indirect, taken, frames, names) -> tuple:
    """(bytes, path) of the deepest call chain from root; StackError on recursion or on a
    reachable function without a static frame."""
    memo: dict = {}
    active: list = []
    ind_key = "<indirect>"

    def visit(node):
        if node in memo:
            return memo[node]
        if node in active:
            cyc = active[active.index(node):] + [node]
            raise StackError("recursion: " + " -> ".join(
                names.get(c, c) if c != ind_key else "(indirect call)" for c in cyc))
        active.append(node)
        if node == ind_key:
            best = max((visit(t) for t in sorted(taken)), default=(0, []), key=lambda r: r[0])
            res = (best[0], best[1])
        else:
            own = frames[node]
            if own is None:
                raise StackError(f"{names[node]} lowers the stack pointer by a run-time amount "
                                 "(alloca or a variable-length array): no static bound")
            subs = [visit(c) for c in sorted(calls.get(node, ()))]
            if node in indirect:
                subs.append(visit(ind_key))
            best = max(subs, default=(0, []), key=lambda r: r[0])
            res = (own + best[0], [names[node]] + best[1])
        active.pop()
        memo[node] = res
        return res

    return visit(root)


def _vectors(elf: Path) -> list:
    """Addresses of the handlers in the vector table (entry 1 is the reset)."""
    data = next((d for n, _, d in _sections(elf) if n == ".isr_vector"), b"")
    words = [w for (w,) in struct.iter_unpack("<I", data[:len(data) // 4 * 4])]
    return [w & ~1 for w in words[1:]]


def stack_need(elf, su_files, fp: bool, readelf: str = "arm-none-eabi-readelf",
               objdump: str = "arm-none-eabi-objdump") -> StackNeed:
    """The stack the program needs, from its ELF and the .su files of its objects."""
    elf = Path(elf)
    symtab = _symtab(elf, readelf)
    funcs = _functions(symtab)
    _disassemble(elf, objdump, funcs)
    frames = _frames(funcs, read_su(su_files))
    calls, indirect = _edges(funcs)
    taken = address_taken(elf, funcs, readelf)
    names = {fn.addr: fn.name for fn in funcs}
    vec = _vectors(elf)
    if not vec or vec[0] not in names:
        raise StackError(f"{elf}: no reset handler in the vector table")
    deep, path = _deepest(vec[0], calls, indirect, taken, frames, names)
    handler = max((_deepest(v, calls, indirect, taken, frames, names)[0]
                   for v in set(vec[1:]) if v in names), default=0)
    exc = EXC_FRAME_FP if fp else EXC_FRAME
    reach = _reachable([vec[0], *vec[1:]], calls, indirect, taken)
    big = max(((names[a], frames[a] or 0) for a in reach), key=lambda r: r[1])
    guard = next((v for n, v, _, _ in symtab if n == "__stack_guard_bytes"), None)
    if guard is not None and big[1] + exc > guard:
        raise StackError(f"{big[0]}'s frame of {big[1]} B (+ {exc} B exception frame) could "
                         f"jump over the MPU's {guard} B guard under the stack")
    need = max(deep + exc, handler) + PAINT_GUARD
    return StackNeed(bytes=(need + 7) // 8 * 8, deepest=deep, path=path, exception_frame=exc,
                     margin=PAINT_GUARD, handler=handler, largest_frame=big,
                     frames={names[a]: n for a, n in frames.items() if a in reach})


def _reachable(roots, calls, indirect, taken) -> set:
    seen, todo = set(), [r for r in roots if r in calls]
    while todo:
        a = todo.pop()
        if a in seen:
            continue
        seen.add(a)
        todo += list(calls.get(a, ()))
        if a in indirect:
            todo += list(taken)
    return seen
