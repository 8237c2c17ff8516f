"""The world of an MPI communicator: collectives that wait with a deadline, fuse tensors and check agreement.

:class:`MPIWorld` runs MPI's non-blocking collectives (``Iallreduce``,
``Iallgatherv``, ``Ibcast``) and waits on them with a deadline, so that a rank
whose peers are gone raises :class:`~opcore.distributed.CollectiveTimeoutError`
instead of hanging. Several tensors travel in few fused buffers
(:mod:`._fusion`), and with each collective the ranks check, by one tiny
allgather in flight beside the data, that they all give the same dtypes and
shapes (``config.check_consistency``), so a mismatch is an error naming the
ranks' tensors rather than corrupt data. Results are views of buffers that are
reused once nothing refers to them.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from opcore.distributed._errors import CollectiveTimeoutError, DistributedError
from opcore.distributed._fusion import plan_chunks
from opcore.distributed._world import What, World, _describe, _signature, _text, config

__all__ = ["MPIWorld"]

#: How many buffer sizes the world keeps for reuse (the sizes of one training step's collectives).
_POOL_KEYS = 32

# How a rank waits (see MPIWorld._poll). MPI moves data only while the ranks call into it, so a
# rank polls in rounds of _POLLS_PER_YIELD tight polls; but on a machine with more busy processes
# than cores, a rank that polls without pause keeps a core from the processes it waits for (a peer
# rank among them), so after each round it yields its core once. Measured on 2 shared cores with
# an MNIST MLP on 2 ranks: polling without pause for as long as the data could take cost up to 30%
# of the training speed when the load rose, yielding at every poll 1.5%, for at most a few percent
# of allreduce throughput. A wait that lasts long sleeps between polls, from _FIRST_PAUSE_S
# doubling up to _LONGEST_PAUSE_S, so a rank that waits for a peer which is still computing (an
# evaluation, a checkpoint) leaves the cores to the others instead of spinning until the timeout:
# after _ARRIVAL_REST_S while the ranks are still arriving (the consistency check completes when
# every rank has started the collective; a barrier), after _REST_S or 10 times as long as the data
# could take at _BYTES_PER_S once they move data (a peer has then probably failed).
_POLLS_PER_YIELD = 64
_REST_S = 1.0
_BYTES_PER_S = 1e9
_ARRIVAL_REST_S = 0.1
_FIRST_PAUSE_S = 50e-6
_LONGEST_PAUSE_S = 2e-3
# From _BLOCKING_FROM bytes on, an allreduce first waits for its consistency check (which completes
# once every rank has started the same call: the ranks are all there, and they agree) and then moves
# its data with MPI's blocking Allreduce, as Horovod moves data only after its ranks have negotiated.
# MPICH's blocking Allreduce takes faster paths than its nonblocking one at these sizes (measured on
# 2 ranks: 7 to 9% at 64 MB, the same at 4 MB); the round trip of waiting for the check first costs
# a few microseconds, nothing at these sizes. A rank can then only hang in the data if a peer dies
# mid-transfer, which the launcher (and the abort-on-error hook) turn into the end of the job.
_BLOCKING_FROM = 4 << 20
_yield_core: Callable[[], None] = getattr(os, "sched_yield", None) or (lambda: time.sleep(0))
_pause: Callable[[float], None] = time.sleep


class _Check:
    """The consistency check of one collective, in flight beside its data.

    Every rank sends three numbers: the signature of its call (kind, parameter,
    dtype, shapes), the signature of what MPI will see (the buffers' lengths) and
    how many values it sends. It starts before the data collectives, so that it is
    every rank's first collective of the call even when the ranks would send
    different numbers of buffers; the data collectives start at once after it,
    so the check costs no round trip of its own; it is read before the data are
    used. When the ranks disagree but their buffers still
    match, the data complete harmlessly and the ranks then swap descriptions for
    the error; when even the buffers differ, each rank raises with its own.

    ``owner``: the lock of the world's persistent check request when this check
    runs on it (released once the numbers are read), else None.
    """

    __slots__ = ("describe", "mine", "owner", "recv", "request")

    def __init__(
        self,
        request: Any,
        recv: np.ndarray,
        mine: tuple[int, int, int],
        describe: Callable[[], str],
        owner: Any = None,
    ) -> None:
        self.request = request
        self.recv = recv
        self.mine = mine
        self.describe = describe
        self.owner = owner


class MPIWorld(World):
    """The ranks of an mpi4py intracommunicator (a private duplicate of it, so that the user's own
    messages on the communicator never meet ours)."""

    def __init__(self, mpi: ModuleType, comm: Any) -> None:
        self.mpi = mpi
        self.parent = comm
        self.comm = comm.Dup()
        self.comm.Set_errhandler(mpi.ERRORS_RETURN)  # MPI errors raise (mpi4py), never abort silently
        self.rank = int(self.comm.Get_rank())
        self.size = int(self.comm.Get_size())
        self.local_comm = self.comm.Split_type(mpi.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = int(self.local_comm.Get_rank())
        self.local_size = int(self.local_comm.Get_size())
        self.cross_comm = self.comm.Split(self.local_rank, self.rank)
        self.cross_rank = int(self.cross_comm.Get_rank())
        self.cross_size = int(self.cross_comm.Get_size())
        self._ops = {"sum": mpi.SUM, "average": mpi.SUM, "min": mpi.MIN, "max": mpi.MAX, "product": mpi.PROD}
        #: Device collectives per backend name, chosen once (see :mod:`._cuda`).
        self.devices: dict[str, Any] = {}
        #: Host buffers that received earlier collectives, by (dtype, length), most recent last.
        self._pool: dict[tuple[str, int], list[np.ndarray]] = {}
        #: The consistency check's numbers for each collective call seen (they are the same every step),
        #: and the array that sends them.
        self._signatures: dict[Any, tuple[tuple[int, int, int], np.ndarray]] = {}
        # The check runs on one persistent allgather (MPI 4), started anew by every collective: it
        # spares MPI building the check's schedule on every call (about 2 us of a 1 MB allreduce's
        # 140). Made here, where every rank makes it in the same order; the lock keeps it to one
        # check at a time (another thread's, or one left in flight by a timeout, takes a plain
        # Iallgather). Without MPI 4, every check is a plain Iallgather.
        self._check_send = np.zeros(3, dtype=np.int64)
        self._check_recv = np.zeros((self.size, 3), dtype=np.int64)
        self._check_lock = threading.Lock()
        self._persistent: Any = None
        if self.size > 1:
            try:
                self._persistent = self.comm.Allgather_init(self._check_send, self._check_recv)
            except (NotImplementedError, AttributeError, mpi.Exception):
                self._persistent = None

    def _buffer(self, n: int, dtype: Any, xp: ModuleType) -> Any:
        """A buffer of ``n`` elements: an earlier result buffer that nothing refers to any more, else a new one.

        Every result of a collective is a view of its buffer, so a buffer is free
        once the last tensor made from it is gone (typically: one training step
        later). Reusing it spares the page faults of fresh memory, which cost a
        plain ``np.empty`` more than the transfer itself at a few megabytes.
        """
        if xp is not np:
            return xp.empty(n, dtype=dtype)
        key = (np.dtype(dtype).str, n)
        pool = self._pool.pop(key, [])
        self._pool[key] = pool  # most recently used last
        for buf in pool:
            if sys.getrefcount(buf) <= 3:  # the pool's list, this loop and getrefcount's argument
                return buf
        buf = np.empty(n, dtype=dtype)
        if len(pool) < 2:
            pool.append(buf)
        while len(self._pool) > _POOL_KEYS:
            del self._pool[next(iter(self._pool))]
        return buf

    def free(self) -> None:
        if self._persistent is not None and self._check_lock.acquire(blocking=False):
            self._persistent.Free()  # (a request still in flight after a timeout cannot be freed)
        self._persistent = None
        for dev in self.devices.values():
            close = getattr(dev, "close", None)
            if close is not None:
                close()
        self.devices.clear()
        self._pool.clear()
        for sub in (self.local_comm, self.cross_comm, self.comm):
            if sub is not None and sub != self.mpi.COMM_NULL:
                sub.Free()
        self.local_comm = self.cross_comm = None

    # -- waiting -----------------------------------------------------------------------

    def _poll(self, test: Callable[[], bool], what: What, deadline: float, rest: float) -> None:
        """Call ``test`` (which progresses MPI) until it says done, yielding the core after every round of
        polls and sleeping between polls after ``rest`` seconds; raise CollectiveTimeoutError once
        ``deadline`` (of ``time.monotonic``) has passed."""
        for _ in range(_POLLS_PER_YIELD):
            if test():
                return
        rest_from = time.monotonic() + rest
        pause = _FIRST_PAUSE_S
        while True:
            now = time.monotonic()
            if now > deadline:
                raise CollectiveTimeoutError(
                    f"rank {self.rank} of {self.size}: {_text(what)} did not complete within {config.timeout:g} s. "
                    "Another rank has probably failed or exited, or the ranks do not run the same collectives "
                    "in the same order (every rank must run every collective, e.g. each session.run that needs "
                    "one). If a rank is only slow, raise the limit: opcore.distributed.init(timeout=...) or "
                    "OPCORE_DISTRIBUTED_TIMEOUT"
                )
            if now < rest_from:
                _yield_core()
                for _ in range(_POLLS_PER_YIELD):
                    if test():
                        return
            else:
                _pause(pause)
                pause = min(2 * pause, _LONGEST_PAUSE_S)
                if test():
                    return

    def wait(
        self, requests: list[Any], what: What, check: _Check | None = None, nbytes: int = 0, arrival: bool = False
    ) -> None:
        """Wait for ``requests`` (reading ``check`` first), progressing MPI, until ``config.timeout`` has passed.

        ``nbytes``: how much data the requests move (a long transfer is not mistaken for a lost
        peer); ``arrival``: the requests only wait for the ranks to arrive (a barrier), no data.
        """
        deadline = time.monotonic() + config.timeout
        try:
            if check is not None:
                self._poll(check.request.Test, what, deadline, _ARRIVAL_REST_S)
                self._settle(check, requests, what, deadline)
            rest = _ARRIVAL_REST_S if arrival else max(_REST_S, 10 * nbytes / _BYTES_PER_S)
            if len(requests) == 1:
                self._poll(requests[0].Test, what, deadline, rest)
            elif requests:
                testall = self.mpi.Request.Testall
                self._poll(lambda: bool(testall(requests)), what, deadline, rest)
        except self.mpi.Exception as exc:
            raise DistributedError(
                f"rank {self.rank} of {self.size}: MPI failed in {_text(what)}: {exc.Get_error_string()}"
            ) from None

    # -- agreement -----------------------------------------------------------------------

    def exchange(self, values: Sequence[int], what: What) -> np.ndarray:
        send = np.asarray(values, dtype=np.int64)
        recv = np.empty((self.size, len(send)), dtype=np.int64)
        self.wait([self.comm.Iallgather(send, recv)], what, arrival=True)
        return recv

    def _gather_text(self, text: str, what: What) -> list[str]:
        data = np.frombuffer(text.encode(), dtype=np.uint8)
        lengths = self.exchange([len(data)], what)[:, 0]
        recv = np.empty(int(lengths.sum()), dtype=np.uint8)
        counts = [int(n) for n in lengths]
        displs = [int(x) for x in np.concatenate([[0], np.cumsum(lengths)[:-1]])]
        self.wait([self.comm.Iallgatherv(data, [recv, counts, displs, self.mpi.BYTE])], what)
        return [bytes(recv[d : d + n]).decode() for d, n in zip(displs, counts)]

    def start_check(
        self, kind: str, param: Any, dtype: Any, shapes: Sequence[tuple[int, ...]], lengths: Sequence[int]
    ) -> _Check | None:
        """Start the consistency check of a collective whose MPI buffers have ``lengths`` (None: no check)."""
        if not config.check_consistency or self.size == 1:
            return None
        key = (kind, param, dtype, tuple(shapes), tuple(lengths))
        known = self._signatures.get(key)
        if known is None:
            known = self._remember(key, kind, param, dtype, shapes, lengths)
        return self._start(known, lambda: f"{kind}({param}) of {_describe(dtype, shapes)}")

    def _remember(
        self, key: Any, kind: str, param: Any, dtype: Any, shapes: Sequence[tuple[int, ...]], lengths: Sequence[int]
    ) -> tuple[tuple[int, int, int], np.ndarray]:
        """The check's numbers for a call first seen, kept under ``key``."""
        if len(self._signatures) > 4096:
            self._signatures.clear()
        crc = zlib.crc32(repr([int(n) for n in lengths]).encode())
        numbers = (_signature(kind, param, dtype, shapes), crc, int(sum(lengths)))
        known = self._signatures[key] = (numbers, np.asarray(numbers, dtype=np.int64))
        return known

    def _start(self, known: tuple[tuple[int, int, int], np.ndarray], describe: Callable[[], str]) -> _Check:
        mine, send = known
        if self._persistent is not None and self._check_lock.acquire(blocking=False):
            self._check_send[:] = send
            self._persistent.Start()
            return _Check(self._persistent, self._check_recv, mine, describe, self._check_lock)
        recv = np.empty((self.size, 3), dtype=np.int64)
        return _Check(self.comm.Iallgather(send, recv), recv, mine, describe)

    def _settle(self, check: _Check, requests: list[Any], what: What, deadline: float) -> None:
        rows = check.recv.tolist()  # a few numbers: plain Python compares them fastest
        if check.owner is not None:  # the numbers are read: the persistent request may start again
            check.owner.release()
        mine = check.mine
        for row in rows:
            if row[0] != mine[0]:
                break
        else:
            return
        sigs = [row[0] for row in rows]
        if all(row[1] == mine[1] for row in rows):
            # The buffers match: let the data complete, then every rank can list every rank's tensors.
            if requests:
                testall = self.mpi.Request.Testall
                self._poll(lambda: bool(testall(requests)), what, deadline, _REST_S)
            everyone = self._gather_text(check.describe(), what)
            lines = "\n".join(f"  rank {r}: {text}" for r, text in enumerate(everyone))
        else:
            # The buffers differ too: the data cannot complete, and no further collective is safe.
            totals = [row[2] for row in rows]
            listed = [
                f"  rank {r}: {check.describe()} ({totals[r]} values; this rank)"
                if r == self.rank
                else f"  rank {r}: {'the same' if sig == mine[0] else 'another'} call ({totals[r]} values)"
                for r, sig in enumerate(sigs)
            ]
            lines = "\n".join(listed)
        raise DistributedError(
            f"{_text(what)}: the ranks do not run the same collective on the same tensors:\n{lines}\n"
            "Every rank must build the same model and call the same collectives in the same order. "
            "This world cannot be used after this error."
        )

    def agree(self, what: str, kind: str, param: Any, dtype: Any, shapes: Sequence[tuple[int, ...]]) -> None:
        check = self.start_check(kind, param, dtype, shapes, [math.prod(s) for s in shapes])
        if check is not None:
            self.wait([], what, check)

    # -- collectives -----------------------------------------------------------------------

    def allreduce_one(self, x: Any, reduction: str, what: Any) -> Any:
        """One host array reduced: :meth:`allreduce` without the lists, for the common single-tensor call."""
        dtype = x.dtype
        if dtype == np.float16 or not x.flags.c_contiguous or x.size == 0:
            return self.allreduce([x], reduction, lambda: _text_of(what, x))[0]
        n = x.size
        shape = x.shape
        buf = self._buffer(n, dtype, np)  # before the check: then only the data are left to fail
        check = None
        if config.check_consistency and self.size > 1:
            key = (reduction, dtype, shape)  # the same numbers as start_check's, under a shorter key
            known = self._signatures.get(key)
            if known is None:
                known = self._remember(key, "allreduce", reduction, dtype, [shape], [n])
            check = self._start(known, lambda: f"allreduce({reduction}) of {_describe(dtype, [shape])}")
        if check is not None and x.nbytes >= _BLOCKING_FROM:
            self.wait([], lambda: _text_of(what, x), check)  # every rank is there and agrees
            self._blocking(self.comm.Allreduce, x.reshape(-1), buf, self._ops[reduction], lambda: _text_of(what, x))
        else:
            request = self.comm.Iallreduce(x.reshape(-1), buf, op=self._ops[reduction])
            self.wait([request], lambda: _text_of(what, x), check, x.nbytes)
        if reduction == "average":
            np.divide(buf, self.size, out=buf)
        return buf.reshape(shape)

    def allreduce(self, arrays: Sequence[Any], reduction: str, what: What, xp: ModuleType = np) -> list[Any]:
        if not arrays:
            return []
        dtype = np.dtype(arrays[0].dtype)
        shapes = [tuple(a.shape) for a in arrays]
        # MPI has no float16 arithmetic: half tensors travel and add up in float32.
        work = np.dtype(np.float32) if dtype == np.float16 else dtype
        op = self._ops[reduction]
        results: list[Any] = [None] * len(arrays)
        sizes = [math.prod(s) for s in shapes]
        for i, n in enumerate(sizes):
            if n == 0:
                results[i] = xp.empty(shapes[i], dtype=dtype)
        chunks = plan_chunks([n * work.itemsize for n in sizes], config.fusion_threshold)
        lengths = [sum(sizes[i] for i in c) for c in chunks]
        pending: list[tuple[Any, list[int]]] = []
        if xp is np and self.size > 1 and config.check_consistency and sum(lengths) * work.itemsize >= _BLOCKING_FROM:
            # Buffers packed first, so that nothing but the data is left to fail once the check has completed.
            packed = [(chunk, *self._pack(arrays, chunk, sizes, shapes, work, xp)) for chunk in chunks]
            check = self.start_check("allreduce", reduction, dtype, shapes, lengths)
            self.wait([], what, check)  # every rank is there and agrees
            for chunk, buf, send in packed:
                self._blocking(self.comm.Allreduce, send, buf, op, what)
                pending.append((buf, chunk))
        else:
            check = self.start_check("allreduce", reduction, dtype, shapes, lengths)
            requests: list[Any] = []
            for chunk in chunks:  # each chunk's collective starts as soon as it is packed
                buf, send = self._pack(arrays, chunk, sizes, shapes, work, xp)
                requests.append(self.comm.Iallreduce(send, buf, op=op))
                pending.append((buf, chunk))
            self.wait(requests, what, check, sum(int(b.nbytes) for b, _ in pending))
        for buf, chunk in pending:
            if reduction == "average":
                xp.divide(buf, self.size, out=buf)
            if work != dtype:  # back to half, in one buffer of which the results are views
                half = self._buffer(buf.size, dtype, xp)
                half[...] = buf
                buf = half
            offset = 0
            for i in chunk:
                results[i] = buf[offset : offset + sizes[i]].reshape(shapes[i])
                offset += sizes[i]
        return results

    def _pack(
        self,
        arrays: Sequence[Any],
        chunk: list[int],
        sizes: list[int],
        shapes: list[tuple[int, ...]],
        work: np.dtype[Any],
        xp: ModuleType,
    ) -> tuple[Any, Any]:
        """The result buffer of one chunk and what MPI sends from: the tensor itself when it is alone in its
        buffer, contiguous and of the working dtype; else the buffer, packed (reduced in place)."""
        first = arrays[chunk[0]]
        buf = self._buffer(sum(sizes[i] for i in chunk), work, xp)
        if len(chunk) == 1 and first.dtype == work and first.flags.c_contiguous:
            return buf, first.reshape(-1)  # MPI reads the tensor where it is
        # Pack straight into the fusion buffer (converting half to float32 on the way), in one
        # copy per tensor even when a tensor is not contiguous.
        offset = 0
        for i in chunk:
            buf[offset : offset + sizes[i]].reshape(shapes[i])[...] = arrays[i]
            offset += sizes[i]
        return buf, self.mpi.IN_PLACE

    def allgather(self, array: Any, counts: Sequence[int] | None, what: What, xp: ModuleType = np) -> Any:
        dtype = np.dtype(array.dtype)
        rows, trailing = int(array.shape[0]), tuple(int(d) for d in array.shape[1:])
        if counts is None:
            meta = self.exchange([rows, _signature("allgather", None, dtype, [trailing])], what)
            counts = [int(c) for c in meta[:, 0]]
            if len(set(meta[:, 1].tolist())) > 1:
                everyone = self._gather_text(f"{dtype.name} tensor of shape {tuple(array.shape)}", what)
                lines = "\n".join(f"  rank {r}: {text}" for r, text in enumerate(everyone))
                raise DistributedError(
                    f"{_text(what)}: allgather needs one dtype and the same dimensions after the first on every "
                    f"rank:\n{lines}"
                )
        elif len(counts) != self.size or counts[self.rank] != rows:
            raise DistributedError(
                f"{_text(what)}: counts {list(counts)} do not fit rank {self.rank} of {self.size}, whose tensor "
                f"has {rows} rows"
            )
        row_bytes = math.prod(trailing) * dtype.itemsize
        send = xp.ascontiguousarray(array).reshape(-1).view(xp.uint8)
        byte_counts = [int(c) * row_bytes for c in counts]
        displs = [int(x) for x in np.concatenate([[0], np.cumsum(byte_counts)[:-1]])]
        recv = self._buffer(sum(byte_counts), np.uint8, xp)
        self.wait([self.comm.Iallgatherv(send, [recv, byte_counts, displs, self.mpi.BYTE])], what, None, recv.nbytes)
        return recv.view(dtype).reshape((sum(int(c) for c in counts), *trailing))

    def broadcast(self, arrays: Sequence[Any], root: int, what: What, xp: ModuleType = np) -> list[Any]:
        self.check_root(root, _text(what))
        if not arrays:
            return []
        dtype = np.dtype(arrays[0].dtype)
        shapes = [tuple(a.shape) for a in arrays]
        nbytes = [math.prod(s) * dtype.itemsize for s in shapes]
        results: list[Any] = [None] * len(arrays)
        for i, n in enumerate(nbytes):
            if n == 0:
                results[i] = xp.empty(shapes[i], dtype=dtype)
        chunks = plan_chunks(nbytes, config.fusion_threshold)
        check = self.start_check("broadcast", int(root), dtype, shapes, [sum(nbytes[i] for i in c) for c in chunks])
        pending: list[tuple[Any, list[int]]] = []
        requests: list[Any] = []
        sender = self.rank == root
        for chunk in chunks:
            buf = self._buffer(sum(nbytes[i] for i in chunk), np.uint8, xp)
            if sender:
                offset = 0
                for i in chunk:  # one copy per tensor, contiguous or not
                    buf[offset : offset + nbytes[i]].view(dtype).reshape(shapes[i])[...] = arrays[i]
                    offset += nbytes[i]
            requests.append(self.comm.Ibcast(buf, root=int(root)))
            pending.append((buf, chunk))
        self.wait(requests, what, check, sum(int(b.nbytes) for b, _ in pending))
        for buf, chunk in pending:
            offset = 0
            for i in chunk:
                results[i] = buf[offset : offset + nbytes[i]].view(dtype).reshape(shapes[i])
                offset += nbytes[i]
        return results

    def _blocking(self, collective: Callable[..., Any], send: Any, recv: Any, op: Any, what: What) -> None:
        """Run MPI's blocking ``collective`` (once every rank is known to take part), its errors raised as
        DistributedError."""
        try:
            collective(send, recv, op=op)
        except self.mpi.Exception as exc:
            raise DistributedError(
                f"rank {self.rank} of {self.size}: MPI failed in {_text(what)}: {exc.Get_error_string()}"
            ) from None

    def barrier(self, what: str = "barrier") -> None:
        self.wait([self.comm.Ibarrier()], what, arrival=True)

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


def _text_of(what: Any, x: Any) -> str:
    """The description of a single-tensor allreduce (``what``: a text or the kernel's context), made only when a
    message needs it."""
    if isinstance(what, str):
        return what
    return f"allreduce of 1 {np.dtype(x.dtype).name} tensor(s) [{tuple(x.shape)}]"
