"""The network: 3-mer embedding -> BiLSTM -> per-class Bahdanau attention -> per-class heads.

Only the ``nn.Module`` and its configuration live here; training is in
``train``, files in ``bundle``. Fixed relative to MultiRM's public code: every
window of a batch keeps its own BiLSTM states (no reshape across the batch),
and the model runs on any device.

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

import torch
from torch import nn

from .constants import CLASS_NAMES


@dataclass
class ModelConfig:
    """Sizes and inputs of a network. Stored in every bundle as JSON."""

    window: int = 51  # nt, odd; the predicted base is the centre
    k: int = 3
    classes: tuple[str, ...] = field(default_factory=lambda: tuple(CLASS_NAMES))
    embedding: str = "word2vec"  # "word2vec" (frozen, from multirm-embed) or "onehot"
    embedding_dim: int = 300
    hidden: int = 64  # per LSTM direction
    layers: int = 1
    attention_dim: int = 64
    head_hidden: int = 32
    dropout: float = 0.2

    @property
    def n_tokens(self) -> int:
        return self.window - self.k + 1

    @property
    def vocab_size(self) -> int:
        return 4 ** self.k + 1

    def to_dict(self) -> dict:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if "classes" in d:
            d["classes"] = tuple(d["classes"])
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.window % 2 != 1 or self.window < self.k + 2:
            raise ValueError(f"window must be odd and > k+1, got {self.window}")
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


class MultiRMNet(nn.Module):
    """Multi-label RNA modification network.

    Parameters
    ----------
    config: ModelConfig
    embedding: torch.Tensor, shape=(vocab_size, embedding_dim), optional
        Frozen token vectors (word2vec). Default: one-hot if ``config.embedding
        == "onehot"``, else zeros to be filled by ``load_state_dict``.
    """

    def __init__(self, config: ModelConfig, embedding: torch.Tensor | None = None):
        super().__init__()
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
        H, C = config.hidden, len(config.classes)
        self.lstm = nn.LSTM(config.embedding_dim, H, num_layers=config.layers, batch_first=True,
                            bidirectional=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.att_proj = nn.Linear(2 * H, config.attention_dim)
        self.att_query = nn.Parameter(torch.randn(C, config.attention_dim) / config.attention_dim ** 0.5)
        F = config.head_hidden
        self.head_w1 = nn.Parameter(torch.randn(C, 4 * H, F) / (4 * H) ** 0.5)
        self.head_b1 = nn.Parameter(torch.zeros(C, F))
        self.head_w2 = nn.Parameter(torch.randn(C, F) / F ** 0.5)
        self.head_b2 = nn.Parameter(torch.zeros(C))
        self.dropout = nn.Dropout(config.dropout)

    # -- shared tail: attention and heads -------------------------------------------------
    def _attend(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """states (B, T, 2H) -> logits (B, C), attention (B, C, T).

        Each head reads its class's attention context and the centre token's states (4H):
        the site's own neighbourhood does not have to be found by attention first.
        """
        d = states.shape[-1]
        u = 2 * torch.sigmoid(2 * self.att_proj(states)) - 1  # tanh, faster on CPU
        attn = torch.softmax(u @ self.att_query.T, dim=1).transpose(1, 2)  # (B, C, T)
        context = attn @ states  # (B, C, 2H)
        centre = states[:, states.shape[1] // 2]  # (B, 2H)
        pre = (torch.einsum("bcd,cdf->bcf", self.dropout(context), self.head_w1[:, :d])
               + torch.einsum("bd,cdf->bcf", self.dropout(centre), self.head_w1[:, d:]))
        # GELU, not ReLU: with small BiLSTM states a ReLU head can die whole (constant output).
        hid = nn.functional.gelu(pre + self.head_b1)
        logits = (self.dropout(hid) * self.head_w2).sum(-1) + self.head_b2
        return logits, attn

    def subset(self, classes) -> "MultiRMNet":
        """Itself: one network computes all its classes at once (``EnsembleNet.subset`` drops members)."""
        return self

    def forward_embedded(self, x: torch.Tensor, return_attention: bool = False):
        """Logits from embedded windows, x: shape=(B, T, embedding_dim). Used for attributions."""
        states, _ = self.lstm(x)
        logits, attn = self._attend(states)
        return (logits, attn) if return_attention else logits

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        """Logits for token windows.

        Parameters
        ----------
        tokens: torch.LongTensor, shape=(B, n_tokens)
        return_attention: bool. Default is False.

        Returns
        -------
        logits: torch.Tensor, shape=(B, n_classes)
        attention: torch.Tensor, shape=(B, n_classes, n_tokens), only if asked.
        """
        return self.forward_embedded(self.embedding(tokens), return_attention)

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

    def __init__(self, members: list[MultiRMNet], classes: tuple[str, ...] | None = None):
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
        return torch.stack([m.scan_tables() for m in self.members]) if self.config.layers == 1 else None

    @torch.no_grad()
    def scan_logits(self, tokens: torch.Tensor, tables: torch.Tensor | None = None) -> torch.Tensor:
        """Each member's ``scan_logits`` (which falls back to ``forward`` where it must), averaged."""
        if tables is None:
            tables = self.scan_tables()
        per_member = [None] * len(self.members) if tables is None else tables
        return self._mean_logits([m.scan_logits(tokens, t) for m, t in zip(self.members, per_member)])


#: Either kind of network: what scoring, scanning, explaining and calibrating take.
Network = MultiRMNet | EnsembleNet
