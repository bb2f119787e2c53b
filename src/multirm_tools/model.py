"""The networks: 3-mer embedding -> encoder -> per-class Bahdanau attention -> per-class heads.

Only the ``nn.Module`` classes and their configuration live here; training is in
``train``, files in ``bundle``. Two encoders (``ModelConfig.architecture``):

- ``bilstm`` (``MultiRMNet``), MultiRM's: a BiLSTM over each window. Fixed relative
  to MultiRM's public code: every window of a batch keeps its own states (no reshape
  across the batch), and the model runs on any device. Its cost is positions x window.
- ``conv`` (``DilatedConvNet``): residual dilated convolutions without padding, so a
  token's state depends on the tokens of its receptive field only, and attention over
  the ``n_states`` central states of the window. A window's output depends on that
  window alone, and one pass over a whole record computes every position's states at
  once (``span_logits``): overlapping windows share the encoder's work. Optionally
  (``composition``) the heads also read the mean of per-token features over the whole
  window, a sliding mean when scanning; and (``pooling = "attention+position"``) each
  class adds a learned weight per place in the window to its attention weights, since
  the conv states, unlike the BiLSTM's, do not know where in the window they sit.

Scanning speed: the embedding is frozen, so each token's input-gate
projection ``W_ih e + b`` is a fixed row of a (vocab x 4H) table. ``scan_logits``
gathers those rows instead of multiplying 300-d vectors at every step, and runs
both LSTM directions in one batched matmul; ``forward`` is the plain
``nn.LSTM`` path used for training. Both give the same numbers (tested).

``EnsembleNet`` averages the probabilities of several networks of one
configuration (members trained with different seeds); a member may predict only
some of the classes (a specialist network), and a class's probability is then the
mean over the members that predict it. It offers the same methods, so predict,
explain and evaluate take either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np
import torch
from torch import nn

from .constants import BY_NAME, CLASS_NAMES


ARCHITECTURES = ("bilstm", "conv")
POOLINGS = ("attention", "attention+position")
CONV_ONLY = ("architecture", "kernel", "dilations", "composition", "pooling")  # config keys a BiLSTM bundle does not write


@dataclass
class ModelConfig:
    """Sizes and inputs of a network. Stored in every bundle as JSON."""

    window: int = 51  # nt, odd; the predicted base is the centre
    k: int = 3
    architecture: str = "bilstm"  # one of ARCHITECTURES
    classes: tuple[str, ...] = field(default_factory=lambda: tuple(CLASS_NAMES))
    embedding: str = "word2vec"  # "word2vec" (frozen, from multirm-embed) or "onehot"
    embedding_dim: int = 300
    hidden: int = 64  # per LSTM direction; the conv encoder has 2 * hidden channels (same state width)
    layers: int = 1  # LSTM layers (bilstm)
    kernel: int = 3  # conv: kernel size of every layer, odd
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # conv: one residual layer per dilation
    # conv: features of the window's 3-mer composition beside attention (0: none). Each conv state
    # sees its receptive field; this weighs every token of the window alike.
    composition: int = 0
    # conv: how each class's head weighs the window's states. "attention": by content alone (the
    # states are translation-equivariant, so attention cannot tell where a state sits);
    # "attention+position": plus a learned signed weight per state position of each class.
    pooling: str = "attention"
    attention_dim: int = 64
    head_hidden: int = 32
    dropout: float = 0.2

    @property
    def n_tokens(self) -> int:
        return self.window - self.k + 1

    @property
    def vocab_size(self) -> int:
        return 4 ** self.k + 1

    @property
    def receptive_field(self) -> int:
        """Tokens one encoder state depends on: 1 for the BiLSTM's per-token view of its window."""
        if self.architecture != "conv":
            return 1
        return 1 + (self.kernel - 1) * sum(self.dilations)

    @property
    def n_states(self) -> int:
        """Encoder states attention reads per window: ``n_tokens`` less the conv layers' margins."""
        return self.n_tokens - self.receptive_field + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes)
        d["dilations"] = list(self.dilations)
        if self.architecture == "bilstm":
            # A BiLSTM bundle stays readable by releases that predate the conv options.
            for key in CONV_ONLY:
                del d[key]
        else:
            # Options left at their defaults are omitted: readable by releases that predate them.
            if not self.composition:
                del d["composition"]
            if self.pooling == "attention":
                del d["pooling"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        for key in ("classes", "dilations"):
            if key in d:
                d[key] = tuple(d[key])
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.window % 2 != 1 or self.window < self.k + 2:
            raise ValueError(f"window must be odd and > k+1, got {self.window}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        if self.architecture == "conv":
            if self.kernel < 3 or self.kernel % 2 != 1:
                raise ValueError(f"kernel must be odd and >= 3, got {self.kernel}")
            if not self.dilations or any(int(d) != d or d < 1 for d in self.dilations):
                raise ValueError(f"dilations must be positive integers, got {list(self.dilations)}")
            if self.n_states < 1:
                raise ValueError(f"the conv layers' receptive field ({self.receptive_field} tokens) is wider "
                                 f"than the window's {self.n_tokens} tokens")
        if self.composition < 0 or (self.composition and self.architecture != "conv"):
            raise ValueError(f"composition must be >= 0, and 0 unless the architecture is conv, got {self.composition}")
        if self.pooling not in POOLINGS or (self.pooling != "attention" and self.architecture != "conv"):
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, and attention unless the "
                             f"architecture is conv, got {self.pooling!r}")
        if self.embedding not in ("word2vec", "onehot"):
            raise ValueError(f"embedding must be 'word2vec' or 'onehot', got {self.embedding!r}")
        for name in ("hidden", "layers", "attention_dim", "head_hidden", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


def onehot_embedding(k: int = 3) -> torch.Tensor:
    """The identity embedding for one-hot input: token 0 (N) maps to zeros.

    Returns
    -------
    torch.Tensor, shape=(4**k + 1, 4**k)
    """
    v = 4 ** k
    return torch.cat([torch.zeros(1, v), torch.eye(v)])


class _AttentionHeads(nn.Module):
    """What both encoders share: the frozen embedding, per-class attention and the heads.

    Subclasses build their encoder between ``_init_embedding`` and ``_init_heads`` (the
    order in which the parameters draw their initial values: a seed's BiLSTM network stays
    the one it has always been).
    """

    def _init_embedding(self, config: ModelConfig, embedding: torch.Tensor | None) -> None:
        config.validate()
        self.config = config
        if embedding is None:
            embedding = (onehot_embedding(config.k) if config.embedding == "onehot"
                         else torch.zeros(config.vocab_size, config.embedding_dim))
        if tuple(embedding.shape) != (config.vocab_size, config.embedding_dim):
            raise ValueError(f"embedding has shape {tuple(embedding.shape)} but must have shape "
                             f"{(config.vocab_size, config.embedding_dim)}")
        # A copy: networks built from one array must not share its memory (safetensors refuses that).
        self.embedding = nn.Embedding.from_pretrained(embedding.float().clone(), freeze=True)

    def _init_heads(self, config: ModelConfig) -> None:
        H, C = config.hidden, len(config.classes)
        self.att_proj = nn.Linear(2 * H, config.attention_dim)
        self.att_query = nn.Parameter(torch.randn(C, config.attention_dim) / config.attention_dim ** 0.5)
        F = config.head_hidden
        self.head_w1 = nn.Parameter(torch.randn(C, 4 * H, F) / (4 * H) ** 0.5)
        self.head_b1 = nn.Parameter(torch.zeros(C, F))
        self.head_w2 = nn.Parameter(torch.randn(C, F) / F ** 0.5)
        self.head_b2 = nn.Parameter(torch.zeros(C))
        self.dropout = nn.Dropout(config.dropout)

    def _attention_scores(self, states: torch.Tensor) -> torch.Tensor:
        """states (..., 2H) -> each class's attention score per state (..., C)."""
        u = 2 * torch.sigmoid(2 * self.att_proj(states)) - 1  # tanh, faster on CPU
        return u @ self.att_query.T

    def _heads(self, context: torch.Tensor, centre: torch.Tensor, cols=slice(None),
               composition: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, c) of classes ``cols`` from their contexts (B, c, 2H), the centre states (B, 2H)
        and, for a network with them, the window's composition features (B, composition)."""
        d = centre.shape[-1]
        w1 = self.head_w1[cols]
        pre = (torch.einsum("bcd,cdf->bcf", self.dropout(context), w1[:, :d])
               + torch.einsum("bd,cdf->bcf", self.dropout(centre), w1[:, d:]))
        if composition is not None:
            pre = pre + torch.einsum("bs,csf->bcf", self.dropout(composition), self.head_wc[cols])
        # GELU, not ReLU: with small encoder states a ReLU head can die whole (constant output).
        hid = nn.functional.gelu(pre + self.head_b1[cols])
        return (self.dropout(hid) * self.head_w2[cols]).sum(-1) + self.head_b2[cols]

    def _attend(self, states: torch.Tensor, composition: torch.Tensor | None = None,
                position: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """states (B, T, 2H) -> logits (B, C), attention (B, C, T).

        Each head reads its class's attention context and the centre token's states (4H):
        the site's own neighbourhood does not have to be found by attention first. ``position``
        (C, T), for a network with it, is added to the attention weights: the context is then
        the attention's mean of the states plus a fixed, signed weighting of them by place.
        """
        attn = torch.softmax(self._attention_scores(states), dim=1).transpose(1, 2)  # (B, C, T)
        weights = attn if position is None else attn + position
        return self._heads(weights @ states, states[:, states.shape[1] // 2], composition=composition), attn

    def subset(self, classes) -> "_AttentionHeads":
        """Itself: one network computes all its classes at once (``EnsembleNet.subset`` drops members)."""
        return self

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        """Logits for token windows.

        Parameters
        ----------
        tokens: torch.LongTensor, shape=(B, n_tokens)
        return_attention: bool. Default is False.

        Returns
        -------
        logits: torch.Tensor, shape=(B, n_classes)
        attention: torch.Tensor, shape=(B, n_classes, n_tokens), only if asked (0 on the tokens
            a conv network's attention does not reach).
        """
        return self.forward_embedded(self.embedding(tokens), return_attention)


class MultiRMNet(_AttentionHeads):
    """MultiRM's multi-label network: a BiLSTM over each window.

    Parameters
    ----------
    config: ModelConfig, ``architecture == "bilstm"``
    embedding: torch.Tensor, shape=(vocab_size, embedding_dim), optional
        Frozen token vectors (word2vec). Default: one-hot if ``config.embedding
        == "onehot"``, else zeros to be filled by ``load_state_dict``.
    """

    #: Scanning a record costs one window per position (``scan_logits``).
    shares_windows = False

    def __init__(self, config: ModelConfig, embedding: torch.Tensor | None = None):
        super().__init__()
        if config.architecture != "bilstm":
            raise ValueError(f"MultiRMNet is the bilstm architecture, not {config.architecture!r}")
        self._init_embedding(config, embedding)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden, num_layers=config.layers, batch_first=True,
                            bidirectional=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self._init_heads(config)

    def forward_embedded(self, x: torch.Tensor, return_attention: bool = False):
        """Logits from embedded windows, x: shape=(B, T, embedding_dim). Used for attributions."""
        states, _ = self.lstm(x)
        logits, attn = self._attend(states)
        return (logits, attn) if return_attention else logits

    # -- fast inference path -------------------------------------------------------------
    @torch.no_grad()
    def gate_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token input-gate projections of layer 0: (vocab, 4H) for each direction."""
        e = self.embedding.weight
        tabs = []
        for sfx in ("", "_reverse"):
            w = getattr(self.lstm, f"weight_ih_l0{sfx}")
            b = getattr(self.lstm, f"bias_ih_l0{sfx}") + getattr(self.lstm, f"bias_hh_l0{sfx}")
            tabs.append(e @ w.T + b)
        return tabs[0], tabs[1]

    @torch.no_grad()
    def scan_tables(self) -> torch.Tensor | None:
        """What ``scan_logits`` needs precomputed once per scan: ``gate_tables()`` stacked, shape=(2, vocab, 4H).

        None for a multi-layer LSTM, which ``scan_logits`` runs through ``forward``.
        """
        return torch.stack(self.gate_tables()) if self.config.layers == 1 else None

    @torch.no_grad()
    def scan_logits(self, tokens: torch.Tensor, tables: torch.Tensor | None = None) -> torch.Tensor:
        """Same as ``forward(tokens)`` in eval mode, faster for a one-layer LSTM.

        Parameters
        ----------
        tokens: torch.LongTensor, shape=(B, n_tokens)
        tables: torch.Tensor, shape=(2, vocab, 4H), optional
            ``scan_tables()``, passed in so it is computed once per scan.
            Batches of a few hundred windows run fastest (they stay in cache).
        """
        if self.config.layers != 1 or self.training:
            return self.forward(tokens)
        if tables is None:
            tables = torch.stack(self.gate_tables())
        H = self.config.hidden
        B, T = tokens.shape
        V = tables.shape[1]
        # tanh is several times slower than sigmoid on CPU here: tanh(x) = 2 sigmoid(2x) - 1, so the
        # cell-input columns are doubled and one sigmoid call serves all four gates.
        scale = torch.ones(4 * H, dtype=tables.dtype, device=tables.device)
        scale[2 * H:3 * H] = 2.0
        flat = (tables * scale).reshape(2 * V, 4 * H)
        # Row ids per step for both directions: forward reads left to right, reverse right to left.
        idx = torch.stack([tokens, tokens.flip(1) + V]).transpose(1, 2).contiguous()  # (2, T, B)
        whh = torch.stack([self.lstm.weight_hh_l0.T, self.lstm.weight_hh_l0_reverse.T]) * scale
        h = flat.new_zeros(2, B, H)
        c = flat.new_zeros(2, B, H)
        g = flat.new_empty(2, B, 4 * H)
        out = flat.new_empty(T, 2, B, H)
        for t in range(T):
            # Gathering one step's rows at a time keeps the working set in cache.
            torch.baddbmm(flat[idx[:, t].reshape(-1)].view(2, B, 4 * H), h, whh, out=g)
            s = torch.sigmoid(g)
            c = torch.addcmul(s[..., H:2 * H] * c, s[..., :H], 2 * s[..., 2 * H:3 * H] - 1)
            h = s[..., 3 * H:] * (2 * torch.sigmoid(2 * c) - 1)
            out[t] = h
        states = torch.cat([out[:, 0].transpose(0, 1), out[:, 1].flip(0).transpose(0, 1)], dim=-1)
        return self._attend(states)[0]


class DilatedConvNet(_AttentionHeads):
    """A network whose work overlapping windows share: dilated convolutions, then windowed attention.

    Each layer adds ``gelu(conv(x))`` to ``x`` cropped to the conv's output; the convs are
    unpadded, so the encoder maps a window's ``n_tokens`` tokens to its ``n_states`` central
    states, each depending on ``receptive_field`` tokens of the window only. Attention and
    the heads then read those states as ``MultiRMNet``'s read the BiLSTM's. On a whole
    record, the encoder's states of consecutive windows are the same states shifted by one:
    ``span_logits`` computes them once and gives every position the scores its window alone
    would get (tested against ``forward`` on each window).

    Parameters
    ----------
    config: ModelConfig, ``architecture == "conv"``
    embedding: as ``MultiRMNet``'s.
    """

    #: Scanning a record runs the encoder once over it (``span_logits``).
    shares_windows = True

    def __init__(self, config: ModelConfig, embedding: torch.Tensor | None = None):
        super().__init__()
        if config.architecture != "conv":
            raise ValueError(f"DilatedConvNet is the conv architecture, not {config.architecture!r}")
        self._init_embedding(config, embedding)
        D = 2 * config.hidden
        self.proj = nn.Linear(config.embedding_dim, D)
        self.convs = nn.ModuleList(nn.Conv1d(D, D, config.kernel, dilation=d) for d in config.dilations)
        self._init_heads(config)
        if config.composition:
            # After the heads: a seed's network without composition draws the weights it always did.
            S = config.composition
            self.composition_proj = nn.Linear(config.embedding_dim, S)
            self.head_wc = nn.Parameter(torch.randn(len(config.classes), S, config.head_hidden) / S ** 0.5)
        if config.pooling == "attention+position":
            # Zero at first: training starts from attention alone, and no random draw is added.
            self.att_position = nn.Parameter(torch.zeros(len(config.classes), config.n_states))

    def _token_composition(self, x: torch.Tensor) -> torch.Tensor:
        """Embedded tokens (..., embedding_dim) -> each token's composition features (..., composition)."""
        return nn.functional.relu(self.composition_proj(x))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        """Projected tokens (B, D, T) -> states (B, T - receptive_field + 1, D)."""
        for conv in self.convs:
            m = conv.dilation[0] * (conv.kernel_size[0] // 2)
            x = x[:, :, m:x.shape[2] - m] + self.dropout(nn.functional.gelu(conv(x)))
        return x.transpose(1, 2)

    def forward_embedded(self, x: torch.Tensor, return_attention: bool = False):
        """Logits from embedded windows, x: shape=(B, n_tokens, embedding_dim). Used for attributions."""
        states = self._encode(self.proj(x).transpose(1, 2))
        # The window's composition: the mean of its tokens' features, every token of the window.
        composition = self._token_composition(x).mean(1) if self.config.composition else None
        logits, attn = self._attend(states, composition, getattr(self, "att_position", None))
        if not return_attention:
            return logits
        margin = (self.config.receptive_field - 1) // 2  # tokens whose state is not in the window
        return logits, nn.functional.pad(attn, (margin, margin))

    @torch.no_grad()
    def scan_tables(self) -> None:
        return None

    @torch.no_grad()
    def scan_logits(self, tokens: torch.Tensor, tables=None) -> torch.Tensor:
        """``forward(tokens)``: windows scored one by one (``span_logits`` shares their work)."""
        return self.forward(tokens)

    @torch.no_grad()
    def span_logits(self, tokens: torch.Tensor, need: torch.Tensor, batch: int = 1024) -> torch.Tensor:
        """Logits of ``n`` consecutive positions from one pass over their tokens.

        Parameters
        ----------
        tokens: torch.LongTensor, shape=(n + n_tokens - 1,), the tokens of the positions'
            windows laid end to end (window ``i`` is ``tokens[i : i + n_tokens]``).
        need: torch.BoolTensor, shape=(n, n_classes): which logits are wanted; classes needed
            nowhere are not computed.
        batch: positions per attention step (bounds its memory).

        Returns
        -------
        torch.Tensor, shape=(n, n_classes): ``forward`` of each window (within float rounding)
        for every class needed somewhere; 0 in the other columns.
        """
        T, D = self.config.n_states, 2 * self.config.hidden
        n = tokens.shape[0] - self.config.n_tokens + 1
        out = self.head_b2.new_zeros(n, len(self.config.classes))
        cols = torch.nonzero(need.any(0)).squeeze(1)
        if n <= 0 or len(cols) == 0:
            return out
        c = len(cols)
        x = self.proj(self.embedding.weight)[tokens]  # one row per token, as ``forward`` computes it
        states = self._encode(x.T[None])[0]  # (n + T - 1, D): state j serves the windows of n - T + 1 .. j
        scores = self._attention_scores(states)[:, cols].contiguous()  # (n + T - 1, c)
        w1 = self.head_w1[cols]  # (c, 2D, F)
        F = w1.shape[2]
        # The heads are linear in the context, so each state is taken to head space first (F < D):
        # head(sum_t a_t s_t) = sum_t a_t head(s_t). No window's states are then gathered.
        z = (states @ w1[:, :D].permute(1, 0, 2).reshape(D, c * F)).view(-1, c, F)  # (n + T - 1, c, F)
        centre = (states[T // 2:T // 2 + n] @ w1[:, D:].permute(1, 0, 2).reshape(D, c * F)).view(n, c, F)
        b1, w2, b2 = self.head_b1[cols], self.head_w2[cols], self.head_b2[cols]
        position = getattr(self, "att_position", None)
        position = None if position is None else position[cols]
        if self.config.composition:
            # Each window's mean of its n_tokens tokens' features (a sliding mean), then to head space.
            per_token = self._token_composition(self.embedding.weight)[tokens]  # (n + n_tokens - 1, S)
            means = nn.functional.avg_pool1d(per_token.T[None], self.config.n_tokens, stride=1)[0].T  # (n, S)
            centre = centre + torch.einsum("ps,csf->pcf", means, self.head_wc[cols])
        for lo, P in _needed_batches(need.any(1), batch):
            # Overlapping views, no copies: window p of class k reads scores[lo + p + t, k] and z[lo + p + t, k].
            window_scores = scores[lo:].as_strided((P, c, T), (c, 1, c))
            attn = torch.softmax(window_scores, dim=-1)
            if position is not None:
                attn = attn + position  # the same weight per place for every window, as in forward
            attn = attn.reshape(P * c, 1, T)
            window_z = z[lo:].as_strided((P * c, T, F), (F, c * F, 1))
            pre = torch.bmm(attn, window_z).view(P, c, F) + centre[lo:lo + P]
            out[lo:lo + P, cols] = (nn.functional.gelu(pre + b1) * w2).sum(-1) + b2
        return out


def _needed_batches(rows: torch.Tensor, batch: int) -> list[tuple[int, int]]:
    """(start, length) of batches of at most ``batch`` consecutive positions covering every True of
    ``rows``; runs of unneeded positions (those between the segments multirm-variants scores) are
    skipped where they are 64 or longer."""
    idx = np.flatnonzero(rows.cpu().numpy())
    if not idx.size:
        return []
    gaps = np.flatnonzero(np.diff(idx) > 64)
    runs = zip(idx[np.r_[0, gaps + 1]].tolist(), (idx[np.r_[gaps, idx.size - 1]] + 1).tolist())
    return [(lo, min(batch, hi - lo)) for a, hi in runs for lo in range(a, hi, batch)]


def _base_groups(classes: tuple[str, ...]) -> list[list[int]]:
    """Column indices of ``classes`` grouped by their original base (registry order of first use)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(classes):
        groups.setdefault(BY_NAME[c].base if c in BY_NAME else c, []).append(i)
    return list(groups.values())


#: The network class of each ``ModelConfig.architecture``.
NETWORKS = {"bilstm": MultiRMNet, "conv": DilatedConvNet}


def build_network(config: ModelConfig, embedding: torch.Tensor | None = None) -> "MultiRMNet | DilatedConvNet":
    """A new network of ``config.architecture``."""
    config.validate()
    return NETWORKS[config.architecture](config, embedding)


def mean_probability_logit(logits: torch.Tensor) -> torch.Tensor:
    """logit(mean_i sigmoid(logits[i])) along dim 0, computed in log space.

    Averaging probabilities (not logits) is the usual ensemble rule; the log-space form
    stays finite where float32 sigmoids round to exactly 0 or 1.
    """
    return (torch.logsumexp(nn.functional.logsigmoid(logits), dim=0)
            - torch.logsumexp(nn.functional.logsigmoid(-logits), dim=0))


class EnsembleNet(nn.Module):
    """Networks whose probabilities are averaged, class by class.

    Offers ``MultiRMNet``'s interface: logits are the logits of the mean
    probability, attention is the members' mean attention. Members share one
    configuration except ``classes``, and the frozen embedding, so that attributions
    on embedded input mean one thing. A member may predict a subset of the classes
    (a specialist): each class's probability and attention are the means over the
    members that predict it.

    Parameters
    ----------
    members: list[MultiRMNet], at least 1 (one member: what ``subset`` keeps of an
        ensemble for its specialist's class alone).
    classes: the ensemble's classes in output order. Default: the members' classes in
        order of first appearance.
    """

    def __init__(self, members: list["MultiRMNet | DilatedConvNet"], classes: tuple[str, ...] | None = None):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least 1 member")
        if classes is None:
            classes = tuple(dict.fromkeys(c for m in members for c in m.config.classes))
        self.config = replace(members[0].config, classes=tuple(classes))
        self.members = nn.ModuleList(members)
        self.check_members()
        # Where each member's outputs go among the ensemble's classes, and how many members predict each.
        index = {c: i for i, c in enumerate(self.config.classes)}
        self._columns = [[index[c] for c in m.config.classes] for m in members]
        self._uniform = all(m.config.classes == self.config.classes for m in members)
        counts = torch.zeros(len(classes))
        for cols in self._columns:
            counts[cols] += 1
        self.register_buffer("_counts", counts, persistent=False)

    def check_members(self) -> None:
        """Raise ValueError unless the members share configuration (classes aside) and embedding,
        and together predict exactly the ensemble's classes."""
        first = self.members[0]
        for i, m in enumerate(self.members[1:], start=2):
            if replace(m.config, classes=first.config.classes) != first.config:
                raise ValueError(f"ensemble member {i} has another model configuration than member 1")
            if not torch.equal(m.embedding.weight, first.embedding.weight):
                raise ValueError(f"ensemble member {i} has another embedding than member 1")
        for i, m in enumerate(self.members, start=1):
            extra = [c for c in m.config.classes if c not in self.config.classes]
            if extra:
                raise ValueError(f"ensemble member {i} predicts class(es) {extra} the ensemble does not")
        predicted = {c for m in self.members for c in m.config.classes}
        unpredicted = [c for c in self.config.classes if c not in predicted]
        if unpredicted:
            raise ValueError(f"no ensemble member predicts class(es) {unpredicted}")

    @property
    def embedding(self) -> nn.Embedding:
        return self.members[0].embedding

    @property
    def shares_windows(self) -> bool:
        return self.members[0].shares_windows

    def subset(self, classes) -> "EnsembleNet":
        """The members that predict any of ``classes``, as an ensemble of the classes they predict.

        Its probabilities for ``classes`` are bit for bit the full ensemble's (the same means over
        the same members), without running the other members: the bundled model scans m6A alone
        with its m6A network only. Returns ``self`` when every member is needed.
        """
        keep = [m for m in self.members if any(c in m.config.classes for c in classes)]
        if len(keep) == len(self.members):
            return self
        kept = {c for m in keep for c in m.config.classes}
        sub = EnsembleNet(keep, classes=tuple(c for c in self.config.classes if c in kept))
        return sub.to(self._counts.device).eval()

    def _mean_logits(self, logits: list[torch.Tensor]) -> torch.Tensor:
        if self._uniform:
            return mean_probability_logit(torch.stack(logits))
        # Classes a member does not predict get log-probabilities of -inf: they add nothing to the sums.
        shape = (len(logits), logits[0].shape[0], len(self.config.classes))
        pos = logits[0].new_full(shape, -torch.inf)
        neg = logits[0].new_full(shape, -torch.inf)
        for i, (x, cols) in enumerate(zip(logits, self._columns)):
            pos[i][:, cols] = nn.functional.logsigmoid(x)
            neg[i][:, cols] = nn.functional.logsigmoid(-x)
        return torch.logsumexp(pos, dim=0) - torch.logsumexp(neg, dim=0)

    def _mean_attention(self, attention: list[torch.Tensor]) -> torch.Tensor:
        if self._uniform:
            return torch.stack(attention).mean(0)
        b, _, t = attention[0].shape
        total = attention[0].new_zeros(b, len(self.config.classes), t)
        for a, cols in zip(attention, self._columns):
            total[:, cols] += a
        return total / self._counts[None, :, None]

    def _combine(self, outputs: list, return_attention: bool):
        if not return_attention:
            return self._mean_logits(outputs)
        return self._mean_logits([o[0] for o in outputs]), self._mean_attention([o[1] for o in outputs])

    def forward_embedded(self, x: torch.Tensor, return_attention: bool = False):
        return self._combine([m.forward_embedded(x, return_attention) for m in self.members], return_attention)

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        return self.forward_embedded(self.embedding(tokens), return_attention)

    @torch.no_grad()
    def scan_tables(self) -> torch.Tensor | None:
        """Members' ``scan_tables()`` stacked, shape=(members, 2, vocab, 4H)."""
        if self.config.architecture != "bilstm" or self.config.layers != 1:
            return None
        return torch.stack([m.scan_tables() for m in self.members])

    @torch.no_grad()
    def scan_logits(self, tokens: torch.Tensor, tables: torch.Tensor | None = None) -> torch.Tensor:
        """Each member's ``scan_logits`` (which falls back to ``forward`` where it must), averaged."""
        if tables is None:
            tables = self.scan_tables()
        per_member = [None] * len(self.members) if tables is None else tables
        return self._mean_logits([m.scan_logits(tokens, t) for m, t in zip(self.members, per_member)])

    @torch.no_grad()
    def span_logits(self, tokens: torch.Tensor, need: torch.Tensor) -> torch.Tensor:
        """Each member's ``DilatedConvNet.span_logits`` on its own classes' columns, averaged."""
        return self._mean_logits([m.span_logits(tokens, need[:, cols]) for m, cols in zip(self.members, self._columns)])


#: Any network: what scoring, scanning, explaining and calibrating take.
Network = MultiRMNet | DilatedConvNet | EnsembleNet
