"""Max-pooled convolution of a single-channel signal, without its full-rate output in memory.

The first layer of the waveform models (paper 002's 5 ms filters, paper
004's first 1D LFLB) convolves the 16 kHz wave with C filters and max-pools
the result over ``pool`` samples. ``F.conv1d`` with one input channel runs
on a slow oneDNN path, and ``F.max_pool1d`` keeps an int64 index for every
output plus a full-rate gradient buffer: both are memory traffic, not the
model's arithmetic. Here the wave is cut into blocks of ``pool`` outputs
(``pool + taps - 1`` samples each), one matrix product with the filters laid
out as a Toeplitz matrix gives every output of a chunk of blocks at once,
the max over each block's ``pool`` phases is taken while the chunk is in
cache, and only the winners are kept for the backward pass (a boolean mask,
or for long pools the winning phase, whose filter span alone is read back
for the weight gradient). The
result equals ``F.max_pool1d(F.conv1d(x, w, b), pool)`` (to float rounding),
and so do its gradients, the winner of a tie being the first phase, as in
``max_pool1d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CHUNK_VALUES = 1 << 20  # conv outputs per chunk (4 MB): the chunk's products stay in cache
INDEX_MIN_POOL = 16  # from this pool size the winner's phase is kept (not a mask) and read back by gathering


def _toeplitz(weight: Tensor, pool: int) -> Tensor:
    """(C, K) filters → (pool + K - 1, pool · C) with T[s + k, s·C + c] = weight[c, k]."""
    C, K = weight.shape
    T = weight.new_zeros(pool + K - 1, pool, C)
    _diagonals(T, K).copy_(weight.T[:, None, :].expand(K, pool, C))
    return T.view(pool + K - 1, pool * C)


def _diagonals(T: Tensor, K: int) -> Tensor:
    """The (K, pool, C) view of a (pool + K - 1, pool, C) tensor at [s + k, s, c], indexed [k, s, c]."""
    _, pool, C = T.shape
    return T.as_strided((K, pool, C), (pool * C, pool * C + C, 1))


def _winners(y: Tensor, best: Tensor) -> Tensor:
    """mask[r, s, c]: y[r, s, c] is the first maximum over s (max_pool1d's choice among ties)."""
    mask = y == best[:, None]
    if int(torch.count_nonzero(mask)) != best.numel():  # a tie (e.g. digital silence): keep the first phase only
        mask &= mask.cumsum(dim=1) == 1
    return mask


class _PooledConv(torch.autograd.Function):
    """blocks (R, pool + K - 1), weight (C, K) → (R, C): max over the pool phases of each block's outputs."""

    @staticmethod
    def forward(ctx, blocks: Tensor, weight: Tensor, pool: int) -> Tensor:  # type: ignore[override]
        C, q = weight.shape[0], blocks.shape[1] - weight.shape[1] + 1  # q outputs per block
        m = pool // q  # blocks per pooling window
        R = blocks.shape[0] // m
        T = _toeplitz(weight, q)
        step = max(1, CHUNK_VALUES // (pool * C))  # windows per chunk
        values, winners = [], []  # winners: boolean masks (chunk, pool, C), or the phase (chunk, C) for long pools
        for r in range(0, R, step):
            y = (blocks[r * m : (r + step) * m] @ T).view(-1, pool, C)  # (chunk, pool, C)
            if pool >= INDEX_MIN_POOL:
                best, phase = y.max(dim=1)  # the first maximum, as max_pool1d
                values.append(best)
                winners.append(phase.to(torch.int16))
            else:
                values.append(y.amax(dim=1))
                winners.append(_winners(y, values[-1]))
        ctx.save_for_backward(blocks, weight)
        ctx.winners, ctx.pool = winners, pool
        return torch.cat(values)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        blocks, weight = ctx.saved_tensors
        pool, W, (C, K) = ctx.pool, blocks.shape[1], weight.shape
        q = W - K + 1
        m = pool // q
        need_x = ctx.needs_input_grad[0]
        if pool >= INDEX_MIN_POOL and not need_x:
            return None, _weight_grad_at_winners(blocks, ctx.winners, grad, K, pool), None
        T = _toeplitz(weight, q) if need_x else None
        dT = blocks.new_zeros(W, q * C)
        d_blocks = torch.empty_like(blocks) if need_x else None
        r = 0
        for mask in ctx.winners:
            if mask.dtype != torch.bool:  # a phase per (window, channel)
                mask = torch.zeros(len(mask), pool, C, dtype=torch.bool).scatter_(1, mask.long()[:, None], True)
            d_y = torch.where(mask, grad[r : r + len(mask), None, :], 0.0).view(-1, q * C)  # (chunk · m, q·C)
            rows = slice(r * m, (r + len(mask)) * m)
            r += len(mask)
            dT.addmm_(blocks[rows].T, d_y)
            if need_x:
                torch.mm(d_y, T.T, out=d_blocks[rows])
        d_weight = _diagonals(dT.view(W, q, C), K).sum(dim=1).T  # (C, K)
        return d_blocks, d_weight, None


def _weight_grad_at_winners(blocks: Tensor, phases: list[Tensor], grad: Tensor, K: int, pool: int) -> Tensor:
    """dL/dweight (C, K) = Σ over windows of grad · the K samples under the filter at the winning phase.

    Reads one filter's span per (window, channel) instead of multiplying
    the mostly-zero full-rate gradient: 1/pool of the work.
    """
    q = blocks.shape[1] - K + 1
    m = pool // q
    spans = blocks.unfold(1, K, 1)  # (R·m, q, K) view: the samples under the filter at each block phase
    d_weight = grad.new_zeros(grad.shape[1], K)
    r = 0
    for phase in phases:
        phase = phase.long()  # (chunk, C)
        rows = (torch.arange(r, r + len(phase), device=grad.device) * m)[:, None] + phase // q
        gathered = spans[rows, phase % q]  # (chunk, C, K)
        d_weight += torch.einsum("rck,rc->ck", gathered, grad[r : r + len(phase)])
        r += len(phase)
    return d_weight


def _block_outputs(pool: int, taps: int) -> int:
    """Outputs per block: a divisor of ``pool`` near taps / 4, so the Toeplitz product wastes ≤ ~25 %."""
    return max(d for d in range(1, pool + 1) if pool % d == 0 and (d <= max(1, taps // 4) or d == 1))


def pooled_conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None, pool: int, padding: tuple[int, int] = (0, 0), ceil_mode: bool = False,
    block: int | None = None,
) -> Tensor:
    """``F.max_pool1d(F.conv1d(F.pad(x, padding), weight, bias), pool, ceil_mode=ceil_mode)``, faster.

    x: (B, N) or (B, 1, N) one channel; weight (C, 1, K); bias (C,) or None.
    Returns (B, C, L) with L = floor or ceil((N + pads − K + 1) / pool).
    """
    if x.dim() == 3:
        x = x[:, 0]
    w = weight.reshape(weight.shape[0], -1)  # (C, K)
    C, K = w.shape
    B = x.shape[0]
    x = F.pad(x, padding)  # (B, N')
    n_out = x.shape[-1] - K + 1
    L = -(-n_out // pool) if ceil_mode else n_out // pool
    if L < 1:
        raise ValueError(f"input of {x.shape[-1]} samples is shorter than one pooling window")
    full = n_out // pool  # blocks whose pool phases are all valid
    parts = []
    if full:
        q = _block_outputs(pool, K) if block is None else block
        blocks = x[:, : full * pool + K - 1].unfold(-1, q + K - 1, q)  # (B, full · pool / q, q + K - 1)
        parts.append(_PooledConv.apply(blocks.reshape(-1, q + K - 1), w, pool).view(B, full, C))
    if L > full:  # ceil mode: the last window holds fewer than pool outputs, a plain conv on them
        tail = F.conv1d(x[:, None, full * pool :], weight)  # (B, C, n_out − full · pool)
        parts.append(tail.amax(dim=-1)[:, None, :])
    out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]  # (B, L, C)
    if bias is not None:
        out = out + bias
    return out.transpose(1, 2).contiguous()  # (B, C, L)


class MaxPooledConv1d(nn.Conv1d):
    """``nn.Conv1d(1, out_channels, kernel_size)`` on a padded wave, max-pooled over ``pool`` outputs.

    The parameters (``weight`` (C, 1, K), ``bias`` (C,)) and their names are
    those of the ``nn.Conv1d`` it replaces, so checkpoints load unchanged and
    the module is still "the first convolution" for the filter views.
    forward(x (B, 1, N)) → (B, C, L); an affine map of the pooled output
    can be folded in (see :meth:`forward`).
    """

    def __init__(
        self, out_channels: int, kernel_size: int, pool: int, padding: tuple[int, int] = (0, 0), ceil_mode: bool = False
    ) -> None:
        super().__init__(1, out_channels, kernel_size)
        self.pool, self.pads, self.ceil_mode = pool, tuple(padding), ceil_mode

    def forward(self, x: Tensor, scale: Tensor | None = None, shift: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """x (B, 1, N) → (B, C, L); with ``scale`` (C,) and ``shift`` (C,): scale · output + shift.

        A positive scale commutes with the max; a negative one turns it into
        a min, computed as the max of the negated filter. So an affine map
        after the pool (BatchNorm's) costs nothing here: it is folded into
        the filters and the bias.
        """
        weight, bias = self.weight, self.bias
        if scale is not None:
            bias = scale * bias if bias is not None else None
            weight = scale[:, None, None] * weight
            bias = shift if bias is None else bias + shift
        return pooled_conv1d(x, weight, bias, self.pool, self.pads, self.ceil_mode)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pool={self.pool}, pads={self.pads}, ceil_mode={self.ceil_mode}"


class _MaxPoolLast(torch.autograd.Function):
    """x (..., L, p) → (..., L): max over the last axis, a boolean winner mask kept for the backward pass."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        best = x.amax(dim=-1)
        mask = _winners(x.reshape(-1, x.shape[-1], 1), best.reshape(-1, 1)).view(x.shape)
        ctx.save_for_backward(mask)
        return best

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return torch.where(mask, grad[..., None], 0.0)


def max_pool1d(x: Tensor, pool: int) -> Tensor:
    """``F.max_pool1d(x, pool)`` (floor mode) for x (B, C, N) → (B, C, N // pool), with a boolean winner mask.

    Same values and gradients (ties: the first maximum); the backward pass
    reads a byte per input instead of an int64 index per output and writes
    no zero-filled buffer first.
    """
    B, C, N = x.shape
    L = N // pool
    pooled = _MaxPoolLast.apply(x[..., : L * pool].reshape(B, C, L, pool))
    return pooled
